"""The retention schedule's limit on requesters, over real HTTP on SQLite and PostgreSQL: a
requester reads their own incident and service request until two years after it ended (closed,
cancelled, rejected), then as if it did not exist; the staff read it for as long as the service
runs (domain/retention_schedule.json)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from application.seed import seed
from domain.actors import Role
from tests.conftest import Clock
from tests.integration.conftest import Api
from tests.integration.test_api import act
from tests.integration.test_requests_problems_api import ok, refused

pytestmark = pytest.mark.usefixtures("directory")

#: Two calendar years from March 2026 (2028 is a leap year), and a day.
TWO_YEARS = timedelta(days=732)


def test_a_requester_reads_their_ended_records_for_two_years_and_the_staff_for_good(
    api: Api, clock: Clock
) -> None:
    seed(api.services.desk)
    member = api.client("budi.santoso", Role.REQUESTER)
    agent = api.client("siti.rahma", Role.AGENT)
    body = {
        "title": "Kartu anggota tidak terbaca",
        "service": "kiosks-gates",
        "caller": "budi.santoso",
        "impact": "low",
        "urgency": "low",
        "assignment_group": "kiosk-team",
    }
    ended = ok(agent.post("/api/v1/incidents", json=body), 201)["ref"]
    open_one = ok(agent.post("/api/v1/incidents", json=body), 201)["ref"]
    ok(act(agent, ended, "start-work"))
    ok(act(agent, ended, "resolve", {"code": "fixed", "notes": "card reprinted"}))
    clock.advance(days=api.services.settings.reopen_window.days, seconds=1)
    ok(act(agent, ended, "close"))
    request = member.post(
        "/api/v1/service-requests", json={"catalogue_item": "card-reprint", "title": "Kartu"}
    )
    cancelled = ok(request, 201)["ref"]
    ok(member.post(f"/api/v1/service-requests/{cancelled}/cancel", json={"reason": "found it"}))

    # a day short of two years: still theirs to read
    clock.now = clock.now + TWO_YEARS - timedelta(days=2)
    member = api.client("budi.santoso", Role.REQUESTER)
    ok(member.get(f"/api/v1/incidents/{ended}"))
    ok(member.get(f"/api/v1/service-requests/{cancelled}"))

    # past two years: as if it did not exist, in reads, histories and lists alike
    clock.advance(days=2)
    member = api.client("budi.santoso", Role.REQUESTER)
    refused(member.get(f"/api/v1/incidents/{ended}"), 404, "incident-not-found")
    refused(member.get(f"/api/v1/incidents/{ended}/history"), 404, "incident-not-found")
    refused(member.get(f"/api/v1/service-requests/{cancelled}"), 404, "record-not-found")
    listed = [i["ref"] for i in ok(member.get("/api/v1/incidents"))["items"]]
    assert listed == [open_one]  # the open one has not ended: still theirs
    assert ok(member.get("/api/v1/service-requests"))["items"] == []
    found = ok(member.get("/api/v1/search", params={"q": "kartu"}))
    assert [h["ref"] for h in found["items"]] == [open_one]  # the search: the same limit

    # the staff read them for as long as the service runs
    agent = api.client("siti.rahma", Role.AGENT)
    assert ok(agent.get(f"/api/v1/incidents/{ended}"))["state"] == "closed"
    assert ok(agent.get(f"/api/v1/service-requests/{cancelled}"))["state"] == "cancelled"
