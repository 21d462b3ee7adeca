"""Erasing a person's own data over real HTTP, on SQLite and PostgreSQL (docs/privacy.md): their
name and contact details are stored sealed under a key of theirs; an admin erases them with a
reason, refused while a record of theirs is under legal hold; the key is destroyed, so the same
stored bytes now read erased in the entry, its history and a rebuild of the views, while every
event stays and the audit ledger still verifies."""

from __future__ import annotations

from uuid import UUID

import orjson
import pytest

from domain.actors import Role
from domain.directory import person_id
from domain.events import SHREDDED
from infra.subject_keys import ERASED
from projections.directory import directory_people
from service.bootstrap import Services
from tests.integration.conftest import Api
from tests.integration.test_requests_problems_api import (
    assert_rebuild_equals_live,
    ok,
    refused,
)

pytestmark = pytest.mark.usefixtures("directory")

RINA = {
    "actor_id": "rina.anggota",
    "name": "Rina Marlina",
    "email": "rina.marlina@perpus-lebak.example",
    "phone": "+62 813-1111-2222",
    "organisation": "dpk-banten",
    "roles": ["requester"],
}
PERSON = "/api/v1/directory/people/rina.anggota"
ERASE = {"reason": "Permintaan penghapusan data pribadi (UU PDP pasal 8), surat 114/2026"}


def stored_states(services: Services, subject: UUID) -> list[bytes]:
    return [e.state for e in services.desk.recorder.select_events(subject)]


def test_an_erased_person_reads_erased_everywhere_and_the_record_still_verifies(
    api: Api, services: Services
) -> None:
    admin = api.client("root", Role.ADMIN)
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    agent = api.client("siti.rahma", Role.AGENT)
    ok(admin.post("/api/v1/directory/people", json=RINA), 201)
    ok(admin.post(f"{PERSON}/update", json={"name": "Rina Marlina S.", "phone": ""}))
    subject = person_id("rina.anggota")

    # stored sealed: no byte of the store says who she is, yet her entry reads whole
    states = stored_states(services, subject)
    for state in states:
        assert b"Rina" not in state
        assert b"rina.marlina@" not in state
        assert b"1111" not in state
    entry = ok(admin.get(PERSON))
    assert (entry["name"], entry["email"], entry["phone"], entry["erased"]) == (
        "Rina Marlina S.",
        RINA["email"],
        None,
        False,
    )

    # a record of hers under legal hold keeps her data: what she said there may be evidence
    body = {
        "title": "Perpanjangan daring gagal",
        "service": "catalogue-search",
        "caller": "rina.anggota",
        "impact": "low",
        "urgency": "low",
        "assignment_group": "kiosk-team",
    }
    ref = ok(agent.post("/api/v1/incidents", json=body), 201)["ref"]
    hold = {"record": ref, "matter": "Keberatan anggota 2026", "reason": "Diminta Biro Hukum"}
    ok(manager.post("/api/v1/legal-holds", json=hold), 201)
    held = admin.post(f"{PERSON}/erase", json=ERASE)
    refused(held, 409, "under-legal-hold")
    assert ref in held.json()["detail"]
    refused(manager.post(f"{PERSON}/erase", json=ERASE), 403, "forbidden")  # admins alone
    ok(manager.post("/api/v1/legal-holds/releases", json={**hold, "reason": "Selesai"}))

    erased = ok(admin.post(f"{PERSON}/erase", json=ERASE))
    assert (erased["name"], erased["email"], erased["phone"]) == (SHREDDED, None, None)
    assert (erased["erased"], erased["active"]) == (True, 0)
    keys = services.desk.mapper.sealer.keys  # type: ignore[attr-defined]
    assert keys.key(subject) is ERASED

    # the store is as it was, byte for byte (plus the erasure); what it holds now reads erased
    assert stored_states(services, subject)[: len(states)] == states
    history = ok(admin.get(f"{PERSON}/history"))["events"]
    registered = next(e for e in history if e["type"] == "Person.Registered")
    assert (registered["data"]["name"], registered["data"]["email"]) == (SHREDDED, None)
    renamed = next(e for e in history if e["type"] == "Person.Renamed")
    assert renamed["data"]["name"] == SHREDDED
    assert (history[-1]["type"], history[-1]["data"]) == ("Person.Erased", ERASE)
    assert "Rina" not in orjson.dumps(ok(admin.get(f"{PERSON}/history"))).decode()
    # her incident still names her by her actor id: the pseudonym her records keep
    assert ok(agent.get(f"/api/v1/incidents/{ref}"))["caller"] == "rina.anggota"

    # done once; nothing more is recorded of her
    refused(admin.post(f"{PERSON}/erase", json=ERASE), 409, "person-already-erased")
    refused(admin.post(f"{PERSON}/update", json={"name": "Rina"}), 409, "illegal-transition")
    refused(admin.post(f"{PERSON}/reactivate"), 409, "illegal-transition")

    # the ledger chained the sealed bytes: it verifies as before
    assert services.audit is not None
    services.audit.ledger.catch_up()
    report = ok(api.client("auditor", Role.AUDITOR).get("/api/v1/audit/verify"))
    assert (report["ok"], report["first_bad"]) == (True, None)
    # a rebuild reads the same erased row the live view folded
    assert_rebuild_equals_live(services, (directory_people,))
