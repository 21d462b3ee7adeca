"""Service reports through the API, on SQLite and PostgreSQL, over a fixed history made through the
API itself (March 2026, with an incident left open from February and work after March's end).

The figures are checked against figures this test computes on its own from the raw events: each
record's history read back from the store and decoded into its event classes (not the reports'
JSON reading), its SLA clock judged through the desk's rulebook (not the reports' judge), and
every count worked out here from the events' types and timestamps."""

from __future__ import annotations

import contextlib
import csv
import io
import math
import multiprocessing
import threading
import zipfile
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import orjson
import pytest

from application.seed import seed
from domain import change as c
from domain import configuration_item as ci
from domain import incident as i
from domain import problem as p
from domain import service_request as r
from domain.actors import Role
from domain.events import DomainEvent
from domain.sla_clock import ClockState
from domain.sla_incident import ticket as incident_ticket
from domain.sla_request import ticket as request_ticket
from domain.whatif import REPORTING_ZONE
from processes import reports
from processes.reports.issue import ReportSchedule, make_month
from service.bootstrap import Services
from service.reports_apart import made_apart
from tests.conftest import Clock
from tests.integration.conftest import Api
from tests.integration.test_changes_api import authorised_change

pytestmark = pytest.mark.usefixtures("directory")

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
START = datetime(2026, 3, 1, tzinfo=REPORTING_ZONE)
END = datetime(2026, 4, 1, tzinfo=REPORTING_ZONE)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def log(client: httpx.Client, title: str, **more: Any) -> str:
    body = {
        "title": title,
        "service": "kiosks-gates",
        "caller": "budi.santoso",
        "impact": "medium",
        "urgency": "medium",
        "assignment_group": "kiosk-team",
        **more,
    }
    return str(ok(client.post("/api/v1/incidents", json=body), 201)["ref"])


def act(client: httpx.Client, ref: str, action: str, **body: Any) -> None:
    ok(client.post(f"/api/v1/incidents/{ref}/{action}", json=body))


def resolve(client: httpx.Client, ref: str) -> None:
    act(client, ref, "start-work")
    act(client, ref, "resolve", code="fixed", notes="done")


def make_history(api: Api, services: Services, clock: Clock) -> dict[str, str]:
    """March 2026's work, with an incident open since February and some of April's."""
    seed(services.desk)
    siti = api.client("siti.rahma", all_organisations=True)
    andi = api.client("andi.wijaya", all_organisations=True)
    refs: dict[str, str] = {}
    clock.now = datetime(2026, 2, 25, 2, 0, tzinfo=UTC)
    refs["february"] = log(siti, "Gate alarm since February")  # open through March: backlog
    clock.now = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    refs["first_contact"] = log(siti, "Kiosk paper jam")
    clock.advance(minutes=20)
    resolve(siti, refs["first_contact"])
    refs["escalated"] = log(siti, "OPAC search slow", service="catalogue-search")
    act(
        siti,
        refs["escalated"],
        "escalate",
        kind="functional",
        reason="db",
        to_group="tim-inlislite",
    )
    clock.advance(hours=3)
    resolve(andi, refs["escalated"])
    caller = api.client("budi.santoso", Role.REQUESTER)
    for ref, score in ((refs["first_contact"], 5), (refs["escalated"], 2)):
        clock.advance(minutes=5)
        ok(caller.post(f"/api/v1/incidents/{ref}/confirm"))
        ok(caller.post(f"/api/v1/incidents/{ref}/rating", json={"score": score}))
    refs["reopened"] = log(
        siti, "Renewal fails", service="batupusaka", impact="high", urgency="high"
    )
    clock.advance(hours=2)
    resolve(siti, refs["reopened"])
    clock.advance(hours=1)
    act(siti, refs["reopened"], "reopen", reason="again")
    clock.advance(days=2)
    act(siti, refs["reopened"], "resolve", code="fixed", notes="really")
    clock.now = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
    refs["major"] = log(siti, "Circulation down everywhere", service="circulation", impact="high")
    act(siti, refs["major"], "declare-major", manager="dewi.lestari", reason="all branches")
    clock.advance(days=6)  # past its resolution target
    resolve(siti, refs["major"])
    refs["cancelled"] = log(siti, "Logged twice")
    act(siti, refs["cancelled"], "cancel", reason="logged_in_error")
    clock.now = datetime(2026, 3, 20, 4, 0, tzinfo=UTC)
    refs["open"] = log(
        siti, "Wi-Fi down at Lebak", service="public-wifi", organisation="perpus-kab-lebak"
    )

    problems_and_changes(api, refs, clock)
    requests_and_items(api)
    # April: outside the period, never counted
    clock.now = datetime(2026, 4, 2, 2, 0, tzinfo=UTC)
    log(siti, "April's kiosk fault")
    act(siti, refs["open"], "start-work")
    return refs


def problems_and_changes(api: Api, refs: dict[str, str], clock: Clock) -> None:
    """A problem with a known error, resolved by a change, and an incident after it (recurrence);
    a failed change, and an incident it caused."""
    siti = api.client("siti.rahma", all_organisations=True)
    # a problem with a known error, resolved by a change; an incident after it: recurrence
    problem = ok(
        siti.post(
            "/api/v1/problems",
            json={
                "title": "Gate alarms",
                "service": "kiosks-gates",
                "incidents": [refs["february"]],
            },
        ),
        201,
    )["ref"]
    ok(siti.post(f"/api/v1/problems/{problem}/start-investigation"))
    ok(siti.post(f"/api/v1/problems/{problem}/record-root-cause", json={"root_cause": "tags"}))
    ok(siti.post(f"/api/v1/problems/{problem}/publish-known-error", json={"symptoms": "alarm"}))
    fixing = authorised_change(api, ["app-union-catalogue"], "Retune the gates")["ref"]
    failing = authorised_change(api, ["app-inlislite"], "Upgrade INLISLite")["ref"]
    resolver = api.client("andi.pratama", Role.RESOLVER, all_organisations=True)
    for ref, outcome in ((fixing, "successful"), (failing, "failed")):
        start, end = (
            (clock.now + timedelta(days=1)).isoformat(),
            (clock.now + timedelta(days=1, hours=2)).isoformat(),
        )
        ok(resolver.post(f"/api/v1/changes/{ref}/schedule", json={"start": start, "end": end}))
        ok(resolver.post(f"/api/v1/changes/{ref}/start-implementation"))
        ok(
            resolver.post(
                f"/api/v1/changes/{ref}/record-implementation",
                json={"outcome": outcome, "notes": outcome},
            )
        )
    ok(siti.post(f"/api/v1/problems/{problem}/resolve", json={"change": fixing, "notes": "ok"}))
    clock.advance(days=2)
    refs["recurred"] = log(siti, "Gate alarm again")
    ok(siti.post(f"/api/v1/problems/{problem}/link-incident", json={"incident": refs["recurred"]}))
    ok(resolver.post(f"/api/v1/changes/{failing}/link-incident", json={"incident": refs["open"]}))


def requests_and_items(api: Api) -> None:
    """A request fulfilled and one waiting for its approvals; an item verified."""
    siti, member = api.client("siti.rahma"), api.client("budi.santoso", Role.REQUESTER)
    # requests: one fulfilled, one waiting for its approvals
    card = ok(
        member.post(
            "/api/v1/service-requests", json={"catalogue_item": "card-reprint", "title": "x"}
        ),
        201,
    )["ref"]
    ok(siti.post(f"/api/v1/service-requests/{card}/start-fulfilment"))
    for step in (1, 2):
        ok(siti.post(f"/api/v1/service-requests/{card}/complete-step", json={"step": step}))
    ok(siti.post(f"/api/v1/service-requests/{card}/fulfil", json={"notes": "printed"}))
    ok(
        member.post(
            "/api/v1/service-requests",
            json={"catalogue_item": "inlislite-school-install", "title": "SMAN 2"},
        ),
        201,
    )
    # configuration: one item verified in March
    ok(
        siti.post(
            "/api/v1/configuration-items/app-inlislite/verify",
            json={"result": "accurate", "note": "version matches"},
        )
    )
    unexplained = siti.post(
        "/api/v1/configuration-items/app-inlislite/verify", json={"result": "discrepancy"}
    )
    assert ok(unexplained, 422)["code"] == "discrepancy-unexplained"


# -- the figures, worked out here from the raw events -------------------------------------------


def histories(services: Services) -> dict[UUID, list[DomainEvent]]:
    recorder, mapper = services.desk.recorder, services.desk.mapper
    found: dict[UUID, list[DomainEvent]] = defaultdict(list)
    for n in recorder.select_notifications(start=1, limit=1_000_000):
        event = mapper.to_domain_event(n)
        if isinstance(event, DomainEvent) and event.timestamp < END:
            found[UUID(str(n.originator_id))].append(event)
    return found


def nearest(values: list[float], percent: int) -> float | None:
    ordered = sorted(values)
    return ordered[math.ceil(percent * len(ordered) / 100) - 1] if ordered else None


def share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def open_at_end(events: list[DomainEvent]) -> bool:
    state = "open"
    for event in events:
        if isinstance(event, (i.Resolved, i.Closed, i.Cancelled)):
            state = "done"
        elif isinstance(event, i.Reopened):
            state = "open"
    return state == "open"


def expected_incidents(services: Services, service: str | None = None) -> dict[str, Any]:
    figures: dict[str, Any] = defaultdict(int)
    resolve_hours: list[float] = []
    resolved_count = reopened = first_contact = 0
    scores: list[int] = []  # every rating is March's in this history
    verdicts = {"response": [0, 0], "resolution": [0, 0]}  # met, breached
    for events in histories(services).values():
        opened = events[0]
        if not isinstance(opened, i.Logged):
            continue
        current = opened.service
        for event in events:
            if isinstance(event, i.Recategorised):
                current = event.service
        if service is not None and current != service:
            continue
        kinds = [type(e) for e in events]
        figures["backlog"] += open_at_end(events)
        scores.extend(e.score for e in events if isinstance(e, i.Rated))
        if not START <= opened.timestamp < END:
            continue
        figures["logged"] += 1
        figures["major"] += i.MajorIncidentDeclared in kinds
        majors = [
            e for e in events if isinstance(e, i.MajorIncidentDeclared | i.MajorIncidentStoodDown)
        ]
        figures["major_reviews_outstanding"] += bool(
            majors
            and isinstance(majors[-1], i.MajorIncidentDeclared)
            and i.Resolved in kinds
            and i.MajorIncidentReviewed not in kinds
        )
        if i.Resolved in kinds:
            resolved_count += 1
            reopened += i.Reopened in kinds
            resolver = [e for e in events if isinstance(e, i.Resolved)][-1].actor.id
            groups = {e.group for e in events if isinstance(e, i.Assigned)} | {
                e.to_group for e in events if isinstance(e, i.Escalated) and e.to_group
            }
            first_contact += (
                resolver == opened.actor.id and len(groups) <= 1 and i.Reopened not in kinds
            )
        _, clock = services.desk.rulebook.judge(incident_ticket(events), END)
        if clock.resolution.state is ClockState.CANCELLED:
            continue
        for name, target in (("response", clock.response), ("resolution", clock.resolution)):
            verdicts[name][0] += target.state is ClockState.MET
            verdicts[name][1] += target.state is ClockState.BREACHED
        if clock.resolution.stopped_at is not None:
            resolve_hours.append(clock.resolution.counted.total_seconds() / 3600)
    figures["resolved"] = resolved_count
    figures["rated"] = len(scores)
    figures["satisfaction_low"] = sum(score <= 2 for score in scores)
    if scores:
        figures["satisfaction_mean"] = round(sum(scores) / len(scores), 2)
    for name, (met, breached) in verdicts.items():
        figures[f"{name}_met"], figures[f"{name}_breached"] = met, breached
        figures[f"{name}_met_pct"] = share(met, met + breached)
    figures["reopened_pct"] = share(reopened, resolved_count)
    figures["first_contact_pct"] = share(first_contact, resolved_count)
    p90 = nearest(resolve_hours, 90)
    figures["resolve_p90_hours"] = None if p90 is None else round(p90, 2)
    if resolve_hours:
        figures["resolve_mean_hours"] = round(sum(resolve_hours) / len(resolve_hours), 2)
    return dict(figures)


def expected_others(services: Services) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    everything = histories(services)
    logged_at = {
        key: events[0].timestamp
        for key, events in everything.items()
        if isinstance(events[0], i.Logged)
    }
    for events in everything.values():
        first, kinds = events[0], [type(e) for e in events]
        if isinstance(first, c.Raised):
            changes = found["changes"]
            changes["raised"] += START <= first.timestamp < END
            changes[first.kind.value] += START <= first.timestamp < END
            done = [e for e in events if isinstance(e, c.Implemented)]
            began = next(e.timestamp for e in events if isinstance(e, c.ImplementationStarted))
            if done:
                changes["implemented"] += 1
                changes[done[0].outcome.value] += 1
                linked = [e.incident_id for e in events if isinstance(e, c.IncidentLinked)]
                changes["caused_incidents"] += any(logged_at[x] >= began for x in linked)
        elif isinstance(first, p.Logged):
            problems = found["problems"]
            problems["logged"] += 1
            problems["known_errors"] += p.KnownErrorPublished in kinds
            resolved_at = next(e.timestamp for e in events if isinstance(e, p.Resolved))
            problems["resolved"] += 1
            problems["recurring_incidents"] += sum(
                isinstance(e, p.IncidentLinked) and e.timestamp >= resolved_at for e in events
            )
        elif isinstance(first, r.Submitted):
            requests = found["requests"]
            requests["submitted"] += 1
            requests["fulfilled"] += r.Fulfilled in kinds
            waiting = r.ApprovalRequested in kinds and r.Approved not in kinds
            requests["awaiting_approval"] += waiting
            _, clock = services.desk.rulebook.judge(request_ticket(events), END)
            requests["met"] += clock.resolution.state is ClockState.MET
        elif isinstance(first, ci.Registered):
            items = found["configuration"]
            items["items"] += 1
            items["verified"] += ci.Verified in kinds
            items["never_verified"] += ci.Verified not in kinds
    return found


# -- the tests ------------------------------------------------------------------------------------


def test_the_reports_figures_are_those_of_the_raw_events(
    api: Api, services: Services, clock: Clock
) -> None:
    make_history(api, services, clock)
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    held = services.desk.recorder.max_notification_id()
    report = ok(manager.get("/api/v1/reports/incidents", params=MARCH))
    assert report["period"] == MARCH
    assert report["position"] == held  # (the report's disclosure is recorded after it)
    total, expected = report["total"], expected_incidents(services)
    for name, value in expected.items():
        assert total[name] == value, name
    assert total["logged"] == 7  # February's and April's are not March's
    assert total["backlog"] == 3  # February's, the recurring one, Lebak's (closed in April)
    assert total["major"] == 1
    assert total["major_reviews_outstanding"] == 1  # resolved, not yet reviewed
    assert (total["rated"], total["satisfaction_mean"], total["satisfaction_low"]) == (2, 3.5, 1)
    # the history has each case: the major incident ran past its target, one was reopened, one
    # went to another group, one was resolved at first contact
    assert total["resolution_breached"] >= 1
    assert total["resolution_met"] >= 1
    assert 0 < total["reopened_pct"] < 100
    assert 0 < total["first_contact_pct"] < 100
    by_service = {
        row["key"]: row["figures"] for row in report["rows"] if row["dimension"] == "service"
    }
    for service in ("kiosks-gates", "batupusaka", "public-wifi"):
        assert by_service[service]["logged"] == expected_incidents(services, service).get(
            "logged", 0
        )
    by_org = {
        row["key"]: row["figures"] for row in report["rows"] if row["dimension"] == "organisation"
    }
    assert by_org["perpus-kab-lebak"]["backlog"] == 1
    (march,) = report["months"]
    assert march == {"month": "2026-03", "figures": total}

    others = expected_others(services)
    for name in ("changes", "problems", "requests", "configuration"):
        made = ok(manager.get(f"/api/v1/reports/{name}", params=MARCH))["total"]
        for figure, value in others[name].items():
            if figure != "met":
                assert made[figure] == value, (name, figure)
    changes = ok(manager.get("/api/v1/reports/changes", params=MARCH))["total"]
    assert (changes["implemented"], changes["success_pct"], changes["caused_incidents"]) == (
        2,
        50.0,
        1,
    )


def test_a_report_is_the_same_when_made_again_and_comes_as_csv_html_and_pdf(
    api: Api, services: Services, clock: Clock
) -> None:
    make_history(api, services, clock)
    auditor = api.client("audit.bpk", Role.AUDITOR)
    first = ok(auditor.get("/api/v1/reports/incidents", params=MARCH))
    clock.now = datetime(2026, 4, 20, 2, 0, tzinfo=UTC)
    log(api.client(), "Kiosk fault in late April")
    again = ok(auditor.get("/api/v1/reports/incidents", params=MARCH))
    assert again["total"] == first["total"]  # what happened after March does not change March
    assert again["position"] > first["position"]

    table = auditor.get("/api/v1/reports/incidents", params={**MARCH, "format": "csv"})
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(table.text)))
    assert rows[0][:4] == ["scope", "key", "name", "logged"]
    assert rows[1][:4] == ["total", "all", "Seluruh periode", str(first["total"]["logged"])]
    assert len(rows) == 1 + 1 + len(first["rows"]) + len(first["months"])
    assert rows[[r[1] for r in rows].index("batupusaka")][:3] == [
        "service",
        "batupusaka",
        "Batupusaka",
    ]

    page = auditor.get(
        "/api/v1/reports/incidents", params={**MARCH, "format": "html", "lang": "en"}
    )
    assert page.headers["content-type"].startswith("text/html")
    assert "sandbox" in page.headers["content-security-policy"]
    assert "<h1>Incident report</h1>" in page.text
    assert page.text.count("<svg") == 2  # the trend and the headline, drawn by matplotlib
    assert "Gate alarm" not in page.text  # figures, not records
    document = auditor.get("/api/v1/reports/changes", params={**MARCH, "format": "pdf"})
    assert document.headers["content-type"] == "application/pdf"
    assert document.content.startswith(b"%PDF-")
    assert 'filename="changes-2026-03-01-2026-03-31.pdf"' in document.headers["content-disposition"]


def test_reports_are_for_managers_and_auditors_of_periods_that_have_ended(
    api: Api, clock: Clock
) -> None:
    clock.now = datetime(2026, 3, 31, 10, 0, tzinfo=UTC)  # 17:00 WIB on March's last day
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    for role in (Role.AGENT, Role.REQUESTER, Role.CHANGE_MANAGER):
        assert api.client("x", role).get("/api/v1/reports/incidents").status_code == 403
    early = ok(manager.get("/api/v1/reports/incidents", params=MARCH), 422)
    assert early["code"] == "period-not-ended"
    assert ok(manager.get("/api/v1/reports/nothing"), 404)["code"] == "not-found"
    backwards = ok(
        manager.get("/api/v1/reports/incidents", params={"from": "2026-02-10", "to": "2026-02-01"}),
        422,
    )
    assert backwards["code"] == "invalid-period"
    long = {"from": "2024-01-01", "to": "2026-01-31"}
    assert (
        ok(manager.get("/api/v1/reports/incidents", params=long), 422)["code"] == "invalid-period"
    )
    # without a period: last month's (February, as March has not ended)
    assert ok(manager.get("/api/v1/reports/incidents"))["period"] == {
        "from": "2026-02-01",
        "to": "2026-02-28",
    }
    catalogue = ok(manager.get("/api/v1/reports", params={"lang": "en"}))["reports"]
    assert [entry["name"] for entry in catalogue] == list(reports.NAMES)
    incident = catalogue[0]
    assert incident["title"] == "Incident report"
    assert "8.6.1" in incident["clauses"]
    assert all(entry["owner"] for entry in catalogue)
    assert {m["name"] for m in incident["measures"]} >= {"resolution_met_pct", "first_contact_pct"}
    assert all(m["definition"] for entry in catalogue for m in entry["measures"])


def test_a_months_reports_are_issued_once_kept_signed_checked_and_decided_on(
    api: Api, services: Services, clock: Clock
) -> None:
    refs = make_history(api, services, clock)
    clock.now = datetime(2026, 4, 1, 0, 30, tzinfo=UTC)  # 07:30 WIB, Wednesday 1 April
    schedule = ReportSchedule(services)
    # 1 April 2026 is a working day: March's five reports are due, and issued once
    assert schedule.tick() == [f"2026-03-{name}" for name in reports.NAMES]
    assert schedule.tick() == []
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    again = manager.post("/api/v1/issued-reports", json={"report": "incidents", "month": "2026-03"})
    assert ok(again, 409)["code"] == "record-already-exists"

    listed = ok(manager.get("/api/v1/issued-reports"))["items"]
    assert [row["code"] for row in listed] == sorted(
        (f"2026-03-{name}" for name in reports.NAMES), reverse=True
    )
    issued = ok(manager.get("/api/v1/issued-reports/2026-03-incidents"))
    assert (issued["trigger"], issued["issued_by"]["id"]) == ("schedule", "itsm")
    made_now = ok(manager.get("/api/v1/reports/incidents", params=MARCH))
    assert issued["body"]["total"] == made_now["total"]
    assert issued["digest"] == issued["body"]["digest"]
    # the ledger signed a checkpoint over it when it was issued
    checkpoints = services.audit.store.checkpoints() if services.audit else []
    issued_at = max(
        n.id
        for n in services.desk.recorder.select_notifications(1, 100_000)
        if n.topic == "IssuedReport.Issued"
    )
    assert checkpoints
    assert checkpoints[-1].position >= issued_at

    # made again from its position after more work: the same digest
    log(api.client(), "Kiosk fault in April")
    check = ok(manager.get("/api/v1/issued-reports/2026-03-incidents/check"))
    assert check["same"] is True
    assert check["digest_now"] == issued["digest"]

    page = manager.get("/api/v1/issued-reports/2026-03-changes/document", params={"lang": "en"})
    assert "<h1>Change report</h1>" in page.text
    pdf = manager.get("/api/v1/issued-reports/2026-03-changes/document", params={"format": "pdf"})
    assert pdf.content.startswith(b"%PDF-")

    # a decision from the report, naming the improvement opened for it
    improvement = ok(
        manager.post(
            "/api/v1/improvements",
            json={
                "title": "Major incident took six days",
                "description": "March's breaches: circulation ran past its target",
                "source": "breach",
                "source_record": {"kind": "issued_report", "ref": "2026-03-incidents"},
                "owner": "dewi.lestari",
            },
        ),
        201,
    )
    assert improvement["source_record"]["ref"] == "2026-03-incidents"
    improvement = improvement["ref"]
    decided = ok(
        manager.post(
            "/api/v1/issued-reports/2026-03-incidents/record-decision",
            json={
                "decision": "The major incident ran past its target: review the rota",
                "actions": ["Second person on call for circulation"],
                "improvement": improvement,
            },
        )
    )
    (decision,) = decided["decisions"]
    assert decision["improvement"] == improvement
    assert decision["by"]["id"] == "dewi.lestari"
    missing = manager.post(
        "/api/v1/issued-reports/2026-03-incidents/record-decision",
        json={"decision": "x", "improvement": "IMP-000999"},
    )
    assert ok(missing, 422)["code"] == "improvement-not-found"
    auditor = api.client("audit.bpk", Role.AUDITOR)
    assert ok(auditor.get("/api/v1/issued-reports/2026-03-incidents"))["decisions"] == [decision]
    assert_packed(auditor, issued["digest"], decision["decision"])
    refused = auditor.post(
        "/api/v1/issued-reports/2026-03-incidents/record-decision", json={"decision": "x"}
    )
    assert refused.status_code == 403
    assert api.client().get("/api/v1/issued-reports").status_code == 403
    assert refs  # the history's records exist


def assert_packed(auditor: httpx.Client, digest: str, decision: str) -> None:
    """March's evidence pack carries the reports issued for it, with their decisions."""
    pack = auditor.get(
        "/api/v1/audit/export",
        params={"from": "2026-03-01T00:00:00+07:00", "to": "2026-04-01T00:00:00+07:00"},
    )
    assert pack.status_code == 200, pack.text
    with zipfile.ZipFile(io.BytesIO(pack.content)) as archive:
        names = archive.namelist()
        assert "reports/service-reports/2026-03-incidents.json" in names, names
        packed = orjson.loads(archive.read("reports/service-reports/2026-03-incidents.json"))
    assert packed["digest"] == digest
    assert [d["decision"] for d in packed["decisions"]] == [decision]
    assert sum(n.startswith("reports/service-reports/") for n in names) == len(reports.NAMES)


def test_the_schedule_waits_for_the_first_working_day(
    api: Api, services: Services, clock: Clock
) -> None:
    schedule = ReportSchedule(services)
    # 1 and 2 May 2026: Friday a holiday (Labour Day), then Saturday; Monday 4 May is the first
    clock.now = datetime(2026, 5, 2, 3, 0, tzinfo=UTC)
    assert schedule.tick() == []
    clock.now = datetime(2026, 5, 4, 1, 0, tzinfo=UTC)
    assert schedule.tick() == [f"2026-04-{name}" for name in reports.NAMES]
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    early = manager.post("/api/v1/issued-reports", json={"report": "incidents", "month": "2026-05"})
    assert ok(early, 422)["code"] == "period-not-ended"
    made = manager.post("/api/v1/issued-reports", json={"report": "problems", "month": "2026-03"})
    assert ok(made, 201)["trigger"] == "request"


def test_serves_schedule_makes_the_reports_in_a_process_of_its_own_as_it_would_here(
    api: Api, services: Services, clock: Clock
) -> None:
    """`itsm serve` makes the month's reports in a child process (service/reports_apart.py):
    the same reports, to the digest, as made in the server's own process from the same store."""
    make_history(api, services, clock)
    clock.now = datetime(2026, 4, 1, 0, 30, tzinfo=UTC)
    here = make_month(services.desk, "2026-03", reports.NAMES)
    children: set[int] = set()  # the processes this one started while the reports were made
    apart = made_apart(services.settings)

    def watched(month: str, names: Sequence[str]) -> list[dict[str, Any]]:
        done = threading.Event()

        def look() -> None:
            while not done.wait(0.005):
                children.update(p.pid for p in multiprocessing.active_children())

        looking = threading.Thread(target=look)
        looking.start()
        try:
            return apart(month, names)
        finally:
            done.set()
            looking.join()

    schedule = ReportSchedule(services, make=watched)
    assert schedule.tick() == [f"2026-03-{name}" for name in reports.NAMES]
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    issued = [ok(manager.get(f"/api/v1/issued-reports/2026-03-{n}")) for n in reports.NAMES]
    assert [report["digest"] for report in issued] == [made["digest"] for made in here]
    assert children  # they were made in a child process


def test_a_report_asked_for_to_read_is_made_outside_the_apis_process_as_it_would_be_here(
    api: Api, services: Services, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading the whole history in the API's process held the interpreter lock every other
    request waits for (a minute at 500,000 incidents): the reports people read are made by the
    process's report child (service/reports_apart.py), to the digest they would have here."""
    make_history(api, services, clock)
    clock.now = datetime(2026, 4, 2, tzinfo=UTC)
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)

    def not_here(*_: object, **__: object) -> None:
        raise AssertionError("the history was read in the API's process")

    monkeypatch.setattr(reports, "read_history", not_here)
    read = ok(manager.get("/api/v1/reports/incidents", params=MARCH))
    asked = {"report": "incidents", "month": "2026-03"}
    issued = ok(manager.post("/api/v1/issued-reports", json=asked), 201)
    check = ok(manager.get("/api/v1/issued-reports/2026-03-incidents/check"))
    monkeypatch.undo()

    period = reports.Period(date(2026, 3, 1), date(2026, 3, 31))
    for made in (read, issued):
        here = reports.read(services.desk, period, position=made["position"])
        assert reports.make(services.desk, here, "incidents")["digest"] == made["digest"]
    assert check["same"] is True


def test_asking_for_a_report_being_made_shares_its_making_and_a_dead_child_is_replaced(
    api: Api, services: Services, clock: Clock
) -> None:
    make_history(api, services, clock)
    period = reports.Period(date(2026, 3, 1), date(2026, 3, 31))
    maker = services.reports
    first, again = maker.submit(period, "incidents"), maker.submit(period, "incidents")
    other = maker.submit(period, "problems")
    assert again is first  # one making for both
    assert other is not first
    made = first.result(120)
    assert other.result(120)["report"] == "problems"
    child = maker._child
    assert child is not None
    for process in list(child._processes.values()):  # the child dies between two requests
        process.kill()
        process.join()
    with contextlib.suppress(BrokenProcessPool):
        maker.make(period, "incidents")  # the one that finds it dead may fail
    assert maker.make(period, "incidents")["digest"] == made["digest"]  # a new child makes it
