"""The audit programme over real HTTP, on SQLite and PostgreSQL: what is due when, worked out from
the schedule and the audits on record, a major nonconformity bringing the next audit of its
process forward; the schedule revised by a service manager with If-Match, the first revision
defining it."""

from __future__ import annotations

from typing import Any

import pytest

from domain.actors import Role
from service.bootstrap import Services
from tests.directory_helpers import hold
from tests.integration.conftest import Api
from tests.integration.test_internal_audits_api import AUDITOR, LEAD, MANAGER, OWNER, plan
from tests.integration.test_requests_problems_api import ok, refused

pytestmark = pytest.mark.usefixtures("directory")


def programme(api: Api, on: str) -> dict[str, dict[str, Any]]:
    reader = api.client(LEAD, Role.AUDITOR)
    answer = ok(reader.get("/api/v1/internal-audits/programme", params={"on": on}))
    return {line["clause"]: line for line in answer["processes"]}


def test_the_programme_says_what_is_due_and_a_major_finding_brings_it_forward(
    api: Api, services: Services
) -> None:
    hold(services, people=(MANAGER, LEAD, AUDITOR, OWNER))
    manager = api.client(MANAGER, Role.SERVICE_MANAGER)

    before = programme(api, "2026-03-02")
    assert before["8.5.1"]["due"] == "2026-03-02"  # never audited: due now
    assert before["8.5.1"]["last_audit"] is None

    audit = plan(scope=["8.5.1"], title="Change management, February 2026")
    audit.update(period_from="2026-02-01", period_to="2026-02-28")
    ref = ok(manager.post("/api/v1/internal-audits", json=audit), 201)["ref"]
    assert programme(api, "2026-03-02")["8.5.1"]["planned"] == [ref]
    lead = api.client(LEAD, Role.AUDITOR)
    ok(lead.post(f"/api/v1/internal-audits/{ref}/start"))
    major = {
        "kind": "nonconformity-major",
        "clause": "8.5.1",
        "text": "Three emergency changes had no review",
        "owner": OWNER,
        "due": "2026-05-31",
    }
    ok(lead.post(f"/api/v1/internal-audits/{ref}/record-finding", json=major))
    ok(lead.post(f"/api/v1/internal-audits/{ref}/report", json={"conclusions": "One major NC"}))

    # the audit ended 17 April; six months halved by the major finding: due 17 July
    after = programme(api, "2026-08-01")
    changes = after["8.5.1"]
    assert changes["last_audit"] == {
        "ref": ref,
        "ended": "2026-04-17",
        "found": {"nonconformity-major": 1},
    }
    assert (changes["due"], changes["brought_forward"], changes["overdue"]) == (
        "2026-07-17",
        True,
        True,
    )
    assert after["8.6.1"]["last_audit"] is None  # not in that audit's scope

    # the schedule: read at version 0 (the defaults), revised with If-Match, then at version 1
    schedule = ok(manager.get("/api/v1/internal-audits/schedule"))
    assert schedule["version"] == 0
    terms = {"processes": [{"clause": "8.5.1", "importance": "high", "every_months": 4}]}
    revision = {"terms": terms, "reason": "Changes audited three times a year"}
    revised = manager.post(
        "/api/v1/internal-audits/schedule/revisions", json=revision, headers={"If-Match": '"0"'}
    )
    assert ok(revised, 201)["version"] == 1
    late = manager.post(
        "/api/v1/internal-audits/schedule/revisions",
        json={**revision, "reason": "again"},
        headers={"If-Match": '"0"'},
    )
    refused(late, 412, "version-conflict")
    assert list(programme(api, "2026-08-01")) == ["8.5.1"]
    assert programme(api, "2026-08-01")["8.5.1"]["due"] == "2026-06-17"  # four halved: two

    # planning the programme is a service manager's; requesters read none of it
    agent = api.client("siti.rahma", Role.AGENT)
    refused(
        agent.post("/api/v1/internal-audits/schedule/revisions", json=revision), 403, "forbidden"
    )
    member = api.client("budi.santoso", Role.REQUESTER)
    refused(member.get("/api/v1/internal-audits/programme"), 403, "forbidden")
