"""Every benchmark imports: benchmarks/ lies outside mypy's packages and no test runs the
benchmarks themselves, so a name they import that the code no longer has (infra/progress.py's
Meter, once) would otherwise be found only when someone measures."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCHMARKS = sorted(p.stem for p in (Path(__file__).parents[2] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("name", BENCHMARKS)
def test_the_benchmark_imports(name: str) -> None:
    module = importlib.import_module(f"benchmarks.{name}")
    assert module.__name__ == f"benchmarks.{name}"
