"""The unit tests' Hypothesis profile for mutation testing (`make mutation`, pyproject
[tool.mutmut]): mutmut routes every call of domain/ through a trampoline and runs the tests once
per mutant on a busy machine, so a deadline fails tests at random and a random search would judge
each mutant by different examples. The profile has no deadline and the same examples every run."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "mutation",
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
