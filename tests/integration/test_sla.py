"""SLA clocks end to end, on SQLite and PostgreSQL: the rule versions a ticket records, the
watcher's alerts (once each, caught up after downtime), and the API.

The test clock starts at T0, Monday 2 March 2026 15:30 WIB (08:30 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from application.kinds import SERVICE_REQUEST
from application.pipeline import Submission
from application.seed import seed
from domain import commands as c
from domain.actors import Role
from domain.incident import SlaBreached, SlaWarned
from domain.request_commands import SubmitServiceRequest
from domain.service_request import SlaBreached as RequestSlaBreached
from domain.service_request import SlaWarned as RequestSlaWarned
from domain.service_request import Submitted
from domain.sla import Targets
from domain.sla_clock import ClockState, Mark, MarkKind, Ticket
from processes.sla_watch import SlaWatcher
from projections import service_request_details
from projections.sla_clocks import sla_clocks
from service.bootstrap import Services
from tests.conftest import AGENT, MANAGER, context
from tests.integration.conftest import Api
from tests.integration.test_requests_problems_api import assert_rebuild_equals_live

WIB = ZoneInfo("Asia/Jakarta")


def wib(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=WIB).astimezone(UTC)


def log(services: Services, impact: str = "medium", urgency: str = "medium", **kw: Any) -> UUID:
    command = c.LogIncident(
        title="Kiosk 3 offline",
        service=kw.pop("service", "kiosks-gates"),
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
    ticket = Ticket("incident", "kiosks-gates", None, (Mark(wib(3, 2, 8), MarkKind.LOGGED, 2),))
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
    # logged beside the API: its reads (through the views) see them once the views have them
    assert services.runner.wait_for(services.desk.recorder.max_notification_id() or 0, 10)
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
    assert {c["name"] for c in agent.get("/api/v1/sla/calendars").json()} == {
        "office",
        "24x7",
        "library",
    }


@pytest.mark.usefixtures("directory")
def test_after_a_priority_change_every_clock_answer_adds_up_and_a_met_response_keeps_its_terms(
    api: Api, services: Services
) -> None:
    # A P3 (response 4h, resolution 24h) logged Monday 2 March 15:30 WIB; work starts at 15:40,
    # so the response is met after 10 minutes under P3. By Wednesday 13:00 the resolution clock
    # has run Mon 30m + Tue 8h + Wed 5h = 13h30 (810 minutes) of its 1,440. Raised to P1
    # (resolution 4h): the share used carries over, 630/1440 of 240 = 105 minutes left. At 14:15
    # 75 more have run: 30 left, 210 of the P1 target used; it is due at 14:45, and at 15:00 it
    # is 15 minutes over.
    agent = api.client()
    body = {
        "title": "Kiosk 3 offline",
        "service": "kiosks-gates",
        "caller": "budi",
        "impact": "medium",
        "urgency": "medium",
        "assignment_group": "kiosk-team",
    }
    created = agent.post("/api/v1/incidents", json=body)
    assert created.status_code == 201, created.text
    ref = created.json()["ref"]
    services.clock.advance(minutes=10)  # type: ignore[attr-defined]
    assert agent.post(f"/api/v1/incidents/{ref}/start-work").status_code == 200
    services.clock.advance(days=1, hours=21, minutes=20)  # type: ignore[attr-defined]
    raised = {"impact": "high", "urgency": "high", "reason": "every kiosk of the branch"}
    assert agent.post(f"/api/v1/incidents/{ref}/reprioritise", json=raised).status_code == 200
    services.clock.advance(minutes=75)  # type: ignore[attr-defined]  # Wednesday 14:15

    sla = agent.get(f"/api/v1/incidents/{ref}/sla").json()
    assert {k: sla["resolution"].get(k) for k in ADDS_UP} == {
        "priority": 1,
        "target_minutes": 240,
        "elapsed_minutes": 210,
        "remaining_minutes": 30,
        "overrun_minutes": 0,
        "counted_minutes": 810 + 75,
    }
    assert sla["resolution"]["due_at"] == wib(3, 4, 14, 45).isoformat()
    # The response was met under P3, and stays met under P3's terms.
    assert {k: sla["response"].get(k) for k in ADDS_UP} == {
        "priority": 3,
        "target_minutes": 240,
        "elapsed_minutes": 10,
        "remaining_minutes": 230,
        "overrun_minutes": 0,
        "counted_minutes": 10,
    }
    assert sla["response"]["state"] == ClockState.MET

    services.clock.advance(minutes=45)  # type: ignore[attr-defined]  # Wednesday 15:00
    late = agent.get(f"/api/v1/incidents/{ref}/sla").json()["resolution"]
    assert late["state"] == ClockState.BREACHED
    assert late["breached_at"] == wib(3, 4, 14, 45).isoformat()
    assert {k: late.get(k) for k in ADDS_UP} == {
        "priority": 1,
        "target_minutes": 240,
        "elapsed_minutes": 255,
        "remaining_minutes": 0,
        "overrun_minutes": 15,
        "counted_minutes": 810 + 120,
    }


ADDS_UP = (
    "priority",
    "target_minutes",
    "elapsed_minutes",
    "remaining_minutes",
    "overrun_minutes",
    "counted_minutes",
)


# -- service requests ------------------------------------------------------------------------------


def submit(services: Services, item: str = "card-reprint") -> UUID:
    ctx = context(AGENT, services.clock())
    command = SubmitServiceRequest(catalogue_item=item, title="Lost card", requester="budi")
    submission = Submission(ctx, command, SERVICE_REQUEST, operation="submit_service_request")
    return services.desk.execute(submission).record_id


def test_a_service_request_records_its_rules_and_the_watcher_its_alerts_once(
    services: Services,
) -> None:
    # A P4 card reprint submitted Monday 15:30 WIB: response (8h) 30m on Monday and 7h30 on
    # Tuesday -> breached Tuesday 15:30, after 75% (6h: Tuesday 13:30) and 90% (7h12m: 14:42).
    # Resolution (40h) has used 16h by Wednesday 15:30: no threshold yet.
    seed(services.desk)
    request = submit(services)
    submitted = services.desk.record_history(request, Submitted)[0]
    assert isinstance(submitted, Submitted)
    assert submitted.sla == services.desk.sla_rules_for("membership-cards")
    assert submitted.sla is not None
    assert submitted.sla.policy.version == 1
    assert services.runner.wait_for(services.desk.recorder.max_notification_id() or 0, 10)
    watcher = SlaWatcher(services)
    assert watcher.tick().recorded == 0

    services.clock.advance(days=2)  # type: ignore[attr-defined]  # down until Wednesday
    assert watcher.tick().recorded == 1
    history = services.desk.record_history(request, Submitted)
    alerts = [e for e in history if isinstance(e, RequestSlaWarned | RequestSlaBreached)]
    assert [(e.target, getattr(e, "threshold", 100)) for e in alerts] == [
        ("response", 75),
        ("response", 90),
        ("response", 100),
    ]
    assert [e.breached_at for e in alerts if isinstance(e, RequestSlaBreached)] == [
        wib(3, 3, 15, 30)
    ]
    assert all(e.actor.role is Role.SYSTEM for e in alerts)

    # Again, and another watcher (a restart, another process): nothing new.
    services.runner.catch_up()
    assert watcher.tick().recorded == 0
    assert SlaWatcher(services).tick().recorded == 0
    assert len(services.desk.record_history(request, Submitted)) == len(history)
    assert_rebuild_equals_live(services, (sla_clocks, service_request_details))


def test_the_sla_api_shows_a_requests_clock_and_lists_both_kinds(
    api: Api, services: Services
) -> None:
    seed(services.desk)
    agent = api.client()
    request = submit(services)  # P4: response breached Tuesday 15:30 WIB
    incident = log(services, impact="low", urgency="low")  # P5: 16h response, not yet
    services.clock.advance(days=1, hours=1)  # type: ignore[attr-defined]  # Tuesday 16:30
    services.runner.wait_for(services.desk.recorder.max_notification_id() or 0, 10)
    row = services.views.get(service_request_details, str(request))
    assert row is not None
    ref = row["ref"]

    sla = agent.get(f"/api/v1/service-requests/{ref}/sla").json()
    assert (sla["kind"], sla["ref"], sla["id"]) == ("service_request", ref, str(request))
    assert sla["state"] == ClockState.BREACHED
    assert sla["response"]["breached_at"] == wib(3, 3, 15, 30).isoformat()
    assert sla["rules"]["recorded"] is True
    assert sla["timeline"][0]["detail"].startswith("P4 service request logged")
    by_id = agent.get(f"/api/v1/service-requests/{request}/sla").json()
    assert by_id["response"] == sla["response"]
    missing = agent.get("/api/v1/service-requests/REQ-999999/sla")
    assert missing.status_code == 404

    everything = agent.get("/api/v1/sla/clocks").json()["items"]
    assert {(i["kind"], i["id"]) for i in everything} == {
        ("service_request", str(request)),
        ("incident", str(incident)),
    }
    for _ in range(2):  # the second time from what the first remembered
        breached = agent.get("/api/v1/sla/clocks", params={"state": "breached"}).json()["items"]
        assert [(i["kind"], i["ref"]) for i in breached] == [("service_request", ref)]
        running = agent.get("/api/v1/sla/clocks", params={"state": "running"}).json()["items"]
        assert [i["kind"] for i in running] == ["incident"]

    # Once the request is fulfilled, it is no longer open work
    desk = api.client()
    assert desk.post(f"/api/v1/service-requests/{ref}/start-fulfilment", json={}).status_code == 200
    for step in (1, 2):
        done = desk.post(f"/api/v1/service-requests/{ref}/complete-step", json={"step": step})
        assert done.status_code == 200, done.text
    fulfil = desk.post(f"/api/v1/service-requests/{ref}/fulfil", json={"notes": "Printed"})
    assert fulfil.status_code == 200, fulfil.text
    breached = agent.get("/api/v1/sla/clocks", params={"state": "breached"}).json()["items"]
    assert breached == []
