"""SLA clocks end to end, on SQLite and PostgreSQL: the rule versions a ticket records, the
watcher's alerts (once each, caught up after downtime), and the API.

The test clock starts at T0, Monday 2 March 2026 15:30 WIB (08:30 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from domain import commands as c
from domain.actors import Role
from domain.incident import SlaBreached, SlaWarned
from domain.sla import Targets
from domain.sla_clock import ClockState, Mark, MarkKind, Ticket
from infra.bootstrap import Services
from infra.sla_watch import SlaWatcher
from tests.conftest import AGENT, MANAGER, context
from tests.integration.conftest import Api

WIB = ZoneInfo("Asia/Jakarta")


def wib(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=WIB).astimezone(UTC)


def log(services: Services, impact: str = "medium", urgency: str = "medium", **kw: Any) -> UUID:
    command = c.LogIncident(
        title="Kiosk 3 offline",
        service=kw.pop("service", "Self-check kiosks"),
        caller="budi",
        impact=impact,
        urgency=urgency,
        **kw,
    )
    return services.desk.log_incident(context(AGENT, services.clock()), command).record_id


def test_a_policy_change_judges_only_tickets_logged_after_it(services: Services) -> None:
    # A P3 logged at 15:30 on Monday under version 1 (24h): Mon 30m, Tue 8h, Wed 8h, Thu 7h30
    # -> due Thursday 15:30. The policy then cuts P3 resolution to 8h; a P3 logged at the same
    # moment under version 2: Mon 30m + Tue 7h30 -> due Tuesday 15:30. The first keeps its own.
    before = log(services)
    policy = services.desk.sla_policy()
    terms = policy.terms.model_copy(
        update={
            "targets": {
                **policy.terms.targets,
                3: Targets(response_minutes=240, resolution_minutes=480),
            }
        }
    )
    services.desk.revise_sla_policy(context(MANAGER, services.clock()), terms, "faster P3")
    after = log(services)

    old_rules, old_clock = services.desk.sla_clock(before, services.clock())
    new_rules, new_clock = services.desk.sla_clock(after, services.clock())
    assert old_rules.versions.policy.version == 1
    assert new_rules.versions.policy.version == 2
    assert services.desk.incident(before).sla == old_rules.versions
    assert old_clock.resolution.due_at == wib(3, 5, 15, 30)
    assert new_clock.resolution.due_at == wib(3, 3, 15, 30)
    assert services.desk.sla_policy(1).terms.targets[3].resolution_minutes == 24 * 60


def test_a_ticket_without_recorded_rules_is_judged_by_the_first_versions(
    services: Services,
) -> None:
    ticket = Ticket(
        "incident", "Self-check kiosks", None, (Mark(wib(3, 2, 8), MarkKind.LOGGED, 2),)
    )
    rules, clock = services.desk.rulebook.judge(ticket, wib(3, 2, 9))
    assert not rules.recorded
    assert (rules.versions.policy.version, rules.versions.calendar.version) == (1, 1)
    assert rules.versions.calendar_name == "office"
    assert clock.resolution.due_at == wib(3, 2, 16)


def test_the_watcher_records_each_alert_once_and_catches_up_after_downtime(
    services: Services,
) -> None:
    # A P2 logged Monday 15:30 WIB: response (1h) 30m on Monday and 30m on Tuesday -> breached
    # Tuesday 08:30; resolution (8h) -> breached Tuesday 15:30. The watcher was down until
    # Wednesday, so it finds all six thresholds passed, and records them with their own moments.
    incident = log(services, urgency="high")
    assert services.runner.wait_for(services.desk.recorder.max_notification_id() or 0, 10)
    watcher = SlaWatcher(services)
    assert watcher.tick().recorded == 0  # nothing is due yet

    services.clock.advance(days=2)  # type: ignore[attr-defined]
    assert watcher.tick().recorded == 1
    alerts = [e for e in services.desk.history(incident) if isinstance(e, SlaWarned | SlaBreached)]
    assert len(alerts) == 6
    breaches = {e.target: e.breached_at for e in alerts if isinstance(e, SlaBreached)}
    assert breaches == {"response": wib(3, 3, 8, 30), "resolution": wib(3, 3, 15, 30)}
    assert all(e.actor.role is Role.SYSTEM for e in alerts)

    # Again, and a second watcher that never saw it (a restart, or another process): nothing new.
    assert watcher.tick().recorded == 0
    assert SlaWatcher(services).tick().recorded == 0
    assert len(services.desk.history(incident)) == 1 + 6


def test_the_sla_api_shows_clocks_and_versioned_rules(api: Api, services: Services) -> None:
    agent, manager = api.client(), api.client("dewi.lestari", Role.SERVICE_MANAGER)
    first = log(services, urgency="high")  # P2, due Tuesday
    log(services, impact="low", urgency="low")  # P5: 80h, far off
    services.clock.advance(hours=18)  # type: ignore[attr-defined]  # Tuesday 09:30 WIB

    sla = agent.get(f"/api/v1/incidents/{first}/sla").json()
    assert sla["state"] == ClockState.BREACHED  # the response was due at 08:30
    assert sla["rules"]["policy"]["version"] == 1
    assert sla["rules"]["calendar_name"] == "office"
    assert sla["response"]["breached_at"] == wib(3, 3, 8, 30).isoformat()
    assert next(s["what"] for s in sla["timeline"]) == "started"

    services.runner.wait_for(services.desk.recorder.max_notification_id() or 0, 10)
    breached = agent.get("/api/v1/sla/clocks", params={"state": "breached"}).json()["items"]
    assert [i["id"] for i in breached] == [str(first)]
    everything = agent.get("/api/v1/sla/clocks").json()["items"]
    remaining = [
        min(i["response"]["remaining_minutes"], i["resolution"]["remaining_minutes"])
        for i in everything
    ]
    assert remaining == sorted(remaining)
    assert len(everything) == 2

    # The rules: everyone reads, only service managers change, old versions stay readable.
    policy = agent.get("/api/v1/sla/policy").json()
    policy["terms"]["warn_at"] = [50, 75, 90]
    revision = {"terms": policy["terms"], "reason": "warn earlier"}
    assert agent.post("/api/v1/sla/policy/revisions", json=revision).status_code == 403
    assert manager.post("/api/v1/sla/policy/revisions", json=revision).status_code == 201
    assert agent.get("/api/v1/sla/policy").json()["version"] == 2
    assert agent.get("/api/v1/sla/policy", params={"version": 1}).json()["terms"]["warn_at"] == [
        75,
        90,
    ]

    office = agent.get("/api/v1/sla/calendars/office").json()
    year = office["years"]["2027"]
    year["holidays"].append({"date": "2027-08-16", "name": "Cuti bersama", "kind": "cuti_bersama"})
    year["provisional"] = False
    amended = manager.put(
        "/api/v1/sla/calendars/office/holidays/2027",
        json={"holidays": year, "reason": "SKB 2027 published"},
        headers={"If-Match": '"1"'},
    )
    assert amended.status_code == 200, amended.text
    assert amended.json()["version"] == 2
    old = agent.get("/api/v1/sla/calendars/office", params={"version": 1}).json()
    assert len(old["years"]["2027"]["holidays"]) == len(year["holidays"]) - 1
    stale = manager.put(
        "/api/v1/sla/calendars/office/holidays/2027",
        json={"holidays": year, "reason": "again"},
        headers={"If-Match": '"1"'},
    )
    assert stale.status_code == 412
    missing = agent.get("/api/v1/sla/calendars/nonesuch")
    assert (missing.status_code, missing.json()["code"]) == (404, "calendar-not-found")
    assert {c["name"] for c in agent.get("/api/v1/sla/calendars").json()} == {"office", "24x7"}
