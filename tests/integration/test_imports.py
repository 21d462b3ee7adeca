"""Imports of real ticket history (UCI ServiceNow, the Italian help desk log) and shadow rebuilds,
on both backends. The logs are read from the shared data directory (a few thousand rows each)."""

from __future__ import annotations

import csv
import lzma
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from domain.commands import LogIncident
from domain.incident import HoldReason, Logged, PutOnHold
from infra.settings import Settings
from processes.import_mapping import Mapping, shipped
from processes.importer import Importer, ImportReport, incident_id
from projections import incident_details
from projections.runner import ProjectionRunner
from projections.shadow import rebuild_in_shadow, shadow_of
from service.bootstrap import Services, build
from tests.conftest import AGENT, Clock, context

#: The shared data directory: beside the checkout (../shared/data, as under CI), or the machine's.
DATA = next(
    (
        p
        for p in (
            Path(__file__).resolve().parents[2].parent / "shared/data",
            Path("/work/shared/data"),
        )
        if p.is_dir()
    ),
    Path("/work/shared/data"),
)
UCI = DATA / "uci-servicenow-incident-event-log/incident_event_log.csv.xz"
HELPDESK = DATA / "helpdesk-italian-software-company/helpdesk.csv.xz"


def head_of(source: Path, lines: int, target: Path) -> Path:
    """The first `lines` rows of a compressed log (and its header), as a plain CSV."""
    if not source.exists():
        pytest.skip(f"the shared log {source} is not on this machine")
    with lzma.open(source, "rt", newline="") as text:
        target.write_text("".join(next(text) for _ in range(lines + 1)))
    return target


@pytest.fixture
def uci(tmp_path: Path) -> Path:
    return head_of(UCI, 2000, tmp_path / "uci.csv")


def run(services: Services, mapping: Mapping, path: Path, **options: int) -> ImportReport:
    return Importer(services.desk, mapping, clock=services.clock, **options).run(path)


def stored(services: Services) -> list[tuple[object, int, str, bytes]]:
    """Every stored incident event (not the rules the service defines on start, nor the number
    log's allocations: they carry the run's own time and correlation)."""
    recorder = services.desk.recorder
    head = recorder.max_notification_id() or 0
    return [
        (n.originator_id, n.originator_version, n.topic, n.state)
        for n in recorder.select_notifications(start=1, limit=head + 1)
        if n.topic.startswith("Incident.")
    ]


def test_importing_the_same_file_twice_writes_nothing_the_second_time(
    services: Services, uci: Path
) -> None:
    first = run(services, shipped("servicenow"), uci, batch=100)
    head = services.desk.recorder.max_notification_id()
    again = run(services, shipped("servicenow"), uci, batch=100)
    assert first.imported == first.cases > 250
    assert first.events > first.cases
    assert again.imported == 0
    assert again.already == first.cases
    assert again.events == 0
    assert services.desk.recorder.max_notification_id() == head


@pytest.mark.parametrize("crash_after", [0, 1, 3])
def test_a_run_stopped_halfway_is_finished_by_running_it_again(
    make_settings: Callable[[], Settings], clock: Clock, uci: Path, crash_after: int
) -> None:
    halted, whole = build(make_settings(), clock=clock), build(make_settings(), clock=clock)
    try:
        partial = run(halted, shipped("servicenow"), uci, batch=100, stop_after=crash_after)
        rest = run(halted, shipped("servicenow"), uci, batch=100)
        at_once = run(whole, shipped("servicenow"), uci, batch=100)
        assert partial.imported == min(crash_after * 100, at_once.imported)
        assert partial.imported + rest.imported == at_once.imported
        assert rest.already == partial.imported
        assert sorted(stored(halted)) == sorted(stored(whole))
    finally:
        halted.close()
        whole.close()


@pytest.mark.usefixtures("directory")
def test_imported_incidents_take_numbers_the_api_then_continues_after(
    services: Services, uci: Path
) -> None:
    services.desk.log_incident(context(AGENT), _log("before the import"))
    report = run(services, shipped("servicenow"), uci, batch=100)
    after = services.desk.log_incident(context(AGENT), _log("after the import"))
    assert services.desk.incident(after.record_id).number == report.imported + 2
    first = services.desk.history(incident_id("servicenow", "INC0000045"))[0]
    assert isinstance(first, Logged)
    assert first.number == 2


@pytest.mark.usefixtures("directory")
def test_two_imports_of_one_file_at_once_with_the_api_logging_store_each_case_once_and_number_all(
    services: Services, uci: Path
) -> None:
    """Imports take the one command pipeline: a case another import wrote since the batch looked
    is counted as already stored, not written twice, and the numbers the API takes meanwhile
    interleave with the imported ones without a gap or a repeat."""
    reports: list[ImportReport] = []
    logged = 40

    def importing() -> None:
        reports.append(run(services, shipped("servicenow"), uci, batch=25))

    def logging() -> None:
        for i in range(logged):
            services.desk.log_incident(context(AGENT), _log(f"meanwhile {i}"))

    threads = [threading.Thread(target=t) for t in (importing, importing, logging)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first, second = reports
    assert first.cases == second.cases > 250
    assert first.imported + second.imported == first.cases
    assert first.already + second.already == first.cases
    assert first.unaccounted() == second.unaccounted() == 0
    numbers = [
        event.number
        for n in services.desk.recorder.select_notifications(start=1, limit=1_000_000)
        if n.topic.endswith("Incident.Logged")
        and isinstance(event := services.desk.mapper.to_domain_event(n), Logged)
    ]
    assert sorted(numbers) == list(range(1, first.cases + logged + 1))


def test_imported_incidents_record_the_sla_rules_of_record(services: Services, uci: Path) -> None:
    run(services, shipped("servicenow"), uci, batch=100)
    logged = services.desk.history(incident_id("servicenow", "INC0000045"))[0]
    assert isinstance(logged, Logged)
    assert logged.sla == services.desk.sla_rules_for(logged.service)
    assert logged.sla is not None


def test_the_help_desk_log_imports_through_its_mapping_alone(
    services: Services, tmp_path: Path
) -> None:
    path = head_of(HELPDESK, 3000, tmp_path / "helpdesk.csv")
    report = run(services, shipped("helpdesk"), path, batch=200)
    assert report.cases > 500
    assert report.imported == report.cases
    assert not report.failed
    services.runner.catch_up()
    rows = services.views.rows(incident_details)
    assert len(rows) == report.imported
    states = {row["state"] for row in rows.values()}
    assert "closed" in states
    waited = _cases_with(path, "Wait")
    assert waited
    for case in waited:
        holds = [
            e
            for e in services.desk.history(incident_id("helpdesk-it", case))
            if isinstance(e, PutOnHold)
        ]
        assert any(h.reason is HoldReason.AWAITING_CALLER for h in holds), case


@pytest.mark.usefixtures("directory")
def test_a_shadow_rebuild_swaps_in_a_view_equal_to_a_fresh_rebuild_while_reads_go_on(
    services: Services, uci: Path
) -> None:
    run(services, shipped("servicenow"), uci, batch=100)
    services.runner.catch_up()
    expected = len(services.views.rows(incident_details))
    seen: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                seen.append(len(services.views.rows(incident_details)))
            except BaseException as error:  # any failed read fails the test
                errors.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        desk = services.desk
        rebuild_in_shadow(desk.recorder, desk.mapper, services.views, incident_details)
    finally:
        done.set()
        reader.join()
    assert not errors
    assert seen
    assert set(seen) == {expected}
    swapped = services.views.rows(incident_details)
    assert shadow_of(incident_details).name not in services.views.positions()
    services.views.reset(incident_details)
    ProjectionRunner(desk.recorder, desk.mapper, services.views, [incident_details]).catch_up()
    assert services.views.rows(incident_details) == swapped
    # the live view follows the store after the swap, and can be swapped again
    services.desk.log_incident(context(AGENT), _log("after the swap"))
    services.runner.catch_up()
    assert len(services.views.rows(incident_details)) == expected + 1
    rebuild_in_shadow(desk.recorder, desk.mapper, services.views, incident_details)
    assert len(services.views.rows(incident_details)) == expected + 1


def _log(title: str) -> LogIncident:
    return LogIncident(
        title=title,
        service="kiosks-gates",
        caller="budi.santoso",
        impact="medium",
        urgency="high",
        assignment_group="kiosk-team",
    )


def _cases_with(path: Path, activity: str) -> list[str]:
    """The cases of a help desk log with `activity` among their first moves (up to 20)."""
    with path.open(newline="") as f:
        found = {r["Case ID"] for r in csv.DictReader(f) if r["Activity"] == activity}
    return sorted(found)[:20]
