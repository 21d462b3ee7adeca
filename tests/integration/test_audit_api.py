"""Auditor access over HTTP: verification, the history as NDJSON, time travel, sampling and the
evidence pack, on both backends."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import orjson
import pytest

from audit.evidence import export_pack, verify_pack
from audit.keys import key_id, load_public
from domain.actors import Role
from tests.conftest import T0, Clock
from tests.integration.conftest import Api
from tests.integration.test_api import act, assert_problem, new_incident

AUDIT_PATHS = ["verify", "events", "sample?seed=1", "checkpoints", "public-key", "export"]


def auditor(api: Api) -> httpx.Client:
    return api.client("auditor.bsn", Role.AUDITOR)


def chained(api: Api) -> None:
    assert api.services.audit is not None
    api.services.audit.ledger.catch_up()


@pytest.mark.parametrize("path", AUDIT_PATHS)
def test_only_auditors_and_admins_use_the_audit_endpoints(api: Api, path: str) -> None:
    assert_problem(api.client().get(f"/api/v1/audit/{path}"), 403, "forbidden")
    assert_problem(
        api.client("dewi", Role.SERVICE_MANAGER).get(f"/api/v1/audit/{path}"), 403, "forbidden"
    )
    assert api.client("root", Role.ADMIN).get(f"/api/v1/audit/{path}").status_code == 200


def test_auditors_may_not_revise_the_priority_matrix(api: Api) -> None:
    response = auditor(api).post(
        "/api/v1/priority-matrix/revisions", json={"cells": {}, "reason": "audit"}
    )
    assert_problem(response, 403, "forbidden")


@pytest.mark.usefixtures("directory")
def test_verify_reports_an_intact_ledger(api: Api) -> None:
    new_incident(api.client())
    chained(api)
    report = auditor(api).get("/api/v1/audit/verify").json()
    assert report["ok"] is True
    assert report["first_bad"] is None
    assert report["entries_checked"] == report["ledger_head"] > 0


def test_the_public_key_is_the_one_that_signs(api: Api) -> None:
    response = auditor(api).get("/api/v1/audit/public-key")
    public = load_public(response.content)
    assert response.headers["key-id"] == key_id(public)
    assert api.services.audit is not None
    assert key_id(api.services.audit.public_key) == key_id(public)


@pytest.mark.usefixtures("directory")
def test_the_history_streams_as_cloudevents_filtered_by_type_actor_aggregate_and_period(
    api: Api, clock: Clock
) -> None:
    siti, andi = api.client(), api.client("andi.wijaya", Role.RESOLVER)
    first = new_incident(siti)
    clock.advance(hours=2)
    second = new_incident(andi)
    act(andi, second["id"], "start-work")
    reader = auditor(api)

    def lines(**params: str) -> list[dict[str, object]]:
        response = reader.get("/api/v1/audit/events", params=params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/x-ndjson")
        return [orjson.loads(line) for line in response.content.splitlines()]

    everything = lines()
    positions = [e["position"] for e in everything]
    assert positions == sorted(positions)
    assert {"IncidentNumber.Allocated", "Incident.Logged", "Incident.WorkStarted"} <= {
        e["type"].removeprefix("id.go.bantenprov.dpk.itsm.") for e in everything
    }
    logged = lines(type="Incident.Logged")
    assert [e["subject"] for e in logged] == [first["id"], second["id"]]
    assert {e["actorid"] for e in lines(actor="andi.wijaya")} == {"andi.wijaya"}
    assert {e["subject"] for e in lines(aggregate=second["ref"])} == {second["id"]}
    later = (T0 + timedelta(hours=1)).isoformat()
    assert {e["subject"] for e in lines(**{"from": later, "type": "Incident.Logged"})} == {
        second["id"]
    }
    assert {e["subject"] for e in lines(to=later, type="Incident.Logged")} == {first["id"]}


def test_a_period_without_a_zone_is_refused(api: Api) -> None:
    response = auditor(api).get("/api/v1/audit/events", params={"from": "2026-03-02T09:00:00"})
    assert_problem(response, 422, "invalid-input")


@pytest.mark.usefixtures("directory")
def test_an_incident_as_of_a_moment_is_the_record_as_it_then_stood(api: Api, clock: Clock) -> None:
    agent = api.client()
    incident = new_incident(agent, assignment_group=None)
    clock.advance(hours=1)
    act(agent, incident["id"], "assign", {"group": "kiosk-team", "agent": "siti.rahma"})
    clock.advance(hours=1)
    act(agent, incident["id"], "start-work")
    reader = auditor(api)

    def then(**delta: float) -> httpx.Response:
        moment = (T0 + timedelta(**delta)).isoformat()
        return reader.get(f"/api/v1/incidents/{incident['ref']}", params={"as_of": moment})

    assert then(minutes=30).json()["state"] == "logged"
    assert then(minutes=30).json()["group"] is None
    assert then(minutes=90).json()["state"] == "assigned"
    assert then(minutes=90).json()["group"] == "kiosk-team"
    now = reader.get(f"/api/v1/incidents/{incident['ref']}").json()
    assert then(hours=5).json() == now  # as of now, the replay is the live view
    assert_problem(then(minutes=-1), 404, "incident-not-found")


@pytest.mark.usefixtures("directory")
def test_the_history_says_what_each_event_changed_and_travels_in_time(
    api: Api, clock: Clock
) -> None:
    agent = api.client()
    incident = new_incident(agent, assignment_group=None)
    clock.advance(hours=1)
    act(agent, incident["id"], "assign", {"group": "kiosk-team", "agent": "siti.rahma"})
    act(agent, incident["id"], "add-work-note", {"text": "rebooted the kiosk"})
    history = auditor(api).get(f"/api/v1/incidents/{incident['id']}/history").json()
    logged, assigned, noted = history["events"]
    assert logged["changes"]["state"] == {"from": None, "to": "logged"}
    assert assigned["changes"]["state"] == {"from": "logged", "to": "assigned"}
    assert assigned["changes"]["group"] == {"from": None, "to": "kiosk-team"}
    assert "title" not in assigned["changes"]
    assert noted["changes"]["work_notes"]["added"][0]["text"] == "rebooted the kiosk"
    earlier = auditor(api).get(
        f"/api/v1/incidents/{incident['id']}/history",
        params={"as_of": (T0 + timedelta(minutes=30)).isoformat()},
    )
    assert [e["type"] for e in earlier.json()["events"]] == ["Incident.Logged"]


@pytest.mark.usefixtures("directory")
def test_a_sample_is_reproducible_by_seed_and_stays_in_its_period(api: Api, clock: Clock) -> None:
    agent = api.client()
    ids = []
    for n in range(12):
        ids.append(new_incident(agent, title=f"Gate {n} alarm")["id"])
        clock.advance(hours=1)
    reader = auditor(api)
    period = {
        "from": (T0 + timedelta(hours=2)).isoformat(),
        "to": (T0 + timedelta(hours=10)).isoformat(),
    }

    def drawn(seed: int, n: int = 4) -> list[str]:
        response = reader.get("/api/v1/audit/sample", params={"seed": seed, "n": n, **period})
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["records"]]

    assert drawn(7) == drawn(7)
    assert len(set(drawn(7))) == 4
    assert set(drawn(7)) <= set(ids[2:10])
    assert {tuple(drawn(seed)) for seed in range(6)} != {tuple(drawn(7))}
    assert sorted(drawn(1, n=50)) == sorted(ids[2:10])  # more than there are: all of them


@pytest.mark.usefixtures("directory")
def test_the_evidence_pack_from_the_api_verifies_offline_and_a_changed_pack_does_not(
    api: Api, clock: Clock
) -> None:
    agent = api.client()
    for n in range(3):
        new_incident(agent, title=f"Kiosk {n} offline")
        clock.advance(hours=1)
    assert api.services.audit is not None
    api.services.audit.ledger.checkpoint_now()
    response = auditor(api).get(
        "/api/v1/audit/export",
        params={"from": T0.isoformat(), "to": (T0 + timedelta(hours=2)).isoformat()},
    )
    assert response.status_code == 200, response.text
    pack = response.content
    report = verify_pack(io.BytesIO(pack), [api.services.audit.public_key])
    assert report.ok, report.problems
    assert report.events > 0
    with zipfile.ZipFile(io.BytesIO(pack)) as z:
        assert {
            "events.ndjson",
            "ledger.ndjson",
            "checkpoints.ndjson",
            "public-key.pem",
            "reports/incidents.json",
            "manifest.json",
            "manifest.sig",
        } <= set(z.namelist())
        assert orjson.loads(z.read("reports/incidents.json"))["incidents_logged"] == 2
        changed = io.BytesIO()
        with zipfile.ZipFile(changed, "w") as out:
            for name in z.namelist():
                body = z.read(name)
                if name == "events.ndjson":
                    body = body.replace(b"Kiosk 1 offline", b"Kiosk 1 is fine")
                out.writestr(name, body)
    tampered = verify_pack(io.BytesIO(changed.getvalue()), [api.services.audit.public_key])
    assert not tampered.ok
    assert "events.ndjson" in tampered.problems[0]


class _Forgetful:
    """An audit store whose records' histories lose their first event: what a pack made by a
    dishonest exporter, signed with the real key, would hold."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def stored_of(self, originators: Any) -> Any:
        return self._store.stored_of(originators)[1:]


@pytest.mark.usefixtures("directory")
def test_a_sample_of_closed_records_is_held_whole_in_the_evidence_pack(
    api: Api, clock: Clock
) -> None:
    agent = api.client()
    ids = []
    for n in range(6):
        incident = new_incident(agent, title=f"Gate {n} alarm")
        ids.append(incident["id"])
        act(agent, incident["id"], "start-work").raise_for_status()
        act(agent, incident["id"], "resolve", {"code": "fixed", "notes": "ok"}).raise_for_status()
    clock.advance(days=api.services.settings.reopen_window.days, seconds=1)
    closing = clock.now
    for ref in ids[::2]:
        act(agent, ref, "close").raise_for_status()
        clock.advance(hours=1)
    reader = auditor(api)
    period = {"from": closing.isoformat(), "to": (closing + timedelta(days=1)).isoformat()}

    def drawn(seed: int, n: int, closed: bool) -> list[dict[str, Any]]:
        params = {"seed": seed, "n": n, "closed": closed, **period}
        response = reader.get("/api/v1/audit/sample", params=params)
        assert response.status_code == 200, response.text
        records: list[dict[str, Any]] = response.json()["records"]
        return records

    # created in the period: none (all were logged before it); closed in it: every other one
    assert drawn(3, 10, closed=False) == []
    every = drawn(3, 10, closed=True)
    assert [r["id"] for r in every] == ids[::2]
    assert all(r["closed_at"] >= period["from"] for r in every)
    two = drawn(5, 2, closed=True)
    assert two == drawn(5, 2, closed=True)
    assert {r["id"] for r in two} < set(ids[::2])

    assert api.services.audit is not None
    api.services.audit.ledger.checkpoint_now()
    params = {"seed": 5, "n": 2, "closed": True, **period}
    response = reader.get("/api/v1/audit/export", params=params)
    assert response.status_code == 200, response.text
    trusted = [api.services.audit.public_key]
    report = verify_pack(io.BytesIO(response.content), trusted)
    assert report.ok, report.problems
    assert report.records == 2
    with zipfile.ZipFile(io.BytesIO(response.content)) as z:
        manifest = orjson.loads(z.read("manifest.json"))
        held = [orjson.loads(line) for line in z.read("records.ndjson").splitlines()]
    assert manifest["records"] == sorted(r["id"] for r in two)
    # each record's history before the period, from its first event, is in the pack
    for record in two:
        versions = [
            e["originator_version"]
            for e in held
            if e["originator_id"] == record["id"].replace("-", "")
        ]
        assert versions[0] == 1
        assert versions == list(range(1, len(versions) + 1))

    # a pack that leaves out an event of a record it claims to hold whole does not verify,
    # even signed with the real key
    audit = api.services.audit
    audit.ledger.catch_up()  # the export's own disclosure, written after it, chained too
    forgetful = io.BytesIO()
    wanted = [UUID(r["id"]) for r in two]
    export_pack(
        forgetful,
        _Forgetful(audit.store),
        api.services.desk.mapper,
        audit.key,
        closing,
        closing + timedelta(days=1),
        clock.now,
        records=wanted,
    )
    short = verify_pack(io.BytesIO(forgetful.getvalue()), trusted)
    assert not short.ok
    assert "a record the pack holds whole, is missing" in short.problems[0]


@pytest.mark.usefixtures("directory")
def test_an_export_holds_only_events_the_ledger_has_chained(api: Api) -> None:
    audit = api.services.audit
    assert audit is not None
    agent, reader = api.client(), auditor(api)
    new_incident(agent, title="Kiosk 4 offline")
    audit.ledger.stop()  # the follower stops: what is stored next is not chained
    try:
        new_incident(agent, title="Kiosk 5 offline")
        api.services.settings.read_your_writes_timeout = 0.3
        assert_problem(reader.get("/api/v1/audit/export"), 503, "ledger-behind")
    finally:
        audit.ledger.start()
    api.services.settings.read_your_writes_timeout = 5.0
    pack = reader.get("/api/v1/audit/export")
    assert pack.status_code == 200, pack.text
    report = verify_pack(io.BytesIO(pack.content), [audit.public_key])
    assert report.ok, report.problems
    titles = [
        line
        for line in zipfile.ZipFile(io.BytesIO(pack.content)).read("events.ndjson").splitlines()
        if b"Kiosk 5 offline" in line
    ]
    assert len(titles) == 1  # the event stored while the ledger was stopped, chained and held


@pytest.mark.usefixtures("directory")
def test_auditors_asking_to_verify_at_once_cost_two_walks_of_the_ledger_not_one_each(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A walk of ten years' ledger takes every core for seconds: eight requests together walk
    it twice (the one under way when they came, and one more for all of them), one at a time."""
    import audit.service

    new_incident(api.client())
    chained(api)
    audit_ = api.services.audit
    assert audit_ is not None
    asking = 8
    arrived, walking, walks, most = [0], [0], [0], [0]
    lock = threading.Lock()
    verified, walk = audit_.verified, audit.service.verify

    def counted() -> Any:
        with lock:
            arrived[0] += 1
        return verified()

    def slow_walk(*args: Any, **kwargs: Any) -> Any:
        with lock:
            walks[0] += 1
            walking[0] += 1
            most[0] = max(most[0], walking[0])
            first = walks[0] == 1
        try:
            if first:  # the first walk lasts until every request has come
                deadline = time.monotonic() + 20
                while arrived[0] < asking and time.monotonic() < deadline:
                    time.sleep(0.01)
            return walk(*args, **kwargs)
        finally:
            with lock:
                walking[0] -= 1

    monkeypatch.setattr(audit_, "verified", counted)
    monkeypatch.setattr(audit.service, "verify", slow_walk)
    clients = [auditor(api) for _ in range(asking)]
    with ThreadPoolExecutor(max_workers=asking) as pool:
        answers = list(pool.map(lambda c: c.get("/api/v1/audit/verify"), clients))

    assert [a.status_code for a in answers] == [200] * asking
    assert all(a.json()["ok"] for a in answers)
    assert arrived[0] == asking
    assert (walks[0], most[0]) == (2, 1)


@pytest.mark.usefixtures("directory")
def test_while_a_pack_is_made_another_is_refused_with_a_time_to_ask_again(api: Api) -> None:
    """A pack reads its period, rebuilds every view and writes a zip: one at a time in a process,
    so auditors asking together (or one clicking twice) do not each start one."""
    audit = api.services.audit
    assert audit is not None
    new_incident(api.client(), title="Kiosk 6 offline")
    chained(api)
    reader = auditor(api)
    with audit.exporting:  # a pack under way
        busy = reader.get("/api/v1/audit/export")
        assert_problem(busy, 503, "export-under-way")
        assert int(busy.headers["retry-after"]) > 0
    pack = reader.get("/api/v1/audit/export")
    assert pack.status_code == 200, pack.text
    assert verify_pack(io.BytesIO(pack.content), [audit.public_key]).ok
    assert reader.get("/api/v1/audit/export").status_code == 200  # and the next after it
