"""Configuration items and changes over real HTTP, on SQLite and PostgreSQL; the views they
feed rebuild from zero equal to the live ones."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from application.seed import seed
from domain.actors import Role
from projections import change_calendar, change_details, configuration_items
from projections.runner import ProjectionRunner
from service.bootstrap import Services
from tests.conftest import T0
from tests.integration.conftest import Api

WINDOW = (T0 + timedelta(days=2)).isoformat(), (T0 + timedelta(days=2, hours=2)).isoformat()
#: The test on the checklist of the changes authorised here, passed before they are.
DRILL = "restore drill on staging"
#: The continuity, availability and security review of an assessment that is not about them.
ASPECTS = {
    "continuity": {"level": "low"},
    "availability": {"level": "medium", "note": "down for the window"},
    "security": {"level": "none"},
}


def authorised_change(api: Api, items: list[str], title: str = "Upgrade") -> dict[str, Any]:
    """A normal change raised by a resolver, assessed, and authorised by a quorum of two."""
    resolver = api.client("andi.pratama", Role.RESOLVER)
    manager = api.client("rina.wati", Role.CHANGE_MANAGER)
    raised = resolver.post(
        "/api/v1/changes",
        json={
            "kind": "normal",
            "title": title,
            "configuration_items": items,
            "backout_plan": "restore the snapshot",
        },
    )
    assert raised.status_code == 201, raised.text
    ref = raised.json()["ref"]
    assessed = manager.post(
        f"/api/v1/changes/{ref}/assess",
        json={
            "risk": "medium",
            "impact": "catalogue down",
            "cab": ["ahmad", "yusuf", "lina"],
            "quorum": 2,
            "tests": [DRILL],
            **ASPECTS,
        },
        headers={"If-Match": raised.headers["ETag"]},
    )
    assert assessed.status_code == 200, assessed.text
    for name in ("ahmad", "yusuf"):
        approved = api.client(name, Role.CAB_MEMBER).post(f"/api/v1/changes/{ref}/approve")
        assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "authorised"
    tested = resolver.post(
        f"/api/v1/changes/{ref}/record-test", json={"test": DRILL, "result": "passed"}
    )
    assert tested.status_code == 200, tested.text
    body: dict[str, Any] = tested.json()
    return body


def test_configuration_items_changes_and_the_calendar(api: Api, services: Services) -> None:
    seed(services.desk)
    reader = api.client("siti.rahma", Role.AGENT)
    manager = api.client("rina.wati", Role.CHANGE_MANAGER)

    # impact: everything that depends on the INLISLite server, transitively
    impact = reader.get("/api/v1/configuration-items/srv-inlislite-01/impact").json()
    impacted = {row["code"] for row in impact["impacted"]}
    assert {"db-inlislite", "app-inlislite", "svc-inlislite", "kiosk-dpk-01", "svc-opac"} <= (
        impacted
    )
    assert "wifi-dpk" not in impacted

    # the requester cannot approve their own change
    resolver = api.client("andi.pratama", Role.RESOLVER)
    own = resolver.post(
        "/api/v1/changes", json={"kind": "normal", "title": "x", "backout_plan": "y"}
    ).json()
    manager.post(
        f"/api/v1/changes/{own['ref']}/assess",
        json={"risk": "low", "impact": "none", "cab": ["ahmad"], "quorum": 1, **ASPECTS},
    )
    refused = api.client("andi.pratama", Role.CAB_MEMBER).post(
        f"/api/v1/changes/{own['ref']}/approve"
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "requester-cannot-approve"

    # schedule a change on the server, then a conflicting one on the app that depends on it
    first = authorised_change(api, ["srv-inlislite-01"], "Patch the server")
    booked = manager.post(
        f"/api/v1/changes/{first['ref']}/schedule", json={"start": WINDOW[0], "end": WINDOW[1]}
    )
    assert booked.status_code == 200, booked.text
    second = authorised_change(api, ["app-inlislite"], "Upgrade INLISLite")
    clash = manager.post(
        f"/api/v1/changes/{second['ref']}/schedule", json={"start": WINDOW[0], "end": WINDOW[1]}
    )
    assert clash.status_code == 409
    assert clash.json()["code"] == "schedule-conflict"
    assert [c["ref"] for c in clash.json()["conflicts"]] == [first["ref"]]
    # an agent may not override; a change manager may, with a reason, and it is recorded
    agent_override = reader.post(
        f"/api/v1/changes/{second['ref']}/schedule",
        json={"start": WINDOW[0], "end": WINDOW[1], "override_reason": "vendor on site"},
    )
    assert agent_override.status_code == 403
    overridden = manager.post(
        f"/api/v1/changes/{second['ref']}/schedule",
        json={"start": WINDOW[0], "end": WINDOW[1], "override_reason": "vendor on site"},
    )
    assert overridden.status_code == 200, overridden.text
    assert overridden.json()["window"]["overridden"] == [first["ref"]]

    # the calendar shows both windows, each with the other as a conflict (and the override)
    period = {"from": T0.isoformat(), "to": (T0 + timedelta(days=7)).isoformat()}
    shown = reader.get("/api/v1/changes/calendar", params=period).json()
    conflicts = {c["ref"]: [x["ref"] for x in c["conflicts"]] for c in shown["changes"]}
    assert conflicts == {first["ref"]: [second["ref"]], second["ref"]: [first["ref"]]}
    override = next(c for c in shown["changes"] if c["ref"] == second["ref"])["override"]
    assert override["reason"] == "vendor on site"
    # a caller reads the windows and that one was overridden, never the manager's reason
    seen = api.client("budi.santoso", Role.REQUESTER).get("/api/v1/changes/calendar", params=period)
    assert seen.status_code == 200, seen.text
    caller_override = next(c for c in seen.json()["changes"] if c["ref"] == second["ref"])
    assert caller_override["override"] == {**override, "reason": None}
    assert "vendor on site" not in seen.text

    # a blackout declared by a service manager shows as a conflict too
    blackout = api.client("dewi.lestari", Role.SERVICE_MANAGER).post(
        "/api/v1/changes/blackouts",
        json={
            "code": "book-fair-2026",
            "title": "Banten book fair",
            "start": WINDOW[0],
            "end": WINDOW[1],
            "configuration_items": ["svc-opac"],
            "reason": "public event",
        },
    )
    assert blackout.status_code == 201, blackout.text
    shown = reader.get("/api/v1/changes/calendar", params=period).json()
    assert [b["ref"] for b in shown["blackouts"]] == ["book-fair-2026"]
    first_row = next(c for c in shown["changes"] if c["ref"] == first["ref"])
    assert {x["ref"] for x in first_row["conflicts"]} == {second["ref"], "book-fair-2026"}

    items_change_only_through_implemented_changes(api, first, second, period)
    assert_rebuild_equals_live(services)


def items_change_only_through_implemented_changes(
    api: Api, first: dict[str, Any], second: dict[str, Any], period: dict[str, str]
) -> None:
    reader = api.client("siti.rahma", Role.AGENT)
    manager = api.client("rina.wati", Role.CHANGE_MANAGER)
    resolver = api.client("andi.pratama", Role.RESOLVER)
    # a configuration item changes only through a successfully implemented change naming it
    early = manager.post(
        "/api/v1/configuration-items/srv-inlislite-01/apply-change",
        json={"change": first["ref"], "status": "maintenance"},
    )
    assert early.status_code == 409
    assert early.json()["code"] == "change-not-implemented"
    resolver.post(f"/api/v1/changes/{first['ref']}/start-implementation")
    done = resolver.post(
        f"/api/v1/changes/{first['ref']}/record-implementation",
        json={"outcome": "successful", "notes": "kernel patched"},
        headers={"Idempotency-Key": "implement-1"},
    )
    assert done.json()["state"] == "implemented"
    again = resolver.post(
        f"/api/v1/changes/{first['ref']}/record-implementation",
        json={"outcome": "successful", "notes": "kernel patched"},
        headers={"Idempotency-Key": "implement-1"},
    )
    assert again.headers.get("Idempotent-Replayed") == "true"
    applied = manager.post(
        "/api/v1/configuration-items/srv-inlislite-01/apply-change",
        json={"change": first["ref"], "status": "maintenance"},
    )
    assert applied.status_code == 200, applied.text
    assert applied.json()["status"] == "maintenance"
    assert applied.json()["changes"][0]["change"] == first["ref"]
    # its window has left the forward schedule
    shown = reader.get("/api/v1/changes/calendar", params=period).json()
    assert [c["ref"] for c in shown["changes"]] == [second["ref"]]

    # history: every event, with actor and time
    history = reader.get(f"/api/v1/changes/{first['ref']}/history").json()["events"]
    assert [e["type"] for e in history][:6] == [
        "Change.Raised",
        "Change.Assessed",
        "Change.TestsPlanned",
        "Change.Approved",
        "Change.Approved",
        "Change.Authorised",
    ]
    assert all(e["actor"]["id"] and e["at"] for e in history)

    # a stale If-Match is refused
    stale = manager.post(
        f"/api/v1/changes/{second['ref']}/cancel",
        json={"reason": "superseded"},
        headers={"If-Match": '"1"'},
    )
    assert stale.status_code == 412


def assert_rebuild_equals_live(services: Services) -> None:
    views = (configuration_items, change_details, change_calendar)
    services.runner.catch_up()
    live = {p.name: services.views.rows(p) for p in views}
    assert all(live.values())
    for projection in views:
        services.views.reset(projection)
    ProjectionRunner(services.desk.recorder, services.desk.mapper, services.views, views).catch_up()
    assert {p.name: services.views.rows(p) for p in views} == live


def test_registering_a_configuration_item_needs_its_dependencies_and_a_keeper(api: Api) -> None:
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    body = {
        "code": "kiosk-x",
        "name": "Kiosk",
        "ci_type": "kiosk",
        "owner": "dpk-banten",
        "depends_on": ["no-such-item"],
    }
    missing = manager.post("/api/v1/configuration-items", json=body)
    assert missing.status_code == 404
    forbidden = api.client().post("/api/v1/configuration-items", json={**body, "depends_on": []})
    assert forbidden.status_code == 403
    made = manager.post(
        "/api/v1/configuration-items",
        json={**body, "depends_on": [], "description": "Lantai 1", "criticality": "high"},
    )
    assert made.status_code == 201
    assert (made.json()["description"], made.json()["criticality"]) == ("Lantai 1", "high")
    twice = manager.post("/api/v1/configuration-items", json={**body, "depends_on": []})
    assert twice.status_code == 409
    assert isinstance(made.json()["version"], int)
    assert httpx.codes.is_success(
        api.client().get("/api/v1/configuration-items/kiosk-x").status_code
    )


def test_a_backout_plan_is_recorded_as_tested_saying_how(api: Api) -> None:
    resolver = api.client("andi.pratama", Role.RESOLVER)
    raised = resolver.post(
        "/api/v1/changes",
        json={"kind": "normal", "title": "Upgrade SLiMS", "configuration_items": []},
    )
    assert raised.status_code == 201, raised.text
    ref = raised.json()["ref"]
    assert raised.json()["backout_test"] is None
    plan = {"plan": "restore the snapshot", "tested": True}
    unexplained = resolver.post(f"/api/v1/changes/{ref}/record-backout-plan", json=plan)
    assert unexplained.status_code == 422
    assert unexplained.json()["code"] == "backout-test-unexplained"
    tested = resolver.post(
        f"/api/v1/changes/{ref}/record-backout-plan",
        json={**plan, "test_note": "restored on the staging server in 12 minutes"},
    )
    assert tested.status_code == 200, tested.text
    body = tested.json()
    assert body["backout_plan"] == "restore the snapshot"
    assert body["backout_test"]["note"] == "restored on the staging server in 12 minutes"
    assert body["backout_test"]["by"]["id"] == "andi.pratama"


def test_the_assessment_records_the_impact_the_cmdb_gives_for_the_changes_items(
    api: Api, services: Services
) -> None:
    seed(services.desk)
    agent = api.client("siti.rahma", Role.AGENT)
    manager = api.client("rina.wati", Role.CHANGE_MANAGER)
    raised = agent.post(
        "/api/v1/changes",
        json={
            "kind": "normal",
            "title": "Patch the server",
            "configuration_items": ["srv-inlislite-01"],
        },
    )
    assert raised.status_code == 201, raised.text
    ref = raised.json()["ref"]

    assessed = manager.post(
        f"/api/v1/changes/{ref}/assess",
        json={
            "risk": "medium",
            "impact": "catalogue down for an hour",
            "cab": ["ahmad"],
            "quorum": 1,
            "continuity": {"level": "low", "note": "branches lend on paper"},
            "availability": {"level": "medium"},
            "security": {"level": "high", "note": "closes a kernel CVE"},
        },
    )

    assert assessed.status_code == 200, assessed.text
    assessment = assessed.json()["assessment"]
    assert (assessment["continuity"], assessment["availability"], assessment["security"]) == (
        {"level": "low", "note": "branches lend on paper"},
        {"level": "medium", "note": None},
        {"level": "high", "note": "closes a kernel CVE"},
    )
    # what GET .../impact answers for the item is what the assessment recorded, by itself
    impact = agent.get("/api/v1/configuration-items/srv-inlislite-01/impact").json()["impacted"]
    recorded = assessment["cmdb_impact"]
    assert recorded["items"] == [{"code": r["code"], "distance": r["distance"]} for r in impact]
    assert {"db-inlislite", "app-inlislite", "svc-opac"} <= {i["code"] for i in recorded["items"]}
    items = {
        row["code"]: row
        for row in agent.get("/api/v1/configuration-items", params={"limit": 200}).json()["items"]
    }
    expected = {items[c]["service"] for c in ["srv-inlislite-01", *(r["code"] for r in impact)]}
    assert recorded["services"] == sorted(s for s in expected if s)
    # the assessment reads the same in the change's history
    history = manager.get(f"/api/v1/changes/{ref}/history").json()["events"]
    assert history[-1]["type"] == "Change.Assessed"


def test_implementation_waits_for_the_checklist_and_an_emergency_may_waive_it(
    api: Api, services: Services
) -> None:
    agent = api.client("siti.rahma", Role.AGENT)
    manager = api.client("rina.wati", Role.CHANGE_MANAGER)
    ahmad = api.client("ahmad", Role.CAB_MEMBER)
    window = {"start": WINDOW[0], "end": WINDOW[1]}

    def to_the_window(kind: str, tests: list[str]) -> str:
        raised = agent.post(
            "/api/v1/changes",
            json={"kind": kind, "title": f"A {kind} change", "backout_plan": "restore"},
        )
        assert raised.status_code == 201, raised.text
        ref: str = raised.json()["ref"]
        body = {"risk": "low", "impact": "x", "cab": ["ahmad"], "quorum": 1, **ASPECTS}
        assessed = manager.post(f"/api/v1/changes/{ref}/assess", json={**body, "tests": tests})
        assert assessed.status_code == 200, assessed.text
        assert ahmad.post(f"/api/v1/changes/{ref}/approve").status_code == 200
        assert manager.post(f"/api/v1/changes/{ref}/schedule", json=window).status_code == 200
        window["start"], window["end"] = (
            window["end"],
            (datetime.fromisoformat(window["end"]) + timedelta(hours=2)).isoformat(),
        )
        return ref

    # a normal change with its drill failed: refused, saying why; passed: it starts
    ref = to_the_window("normal", [DRILL])
    failed = agent.post(
        f"/api/v1/changes/{ref}/record-test",
        json={"test": DRILL, "result": "failed", "note": "restore took 40 minutes"},
    )
    assert failed.status_code == 200, failed.text
    assert failed.json()["tests"][0] | {"at": None, "by": None} == {
        "name": DRILL,
        "result": "failed",
        "note": "restore took 40 minutes",
        "attachments": [],
        "at": None,
        "by": None,
    }
    refused = agent.post(f"/api/v1/changes/{ref}/start-implementation")
    assert (refused.status_code, refused.json()["code"]) == (409, "tests-not-passed")
    assert refused.json()["type"] == "/problems/tests-not-passed"
    assert DRILL in refused.json()["detail"]
    unknown = agent.post(
        f"/api/v1/changes/{ref}/record-test", json={"test": "load test", "result": "passed"}
    )
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown-test")
    agent.post(f"/api/v1/changes/{ref}/record-test", json={"test": DRILL, "result": "passed"})
    started = agent.post(f"/api/v1/changes/{ref}/start-implementation")
    assert started.status_code == 200, started.text
    assert started.json()["implementation"]["tests_waived"] is None

    # a normal change may not waive them; an emergency change may, and the reason is recorded
    untested = to_the_window("normal", [])
    waived = agent.post(
        f"/api/v1/changes/{untested}/start-implementation", json={"waiver": "in a hurry"}
    )
    assert (waived.status_code, waived.json()["code"]) == (409, "waiver-not-allowed")
    emergency = to_the_window("emergency", [DRILL])
    assert agent.post(f"/api/v1/changes/{emergency}/start-implementation").status_code == 409
    reason = "every RFID gate is open: the vendor's hotfix now"
    started = agent.post(
        f"/api/v1/changes/{emergency}/start-implementation", json={"waiver": reason}
    )
    assert started.status_code == 200, started.text
    assert started.json()["implementation"]["tests_waived"] == reason
