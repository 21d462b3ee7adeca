"""Classification through the API, on SQLite and PostgreSQL: the service on a record is one of the
service catalogue's, by code (the free-text "Sefl-check kiosk" is refused, saying where the codes
are); an incident's category and subcategory are the service's, set at logging and changed with a
reason; queues, lists and search use them; the catalogue is versioned, retires and never removes;
and the 24x7 terms of the SLA policy name a service that exists, so Batupusaka runs round the
clock and the kiosks on office hours."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from domain.actors import Role
from domain.service_catalogue import shipped_services
from tests.integration.conftest import Api

pytestmark = pytest.mark.usefixtures("directory")


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def log(client: httpx.Client, status: int = 201, **more: Any) -> dict[str, Any]:
    body = {
        "title": "Kiosk di lantai dasar mati",
        "service": "kiosks-gates",
        "caller": "budi.santoso",
        "impact": "low",
        "urgency": "low",
        "assignment_group": "kiosk-team",
        **more,
    }
    return ok(client.post("/api/v1/incidents", json=body), status)


def test_the_catalogue_is_read_by_everyone_signed_in_with_its_names_in_both_languages(
    api: Api,
) -> None:
    requester = api.client("budi.santoso", Role.REQUESTER)
    catalogue = ok(requester.get("/api/v1/service-catalogue"))
    assert catalogue["version"] == 1
    by_code = {s["code"]: s for s in catalogue["services"]}
    assert by_code["batupusaka"]["name"] == {"id": "Batupusaka", "en": "Batupusaka"}
    kiosks = by_code["kiosks-gates"]
    assert [c["code"] for c in kiosks["categories"]] == ["kiosk", "gate"]
    assert [s.code for s in shipped_services()] == list(by_code)


def test_a_service_the_catalogue_does_not_hold_is_refused_and_nothing_is_logged(
    api: Api,
) -> None:
    agent = api.client()
    refused = log(agent, 422, service="sefl-check-kiosk")
    assert refused["code"] == "unknown-service"
    assert "GET /api/v1/service-catalogue" in refused["detail"]
    # free text does not even reach the catalogue: the schema bounds a code
    assert log(agent, 422, service="Self-check kiosk")["code"] == "invalid-input"
    wrong_category = log(agent, 422, category="printer")
    assert "has no category 'printer'" in wrong_category["detail"]
    assert ok(agent.get("/api/v1/incidents"))["items"] == []


def test_an_incident_is_classified_at_logging_and_recategorised_with_a_reason(api: Api) -> None:
    agent = api.client()
    incident = log(agent, category="kiosk", subcategory="offline")
    assert (incident["service"], incident["category"], incident["subcategory"]) == (
        "kiosks-gates",
        "kiosk",
        "offline",
    )
    ref = incident["ref"]
    moved = ok(
        agent.post(
            f"/api/v1/incidents/{ref}/recategorise",
            json={
                "service": "batupusaka",
                "category": "renewal",
                "subcategory": "refused",
                "reason": "The kiosk works; Batupusaka refuses the renewal",
            },
        )
    )
    assert (moved["service"], moved["category"], moved["subcategory"]) == (
        "batupusaka",
        "renewal",
        "refused",
    )
    history = ok(agent.get(f"/api/v1/incidents/{ref}/history"))["events"]
    last = history[-1]
    assert last["type"] == "Incident.Recategorised"
    assert last["actor"] == {"id": "siti.rahma", "role": "agent"}
    assert last["data"]["reason"] == "The kiosk works; Batupusaka refuses the renewal"
    assert last["data"]["catalogue_version"] == 1
    # the same again is no change; a reason is required
    same = {"service": "batupusaka", "category": "renewal", "subcategory": "refused", "reason": "x"}
    assert ok(agent.post(f"/api/v1/incidents/{ref}/recategorise", json=same), 409)["code"] == (
        "nothing-changed"
    )
    no_reason = {"service": "public-wifi"}
    assert agent.post(f"/api/v1/incidents/{ref}/recategorise", json=no_reason).status_code == 422


def test_the_caller_sees_the_new_service_but_not_the_reason_and_cannot_recategorise(
    api: Api,
) -> None:
    agent, caller = api.client(), api.client("budi.santoso", Role.REQUESTER)
    ref = log(agent)["ref"]
    body = {"service": "circulation", "category": "loans", "reason": "internal: misfiled"}
    ok(agent.post(f"/api/v1/incidents/{ref}/recategorise", json=body))
    seen = ok(caller.get(f"/api/v1/incidents/{ref}"))
    assert (seen["service"], seen["category"]) == ("circulation", "loans")
    events = ok(caller.get(f"/api/v1/incidents/{ref}/history"))["events"]
    moved = next(e for e in events if e["type"] == "Incident.Recategorised")
    assert moved["data"]["reason"] is None  # withheld from the caller
    assert "misfiled" not in str(events)
    back = {"service": "kiosks-gates", "reason": "mine"}
    assert caller.post(f"/api/v1/incidents/{ref}/recategorise", json=back).status_code == 403


def test_lists_queues_and_search_use_the_classification(api: Api) -> None:
    agent = api.client()
    kiosk = log(agent, title="Kios Serang menolak kartu", category="kiosk")["ref"]
    gate = log(agent, title="Gerbang Serang berbunyi terus", category="gate")["ref"]
    wifi = log(agent, title="Wi-Fi Serang lambat", service="public-wifi")["ref"]

    def listed(**query: Any) -> list[str]:
        return [i["ref"] for i in ok(agent.get("/api/v1/incidents", params=query))["items"]]

    assert listed(service="kiosks-gates") == [gate, kiosk]
    assert listed(service="kiosks-gates", category="gate") == [gate]
    queue = ok(agent.get("/api/v1/queues", params={"group": "kiosk-team"}))["queues"][0]
    assert {i["ref"]: i["category"] for i in queue["items"]} == {
        kiosk: "kiosk",
        gate: "gate",
        wifi: None,
    }
    found = ok(agent.get("/api/v1/search", params={"q": "serang", "facets": "true"}))
    assert {h["ref"]: (h["service"], h["category"]) for h in found["items"]} == {
        kiosk: ("kiosks-gates", "kiosk"),
        gate: ("kiosks-gates", "gate"),
        wifi: ("public-wifi", None),
    }
    assert found["facets"] == {
        "service": {"kiosks-gates": 2, "public-wifi": 1},
        "category": {"kiosks-gates/kiosk": 1, "kiosks-gates/gate": 1},
    }
    narrowed = ok(agent.get("/api/v1/search", params={"q": "serang", "category": "gate"}))
    assert [h["ref"] for h in narrowed["items"]] == [gate]
    assert narrowed["facets"] is None  # only when asked


def test_a_revision_retires_a_category_for_new_records_and_keeps_it_on_old_ones(api: Api) -> None:
    agent, manager = api.client(), api.client("dewi.lestari", Role.SERVICE_MANAGER)
    old = log(agent, category="gate")["ref"]
    catalogue = ok(agent.get("/api/v1/service-catalogue"))
    services = catalogue["services"]
    for service in services:
        if service["code"] == "kiosks-gates":
            for category in service["categories"]:
                if category["code"] == "gate":
                    category["retired"] = True
                    category["name"]["en"] = "RFID gate (replaced)"
    revision = {"services": services, "reason": "The gates are replaced by the kiosks' readers"}
    assert agent.post("/api/v1/service-catalogue/revisions", json=revision).status_code == 403
    revised = ok(manager.post("/api/v1/service-catalogue/revisions", json=revision), 201)
    assert revised["version"] == 2
    assert log(agent, 422, category="gate")["code"] == "unknown-service"
    assert ok(agent.get(f"/api/v1/incidents/{old}"))["category"] == "gate"
    first = ok(agent.get("/api/v1/service-catalogue", params={"version": 1}))
    assert first["version"] == 1
    # removing a service is refused: records name it
    fewer = {"services": services[1:], "reason": "no more Batupusaka"}
    refused = ok(manager.post("/api/v1/service-catalogue/revisions", json=fewer), 422)
    assert "cannot be removed, only retired" in refused["detail"]
    assert ok(agent.get("/api/v1/service-catalogue"))["version"] == 2


def test_other_records_name_their_services_by_catalogue_code(api: Api) -> None:
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    problem = {"title": "Renewals refused", "service": "union-catalogue"}
    refused = ok(manager.post("/api/v1/problems", json=problem), 422)
    assert refused["code"] == "unknown-service"
    ok(manager.post("/api/v1/problems", json={**problem, "service": "batupusaka"}), 201)
    article = {"title": "Kiosk menelan kartu", "body": "Mulai ulang kios.", "service": "kiosk"}
    assert (
        ok(manager.post("/api/v1/knowledge-articles", json=article), 422)["code"]
        == "unknown-service"
    )
    change = {"kind": "normal", "title": "Patch the OPAC", "services": ["opac"]}
    changes = api.client("rina.wati", Role.CHANGE_MANAGER)
    assert ok(changes.post("/api/v1/changes", json=change), 422)["code"] == "unknown-service"


def test_batupusaka_runs_round_the_clock_and_the_kiosks_on_office_hours(api: Api) -> None:
    agent = api.client()
    batupusaka = log(agent, service="batupusaka", category="renewal")["ref"]
    kiosk = log(agent)["ref"]
    assert ok(agent.get(f"/api/v1/incidents/{batupusaka}/sla"))["rules"]["calendar_name"] == (
        "24x7"
    )
    assert ok(agent.get(f"/api/v1/incidents/{kiosk}/sla"))["rules"]["calendar_name"] == "office"
    policy = ok(agent.get("/api/v1/sla/policy"))
    codes = {s.code for s in shipped_services()}
    assert set(policy["terms"]["services"]) <= codes
