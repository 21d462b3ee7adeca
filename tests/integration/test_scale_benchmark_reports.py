"""The scale benchmark issues last month's reports on its copy before it starts the servers
(benchmarks/scale.py `monthly_reports`): a server's report schedule, finding them missing on its
first tick, read the whole history in a background thread while the reads were measured, and at
500k incidents that held the GIL for most of a minute (GET p50 1.6 -> 7.7 ms)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.scale import monthly_reports
from infra.settings import Settings
from processes.reports.issue import ReportSchedule
from service.bootstrap import build


def test_after_the_benchmark_issued_the_months_reports_a_servers_schedule_has_none_left(
    tmp_path: Path,
) -> None:
    # Given a store as the benchmark's copy is, with no report issued
    settings = Settings(data_dir=tmp_path / "var")
    build(settings).close()

    # When the benchmark issues the month's reports on it, as a server's schedule would
    done = monthly_reports(settings)

    # Then a server started on it finds nothing left to issue on its first tick (nothing to read)
    services = build(settings)
    try:
        assert ReportSchedule(services).tick() == []
    finally:
        services.close()
    assert done["seconds"] >= 0
