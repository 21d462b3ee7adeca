"""Working a problem over real HTTP, on SQLite and PostgreSQL: its priority through the matrix in
force, the queue by priority, escalation to a manager or a group, work notes and actions taken in
its history, the root cause with its method, analysis and potential actions and their decisions;
a requester reads none of it; the view rebuilds from zero equal to the live one."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from domain.actors import Role
from projections import problem_details
from service.bootstrap import Services
from tests.integration.conftest import Api
from tests.integration.test_requests_problems_api import assert_rebuild_equals_live

pytestmark = pytest.mark.usefixtures("directory")


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


def log_problem(client: httpx.Client, title: str, **more: Any) -> dict[str, Any]:
    body = {"title": title, "service": "batupusaka", **more}
    return ok(client.post("/api/v1/problems", json=body), 201)


def test_problems_are_prioritised_by_the_matrix_and_queued_by_priority(api: Api) -> None:
    desk = api.client()
    low = log_problem(desk, "Slow OPAC search", impact="low", urgency="low")
    default = log_problem(desk, "Gate alarms at random")
    high = log_problem(desk, "Renewals fail everywhere", impact="high", urgency="high")
    assert [(p["priority"], p["matrix_version"]) for p in (low, default, high)] == [
        (5, 1),
        (3, 1),
        (1, 1),
    ]

    queue = ok(desk.get("/api/v1/problems/queue"))["items"]
    assert [p["ref"] for p in queue] == [high["ref"], default["ref"], low["ref"]]
    listed = ok(desk.get("/api/v1/problems", params={"priority": 3}))["items"]
    assert [p["ref"] for p in listed] == [default["ref"]]

    raised = ok(
        desk.post(
            f"/api/v1/problems/{low['ref']}/reprioritise",
            json={"impact": "high", "urgency": "medium", "reason": "Search times out now"},
        )
    )
    assert (raised["priority"], raised["impact"], raised["urgency"]) == (2, "high", "medium")
    again = desk.post(
        f"/api/v1/problems/{low['ref']}/reprioritise",
        json={"impact": "high", "urgency": "medium", "reason": "again"},
    )
    refused(again, 409, "priority-unchanged")

    first = ok(desk.get("/api/v1/problems/queue", params={"limit": 2}))
    assert [p["ref"] for p in first["items"]] == [high["ref"], low["ref"]]
    rest = ok(desk.get("/api/v1/problems/queue", params={"cursor": first["next_cursor"]}))
    assert [p["ref"] for p in rest["items"]] == [default["ref"]]
    ok(desk.post(f"/api/v1/problems/{high['ref']}/cancel", json={"reason": "a duplicate"}))
    open_only = ok(desk.get("/api/v1/problems/queue"))["items"]
    assert [p["ref"] for p in open_only] == [low["ref"], default["ref"]]
    refused(desk.get("/api/v1/problems/queue", params={"priority": 6}), 422, "invalid-input")


def test_a_problem_is_escalated_noted_and_its_actions_recorded_in_its_history(
    api: Api, services: Services
) -> None:
    desk = api.client()
    problem = log_problem(desk, "Renewals fail at night")
    ref = problem["ref"]

    escalated = ok(
        desk.post(
            f"/api/v1/problems/{ref}/escalate",
            json={
                "kind": "hierarchical",
                "reason": "No cause in two weeks",
                "to_manager": "dewi.lestari",
            },
        )
    )
    assert escalated["escalated_to"] == "dewi.lestari"
    nobody = desk.post(
        f"/api/v1/problems/{ref}/escalate",
        json={"kind": "hierarchical", "reason": "x", "to_manager": "nobody.here"},
    )
    refused(nobody, 422, "person-not-found")
    ok(
        desk.post(
            f"/api/v1/problems/{ref}/escalate",
            json={"kind": "functional", "reason": "Network?", "to_group": "network-team"},
        )
    )
    ok(desk.post(f"/api/v1/problems/{ref}/add-work-note", json={"text": "Locks at 23:00"}))
    noted = ok(
        desk.post(
            f"/api/v1/problems/{ref}/record-action",
            json={"description": "Replayed the renewals", "result": "All failed"},
        )
    )
    assert [n["text"] for n in noted["work_notes"]] == ["Locks at 23:00"]
    assert [(a["description"], a["result"], a["by"]["id"]) for a in noted["actions_taken"]] == [
        ("Replayed the renewals", "All failed", "siti.rahma")
    ]
    assert [e["to_group"] or e["to_manager"] for e in noted["escalations"]] == [
        "dewi.lestari",
        "network-team",
    ]

    history = ok(desk.get(f"/api/v1/problems/{ref}/history"))["events"]
    assert [e["type"] for e in history][1:] == [
        "Problem.Escalated",
        "Problem.Escalated",
        "Problem.WorkNoteAdded",
        "Problem.ActionTaken",
    ]
    assert history[-1]["actor"]["id"] == "siti.rahma"

    member = api.client("budi.santoso", Role.REQUESTER)
    # problems are the staff's records: a requester reads no problem, so no note on one
    assert member.get(f"/api/v1/problems/{ref}").status_code == 403
    assert member.get(f"/api/v1/problems/{ref}/history").status_code == 403

    assert_rebuild_equals_live(services, (problem_details,))


def test_a_root_cause_analysis_proposes_actions_each_decided_once(
    api: Api, services: Services
) -> None:
    desk = api.client()
    ref = log_problem(desk, "Renewals fail for small fines")["ref"]
    ok(desk.post(f"/api/v1/problems/{ref}/start-investigation"))
    analysed = ok(
        desk.post(
            f"/api/v1/problems/{ref}/record-root-cause",
            json={
                "root_cause": "Small fines round to zero and read as unpaid",
                "method": "five-whys",
                "analysis": {"whys": ["Renewals fail", "The API answers 422", "Rounding"]},
                "actions": [
                    {
                        "kind": "corrective",
                        "description": "Fix the rounding",
                        "owner": "app-team",
                        "change": "CHG-000007",
                    },
                    {
                        "kind": "preventive",
                        "description": "Test edge fines in every release",
                        "owner": "dewi.lestari",
                        "improvement": "IMP-000001",
                    },
                ],
            },
        )
    )
    cause = analysed["root_cause"]
    assert (cause["method"], cause["analysis"]["whys"][-1]) == ("five-whys", "Rounding")
    assert [(a["number"], a["kind"], a["decision"]) for a in analysed["potential_actions"]] == [
        (1, "corrective", None),
        (2, "preventive", None),
    ]

    no_reason = desk.post(
        f"/api/v1/problems/{ref}/decide-potential-action",
        json={"potential_action": 2, "decision": "rejected"},
    )
    assert no_reason.status_code == 422
    ok(
        desk.post(
            f"/api/v1/problems/{ref}/decide-potential-action",
            json={"potential_action": 1, "decision": "taken"},
        )
    )
    decided = ok(
        desk.post(
            f"/api/v1/problems/{ref}/decide-potential-action",
            json={"potential_action": 2, "decision": "rejected", "reason": "In the test plan"},
        )
    )
    assert [
        (a["decision"]["decision"], a["decision"]["reason"]) for a in decided["potential_actions"]
    ] == [
        ("taken", None),
        ("rejected", "In the test plan"),
    ]
    twice = desk.post(
        f"/api/v1/problems/{ref}/decide-potential-action",
        json={"potential_action": 1, "decision": "taken"},
    )
    refused(twice, 409, "potential-action-already-decided")
    unknown = desk.post(
        f"/api/v1/problems/{ref}/decide-potential-action",
        json={"potential_action": 3, "decision": "taken"},
    )
    refused(unknown, 422, "unknown-potential-action")
    bad_method = desk.post(
        f"/api/v1/problems/{ref}/record-root-cause", json={"root_cause": "x", "method": "guess"}
    )
    assert bad_method.status_code == 422

    assert_rebuild_equals_live(services, (problem_details,))
