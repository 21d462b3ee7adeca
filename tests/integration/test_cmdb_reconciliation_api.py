"""The CMDB reconciled with the circulation stream over real HTTP, on SQLite and PostgreSQL: the
kiosks' heartbeats ingested, each item's record judged against them and recorded as a
verification by the reconciliation, a second run recording nothing new, a device no item records
named, and a discrepancy closed only by naming an implemented change that names the item."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson

from domain.actors import Role
from processes.simulator import envelope
from tests.conftest import T0
from tests.integration.conftest import Api
from tests.integration.test_changes_api import WINDOW, authorised_change
from tests.integration.test_requests_problems_api import ok, refused

MONITOR = "/kiosk-monitor/kab-lebak"


def registered(api: Api, code: str, status: str, ci_type: str = "kiosk") -> None:
    keeper = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    body = {
        "code": code,
        "name": code.replace("-", " ").title(),
        "ci_type": ci_type,
        "owner": "tim-kios",
        "status": status,
        "service": "kiosks-gates",
    }
    ok(keeper.post("/api/v1/configuration-items", json=body), 201)


def heard(api: Api, *beats: tuple[str, timedelta]) -> None:
    lines = [
        orjson.dumps(
            envelope(
                "device.heartbeat",
                MONITOR,
                f"hb-{device}-{n}",
                T0 - ago,
                branch="kab-lebak",
                device=device,
                device_kind="kiosk",
            )
        )
        for n, (device, ago) in enumerate(beats)
    ]
    with api.client("kiosk-monitor", Role.INTEGRATION) as monitor:
        answer = ok(monitor.post("/api/v1/ingest/circulation", content=b"\n".join(lines)))
    assert answer["accepted"] == len(beats)


def test_the_cmdb_is_reconciled_with_the_kiosks_heartbeats(api: Api) -> None:
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    registered(api, "lebak-kiosk-1", "active")
    registered(api, "lebak-kiosk-2", "active")
    registered(api, "lebak-gate-1", "retired", "rfid_gate")
    registered(api, "lebak-kiosk-3", "maintenance")

    # nothing heard yet: nothing to compare with, nothing recorded
    quiet = ok(manager.post("/api/v1/configuration-items/reconciliations"))
    assert (quiet["stream_time"], quiet["recorded"]) == (None, 0)

    heard(
        api,
        ("lebak-kiosk-1", timedelta(minutes=1)),
        ("lebak-kiosk-2", timedelta(days=5)),
        ("lebak-gate-1", timedelta(minutes=2)),
        ("lebak-kiosk-9", timedelta(minutes=3)),
    )
    run = ok(manager.post("/api/v1/configuration-items/reconciliations"))
    results = {f["code"]: f["result"] for f in run["findings"]}
    assert results == {
        "lebak-gate-1": "discrepancy",  # retired, yet it beats
        "lebak-kiosk-1": "accurate",
        "lebak-kiosk-2": "discrepancy",  # silent for five days
    }
    assert (run["compared"], run["recorded"], run["skipped"]) == (3, 3, ["lebak-kiosk-3"])
    assert [d["device"] for d in run["unregistered"]] == ["lebak-kiosk-9"]

    # the same stream again: the findings stand as recorded, nothing new is written
    again = ok(manager.post("/api/v1/configuration-items/reconciliations"))
    assert (again["compared"], again["recorded"]) == (3, 0)

    item: dict[str, Any] = ok(manager.get("/api/v1/configuration-items/lebak-kiosk-2"))
    assert item["discrepancy_open"] is True
    [verification] = item["verifications"]
    assert (verification["result"], verification["source"]) == ("discrepancy", "circulation")
    assert "last heard from" in verification["note"]

    # only an implemented change that names the item closes the discrepancy
    agent = api.client("siti.rahma", Role.AGENT)
    correct = "/api/v1/configuration-items/lebak-kiosk-2/correct-discrepancy"
    change = authorised_change(api, ["lebak-kiosk-2"], title="Re-cable kiosk 2")
    manager_of_change = api.client("rina.wati", Role.CHANGE_MANAGER)
    refused(agent.post(correct, json={"change": change["ref"]}), 409, "change-not-implemented")
    resolver = api.client("andi.pratama", Role.RESOLVER)
    window = {"start": WINDOW[0], "end": WINDOW[1]}
    ok(manager_of_change.post(f"/api/v1/changes/{change['ref']}/schedule", json=window))
    ok(resolver.post(f"/api/v1/changes/{change['ref']}/start-implementation"))
    ok(
        resolver.post(
            f"/api/v1/changes/{change['ref']}/record-implementation",
            json={"outcome": "successful", "notes": "network cable replaced"},
        )
    )
    corrected = ok(agent.post(correct, json={"change": change["ref"], "note": "cable replaced"}))
    assert corrected["discrepancy_open"] is False
    assert corrected["verifications"][-1]["corrected"]["change"] == change["ref"]
    refused(agent.post(correct, json={"change": change["ref"]}), 409, "nothing-changed")
    accurate = "/api/v1/configuration-items/lebak-kiosk-1/correct-discrepancy"
    refused(agent.post(accurate, json={"change": change["ref"]}), 409, "nothing-changed")

    # reconciling is a keeper's decision, not an agent's
    refused(agent.post("/api/v1/configuration-items/reconciliations"), 403, "forbidden")
