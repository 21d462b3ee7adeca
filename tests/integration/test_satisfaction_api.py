"""Satisfaction ratings and the improvement register over real HTTP, on SQLite and PostgreSQL: the
caller rates their closed incident or request once (not while it is open, not twice, not staff
for them), reads their rating back, and a low rating opens one follow-up in the register, owned
by the manager of the group that did the work or listed as unowned; the register's lifecycle;
the views rebuild from zero equal to the live ones."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.models import ImprovementDetails, ServiceRequestDetails
from api.schemas import IncidentDetails
from application.seed import seed
from domain.actors import Role
from projections.improvements import improvement_register
from projections.incident_details import incident_details
from projections.service_requests import service_request_details
from service.bootstrap import Services
from tests.conftest import Clock
from tests.integration.conftest import Api
from tests.integration.test_requests_problems_api import assert_rebuild_equals_live, ok, refused

pytestmark = pytest.mark.usefixtures("directory")

CALLER = "budi.santoso"
MANAGER = "dewi.lestari"


def closed_incident(api: Api, clock: Clock) -> str:
    """An incident of budi.santoso's, worked by the kiosk team and closed on his confirmation."""
    agent = api.client()
    body = {
        "title": "Kiosk 3 di Serang mati",
        "service": "kiosks-gates",
        "caller": CALLER,
        "impact": "low",
        "urgency": "low",
        "assignment_group": "kiosk-team",
    }
    ref: str = ok(agent.post("/api/v1/incidents", json=body), 201)["ref"]
    ok(agent.post(f"/api/v1/incidents/{ref}/start-work"))
    ok(agent.post(f"/api/v1/incidents/{ref}/resolve", json={"code": "fixed", "notes": "Kabel"}))
    rate = api.client(CALLER, Role.REQUESTER).post(
        f"/api/v1/incidents/{ref}/rating", json={"score": 5}
    )
    refused(rate, 409, "illegal-transition")  # resolved, not closed yet
    clock.advance(minutes=5)
    assert (
        ok(api.client(CALLER, Role.REQUESTER).post(f"/api/v1/incidents/{ref}/confirm"))["state"]
        == "closed"
    )
    return ref


def improvements(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = ok(client.get("/api/v1/improvements", params=params))["items"]
    return items


def test_the_caller_rates_a_closed_incident_once_and_a_low_rating_is_followed_up(
    api: Api, services: Services, clock: Clock
) -> None:
    admin = api.client("admin", Role.ADMIN)
    ok(admin.post("/api/v1/directory/groups/kiosk-team/appoint-manager", json={"manager": MANAGER}))
    ref = closed_incident(api, clock)
    caller = api.client(CALLER, Role.REQUESTER)
    agent = api.client()
    manager = api.client(MANAGER, Role.SERVICE_MANAGER)

    # staff do not rate for the caller; another requester does not reach the incident
    refused(agent.post(f"/api/v1/incidents/{ref}/rating", json={"score": 5}), 403, "not-the-caller")
    stranger = api.client("rina.kartika", Role.REQUESTER)
    refused(
        stranger.post(f"/api/v1/incidents/{ref}/rating", json={"score": 5}),
        404,
        "incident-not-found",
    )
    # a score is 1 to 5, a comment at most 2000 characters
    for bad in ({"score": 0}, {"score": 6}, {"score": 3, "comment": "x" * 2001}, {}):
        refused(caller.post(f"/api/v1/incidents/{ref}/rating", json=bad), 422, "invalid-input")

    clock.advance(minutes=1)
    rated = ok(
        caller.post(
            f"/api/v1/incidents/{ref}/rating",
            json={"score": 2, "comment": "Dua hari menunggu"},
        )
    )
    assert rated["rating"]["score"] == 2
    assert rated["rating"]["comment"] == "Dua hari menunggu"
    assert rated["rating"]["by"]["id"] == CALLER
    IncidentDetails.model_validate(rated)  # the answer is the declared one
    refused(caller.post(f"/api/v1/incidents/{ref}/rating", json={"score": 5}), 409, "already-rated")
    # the caller reads their own rating and words; so do the staff
    assert ok(caller.get(f"/api/v1/incidents/{ref}"))["rating"]["comment"] == "Dua hari menunggu"
    assert ok(agent.get(f"/api/v1/incidents/{ref}"))["rating"]["score"] == 2
    history = ok(caller.get(f"/api/v1/incidents/{ref}/history"))["events"]
    assert history[-1]["type"] == "Incident.Rated"

    # one follow-up, owned by the kiosk team's manager, linked to the rated incident
    (follow_up,) = improvements(manager)
    assert follow_up["ref"] == "IMP-000001"
    assert (follow_up["source"], follow_up["owner"], follow_up["state"]) == (
        "rating",
        MANAGER,
        "proposed",
    )
    assert follow_up["source_record"]["kind"] == "incident"
    assert follow_up["source_record"]["ref"] == ref
    assert follow_up["description"] == "Dua hari menunggu"
    assert improvements(manager, owner=MANAGER, source="rating") == [follow_up]
    # the register is the staff's
    refused(caller.get("/api/v1/improvements"), 403, "forbidden")
    refused(caller.get("/api/v1/improvements/IMP-000001"), 403, "forbidden")

    assert_rebuild_equals_live(services, (incident_details, improvement_register))


def test_a_low_rating_of_a_request_whose_group_has_no_manager_is_listed_unowned(
    api: Api, services: Services
) -> None:
    seed(services.desk)
    member = api.client(CALLER, Role.REQUESTER)
    desk = api.client("siti.rahma", Role.AGENT)
    made = member.post(
        "/api/v1/service-requests", json={"catalogue_item": "card-reprint", "title": "Kartu hilang"}
    )
    ref = ok(made, 201)["ref"]
    refused(
        member.post(f"/api/v1/service-requests/{ref}/rating", json={"score": 1}),
        409,
        "illegal-transition",
    )
    ok(desk.post(f"/api/v1/service-requests/{ref}/start-fulfilment"))
    for step in (1, 2):
        ok(desk.post(f"/api/v1/service-requests/{ref}/complete-step", json={"step": step}))
    ok(desk.post(f"/api/v1/service-requests/{ref}/fulfil", json={"notes": "Dicetak"}))
    ok(member.post(f"/api/v1/service-requests/{ref}/close"))

    refused(
        desk.post(f"/api/v1/service-requests/{ref}/rating", json={"score": 1}),
        403,
        "not-the-caller",
    )
    # a retry of the same request (a lost answer, a client restarted) is the first answer
    key = {"Idempotency-Key": "rate-once"}
    first = member.post(f"/api/v1/service-requests/{ref}/rating", json={"score": 1}, headers=key)
    rated = ok(first)
    again = member.post(f"/api/v1/service-requests/{ref}/rating", json={"score": 1}, headers=key)
    assert ok(again) == rated
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (rated["rating"]["score"], rated["rating"]["comment"]) == (1, None)
    ServiceRequestDetails.model_validate(rated)
    refused(
        member.post(f"/api/v1/service-requests/{ref}/rating", json={"score": 4}),
        409,
        "already-rated",
    )

    manager = api.client(MANAGER, Role.SERVICE_MANAGER)
    # exactly one follow-up, however often the rating was sent
    (unowned,) = improvements(manager, owned=False)
    assert unowned["owner"] is None
    assert unowned["source_record"] == {"kind": "service_request", "id": rated["id"], "ref": ref}
    assert improvements(manager, owned=True) == []
    assert_rebuild_equals_live(services, (service_request_details, improvement_register))


def test_an_improvement_is_proposed_approved_worked_and_done_by_its_owner(
    api: Api, services: Services
) -> None:
    manager = api.client(MANAGER, Role.SERVICE_MANAGER)
    owner = api.client("andi.wijaya", Role.RESOLVER)
    agent = api.client()
    body = {
        "title": "Kiosk card readers: replace before they fail",
        "description": "Three readers at Serang failed in a month.",
        "source": "audit-finding",
        "expected_benefit": "No kiosk out of service for a reader",
        "due": "2027-03-31",
    }
    refused(agent.post("/api/v1/improvements", json=body), 403, "forbidden")
    refused(
        manager.post("/api/v1/improvements", json={**body, "owner": "nobody.here"}),
        422,
        "person-not-found",
    )
    made = ok(manager.post("/api/v1/improvements", json=body), 201)
    ref = made["ref"]
    assert (made["state"], made["owner"], made["owned"], made["due"]) == (
        "proposed",
        None,
        0,
        "2027-03-31",
    )
    ok(manager.post(f"/api/v1/improvements/{ref}/assign-owner", json={"owner": "andi.wijaya"}))
    refused(owner.post(f"/api/v1/improvements/{ref}/approve"), 403, "forbidden")
    refused(owner.post(f"/api/v1/improvements/{ref}/start"), 409, "illegal-transition")
    ok(manager.post(f"/api/v1/improvements/{ref}/approve", json={"comment": "Before term"}))
    refused(agent.post(f"/api/v1/improvements/{ref}/start"), 403, "not-permitted")
    assert ok(owner.post(f"/api/v1/improvements/{ref}/start"))["state"] == "in_progress"
    done = ok(
        owner.post(
            f"/api/v1/improvements/{ref}/complete",
            json={"realised_benefit": "No reader failed since May"},
        )
    )
    assert (done["state"], done["realised_benefit"]) == ("done", "No reader failed since May")
    assert done["completion"]["by"]["id"] == "andi.wijaya"
    ImprovementDetails.model_validate(done)
    refused(
        manager.post(f"/api/v1/improvements/{ref}/reject", json={"reason": "late"}),
        409,
        "illegal-transition",
    )
    assert [i["ref"] for i in improvements(agent, state="done", owner="andi.wijaya")] == [ref]

    # the record it comes from must be one the manager reaches
    missing = {"kind": "incident", "ref": "INC-000009"}
    linked = manager.post("/api/v1/improvements", json={**body, "source_record": missing})
    refused(linked, 422, "source-record-not-found")
    incident_ref = ok(
        agent.post(
            "/api/v1/incidents",
            json={
                "title": "Gate",
                "service": "kiosks-gates",
                "caller": CALLER,
                "impact": "low",
                "urgency": "low",
            },
        ),
        201,
    )["ref"]
    from_breach = ok(
        manager.post(
            "/api/v1/improvements",
            json={
                **body,
                "source": "breach",
                "source_record": {"kind": "incident", "ref": incident_ref},
            },
        ),
        201,
    )
    assert from_breach["source_record"]["ref"] == incident_ref
    rejected = ok(manager.post("/api/v1/improvements", json=body), 201)["ref"]
    out = ok(manager.post(f"/api/v1/improvements/{rejected}/reject", json={"reason": "Next year"}))
    assert out["rejection"]["reason"] == "Next year"
    history = ok(agent.get(f"/api/v1/improvements/{ref}/history"))["events"]
    assert [e["type"] for e in history] == [
        "Improvement.Proposed",
        "Improvement.OwnerAssigned",
        "Improvement.Approved",
        "Improvement.Started",
        "Improvement.Completed",
    ]
    assert_rebuild_equals_live(services, (improvement_register,))
