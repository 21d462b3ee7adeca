"""Before against after: the baseline checkout's in-process benchmark is called only with the
flags it has, and its figures are read from its own JSON lines."""

from __future__ import annotations

import orjson
import pytest

from benchmarks.checkouts import (
    HERE,
    MEASURES,
    best_with_ratios,
    flags_of,
    inprocess_argv,
    parse_figures,
)

EVERY = {"--skip-http", "--rounds", "--n", "--m", "--quick", "--tmpdir"}


def test_a_checkout_with_every_flag_runs_one_in_process_round_without_rest() -> None:
    argv = inprocess_argv(EVERY, 3000, 2000, "/scratch")
    assert argv == [
        "--skip-http",
        "--rounds",
        "1",
        "--n",
        "3000",
        "--m",
        "2000",
        "--tmpdir",
        "/scratch",
    ]


def test_a_checkout_without_counts_runs_its_quick_counts() -> None:
    assert inprocess_argv(EVERY - {"--n", "--m"}, 3000, 2000, None) == [
        "--skip-http",
        "--rounds",
        "1",
        "--quick",
    ]


def test_a_flag_the_checkout_lacks_is_never_passed() -> None:
    assert inprocess_argv({"--quick"}, 3000, 2000, "/scratch") == ["--quick"]
    assert inprocess_argv(set(), 3000, 2000, "/scratch") == []


def test_the_flags_are_read_from_the_checkout_s_own_help() -> None:
    flags = flags_of(HERE)
    assert EVERY | {"--baseline", "--lines"} <= flags
    assert "--loadgen" not in flags  # suppressed: not offered


def test_figures_are_read_from_sqlite_lines_only() -> None:
    lines = [
        {"name": "a_baseline", "backend": "sqlite", "rate": 2000.0},
        {"name": "a_baseline", "backend": "postgres", "rate": 900.0},
        {"name": "b_log", "rate": 1500.0},  # an older checkout: no backend field
        {"name": "c_rest", "rate": 1200.0},
        {"name": "summary"},
    ]
    stdout = b"not json\n" + b"\n".join(orjson.dumps(line) for line in lines)
    assert parse_figures(stdout) == {"a_baseline": 2000.0, "b_log": 1500.0}


def test_the_ratios_are_those_of_the_best_round_of_each_measure() -> None:
    rounds = [
        dict(zip(MEASURES, (2000.0, 1500.0, 1800.0, 80_000.0, 50_000.0), strict=True)),
        dict(zip(MEASURES, (2500.0, 1600.0, 1700.0, 70_000.0, 60_000.0), strict=True)),
    ]
    best = best_with_ratios(rounds)
    assert best["a_baseline"] == 2500.0
    assert best["b_log / a"] == pytest.approx(0.64)
    assert best["b_mix / a"] == pytest.approx(0.72)
    assert best["d / e"] == pytest.approx(0.75)
