"""Service requests, problems, known errors and links over real HTTP, on SQLite and PostgreSQL;
the views they feed rebuild from zero equal to the live ones."""

from __future__ import annotations

from typing import Any

import httpx

from application.seed import seed
from domain.actors import Role
from projections import (
    catalogue_items,
    change_details,
    configuration_items,
    incident_details,
    incident_occurrences,
    known_errors,
    problem_details,
    service_request_details,
)
from projections.runner import ProjectionRunner
from service.bootstrap import Services
from tests.conftest import Clock
from tests.integration.conftest import Api
from tests.integration.test_changes_api import WINDOW, authorised_change


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


def log_incident(api: Api, title: str, **fields: Any) -> dict[str, Any]:
    body = {
        "title": title,
        "service": "batupusaka",
        "caller": "budi.santoso",
        "impact": "medium",
        "urgency": "medium",
        **fields,
    }
    return ok(api.client().post("/api/v1/incidents", json=body), 201)


def test_a_service_request_from_the_catalogue_to_closure(api: Api, services: Services) -> None:
    seed(services.desk)
    services.runner.catch_up()  # seeded outside a request: no answer waited for the views
    member = api.client("budi.santoso", Role.REQUESTER)
    desk = api.client("siti.rahma", Role.AGENT)

    catalogue = ok(member.get("/api/v1/catalogue-items"))
    codes = {item["code"] for item in catalogue["items"]}
    assert {"member-data-correction", "card-reprint", "fine-waiver", "staff-account"} <= codes
    school = ok(member.get("/api/v1/catalogue-items/inlislite-school-install"))
    assert school["approvals_needed"] == 2
    assert len(school["steps"]) == 4

    made = member.post(
        "/api/v1/service-requests",
        json={"catalogue_item": "inlislite-school-install", "title": "SMAN 2 Pandeglang"},
        headers={"Idempotency-Key": "req-1"},
    )
    request = ok(made, 201)
    assert request["ref"] == "REQ-000001"
    assert request["state"] == "awaiting_approval"
    assert request["paused"] is True
    again = member.post(
        "/api/v1/service-requests",
        json={"catalogue_item": "inlislite-school-install", "title": "SMAN 2 Pandeglang"},
        headers={"Idempotency-Key": "req-1"},
    )
    assert ok(again, 201)["id"] == request["id"]  # a retry, not a second request
    ref = request["ref"]

    # segregation of duties: the requester cannot approve, even as a head of section
    own = api.client("budi.santoso", Role.SERVICE_MANAGER).post(
        f"/api/v1/service-requests/{ref}/approve"
    )
    refused(own, 403, "requester-cannot-approve")
    head = api.client("kepala.bidang", Role.SERVICE_MANAGER)
    ok(head.post(f"/api/v1/service-requests/{ref}/approve", json={"comment": "setuju"}))
    twice = head.post(f"/api/v1/service-requests/{ref}/approve")
    refused(twice, 409, "already-decided")
    approved = ok(
        api.client("kepala.dinas", Role.SERVICE_MANAGER).post(
            f"/api/v1/service-requests/{ref}/approve"
        )
    )
    assert approved["state"] == "approved"

    ok(desk.post(f"/api/v1/service-requests/{ref}/start-fulfilment"))
    asked = ok(
        desk.post(
            f"/api/v1/service-requests/{ref}/await-requester", json={"question": "Which day?"}
        )
    )
    assert asked["state"] == "awaiting_requester"
    assert asked["paused"] is True
    ok(member.post(f"/api/v1/service-requests/{ref}/record-response", json={"answer": "Kamis"}))
    early = desk.post(f"/api/v1/service-requests/{ref}/fulfil", json={"notes": "done"})
    refused(early, 409, "fulfilment-steps-outstanding")
    for step in (1, 2, 3, 4):
        ok(desk.post(f"/api/v1/service-requests/{ref}/complete-step", json={"step": step}))
    ok(desk.post(f"/api/v1/service-requests/{ref}/fulfil", json={"notes": "installed"}))
    closed = ok(member.post(f"/api/v1/service-requests/{ref}/close"))
    assert closed["state"] == "closed"
    assert all(step["done"] for step in closed["steps"])

    queue = ok(desk.get("/api/v1/service-requests", params={"group": "tim-inlislite"}))
    assert [row["ref"] for row in queue["items"]] == [ref]
    history = ok(desk.get(f"/api/v1/service-requests/{ref}/history"))["events"]
    types = [e["type"] for e in history]
    assert types[:2] == ["ServiceRequest.Submitted", "ServiceRequest.ApprovalRequested"]
    assert types[-1] == "ServiceRequest.Closed"
    # the facts an SLA clock needs: the priority, and when each pause began and ended
    assert history[0]["data"]["priority"] == school["priority"]
    assert "ServiceRequest.InformationRequested" in types

    # a requester may not do the desk's work
    other = ok(
        member.post(
            "/api/v1/service-requests",
            json={"catalogue_item": "card-reprint", "title": "lost card"},
        ),
        201,
    )
    desks_work = member.post(f"/api/v1/service-requests/{other['ref']}/start-fulfilment")
    refused(desks_work, 403, "forbidden")
    assert_rebuild_equals_live(services, (service_request_details, catalogue_items))


def test_a_problem_from_incidents_to_a_known_error_and_recurrence(
    api: Api, services: Services, clock: Clock
) -> None:
    seed(services.desk)
    desk = api.client("siti.rahma", Role.AGENT)
    first = log_incident(api, "Online renewal fails", configuration_item="app-union-catalogue")
    second = log_incident(api, "Renewal button does nothing")

    problem = ok(
        desk.post(
            "/api/v1/problems",
            json={
                "title": "Online renewal fails for members with fines",
                "service": "batupusaka",
                "configuration_items": ["app-union-catalogue"],
                "incidents": [first["ref"], second["id"]],
            },
        ),
        201,
    )
    ref = problem["ref"]
    assert ref == "PRB-000001"
    assert [i["ref"] for i in problem["incidents"]] == [first["ref"], second["ref"]]
    linked = ok(desk.get(f"/api/v1/incidents/{first['ref']}"))
    assert [p["ref"] for p in linked["problems"]] == [ref]
    item = ok(desk.get("/api/v1/configuration-items/app-union-catalogue"))
    assert [p["ref"] for p in item["linked_problems"]] == [ref]

    ok(desk.post(f"/api/v1/problems/{ref}/start-investigation"))
    early = desk.post(f"/api/v1/problems/{ref}/publish-known-error", json={"symptoms": "x"})
    refused(early, 409, "root-cause-missing")
    ok(
        desk.post(
            f"/api/v1/problems/{ref}/record-root-cause",
            json={"root_cause": "The renewal API rejects members whose fine is under Rp 1.000"},
        )
    )
    ok(
        desk.post(
            f"/api/v1/problems/{ref}/publish-workaround",
            json={"workaround": "Renew at the desk, or pay the fine first"},
        )
    )
    ok(
        desk.post(
            f"/api/v1/problems/{ref}/publish-known-error",
            json={"symptoms": "Renew button does nothing in the OPAC"},
        )
    )
    # linked incidents see the workaround, and one linked later sees it too
    seen = ok(desk.get(f"/api/v1/incidents/{second['ref']}"))
    assert [w["workaround"] for w in seen["workarounds"]] == [
        "Renew at the desk, or pay the fine first"
    ]
    third = log_incident(api, "Cannot renew online")
    ok(desk.post(f"/api/v1/problems/{ref}/link-incident", json={"incident": third["ref"]}))
    assert ok(desk.get(f"/api/v1/incidents/{third['ref']}"))["workarounds"][0]["problem"] == ref
    twice = desk.post(f"/api/v1/problems/{ref}/link-incident", json={"incident": third["ref"]})
    refused(twice, 409, "already-linked")
    incident_history = ok(desk.get(f"/api/v1/incidents/{third['ref']}/history"))["events"]
    assert [e["type"] for e in incident_history][-2:] == [
        "Incident.LinkedToProblem",
        "Incident.WorkaroundShared",
    ]

    # the known error database: by service, by item, by text
    for params in (
        {"service": "batupusaka"},
        {"ci": "app-union-catalogue"},
        {"q": "RENEW button"},
        {"q": "fine is under", "ci": "app-union-catalogue"},
    ):
        found = ok(desk.get("/api/v1/known-errors", params=params))["items"]
        assert [row["problem"] for row in found] == [ref], params
    for params in ({"service": "public-wifi"}, {"ci": "app-union"}, {"q": "100%"}):
        assert ok(desk.get("/api/v1/known-errors", params=params))["items"] == [], params

    # resolved through a change, which must have been implemented successfully
    change = authorised_change(api, ["app-union-catalogue"], "Fix renewal of small fines")
    not_yet = desk.post(
        f"/api/v1/problems/{ref}/resolve", json={"change": change["ref"], "notes": "fixed"}
    )
    refused(not_yet, 409, "change-not-implemented")
    resolver = api.client("andi.pratama", Role.RESOLVER)
    ok(
        resolver.post(
            f"/api/v1/changes/{change['ref']}/schedule", json={"start": WINDOW[0], "end": WINDOW[1]}
        )
    )
    ok(resolver.post(f"/api/v1/changes/{change['ref']}/start-implementation"))
    ok(
        resolver.post(
            f"/api/v1/changes/{change['ref']}/record-implementation",
            json={"outcome": "successful", "notes": "deployed 3.2.1"},
        )
    )
    resolved = ok(
        desk.post(
            f"/api/v1/problems/{ref}/resolve", json={"change": change["ref"], "notes": "fixed"}
        )
    )
    assert resolved["state"] == "resolved"
    assert [c["ref"] for c in resolved["changes"]] == [change["ref"]]
    assert [p["ref"] for p in ok(desk.get(f"/api/v1/changes/{change['ref']}"))["problems"]] == [ref]
    ok(desk.post(f"/api/v1/problems/{ref}/close"))

    # recurrence: incidents on its service or item after it closed, not those before
    clock.advance(days=3)
    again = log_incident(
        api, "Renewal fails again", service="public-wifi", configuration_item="app-union-catalogue"
    )
    log_incident(api, "Wi-Fi slow", service="public-wifi")
    report = ok(desk.get("/api/v1/problems/recurrence"))["items"]
    assert [(row["problem"], row["recurrences"]) for row in report] == [(ref, 1)]
    assert report[0]["incidents"][0]["ref"] == again["ref"]

    assert_rebuild_equals_live(
        services,
        (
            problem_details,
            known_errors,
            incident_occurrences,
            incident_details,
            change_details,
            configuration_items,
        ),
    )


def test_a_failed_change_opens_a_problem_linked_both_ways(api: Api, services: Services) -> None:
    seed(services.desk)
    change = authorised_change(api, ["app-inlislite"], "Upgrade INLISLite")
    resolver = api.client("andi.pratama", Role.RESOLVER)
    ref = change["ref"]
    ok(
        resolver.post(
            f"/api/v1/changes/{ref}/schedule", json={"start": WINDOW[0], "end": WINDOW[1]}
        )
    )
    ok(resolver.post(f"/api/v1/changes/{ref}/start-implementation"))
    failed = ok(
        resolver.post(
            f"/api/v1/changes/{ref}/record-implementation",
            json={"outcome": "failed", "notes": "database migration failed", "open_problem": True},
        )
    )
    assert failed["review_task"] is not None
    assert [p["ref"] for p in failed["problems"]] == ["PRB-000001"]
    problem = ok(resolver.get("/api/v1/problems/PRB-000001"))
    assert [c["ref"] for c in problem["changes"]] == [ref]
    assert problem["configuration_items"] == ["app-inlislite"]
    history = ok(resolver.get(f"/api/v1/changes/{ref}/history"))["events"]
    assert "Change.ProblemLinked" in [e["type"] for e in history]
    # the change's items record it from the moment it was raised
    item = ok(resolver.get("/api/v1/configuration-items/app-inlislite"))
    assert [c["ref"] for c in item["linked_changes"]] == [ref]

    # an incident and a change, linked both ways
    incident = log_incident(api, "Circulation down after the upgrade", service="inlislite-slims")
    linked = ok(
        resolver.post(f"/api/v1/changes/{ref}/link-incident", json={"incident": incident["ref"]})
    )
    assert [i["ref"] for i in linked["incidents"]] == [incident["ref"]]
    assert ok(resolver.get(f"/api/v1/incidents/{incident['ref']}"))["changes"][0]["ref"] == ref
    # and the incident is still worked on through its own path, at its new version
    assigned = resolver.post(
        f"/api/v1/incidents/{incident['ref']}/assign", json={"group": "tim-inlislite"}
    )
    assert assigned.status_code == 200, assigned.text


def assert_rebuild_equals_live(services: Services, views: tuple[Any, ...]) -> None:
    services.runner.catch_up()
    live = {p.name: services.views.rows(p) for p in views}
    assert all(live.values())
    for projection in views:
        services.views.reset(projection)
    ProjectionRunner(services.desk.recorder, services.desk.mapper, services.views, views).catch_up()
    assert {p.name: services.views.rows(p) for p in views} == live
