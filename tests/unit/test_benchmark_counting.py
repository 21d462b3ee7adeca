"""A benchmark counts only the answers it expected: a refusal (429 under the rate limit) stops
the run with the status and body named, instead of passing for a command per second."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from benchmarks._expect import UnexpectedAnswer, expect
from benchmarks.lifecycles import GROUP
from benchmarks.loadgen import loadgen
from benchmarks.rest import AGENT, run_loadgen
from infra.settings import Settings
from service.bootstrap import build
from tests.directory_helpers import hold
from tests.integration.conftest import serving


@pytest.fixture
def rate_limited(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """The app over SQLite with one request a minute per token, on a loopback port."""
    services = build(Settings(data_dir=tmp_path / "var", rate_limit="1/minute"))
    services.start()
    hold(services, {GROUP: ()}, people=())  # the group the lifecycle assigns to
    token = services.tokens.issue(AGENT, at=services.clock(), issued_by="tests").token
    try:
        with serving(services) as api:
            port = urlsplit(api.base_url).port
            assert port is not None
            yield port, token
    finally:
        services.close()


def test_the_rest_benchmark_stops_at_a_refusal_instead_of_reporting_a_rate(
    rate_limited: tuple[int, str],
) -> None:
    port, token = rate_limited
    config = {
        "port": port,
        "token": token,
        "clients": 2,
        "server_pid": os.getpid(),
        "scenario": "incident",
        "warmup": 0.1,
        "duration": 0.3,
    }
    with pytest.raises(UnexpectedAnswer) as stopped:
        asyncio.run(loadgen(config))
    assert stopped.value.status == 429
    assert b"rate" in stopped.value.body.lower()  # the problem+json body is named
    assert "429" in str(stopped.value)


def test_the_load_generator_process_hands_the_refusal_back_to_the_benchmark(
    rate_limited: tuple[int, str],
) -> None:
    """The load runs in its own process: its refusal must reach the benchmark, not a figure."""
    port, token = rate_limited
    config = {
        "port": port,
        "token": token,
        "clients": 1,
        "server_pid": os.getpid(),
        "scenario": "incident",
        "warmup": 0.1,
        "duration": 0.3,
    }
    with pytest.raises(UnexpectedAnswer) as stopped:
        run_loadgen(config)
    assert stopped.value.status == 429
    assert stopped.value.what in {"start-work", "log"}


@pytest.mark.parametrize("status", [0, 202, 204, 400, 429, 500])
def test_the_helper_refuses_a_status_it_was_not_told_to_expect(status: int) -> None:
    with pytest.raises(UnexpectedAnswer, match=f"answered {status}, expected 200 or 201"):
        expect("log", status, {200, 201}, b'{"code": "x"}')


def test_the_helper_lets_an_expected_status_through() -> None:
    expect("log", 201, {200, 201})
