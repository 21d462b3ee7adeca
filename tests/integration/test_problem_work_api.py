"""Working a problem over real HTTP, on SQLite and PostgreSQL: its priority through the matrix in
force, the queue by priority, escalation to a manager or a group, work notes and actions taken in
its history, the root cause with its method, analysis and potential actions and their decisions;
a requester reads none of it; the view rebuilds from zero equal to the live one."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from application.seed import seed
from domain.actors import Role
from projections import incident_occurrences, problem_details
from service.bootstrap import Services
from tests.conftest import Clock
from tests.integration.conftest import Api
from tests.integration.test_requests_problems_api import assert_rebuild_equals_live, ok, refused

pytestmark = pytest.mark.usefixtures("directory")


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


def log_incident(api: Api, title: str, **more: Any) -> dict[str, Any]:
    body = {
        "title": title,
        "service": "kiosks-gates",
        "caller": "budi.santoso",
        "impact": "low",
        "urgency": "low",
        **more,
    }
    return ok(api.client().post("/api/v1/incidents", json=body), 201)


def test_incidents_gathering_on_an_item_are_a_candidate_until_a_problem_is_raised_from_it(
    api: Api, services: Services, clock: Clock
) -> None:
    seed(services.desk)  # the CMDB holds kiosk-dpk-01
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    old = log_incident(api, "Kiosk mati", configuration_item="kiosk-dpk-01")
    clock.advance(days=40)  # out of the default window
    logged = [
        log_incident(api, title, configuration_item="kiosk-dpk-01")
        for title in ("Kiosk tidak merespons", "Layar kiosk hitam", "Kiosk restart terus")
    ]
    cancelled = log_incident(api, "Kiosk mati lagi", configuration_item="kiosk-dpk-01")
    ok(
        api.client().post(
            f"/api/v1/incidents/{cancelled['ref']}/cancel", json={"reason": "logged_in_error"}
        )
    )
    log_incident(api, "Gerbang RFID berbunyi", configuration_item="gate-dpk-01")

    answer = ok(manager.get("/api/v1/problems/candidates"))
    assert (answer["threshold"], answer["incidents_read"], answer["truncated"]) == (3, 4, False)
    by_item = [c for c in answer["candidates"] if c["basis"] == "configuration_item"]
    assert [(c["key"], c["count"]) for c in by_item] == [("kiosk-dpk-01", 3)]
    [candidate] = by_item
    assert [i["ref"] for i in candidate["incidents"]] == [i["ref"] for i in logged]
    assert (candidate["first_seen"], candidate["last_seen"]) == (
        logged[0]["logged_at"],
        logged[-1]["logged_at"],
    )
    words = {c["key"] for c in answer["candidates"] if c["basis"] == "similar_title"}
    assert "kiosk" in words
    wider = ok(manager.get("/api/v1/problems/candidates", params={"days": 60, "threshold": 4}))
    assert [c["count"] for c in wider["candidates"] if c["key"] == "kiosk-dpk-01"] == [4]
    assert old["ref"] in {i["ref"] for c in wider["candidates"] for i in c["incidents"]}

    # one action raises the problem from the candidate, its incidents linked both ways
    problem = ok(manager.post("/api/v1/problems", json=candidate["proposal"]), 201)
    assert [i["ref"] for i in problem["incidents"]] == [i["ref"] for i in logged]
    assert problem["configuration_items"] == ["kiosk-dpk-01"]
    after = ok(manager.get("/api/v1/problems/candidates"))
    assert [c for c in after["candidates"] if c["key"] == "kiosk-dpk-01"] == []

    # the resolvers and managers read it; not every agent; the window and threshold are bounded
    assert api.client("andi.pratama", Role.RESOLVER).get("/api/v1/problems/candidates").is_success
    refused(api.client().get("/api/v1/problems/candidates"), 403, "forbidden")
    for params in ({"days": 0}, {"days": 367}, {"threshold": 1}, {"threshold": 101}):
        refused(manager.get("/api/v1/problems/candidates", params=params), 422, "invalid-input")

    assert_rebuild_equals_live(services, (incident_occurrences, problem_details))
