"""Disclosures in the signed record, over real HTTP on SQLite and PostgreSQL: an evidence pack, the
history, a service report, the management review's inputs and a person's record each leave a
`Disclosure.Recorded` event naming who took what, by which route and question, with the digest
of what was handed out; the ledger chains them like every other event."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from application.seed import seed
from domain.actors import Role
from tests.conftest import T0, Clock
from tests.integration.conftest import Api
from tests.integration.test_api import new_incident

pytestmark = pytest.mark.usefixtures("directory")


def disclosures(api: Api) -> list[dict[str, Any]]:
    """Every disclosure in the store, read from the history as an auditor (which is itself one)."""
    reader = api.client("auditor.bsn", Role.AUDITOR)
    answer = reader.get("/api/v1/audit/events", params={"type": "Disclosure.Recorded"})
    assert answer.status_code == 200, answer.text
    return [orjson.loads(line) for line in answer.content.splitlines()]


def test_exports_and_sensitive_reads_are_recorded_in_the_signed_history(
    api: Api, clock: Clock
) -> None:
    seed(api.services.desk)
    new_incident(api.client(), title="Gate 2 alarm")
    clock.advance(days=40)
    auditor = api.client("auditor.bsn", Role.AUDITOR)
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    admin = api.client("admin.dpk", Role.ADMIN)

    pack = auditor.get("/api/v1/audit/export", params={"from": T0.isoformat()})
    assert pack.status_code == 200, pack.text
    report = manager.get(
        "/api/v1/reports/incidents", params={"from": "2026-03-01", "to": "2026-03-31"}
    )
    assert report.status_code == 200, report.text
    period = {"from": "2026-03-01", "to": "2026-03-31"}
    assert manager.get("/api/v1/management-review", params=period).status_code == 200
    assert admin.get("/api/v1/directory/people/siti.rahma").status_code == 200
    assert admin.get("/api/v1/directory/groups/kiosk-team").status_code == 200  # not sensitive

    found = disclosures(api)
    [evidence, taken, review, person, history] = [d["data"] for d in found]
    assert (evidence["kind"], evidence["route"]) == ("evidence-pack", "/api/v1/audit/export")
    assert evidence["sha256"] == hashlib.sha256(pack.content).hexdigest()
    assert evidence["query"] == f"from={T0.isoformat().replace(':', '%3A').replace('+', '%2B')}"
    assert (taken["kind"], taken["sha256"]) == ("report", report.json()["digest"])
    assert taken["record"] == "incidents-2026-03-01-2026-03-31"
    assert (review["kind"], review["record"]) == ("management-review", "2026-03-01/2026-03-31")
    assert (person["kind"], person["record"]) == ("sensitive-record", "siti.rahma")
    assert person["route"] == "/api/v1/directory/people/{ref}"
    assert history["kind"] == "history"  # reading the disclosures is one too
    who = [(d["actorid"], d["actorrole"]) for d in found]
    assert who == [
        ("auditor.bsn", "auditor"),
        ("dewi.lestari", "service_manager"),
        ("dewi.lestari", "service_manager"),
        ("admin.dpk", "admin"),
        ("auditor.bsn", "auditor"),
    ]

    # the ledger chains them as it chains every fact: verified, and in the next pack
    assert api.services.audit is not None
    api.services.audit.ledger.catch_up()
    verified = auditor.get("/api/v1/audit/verify").json()
    assert verified["ok"] is True, verified
