"""Major incidents over real HTTP, on SQLite and PostgreSQL: the criteria are a versioned rule
(defined with the defaults on first start, revised with a reason by a service manager); an
incident that meets them as it is logged, reprioritised or given children records a proposal
naming the criteria and the rule's version, and a person declares it; a resolved major incident
is reviewed (timeline, what went well and badly, actions, problems, improvements) before it is
closed; the caller reads neither; the view rebuilds from zero equal to the live one."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from domain.actors import Role
from projections import incident_details
from service.bootstrap import Services
from tests.conftest import Clock
from tests.integration.conftest import Api
from tests.integration.test_requests_problems_api import assert_rebuild_equals_live, ok, refused

pytestmark = pytest.mark.usefixtures("directory")

CRITERIA = "/api/v1/major-incident-criteria"


def log(api: Api, title: str, **more: Any) -> dict[str, Any]:
    body = {
        "title": title,
        "service": "circulation",
        "caller": "budi.santoso",
        "impact": "medium",
        "urgency": "medium",
        **more,
    }
    return ok(api.client().post("/api/v1/incidents", json=body), 201)


def history_types(client: httpx.Client, ref: str) -> list[str]:
    return [e["type"] for e in ok(client.get(f"/api/v1/incidents/{ref}/history"))["events"]]


def test_the_criteria_are_a_versioned_rule_that_proposes_and_a_person_declares(
    api: Api, services: Services
) -> None:
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    desk = api.client()
    first = ok(desk.get(CRITERIA))
    assert first == {
        "version": 1,
        "criteria": {
            "critical_services": [],
            "critical_priority": 1,
            "related_reports": 10,
            "within_minutes": 60,
            "organisation_wide_priority": None,
        },
    }
    revision = {
        "criteria": {
            "critical_services": ["circulation"],
            "related_reports": 2,
            "within_minutes": 30,
        },
        "reason": "Circulation stops every branch",
    }
    refused(desk.post(f"{CRITERIA}/revisions", json=revision), 403, "forbidden")
    unknown = {**revision, "criteria": {"critical_services": ["sefl-check"]}}
    refused(manager.post(f"{CRITERIA}/revisions", json=unknown), 422, "unknown-service")
    revised = ok(manager.post(f"{CRITERIA}/revisions", json=revision), 201)
    assert (revised["version"], revised["criteria"]["critical_services"]) == (2, ["circulation"])
    assert ok(desk.get(CRITERIA, params={"version": 1})) == first

    # a P1 on a critical service is proposed as it is logged; a P3 only once reprioritised
    p1 = log(api, "Sirkulasi mati di semua cabang", impact="high", urgency="high")
    assert history_types(desk, p1["ref"])[-1] == "Incident.MajorIncidentProposed"
    proposal = ok(desk.get(f"/api/v1/incidents/{p1['ref']}"))["major_proposal"]
    assert (proposal["criteria"], proposal["rule_version"]) == (["critical-service"], 2)
    assert ok(desk.get(f"/api/v1/incidents/{p1['ref']}"))["major_incident"] is None
    p3 = log(api, "Sirkulasi lambat")
    assert "Incident.MajorIncidentProposed" not in history_types(desk, p3["ref"])
    ok(
        desk.post(
            f"/api/v1/incidents/{p3['ref']}/reprioritise",
            json={"impact": "high", "urgency": "high", "reason": "now every branch"},
        )
    )
    assert history_types(desk, p3["ref"])[-2:] == [
        "Incident.Reprioritised",
        "Incident.MajorIncidentProposed",
    ]

    # the reports of one outage gathering under a parent propose it
    parent = log(api, "Gerbang RFID berbunyi", service="kiosks-gates")
    for n in range(2):
        child = log(api, f"Gerbang berbunyi di cabang {n}", service="kiosks-gates")
        ok(desk.post(f"/api/v1/incidents/{parent['ref']}/link-child", json={"child": child["ref"]}))
    gathered = ok(desk.get(f"/api/v1/incidents/{parent['ref']}"))["major_proposal"]
    assert gathered["criteria"] == ["related-reports"]

    # the caller reads neither the proposal nor its event
    caller = api.client("budi.santoso", Role.REQUESTER)
    assert ok(caller.get(f"/api/v1/incidents/{p1['ref']}"))["major_proposal"] is None
    assert "Incident.MajorIncidentProposed" not in history_types(caller, p1["ref"])

    assert_rebuild_equals_live(services, (incident_details,))


def test_a_resolved_major_incident_is_reviewed_before_it_is_closed(
    api: Api, services: Services, clock: Clock
) -> None:
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    desk = api.client()
    major = log(api, "Sirkulasi mati", assignment_group="circulation-team", agent="siti.rahma")
    ref = major["ref"]
    ok(
        manager.post(
            f"/api/v1/incidents/{ref}/declare-major",
            json={"manager": "dewi.lestari", "reason": "Every branch"},
        )
    )
    ok(desk.post(f"/api/v1/incidents/{ref}/start-work"))
    problem = ok(
        desk.post("/api/v1/problems", json={"title": "SIP2 drops", "incidents": [ref]}), 201
    )
    body = {
        "timeline": "08:10 down; 08:25 declared; 10:40 restored",
        "went_well": "Every branch knew within 15 minutes",
        "went_badly": "No one on call had the server's password",
        "actions": ["Put the credentials in the vault"],
        "problems": [problem["ref"]],
    }
    refused(
        desk.post(f"/api/v1/incidents/{ref}/review-major", json=body), 409, "illegal-transition"
    )
    ok(desk.post(f"/api/v1/incidents/{ref}/resolve", json={"code": "fixed", "notes": "restarted"}))
    clock.advance(days=8)  # past the caller's window
    refused(desk.post(f"/api/v1/incidents/{ref}/close"), 409, "review-required")
    missing = {**body, "problems": ["PRB-000099"]}
    assert desk.post(f"/api/v1/incidents/{ref}/review-major", json=missing).status_code == 404

    reviewed = ok(desk.post(f"/api/v1/incidents/{ref}/review-major", json=body))
    review = reviewed["major_incident"]["review"]
    assert (review["problems"], review["went_badly"], review["by"]["id"]) == (
        [problem["ref"]],
        "No one on call had the server's password",
        "siti.rahma",
    )
    assert ok(desk.post(f"/api/v1/incidents/{ref}/close"))["state"] == "closed"

    caller = api.client("budi.santoso", Role.REQUESTER)
    assert "Incident.MajorIncidentReviewed" not in history_types(caller, ref)
    assert ok(caller.get(f"/api/v1/incidents/{ref}"))["major_incident"]["review"] is None

    assert_rebuild_equals_live(services, (incident_details,))
