"""The foundation benchmark's REST lines, without timing: each lifecycle runs against today's API
answering only what it expects; an answer a line did not expect voids that line and no other;
rounds alternate which checkout goes first; each line's ratio to the incident line is taken from
the best rounds; the arguments are checked before anything starts."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

from benchmarks._expect import UnexpectedAnswer
from benchmarks._report import Report
from benchmarks.checkouts import HERE, Checkout
from benchmarks.foundation import parse_args
from benchmarks.lifecycles import CREATED, DONE, LIFECYCLES, Lifecycle
from benchmarks.loadgen import loadgen
from benchmarks.rest import ADMIN, AGENT, RestPlan, bench_rest, define_setup, rest_lines
from infra.settings import Settings
from service.bootstrap import build
from tests.integration.conftest import serving

BEFORE = Checkout("before", Path("/elsewhere"), Path("/elsewhere/.venv"))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """The app over SQLite on a loopback port, with what the lifecycles need defined."""
    services = build(Settings(data_dir=tmp_path / "var"))
    services.start()
    at = services.clock()
    token = services.tokens.issue(AGENT, at=at, issued_by="tests").token
    admin = services.tokens.issue(ADMIN, at=at, issued_by="tests").token
    try:
        with serving(services) as api:
            port = urlsplit(api.base_url).port
            assert port is not None
            define_setup(port, admin)
            yield port, token
    finally:
        services.close()


@pytest.mark.parametrize("name", list(LIFECYCLES))
def test_each_lifecycle_runs_through_today_s_api_with_only_the_answers_it_expects(
    server: tuple[int, str], name: str
) -> None:
    port, token = server
    lifecycle = LIFECYCLES[name]
    config = {
        "port": port,
        "token": token,
        "clients": 1,
        "server_pid": os.getpid(),
        "scenario": name,
        "warmup": 0.0,
        "duration": 1.5,
    }
    figures = asyncio.run(loadgen(config))
    counts = {op: f["count"] for op, f in figures["by_operation"].items()}
    assert set(counts) == {step.operation for step in lifecycle.steps}  # every step answered
    assert set(figures["statuses"]) <= {"200", "201", "202"}
    assert figures["requests"] == sum(counts.values())


def test_creates_expect_201_or_202_and_actions_200_or_202() -> None:
    for lifecycle in LIFECYCLES.values():
        create, *actions = lifecycle.steps
        assert create.action is None
        assert create.expected == CREATED == {201, 202}
        assert all(step.expected == DONE == {200, 202} for step in actions), lifecycle.name
        assert lifecycle.commands == len(lifecycle.steps)


def test_a_lifecycle_must_start_by_creating_its_record_and_create_only_once() -> None:
    incident = LIFECYCLES["incident"]
    with pytest.raises(ValueError, match="starts by creating"):
        Lifecycle("x", "c_x", "/x", incident.steps[1:])
    with pytest.raises(ValueError, match="only the first step creates"):
        Lifecycle("x", "c_x", "/x", (incident.steps[0], incident.steps[0]))


def figures(rate: float, server_ms: float | None = None) -> dict[str, Any]:
    cpu = {} if server_ms is None else {"cpu": {"server_ms_per_request": server_ms}}
    return {"rate": rate, "p99_ms": 10.0, "requests": int(rate), **cpu}


class Windows:
    """Stands in for rest_window: records each call, answers each (checkout, lifecycle) its
    `rates` in turn (100 when none are given), and raises `void`'s answer for its line."""

    def __init__(
        self,
        rates: dict[tuple[str, str], list[float]] | None = None,
        void: dict[tuple[str, str], UnexpectedAnswer] | None = None,
    ) -> None:
        self.rates, self.void = rates or {}, void or {}
        self.calls: list[tuple[str, str]] = []

    def __call__(
        self, checkout: Checkout, lifecycle: Lifecycle, ceiling: bool
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        key = (checkout.name, lifecycle.name)
        self.calls.append(key)
        if key in self.void:
            raise self.void[key]
        rate = self.rates[key].pop(0) if key in self.rates else 100.0
        return (figures(1.0) if ceiling else None), figures(rate)


def test_an_unexpected_answer_voids_its_line_for_the_run_and_no_other() -> None:
    refusal = UnexpectedAnswer("submit", 500, CREATED, b'{"code": "internal-error"}')
    window = Windows(void={("before", "request"): refusal})
    lifecycles = list(LIFECYCLES.values())
    done = bench_rest(window, [HERE, BEFORE], lifecycles, rounds=2)

    assert done.void == {("before", "request"): refusal}
    assert done.void_round == {("before", "request"): 1}
    assert window.calls.count(("before", "request")) == 1  # not tried again in round 2
    for key in [(c, lc.name) for c in ("after", "before") for lc in lifecycles]:
        if key != ("before", "request"):
            assert len(done.windows[key]) == 2, key
    assert set(done.ceilings) == {"after", "before"}


def test_rounds_run_the_lifecycles_in_turn_and_alternate_which_checkout_goes_first() -> None:
    window = Windows()
    bench_rest(window, [HERE, BEFORE], [LIFECYCLES["incident"], LIFECYCLES["change"]], rounds=2)
    assert window.calls == [
        ("after", "incident"),
        ("before", "incident"),
        ("after", "change"),
        ("before", "change"),
        ("before", "incident"),
        ("after", "incident"),
        ("before", "change"),
        ("after", "change"),
    ]


def test_each_line_reports_its_best_round_and_judges_ratios_round_by_round(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rates = {
        ("after", "incident"): [900.0, 1000.0],
        ("after", "request"): [950.0, 800.0],
        ("before", "incident"): [1000.0, 800.0],
        ("before", "request"): [400.0, 600.0],
    }
    lifecycles = [LIFECYCLES["incident"], LIFECYCLES["request"]]
    done = bench_rest(Windows(rates), [HERE, BEFORE], lifecycles, rounds=2)
    plan = RestPlan(32, 10.0, 1.0, 3.0, None, 1, lifecycles)
    lines = rest_lines(Report(None), plan, [HERE, BEFORE], done)

    # the median of 950/900 and 800/1000; and of 400/1000 and 600/800
    assert lines["after"]["request"]["ratio_to_incident"] == 0.928
    assert lines["before"]["request"]["ratio_to_incident"] == 0.575
    assert lines["after"]["request"]["rate"] == 950.0  # the best round
    printed = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    request = next(p for p in printed if p["name"] == "c_request" and p["checkout"] == "after")
    assert request["samples"] == [950.0, 800.0]
    assert request["median"] == 875.0
    assert request["ratio_to_incident_rounds"] == [1.056, 0.8]
    assert request["ratio_to_incident_of_bests"] == 0.95
    compared = next(p for p in printed if p["name"] == "c_before_after")
    # each round's after / before: 900/1000 and 1000/800; 950/400 and 800/600
    assert compared["rounds"] == {"incident": [0.9, 1.25], "request": [2.375, 1.333]}
    assert compared["ratios"] == {"incident": 1.075, "request": 1.854}
    assert compared["ratios_of_bests"] == {"incident": 1.0, "request": 1.583}
    assert lines["after"]["incident"]["after_over_before"] == 1.075


def test_each_line_reports_the_server_s_cpu_per_command_round_by_round_beside_the_incident_s(
    capsys: pytest.CaptureFixture[str],
) -> None:
    served = {
        "incident": [(900.0, 1.0), (400.0, 1.2)],
        "change": [(450.0, 1.25), (500.0, 1.0)],
    }

    def window(
        checkout: Checkout, lifecycle: Lifecycle, ceiling: bool
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        return None, figures(*served[lifecycle.name].pop(0))

    lifecycles = [LIFECYCLES["incident"], LIFECYCLES["change"]]
    done = bench_rest(window, [HERE], lifecycles, rounds=2)
    rest_lines(Report(None), RestPlan(32, 10.0, 1.0, 3.0, None, 1, lifecycles), [HERE], done)

    printed = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    change = next(p for p in printed if p["name"] == "c_change")
    assert change["server_ms_per_command_rounds"] == [1.25, 1.0]
    # commands per second of the server's CPU, against the incident's: 1.0/1.25 and 1.2/1.0
    assert change["cpu_ratio_to_incident_rounds"] == [0.8, 1.2]
    assert change["cpu_ratio_to_incident"] == 1.0
    assert change["ratio_to_incident_rounds"] == [0.5, 1.25]  # the rates' ratios stand as they were


def test_a_void_line_is_reported_with_the_answer_and_without_a_rate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    refusal = UnexpectedAnswer("log-problem", 500, CREATED, b"too fast")
    lifecycles = [LIFECYCLES["incident"], LIFECYCLES["problem"]]
    done = bench_rest(Windows(void={("after", "problem"): refusal}), [HERE], lifecycles, rounds=1)
    plan = RestPlan(32, 10.0, 1.0, 3.0, None, 1, lifecycles)
    lines = rest_lines(Report(None), plan, [HERE], done)

    assert "problem" not in lines["after"]
    printed = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    problem = next(p for p in printed if p["name"] == "c_problem")
    assert "rate" not in problem
    assert problem["void"] == {"what": "log-problem", "status": 500, "body": "too fast", "round": 1}


def test_lines_default_to_every_lifecycle_in_round_order_and_may_be_chosen() -> None:
    assert parse_args([]).lines == ["incident", "request", "change", "problem"]
    assert parse_args(["--lines", "change, incident,change"]).lines == ["change", "incident"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--lines", "incident,ticket"],
        ["--lines", ","],
        ["--clients", "0"],
        ["--rest-rounds", "0"],
        ["--baseline", "/nonexistent/checkout"],
        ["--baseline", str(HERE.root)],  # itself
    ],
)
def test_arguments_that_cannot_be_measured_are_refused_before_anything_starts(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        parse_args(argv)
    assert refused.value.code == 2
    assert "error" in capsys.readouterr().err


def test_a_baseline_without_its_virtualenv_is_refused_naming_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "foundation.py").write_text("")
    with pytest.raises(SystemExit):
        parse_args(["--baseline", str(tmp_path)])
    assert "make env" in capsys.readouterr().err
