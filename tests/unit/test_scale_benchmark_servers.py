"""The scale benchmark's servers measure requests, not the monthly report job (issue 23): on a
working copy whose last month has no issued reports, a server's first tick issued them, reading
the whole history in the server's own process during the reads and REST windows (GET p99 1.5 s
and REST at 0.25-0.34 of 10k on PostgreSQL at 500k)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.scale import Backend
from infra.settings import Settings


def test_the_measured_servers_run_without_the_report_schedule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the environment the benchmark starts `itsm serve` with
    env = Backend("sqlite", tmp_path).env(None)

    # When a server reads its settings from it
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(data_dir=tmp_path)

    # Then it issues no reports
    assert settings.report_schedule_interval == 0
