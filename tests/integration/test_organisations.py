"""Organisations keep their records apart, through the API, on both backends: an agent of one
regency library cannot read, list, act on or make records of another (a record out of reach is
answered exactly as one that does not exist); service managers, auditors and agents granted all
organisations see every one; requesters see only their own records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx
import pytest

from application.seed import seed
from domain.actors import Role
from domain.organisations import PROVINCE
from service.bootstrap import Services
from tests.integration.conftest import Api

SERANG = "perpus-kota-serang"
LEBAK = "perpus-kab-lebak"


@dataclass(frozen=True)
class Kind:
    """A kind of record, as the API makes, lists and acts on it."""

    path: str
    body: dict[str, Any]
    action: str
    action_body: dict[str, Any]


INCIDENT = Kind(
    "/api/v1/incidents",
    {
        "title": "Self-check kiosk 2 offline",
        "service": "kiosks-gates",
        "caller": "budi.santoso",
        "impact": "medium",
        "urgency": "high",
        "assignment_group": "kiosk-team",
    },
    "add-work-note",
    {"text": "checked the power supply"},
)
KINDS = {
    "incident": INCIDENT,
    "service request": Kind(
        "/api/v1/service-requests",
        {"catalogue_item": "card-reprint", "title": "Kartu anggota hilang"},
        "cancel",
        {"reason": "found the card"},
    ),
    "problem": Kind(
        "/api/v1/problems", {"title": "Kiosks drop RFID readers"}, "start-investigation", {}
    ),
    "change": Kind(
        "/api/v1/changes",
        {"kind": "normal", "title": "Upgrade kiosk firmware"},
        "record-backout-plan",
        {"plan": "reflash the old image"},
    ),
}


def made(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def refs(client: httpx.Client, path: str, **query: str) -> set[str]:
    listed = client.get(path, params={"limit": 200, **query})
    assert listed.status_code == 200, listed.text
    return {item["ref"] for item in listed.json()["items"]}


@pytest.fixture
def seeded(services: Services) -> Services:
    seed(services.desk)  # the catalogue items service requests are made from
    return services


@pytest.mark.parametrize("kind", KINDS)
def test_an_agent_cannot_see_or_act_on_another_organisations_record(
    api: Api, seeded: Services, kind: str
) -> None:
    k = KINDS[kind]
    serang = api.client("rudi.serang", Role.AGENT, organisation=SERANG)
    lebak = api.client("asep.lebak", Role.AGENT, organisation=LEBAK)
    record = made(serang.post(k.path, json=k.body))
    ref, version = record["ref"], record["version"]
    assert record["organisation"] == SERANG  # the maker's own, by default

    # out of reach answers exactly as a record that does not exist: status, code and words
    unknown = {"number": record["ref"][:4] + "999999", "id": str(uuid4())}
    for by in ("number", "id"):
        given = record["ref"] if by == "number" else record["id"]
        for path, body in (
            (f"{k.path}/{{}}", None),
            (f"{k.path}/{{}}/history", None),
            (f"{k.path}/{{}}/{k.action}", k.action_body),
        ):
            method = "GET" if body is None else "POST"
            missing = lebak.request(method, path.format(unknown[by]), json=body).json()
            hidden = lebak.request(method, path.format(given), json=body)
            assert hidden.status_code == 404 == missing["status"], (path, hidden.text)
            assert hidden.json()["code"] == missing["code"]
            assert hidden.json()["detail"] == missing["detail"].replace(unknown[by], given)
    assert ref not in refs(lebak, k.path)
    assert serang.get(f"{k.path}/{ref}").json()["version"] == version  # nothing was recorded

    # its own organisation, and those who see all, read it and find it listed
    for reader in (
        serang,
        api.client("dewi.lestari", Role.SERVICE_MANAGER, organisation=LEBAK),
        api.client("auditor.bsn", Role.AUDITOR),
        api.client("tono.helpdesk", Role.AGENT, organisation=LEBAK, all_organisations=True),
    ):
        assert reader.get(f"{k.path}/{ref}").status_code == 200
        assert reader.get(f"{k.path}/{ref}/history").status_code == 200
        assert ref in refs(reader, k.path)
    acted = serang.post(f"{k.path}/{ref}/{k.action}", json=k.action_body)
    assert acted.status_code == 200, acted.text


@pytest.mark.parametrize("kind", KINDS)
def test_an_agent_makes_records_only_for_their_own_organisation(
    api: Api, seeded: Services, kind: str
) -> None:
    k = KINDS[kind]
    lebak = api.client("asep.lebak", Role.AGENT, organisation=LEBAK)
    refused = lebak.post(k.path, json={**k.body, "organisation": SERANG})
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "outside-organisation"
    assert refs(api.client("dewi.lestari", Role.SERVICE_MANAGER), k.path) == set()

    assert made(lebak.post(k.path, json={**k.body, "organisation": LEBAK}))["organisation"] == LEBAK
    granted = api.client("tono.helpdesk", Role.AGENT, organisation=LEBAK, all_organisations=True)
    for_serang = made(granted.post(k.path, json={**k.body, "organisation": SERANG}))
    assert for_serang["organisation"] == SERANG
    # no organisation named: the provincial office's
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    assert made(manager.post(k.path, json=k.body))["organisation"] == PROVINCE


@pytest.mark.usefixtures("directory")
def test_queues_and_sla_clocks_show_only_the_callers_organisation(api: Api) -> None:
    serang = api.client("rudi.serang", Role.AGENT, organisation=SERANG)
    lebak = api.client("asep.lebak", Role.AGENT, organisation=LEBAK)
    ours = made(serang.post(INCIDENT.path, json=INCIDENT.body))["ref"]
    theirs = made(lebak.post(INCIDENT.path, json=INCIDENT.body))["ref"]

    def queued(client: httpx.Client) -> set[str]:
        queues = client.get("/api/v1/queues").json()["queues"]
        return {item["ref"] for queue in queues for item in queue["items"]}

    def clocked(client: httpx.Client) -> set[str]:
        return {item["ref"] for item in client.get("/api/v1/sla/clocks").json()["items"]}

    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    for seen in (queued, clocked):
        assert seen(serang) == {ours}
        assert seen(lebak) == {theirs}
        assert seen(manager) == {ours, theirs}
    assert lebak.get(f"/api/v1/incidents/{ours}/sla").status_code == 404
    assert serang.get(f"/api/v1/incidents/{ours}/sla").status_code == 200


@pytest.mark.usefixtures("directory")
def test_a_requester_sees_only_the_incidents_they_are_the_caller_of(api: Api) -> None:
    budi = api.client("budi.santoso", Role.REQUESTER)
    ani = api.client("ani.wijaya", Role.REQUESTER)
    own = made(budi.post(INCIDENT.path, json=INCIDENT.body))["ref"]
    # logged for budi by an agent of another organisation: still budi's own record
    desk = api.client("asep.lebak", Role.AGENT, organisation=LEBAK)
    for_him = made(desk.post(INCIDENT.path, json=INCIDENT.body))["ref"]
    someone_else = made(desk.post(INCIDENT.path, json={**INCIDENT.body, "caller": "ani.wijaya"}))

    assert refs(budi, INCIDENT.path) == {own, for_him}
    assert refs(ani, INCIDENT.path) == {someone_else["ref"]}
    assert budi.get(f"/api/v1/incidents/{own}").status_code == 200
    assert budi.get(f"/api/v1/incidents/{for_him}/history").status_code == 200
    assert budi.get(f"/api/v1/incidents/{own}/sla").status_code == 200
    for url in (f"/api/v1/incidents/{own}", f"/api/v1/incidents/{own}/history"):
        assert ani.get(url).status_code == 404
    comment = ani.post(f"/api/v1/incidents/{own}/add-comment", json={"text": "me too"})
    assert comment.status_code == 404
    assert comment.json()["code"] == "incident-not-found"
    ok = budi.post(f"/api/v1/incidents/{own}/add-comment", json={"text": "still down"})
    assert ok.status_code == 200, ok.text
    # no queues, clocks, problems or changes: other people's work
    for path in ("/api/v1/queues", "/api/v1/sla/clocks", "/api/v1/problems", "/api/v1/changes"):
        assert budi.get(path).status_code == 403, path


def test_a_requester_sees_only_the_service_requests_they_asked_for(
    api: Api, seeded: Services
) -> None:
    k = KINDS["service request"]
    budi = api.client("budi.santoso", Role.REQUESTER)
    ani = api.client("ani.wijaya", Role.REQUESTER)
    own = made(budi.post(k.path, json=k.body))["ref"]
    hers = made(ani.post(k.path, json=k.body))["ref"]
    assert refs(budi, k.path) == {own}
    assert refs(ani, k.path) == {hers}
    assert refs(budi, k.path, requester="ani.wijaya") == set()  # a filter widens nothing
    assert ani.get(f"{k.path}/{own}").status_code == 404
    assert ani.get(f"{k.path}/{own}/history").status_code == 404
    cancelled = ani.post(f"{k.path}/{own}/cancel", json={"reason": "not mine"})
    assert cancelled.status_code == 404, cancelled.text
    assert budi.post(f"{k.path}/{own}/cancel", json={"reason": "found it"}).status_code == 200
    # and a requester makes records for their own organisation only
    outside = budi.post(k.path, json={**k.body, "organisation": SERANG})
    assert outside.status_code == 403
    assert outside.json()["code"] == "outside-organisation"
