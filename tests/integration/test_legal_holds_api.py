"""Legal holds over real HTTP, on SQLite and PostgreSQL: while a record is held for a matter,
nothing of it is destroyed (a document version's disposition, a file removed for privacy are
refused 409 `under-legal-hold`, naming the matters); released for every matter, they go ahead;
the holds are kept by service managers and admins, read by auditors, out of reach of others."""

from __future__ import annotations

import pytest

from domain.actors import Role
from service.bootstrap import Services
from tests.conftest import Clock
from tests.integration.conftest import Api
from tests.integration.test_attachments import PNG, attached, made, upload
from tests.integration.test_documents_api import (
    LINK,
    MANAGER,
    OTHER_MANAGER,
    OWNER,
    published_policy,
)
from tests.integration.test_requests_problems_api import ok, refused

pytestmark = pytest.mark.usefixtures("directory")

DISPUTE = "Sengketa kontrak pemeliharaan kios 2026"
INQUIRY = "Pemeriksaan Inspektorat 2026"


def test_a_held_document_and_a_held_incident_lose_nothing_until_every_hold_is_released(
    api: Api, services: Services, clock: Clock
) -> None:
    manager = api.client(MANAGER, Role.SERVICE_MANAGER)
    other = api.client(OTHER_MANAGER, Role.SERVICE_MANAGER)
    ref, _ = published_policy(api, clock)
    ok(manager.post(f"/api/v1/documents/{ref}/draft-version", json={"link": LINK}))
    ok(manager.post(f"/api/v1/documents/{ref}/submit-for-approval"))
    ok(other.post(f"/api/v1/documents/{ref}/approve"))
    ok(api.client(OWNER).post(f"/api/v1/documents/{ref}/publish"))

    hold = {"record": ref, "matter": DISPUTE, "reason": "Diminta Biro Hukum"}
    placed = ok(manager.post("/api/v1/legal-holds", json=hold), 201)
    assert (placed["record_ref"], placed["held"]) == (ref, True)
    refused(manager.post("/api/v1/legal-holds", json=hold), 409, "nothing-changed")
    ok(manager.post("/api/v1/legal-holds", json={**hold, "matter": INQUIRY}), 201)

    # the superseded version's retention runs out; the hold keeps its file all the same
    clock.advance(days=40)
    manager = api.client(MANAGER, Role.SERVICE_MANAGER)
    dispose = f"/api/v1/documents/{ref}/dispose"
    held = manager.post(dispose, json={"version": 1})
    refused(held, 409, "under-legal-hold")
    assert DISPUTE in held.json()["detail"]
    assert INQUIRY in held.json()["detail"]

    release = {"record": ref, "matter": DISPUTE, "reason": "Perkara selesai"}
    ok(manager.post("/api/v1/legal-holds/releases", json=release))
    refused(manager.post(dispose, json={"version": 1}), 409, "under-legal-hold")  # one stands
    freed = ok(
        manager.post(
            "/api/v1/legal-holds/releases",
            json={**release, "matter": INQUIRY, "reason": "Pemeriksaan ditutup"},
        )
    )
    assert (freed["held"], freed["matters"]) == (False, [])
    assert [r["matter"] for r in freed["released"]] == [DISPUTE, INQUIRY]
    assert ok(manager.post(dispose, json={"version": 1}))["versions"][0]["disposition"]
    again = manager.post("/api/v1/legal-holds/releases", json=release)
    refused(again, 409, "nothing-changed")

    # an incident's file is not removed for privacy while the incident is held
    agent = api.client()
    incident = made(agent, "incidents")
    row = attached(upload(agent, "incidents", incident, "card.png", PNG))
    ok(manager.post("/api/v1/legal-holds", json={**hold, "record": incident}), 201)
    remove = f"/api/v1/incidents/{incident}/attachments/{row['id']}/remove"
    refused(agent.post(remove, json={"reason": "shows a card number"}), 409, "under-legal-hold")
    assert services.blobs.has(row["sha256"])

    # who reads and keeps holds
    auditor = api.client("auditor.bsn", Role.AUDITOR)
    listed = ok(auditor.get("/api/v1/legal-holds", params={"held": True}))["items"]
    assert [h["record_ref"] for h in listed] == [incident]
    assert ok(auditor.get(f"/api/v1/legal-holds/{ref}"))["held"] is False
    refused(auditor.post("/api/v1/legal-holds", json=hold), 403, "forbidden")
    refused(agent.get(f"/api/v1/legal-holds/{incident}"), 403, "forbidden")
    missing = manager.post("/api/v1/legal-holds", json={**hold, "record": "CHG-000099"})
    refused(missing, 404, "record-not-found")
