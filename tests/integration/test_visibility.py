"""A caller reads public comments, never the staff's internal notes (DESIGN invariant 8), on every
read path a requester reaches, over real HTTP; staff still read everything.

Every staff-only text below holds the word INTERNAL, so one search of an answer's bytes finds any
of them, wherever in the answer it went (a field of the view, a history entry, what an event
changed, a list item)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from api.incidents import SUMMARY_FIELDS
from application.seed import seed
from domain.actors import Role
from service.bootstrap import Services
from tests.conftest import T0, Clock, shared_service
from tests.directory_helpers import hold
from tests.integration.conftest import Api, serving

MARK = "INTERNAL"
CALLER = "budi.santoso"


@pytest.fixture
def backend() -> str:
    return "sqlite"  # what a caller reads does not depend on the backend


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def hides_internal(response: httpx.Response) -> str:
    """The answer's text, once it is known to be a success that holds no internal text."""
    assert response.status_code in (200, 201), response.text
    assert MARK not in response.text, response.text
    return response.text


@dataclass
class Worked:
    """An incident and a service request of the caller's, worked with internal notes."""

    incident: dict[str, Any]
    request: dict[str, Any]


def work_an_incident(api: Api, clock: Clock) -> dict[str, Any]:
    desk = api.client("siti.rahma", Role.AGENT)
    body = {
        "title": "Self-check kiosk 3 at Serang branch is offline",
        "service": "kiosks-gates",
        "caller": CALLER,
        "impact": "medium",
        "urgency": "high",
        "assignment_group": "kiosk-team",
    }
    incident = ok(desk.post("/api/v1/incidents", json=body), 201)
    ref = incident["ref"]

    def act(action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        clock.advance(minutes=5)
        return ok(desk.post(f"/api/v1/incidents/{ref}/{action}", json=body))

    act("start-work")
    act("add-work-note", {"text": f"{MARK}: the reader's firmware is pirated"})
    act("put-on-hold", {"reason": "awaiting_supplier", "note": f"{MARK}: vendor owes us money"})
    act("resume", {"note": f"{MARK}: vendor called back"})
    act("reprioritise", {"impact": "high", "urgency": "high", "reason": f"{MARK}: the head asked"})
    act(
        "escalate",
        {"kind": "hierarchical", "reason": f"{MARK}: agent out of depth", "to_manager": "dewi"},
    )
    act("declare-major", {"manager": "dewi", "reason": f"{MARK}: three branches down"})
    act("add-comment", {"text": "We are replacing the card reader today."})
    problem = ok(
        desk.post(
            "/api/v1/problems",
            json={
                "title": "Kiosk card readers fail after the update",
                "service": "kiosks-gates",
                "incidents": [ref],
            },
        ),
        201,
    )
    ok(
        desk.post(
            f"/api/v1/problems/{problem['ref']}/publish-workaround",
            json={"workaround": f"{MARK}: bypass the reader with the admin PIN"},
        )
    )
    return incident


def work_a_request(api: Api, services: Services) -> dict[str, Any]:
    seed(services.desk)
    member = api.client(CALLER, Role.REQUESTER)
    request = ok(
        member.post(
            "/api/v1/service-requests",
            json={"catalogue_item": "fine-waiver", "title": "Fine after the flood"},
        ),
        201,
    )
    ref = request["ref"]
    approver = api.client("kepala.layanan", Role.AGENT)
    desk = api.client("siti.rahma", Role.AGENT)
    ok(
        approver.post(
            f"/api/v1/service-requests/{ref}/approve",
            json={"comment": f"{MARK}: waive it, but watch this member"},
        )
    )
    ok(desk.post(f"/api/v1/service-requests/{ref}/start-fulfilment"))
    ok(
        desk.post(
            f"/api/v1/service-requests/{ref}/complete-step",
            json={"step": 1, "note": f"{MARK}: waived under the head's code"},
        )
    )
    ok(
        desk.post(
            f"/api/v1/service-requests/{ref}/await-requester",
            json={"question": "Which branch did you borrow from?"},
        )
    )
    return request


@pytest.fixture
def worked(api: Api, services: Services, clock: Clock) -> Worked:
    """Worked on a service of the test's own, for a test that writes."""
    hold(services)
    return Worked(work_an_incident(api, clock), work_a_request(api, services))


@pytest.fixture(scope="module")
def reading(request: pytest.FixtureRequest) -> Iterator[tuple[Api, Worked]]:
    """Worked once on a service that the tests which only read share."""
    clock = Clock()
    with shared_service("sqlite", request, clock) as services, serving(services) as api:
        hold(services)
        yield api, Worked(work_an_incident(api, clock), work_a_request(api, services))


@pytest.fixture
def read_api(reading: tuple[Api, Worked]) -> Api:
    return reading[0]


@pytest.fixture
def read_worked(reading: tuple[Api, Worked]) -> Worked:
    return reading[1]


def test_a_requester_reads_no_work_note_of_their_incident(
    read_api: Api, read_worked: Worked
) -> None:
    member = read_api.client(CALLER, Role.REQUESTER)
    ref = read_worked.incident["ref"]
    seen = hides_internal(member.get(f"/api/v1/incidents/{ref}"))
    assert "We are replacing the card reader today." in seen  # the public comment
    view = member.get(f"/api/v1/incidents/{ref}").json()
    assert view["work_notes"] == []
    assert view["workarounds"] == []
    assert view["state"] == "in_progress"
    assert view["priority"] == 1  # the new priority is the caller's to know, not its reason
    assert view["escalation_level"] == 1


def test_staff_still_read_every_note(read_api: Api, read_worked: Worked) -> None:
    ref = read_worked.incident["ref"]
    for role in (Role.AGENT, Role.AUDITOR):
        view = ok(read_api.client("staff", role).get(f"/api/v1/incidents/{ref}"))
        texts = [note["text"] for note in view["work_notes"]]
        assert texts == [
            f"{MARK}: the reader's firmware is pirated",
            f"{MARK}: vendor owes us money",
            f"{MARK}: vendor called back",
        ]
        assert view["escalations"][0]["reason"] == f"{MARK}: agent out of depth"
        assert view["workarounds"][0]["workaround"].startswith(MARK)
        history = ok(read_api.client("staff", role).get(f"/api/v1/incidents/{ref}/history"))
        assert "Incident.WorkNoteAdded" in [e["type"] for e in history["events"]]
    staff = read_api.client("siti.rahma", Role.AGENT)
    request = ok(staff.get(f"/api/v1/service-requests/{read_worked.request['ref']}"))
    assert request["steps"][0]["done"]["note"] == f"{MARK}: waived under the head's code"
    assert request["approval"]["given"][0]["comment"].startswith(MARK)


def test_a_requester_reads_the_history_of_their_incident_without_internal_events(
    read_api: Api, read_worked: Worked
) -> None:
    member = read_api.client(CALLER, Role.REQUESTER)
    ref = read_worked.incident["ref"]
    hides_internal(member.get(f"/api/v1/incidents/{ref}/history"))
    events = member.get(f"/api/v1/incidents/{ref}/history").json()["events"]
    types = [e["type"] for e in events]
    assert "Incident.WorkNoteAdded" not in types
    assert "Incident.WorkaroundShared" not in types
    assert "Incident.CommentAdded" in types
    held = next(e for e in events if e["type"] == "Incident.PutOnHold")
    assert held["data"]["reason"] == "awaiting_supplier"
    assert held["data"]["note"] is None
    assert "work_notes" not in held["changes"]
    # versions stay the record's own: a hidden event leaves a gap, not a renumbering
    versions = [e["version"] for e in events]
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)


def test_a_requester_travelling_in_time_reads_no_internal_note(
    read_api: Api, read_worked: Worked
) -> None:
    member = read_api.client(CALLER, Role.REQUESTER)
    ref = read_worked.incident["ref"]
    live = member.get(f"/api/v1/incidents/{ref}")
    for minutes in (5, 12, 17, 60 * 24):
        moment = (T0 + timedelta(minutes=minutes)).isoformat()
        hides_internal(member.get(f"/api/v1/incidents/{ref}", params={"as_of": moment}))
        hides_internal(member.get(f"/api/v1/incidents/{ref}/history", params={"as_of": moment}))
    now = (T0 + timedelta(days=1)).isoformat()
    then = member.get(f"/api/v1/incidents/{ref}", params={"as_of": now})
    assert then.json() == live.json()  # as of now, the replay is the caller's live view
    assert then.headers["ETag"] == live.headers["ETag"]


def test_a_requesters_write_is_answered_without_internal_notes(api: Api, worked: Worked) -> None:
    member = api.client(CALLER, Role.REQUESTER)
    ref = worked.incident["ref"]
    etag = member.get(f"/api/v1/incidents/{ref}").headers["ETag"]
    # the caller's ETag is the record's, so If-Match works after an internal event too
    answer = member.post(
        f"/api/v1/incidents/{ref}/add-comment",
        json={"text": "Thank you, it works at branch 2"},
        headers={"If-Match": etag},
    )
    assert "Thank you, it works at branch 2" in hides_internal(answer)
    responded = member.post(
        f"/api/v1/service-requests/{worked.request['ref']}/record-response",
        json={"answer": "Serang"},
    )
    assert "Which branch did you borrow from?" in hides_internal(responded)


def test_a_requester_reads_their_service_request_without_internal_notes(
    read_api: Api, read_worked: Worked
) -> None:
    member = read_api.client(CALLER, Role.REQUESTER)
    ref = read_worked.request["ref"]
    seen = member.get(f"/api/v1/service-requests/{ref}")
    hides_internal(seen)
    view = seen.json()
    assert view["steps"][0]["done"]["note"] is None  # the step is done; its note is not theirs
    assert view["steps"][0]["done"]["by"]["id"] == "siti.rahma"
    assert view["approval"]["given"][0]["approver"] == "kepala.layanan"
    assert view["conversation"][0]["question"] == "Which branch did you borrow from?"
    hides_internal(member.get(f"/api/v1/service-requests/{ref}/history"))
    listed = member.get("/api/v1/service-requests")
    hides_internal(listed)
    assert [item["ref"] for item in listed.json()["items"]] == [ref]


def test_no_get_route_a_requester_may_call_shows_them_an_internal_note(
    read_api: Api, read_worked: Worked, openapi_document: dict[str, Any]
) -> None:
    """Every GET route of the OpenAPI document, called by the caller with their own records'
    refs, answers without internal text: a new read route cannot leak a note unnoticed."""
    member = read_api.client(CALLER, Role.REQUESTER)
    paths = openapi_document["paths"]
    refs = {
        "/api/v1/incidents/": read_worked.incident["ref"],
        "/api/v1/service-requests/": read_worked.request["ref"],
    }
    called = 0
    for path, operations in paths.items():
        if "get" not in operations or not path.startswith("/api/v1/"):
            continue
        url = path
        for prefix, ref in refs.items():
            if path.startswith(prefix + "{ref}"):
                url = path.replace("{ref}", ref)
        if "{" in url:
            continue  # a resource of no caller's record (a code, a calendar name)
        response = member.get(url)
        if response.status_code == 403:
            continue  # not the requester's to read at all
        called += 1
        assert MARK not in response.text, (path, response.text)
    assert called >= 8


def test_a_requesters_incident_list_shows_what_their_view_shows(
    read_api: Api, read_worked: Worked
) -> None:
    member = read_api.client(CALLER, Role.REQUESTER)
    listed = member.get("/api/v1/incidents")
    hides_internal(listed)
    (item,) = listed.json()["items"]
    view = member.get(f"/api/v1/incidents/{read_worked.incident['ref']}").json()
    assert item == {name: view[name] for name in SUMMARY_FIELDS}
