"""The audit programme and nonconformities over real HTTP, on SQLite and PostgreSQL: an auditor who
worked on an incident in the audited period (through the API, in this test) is refused for an
audit of incident management, naming that incident, at planning and when named later; findings
open their nonconformity and improvement once; a nonconformity's corrective action runs to a
verification by someone who owned none of it; the overdue list; the views rebuild equal to the
live ones."""

from __future__ import annotations

from typing import Any

import pytest

from api.models import InternalAuditDetails, NonconformityDetails, OverdueNonconformities
from domain.actors import Role
from projections.improvements import improvement_register
from projections.internal_audits import audit_programme
from projections.nonconformities import nonconformity_register
from service.bootstrap import Services
from tests.conftest import Clock
from tests.directory_helpers import hold
from tests.integration.conftest import Api
from tests.integration.test_requests_problems_api import assert_rebuild_equals_live, ok, refused

pytestmark = pytest.mark.usefixtures("directory")

MANAGER = "dewi.lestari"
LEAD = "rina.auditor"
AUDITOR = "dedi.auditor"
WORKER = "siti.rahma"  # an agent who works incidents in March
OWNER = "andi.wijaya"


def plan(**changes: Any) -> dict[str, Any]:
    return {
        "title": "Incident management, March 2026",
        "scope": ["8.6.1"],
        "services": ["kiosks-gates"],
        "criteria": "The documented incident procedure",
        "method": "A sample of ten incidents by seed",
        "planned_start": "2026-04-13",
        "planned_end": "2026-04-17",
        "period_from": "2026-03-01",
        "period_to": "2026-03-31",
        "lead_auditor": LEAD,
        "auditors": [AUDITOR],
        **changes,
    }


def worked_in_march(api: Api, services: Services, clock: Clock) -> str:
    """siti.rahma logs and starts work on an incident in March; the clock goes to 11 April."""
    hold(services, people=(MANAGER, LEAD, AUDITOR, "joko.auditor"))
    agent = api.client(WORKER)
    body = {
        "title": "Kiosk 3 di Serang mati",
        "service": "kiosks-gates",
        "caller": "budi.santoso",
        "impact": "low",
        "urgency": "low",
        "assignment_group": "kiosk-team",
    }
    incident = ok(agent.post("/api/v1/incidents", json=body), 201)["ref"]
    ok(agent.post(f"/api/v1/incidents/{incident}/start-work"))
    clock.advance(days=40)  # 11 April 2026
    return str(incident)


def test_an_auditor_is_refused_for_a_process_they_worked_in_during_the_audited_period(
    api: Api, services: Services, clock: Clock
) -> None:
    incident = worked_in_march(api, services, clock)
    manager = api.client(MANAGER, Role.SERVICE_MANAGER)
    # siti.rahma worked an incident in March: she does not audit incident management for March
    answer = manager.post("/api/v1/internal-audits", json=plan(auditors=[AUDITOR, WORKER]))
    refused(answer, 409, "auditor-not-impartial")
    assert incident in answer.json()["detail"]
    assert WORKER in answer.json()["detail"]
    # ...but may audit change management, and incident management for February
    for other in (plan(scope=["8.5.1"]), plan(period_from="2026-02-01", period_to="2026-02-28")):
        ok(manager.post("/api/v1/internal-audits", json={**other, "auditors": [WORKER]}), 201)
    # only a service manager plans; an auditor does not
    refused(
        api.client(LEAD, Role.AUDITOR).post("/api/v1/internal-audits", json=plan()),
        403,
        "forbidden",
    )

    audit = ok(manager.post("/api/v1/internal-audits", json=plan()), 201)
    InternalAuditDetails.model_validate(audit)
    ref = audit["ref"]
    assert ref == "AUD-000003"
    assert (audit["state"], audit["auditors"]) == ("planned", [LEAD, AUDITOR])
    refused(
        manager.post(f"/api/v1/internal-audits/{ref}/assign-auditor", json={"auditor": WORKER}),
        409,
        "auditor-not-impartial",
    )
    named = manager.post(f"/api/v1/internal-audits/{ref}/assign-auditor", json={"auditor": OWNER})
    assert ok(named)["auditors"] == [LEAD, AUDITOR, OWNER]


def test_findings_open_their_nonconformity_and_improvement_and_the_action_is_verified(
    api: Api, services: Services, clock: Clock
) -> None:
    incident = worked_in_march(api, services, clock)
    manager = api.client(MANAGER, Role.SERVICE_MANAGER)
    ref = ok(manager.post("/api/v1/internal-audits", json=plan()), 201)["ref"]
    lead = api.client(LEAD, Role.AUDITOR)
    auditor = api.client(AUDITOR, Role.AUDITOR)
    assert ok(lead.post(f"/api/v1/internal-audits/{ref}/start"))["state"] == "in_progress"
    nonconformity = {
        "kind": "nonconformity-minor",
        "clause": "8.6.1",
        "text": "2 of 10 sampled incidents were resolved without a note",
        "evidence": [
            {"kind": "sample", "ref": "type=Incident seed=42 n=10"},
            {"kind": "record", "ref": incident},
        ],
        "owner": OWNER,
        "due": "2026-04-30",
    }
    found = ok(auditor.post(f"/api/v1/internal-audits/{ref}/record-finding", json=nonconformity))
    opportunity = {"kind": "opportunity-for-improvement", "clause": "8.6.1", "text": "Templates"}
    found = ok(lead.post(f"/api/v1/internal-audits/{ref}/record-finding", json=opportunity))
    first, second = found["findings"]
    assert first["opened"]["ref"] == "NC-000001"
    assert first["evidence"][1] == {"kind": "record", "ref": incident, "note": None}
    assert second["opened"]["ref"] == "IMP-000001"
    # someone not of the audit records nothing; a nonconformity names its owner and due date
    stranger = api.client("joko.auditor", Role.AUDITOR)
    refused(
        stranger.post(f"/api/v1/internal-audits/{ref}/record-finding", json=opportunity),
        403,
        "not-an-auditor-of-this-audit",
    )
    unowned = {k: v for k, v in nonconformity.items() if k != "owner"}
    refused(
        auditor.post(f"/api/v1/internal-audits/{ref}/record-finding", json=unowned),
        422,
        "invalid-input",
    )
    reported = ok(
        lead.post(f"/api/v1/internal-audits/{ref}/report", json={"conclusions": "One minor NC"})
    )
    assert (reported["state"], len(reported["findings"])) == ("reported", 2)
    assert ok(manager.post(f"/api/v1/internal-audits/{ref}/close", json={}))["state"] == "closed"

    # the improvement is in the register, from an audit finding
    improvement = ok(manager.get("/api/v1/improvements/IMP-000001"))
    assert (improvement["source"], improvement["state"]) == ("audit-finding", "proposed")

    # the nonconformity: from the finding, owned, and its corrective action verified by another
    nc = ok(manager.get("/api/v1/nonconformities/NC-000001"))
    NonconformityDetails.model_validate(nc)
    assert nc["finding"]["audit"] == ref
    assert (nc["source"], nc["grade"], nc["owner"]) == ("audit-finding", "minor", OWNER)
    owner = api.client(OWNER)
    base = "/api/v1/nonconformities/NC-000001"
    ok(owner.post(f"{base}/record-correction", json={"correction": "Notes added"}))
    ok(owner.post(f"{base}/record-root-cause", json={"root_cause": "No note asked"}))
    action = {"description": "Ask for a note", "owner": WORKER, "due": "2026-04-20"}
    ok(owner.post(f"{base}/plan-action", json=action))
    verify = {"effective": True, "note": "None since"}
    refused(manager.post(f"{base}/verify", json=verify), 409, "actions-outstanding")
    clock.advance(days=10)  # 21 April: the action is overdue
    overdue = ok(manager.get("/api/v1/nonconformities/overdue"))
    OverdueNonconformities.model_validate(overdue)
    assert overdue["today"] == "2026-04-21"
    assert [(n["ref"], n["next_due"]) for n in overdue["items"]] == [("NC-000001", "2026-04-20")]
    ok(api.client(WORKER).post(f"{base}/complete-action", json={"number": 1, "note": "Done"}))
    assert ok(manager.get("/api/v1/nonconformities/overdue"))["items"] == []
    # the owner verifies none of it, whatever their role
    as_manager = api.client(OWNER, Role.SERVICE_MANAGER)
    refused(as_manager.post(f"{base}/verify", json=verify), 403, "verifier-not-independent")
    refused(owner.post(f"{base}/verify", json=verify), 403, "forbidden")
    closed = ok(lead.post(f"{base}/verify", json=verify))
    assert (closed["state"], closed["verifications"][0]["by"]["id"]) == ("closed", LEAD)
    history = ok(manager.get(f"{base}/history"))["events"]
    assert [e["type"] for e in history][-1] == "Nonconformity.VerifiedEffective"

    assert_rebuild_equals_live(
        services, (audit_programme, nonconformity_register, improvement_register)
    )


def test_a_nonconformity_is_raised_directly_and_listed_by_owner(
    api: Api, services: Services
) -> None:
    manager = api.client(MANAGER, Role.SERVICE_MANAGER)
    body = {
        "clause": "8.3.3",
        "grade": "major",
        "description": "The P1 resolution target was breached three times in March",
        "source": "breach",
        "source_ref": "INC-000001",
        "owner": OWNER,
        "due": "2026-05-31",
    }
    raised = ok(manager.post("/api/v1/nonconformities", json=body), 201)
    assert (raised["ref"], raised["state"], raised["finding"]) == ("NC-000001", "open", None)
    refused(api.client().post("/api/v1/nonconformities", json=body), 403, "forbidden")
    refused(
        manager.post("/api/v1/nonconformities", json={**body, "owner": "nobody.here"}),
        422,
        "person-not-found",
    )
    listed = ok(manager.get("/api/v1/nonconformities", params={"owner": OWNER, "state": "open"}))
    assert [n["ref"] for n in listed["items"]] == ["NC-000001"]
    # a requester reaches none of it
    caller = api.client("budi.santoso", Role.REQUESTER)
    refused(caller.get("/api/v1/internal-audits"), 403, "forbidden")
    refused(caller.get("/api/v1/nonconformities"), 403, "forbidden")


def test_the_management_review_reads_the_periods_inputs_from_the_views(api: Api) -> None:
    manager = api.client(MANAGER, Role.SERVICE_MANAGER)
    body = {
        "clause": "8.6.1",
        "grade": "minor",
        "description": "Incidents resolved without a note",
        "source": "complaint",
        "owner": OWNER,
        "due": "2026-03-01",  # already past on 2 March: overdue
    }
    ok(manager.post("/api/v1/nonconformities", json=body), 201)
    proposal = {"title": "Note templates", "source": "audit-finding", "owner": OWNER}
    ok(manager.post("/api/v1/improvements", json=proposal), 201)
    auditor = api.client(LEAD, Role.AUDITOR)
    period = {"from": "2026-03-01", "to": "2026-03-31"}
    inputs = ok(auditor.get("/api/v1/management-review", params=period))
    assert inputs["period"] == period
    assert inputs["nonconformities"]["open"] == 1
    assert inputs["nonconformities"]["raised_in_period"] == 1
    assert [n["ref"] for n in inputs["nonconformities"]["overdue"]] == ["NC-000001"]
    assert inputs["improvements"] == {
        "by_state": {"proposed": 1},
        "by_source": {"audit-finding": 1},
    }
    assert inputs["satisfaction"] == {"count": 0, "mean": None, "low": 0}
    assert (inputs["audits"], inputs["reports"], inputs["previous_actions"]) == ([], [], [])
    # another month had none of it raised
    later = ok(
        auditor.get("/api/v1/management-review", params={"from": "2026-05-01", "to": "2026-05-31"})
    )
    assert later["nonconformities"]["raised_in_period"] == 0
    refused(api.client().get("/api/v1/management-review", params=period), 403, "forbidden")
    backwards = {"from": "2026-03-31", "to": "2026-03-01"}
    refused(auditor.get("/api/v1/management-review", params=backwards), 422, "invalid-period")
