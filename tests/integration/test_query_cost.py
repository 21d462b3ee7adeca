"""Time-travel and report queries over HTTP cost what a near moment costs, however far they reach.

The cost is counted, not timed: every local day whose working windows the business calendar
works out is one step (the arithmetic's only work that grows with the span it covers). The
server runs in this process, so counting `CalendarSpec._spans` counts the server's steps.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from application.seed import seed
from domain.events import DomainEvent
from domain.moments import LATEST
from domain.sla_clock import ClockState
from projections.base import Projection, Row
from service.bootstrap import Services
from tests.conftest import Steps
from tests.integration.conftest import Api
from tests.integration.test_sla import log, submit

#: The farthest moment the API takes (domain/moments.py: later ones are refused with 422): a
#: thousand years on, where before the bound each day of the distance was a step. The calendar's
#: cost beyond that, to 9999, is tests/unit/test_calendar_cost.py's.
FAR = (LATEST - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
#: What a far moment may cost beyond tomorrow, whatever its distance: the years until the calendar
#: repeats (its holidays are listed to 2027: 2027 and 2028), and a table or two around the moment.
FAR_BUDGET = 5 * 366


@pytest.mark.parametrize("kind", ["incidents", "service-requests"])
def test_an_sla_clock_as_of_the_farthest_moment_costs_no_more_than_one_as_of_tomorrow(
    api: Api, services: Services, steps: Steps, kind: str
) -> None:
    seed(services.desk)
    ref = str(log(services) if kind == "incidents" else submit(services))
    projected(services)
    agent = api.client()
    tomorrow = (services.clock() + timedelta(days=1)).isoformat()

    before = steps.days
    near = agent.get(f"/api/v1/{kind}/{ref}/sla", params={"as_of": tomorrow})
    near_cost, before = steps.since(before), steps.days
    far = agent.get(f"/api/v1/{kind}/{ref}/sla", params={"as_of": FAR})
    far_cost, before = steps.since(before), steps.days
    again = agent.get(f"/api/v1/{kind}/{ref}/sla", params={"as_of": FAR})

    assert near.status_code == far.status_code == again.status_code == 200, far.text
    assert far_cost <= near_cost + FAR_BUDGET
    assert steps.since(before) <= FAR_BUDGET  # asked again: no more than the first time
    clock = far.json()
    assert clock["state"] == ClockState.BREACHED
    # still worked out to the end: about 8h on each office day until the year 3000
    years = LATEST.year - services.clock().year
    assert clock["resolution"]["elapsed_minutes"] > years * 52 * 5 * 8 * 60 * 0.9


def test_an_incident_as_of_the_farthest_moment_folds_no_more_events_than_it_has(
    api: Api, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Time travel replays the record's own events up to the moment: as many folds as events,
    however far the moment (a cost that grows with the record, never with the distance)."""
    incident = log(services)
    projected(services)
    agent = api.client()
    folds = Steps()
    fold = Projection.fold

    def counting(self: Projection, row: Row | None, event: DomainEvent) -> Row | None:
        folds.days += 1
        return fold(self, row, event)

    monkeypatch.setattr(Projection, "fold", counting)
    for path in (f"/api/v1/incidents/{incident}", f"/api/v1/incidents/{incident}/history"):
        before = folds.days
        far = agent.get(path, params={"as_of": FAR})
        assert far.status_code == 200, far.text
        assert folds.since(before) <= len(services.desk.history(incident))


def test_the_change_calendar_refuses_a_period_longer_than_a_year(api: Api) -> None:
    reader = api.client()
    start = datetime(2026, 3, 2).isoformat() + "+07:00"

    year = reader.get(
        "/api/v1/changes/calendar",
        params={"from": start, "to": datetime(2027, 3, 2).isoformat() + "+07:00"},
    )
    longer = reader.get(
        "/api/v1/changes/calendar",
        params={"from": start, "to": datetime(2027, 3, 4).isoformat() + "+07:00"},
    )
    ages = reader.get(
        "/api/v1/changes/calendar", params={"from": start, "to": FAR.replace("Z", "+00:00")}
    )

    assert year.status_code == 200, year.text
    for refused in (longer, ages):
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "366 days" in refused.json()["detail"]


def projected(services: Services) -> None:
    """The views hold what the desk just wrote (the reads check reach there): a record written
    past the API is not waited for as the API's own writes are."""
    assert services.runner.wait_for(services.desk.recorder.max_notification_id() or 0, 10)
