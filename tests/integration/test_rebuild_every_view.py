"""Every view rebuilt in shadows in one pass over the store (projections/shadow.py,
`rebuild_all_in_shadow`): each event read and decoded once for all of them, each view swapped in
equal to what it was, while the live views keep answering (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

import pytest

from domain.commands import LogIncident
from projections import PROJECTIONS, incident_details
from projections.shadow import rebuild_all_in_shadow, shadow_of
from service.bootstrap import Services
from tests.conftest import AGENT, context


def _log(n: int) -> LogIncident:
    return LogIncident(
        title=f"Kios {n} tidak merespons",
        service="kiosks-gates",
        caller="budi.santoso",
        impact="medium",
        urgency="high",
        assignment_group="kiosk-team",
    )


@pytest.mark.usefixtures("directory")
def test_every_view_is_rebuilt_in_one_pass_and_swapped_in_while_reads_go_on(
    services: Services,
) -> None:
    # Given some incidents, folded into every view
    for n in range(12):
        services.desk.log_incident(context(AGENT), _log(n))
    services.runner.catch_up()
    before = {p.name: services.views.rows(p) for p in PROJECTIONS}
    seen: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                seen.append(len(services.views.rows(incident_details)))
            except BaseException as error:  # any failed read fails the test
                errors.append(error)

    # When every view is rebuilt in shadows while a reader reads the live one
    reader = threading.Thread(target=read)
    reader.start()
    try:
        desk = services.desk
        read_events = rebuild_all_in_shadow(desk.recorder, desk.mapper, services.views, PROJECTIONS)
    finally:
        done.set()
        reader.join()

    # Then the reader always saw the whole view, and every view is as it was, with no shadow left
    assert not errors
    assert seen
    assert set(seen) == {12}
    assert read_events > 0
    assert {p.name: services.views.rows(p) for p in PROJECTIONS} == before
    positions = services.views.positions()
    assert not [p for p in PROJECTIONS if shadow_of(p).name in positions]
    # and the live views follow the store after the swap
    services.desk.log_incident(context(AGENT), _log(12))
    services.runner.catch_up()
    assert len(services.views.rows(incident_details)) == 13
