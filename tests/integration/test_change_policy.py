"""The change policy over real HTTP, on SQLite and PostgreSQL: defined with its defaults on first
start, read at any version, revised by a service manager; its approval matrix judges the CAB and
the approvers (roles by token or from the directory); a change of major impact waits for its
design-and-transition acceptance; configuration item types and services under change control
change only through an implemented change, the others directly."""

from __future__ import annotations

from typing import Any

import httpx

from application.kinds import PERSON
from application.pipeline import Submission
from application.seed import seed
from domain.actors import Actor, Role
from domain.directory import RegisterPerson
from service.bootstrap import Services
from tests.conftest import context
from tests.integration.conftest import Api
from tests.integration.test_changes_api import ASPECTS, DRILL, WINDOW

ADMIN = Actor(id="admin", role=Role.ADMIN)


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert response.json()["type"] == f"/problems/{code}"
    body: dict[str, Any] = response.json()
    return body


def revise(api: Api, change: Any, reason: str) -> dict[str, Any]:
    """A revision of the policy in force, by a service manager: `change(terms)` alters it."""
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    current = ok(manager.get("/api/v1/change-policy"))
    terms = current["terms"]
    change(terms)
    return ok(
        manager.post("/api/v1/change-policy/revisions", json={"terms": terms, "reason": reason}),
        201,
    )


def raise_and_assess(api: Api, **assessment: Any) -> str:
    agent = api.client("siti.rahma", Role.AGENT)
    raised = ok(
        agent.post(
            "/api/v1/changes",
            json={"kind": "normal", "title": "Patch", "backout_plan": "restore"},
        ),
        201,
    )
    ref: str = raised["ref"]
    body = {"risk": "low", "impact": "x", "cab": ["ahmad", "yusuf"], "quorum": 1, **ASPECTS}
    manager = api.client("rina.wati", Role.CHANGE_MANAGER)
    ok(manager.post(f"/api/v1/changes/{ref}/assess", json={**body, **assessment}))
    return ref


def test_the_policy_is_defined_on_first_start_read_at_any_version_and_revised(api: Api) -> None:
    reader = api.client("budi.santoso", Role.AUDITOR)
    first = ok(reader.get("/api/v1/change-policy"))
    assert first["version"] == 1
    assert first["terms"]["approval"]["normal"]["high"] == {
        "roles": ["cab_member", "change_manager", "service_manager"],
        "quorum": 2,
    }
    assert "server" in first["terms"]["control"]["ci_types"]

    agent = api.client("siti.rahma", Role.AGENT)
    same = {"terms": first["terms"], "reason": "x"}
    assert agent.post("/api/v1/change-policy/revisions", json=same).status_code == 403
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    refused(manager.post("/api/v1/change-policy/revisions", json=same), 409, "nothing-changed")

    revised = revise(
        api, lambda t: t["control"]["ci_types"].remove("printer"), "printers are consumables"
    )

    assert revised["version"] == 2
    assert "printer" not in revised["terms"]["control"]["ci_types"]
    assert (
        "printer"
        in ok(reader.get("/api/v1/change-policy", params={"version": 1}))["terms"]["control"][
            "ci_types"
        ]
    )
    assert reader.get("/api/v1/change-policy", params={"version": 9}).status_code == 404


def test_the_approval_matrix_judges_the_cab_and_the_approvers_roles(
    api: Api, services: Services
) -> None:
    # a high-risk normal change needs a quorum of two
    agent = api.client("siti.rahma", Role.AGENT)
    ref = ok(agent.post("/api/v1/changes", json={"kind": "normal", "title": "x"}), 201)["ref"]
    manager = api.client("rina.wati", Role.CHANGE_MANAGER)
    body = {"risk": "high", "impact": "x", "cab": ["ahmad", "yusuf"], "quorum": 1, **ASPECTS}
    refused(manager.post(f"/api/v1/changes/{ref}/assess", json=body), 409, "below-approval-matrix")

    # only change managers approve low-risk normal changes, from version 2 of the policy
    def managers_only(terms: dict[str, Any]) -> None:
        terms["approval"]["normal"]["low"] = {"roles": ["change_manager"], "quorum": 1}

    revise(api, managers_only, "low-risk changes are the change managers' to approve")
    ref = raise_and_assess(api, tests=[DRILL])
    change = ok(manager.get(f"/api/v1/changes/{ref}"))
    assert (change["assessment"]["policy_version"], change["assessment"]["approver_roles"]) == (
        2,
        ["change_manager"],
    )
    ahmad = api.client("ahmad", Role.CAB_MEMBER)
    refused(ahmad.post(f"/api/v1/changes/{ref}/approve"), 403, "approver-role-not-allowed")
    # the directory says yusuf is a change manager as well: his CAB token is enough then
    services.desk.execute(
        Submission(
            context(ADMIN, services.clock()),
            RegisterPerson(actor_id="yusuf", name="Yusuf", roles=["cab_member", "change_manager"]),
            PERSON,
        )
    )
    approved = ok(api.client("yusuf", Role.CAB_MEMBER).post(f"/api/v1/changes/{ref}/approve"))
    assert approved["state"] == "authorised"


def test_a_change_of_major_impact_waits_for_its_design_and_transition_acceptance(
    api: Api,
) -> None:
    agent = api.client("siti.rahma", Role.AGENT)
    manager = api.client("rina.wati", Role.CHANGE_MANAGER)
    raised = ok(
        agent.post(
            "/api/v1/changes",
            json={
                "kind": "normal",
                "title": "Open the e-journal service",
                "services": ["e-journal"],
                "service_action": "add",
                "backout_plan": "switch it off",
            },
        ),
        201,
    )
    ref = raised["ref"]
    assert raised["design_and_transition"]["criteria"] == ["service action: add"]
    assert raised["design_and_transition"]["policy_version"] == 1
    assert raised["design_and_transition"]["acceptance"] is None
    body = {"risk": "high", "impact": "new", "cab": ["ahmad", "yusuf"], "quorum": 2, **ASPECTS}
    assessed = ok(manager.post(f"/api/v1/changes/{ref}/assess", json=body))
    assert assessed["design_and_transition"]["criteria"] == ["service action: add", "risk: high"]

    ahmad = api.client("ahmad", Role.CAB_MEMBER)
    waiting = refused(
        ahmad.post(f"/api/v1/changes/{ref}/approve"), 409, "design-acceptance-required"
    )
    assert "service action: add" in waiting["detail"]
    acceptance = {
        "design_document": "DOC-000031 v2",
        "acceptance_criteria": "reachable from OPAC; members sign in once",
    }
    assert agent.post(f"/api/v1/changes/{ref}/accept-design", json=acceptance).status_code == 403
    accepted = ok(manager.post(f"/api/v1/changes/{ref}/accept-design", json=acceptance))
    recorded = accepted["design_and_transition"]["acceptance"]
    assert (recorded["design_document"], recorded["by"]["id"]) == ("DOC-000031 v2", "rina.wati")
    ok(ahmad.post(f"/api/v1/changes/{ref}/approve"))
    authorised = ok(api.client("yusuf", Role.CAB_MEMBER).post(f"/api/v1/changes/{ref}/approve"))
    assert authorised["state"] == "authorised"


def test_what_is_under_change_control_changes_through_an_implemented_change_only(
    api: Api, services: Services
) -> None:
    seed(services.desk)
    revise(api, lambda t: t["control"]["ci_types"].remove("kiosk"), "kiosks are swapped daily")
    agent = api.client("siti.rahma", Role.AGENT)

    # a kiosk is edited directly, and the record says so; a server is not
    kiosk = ok(
        agent.post(
            "/api/v1/configuration-items/kiosk-dpk-01/apply-change", json={"status": "maintenance"}
        )
    )
    assert kiosk["status"] == "maintenance"
    assert kiosk["changes"][-1]["change"] is None
    server = agent.post(
        "/api/v1/configuration-items/srv-inlislite-01/apply-change", json={"status": "maintenance"}
    )
    refused(server, 409, "change-not-implemented")

    # a revision of Batupusaka, under change control, names an implemented change of it
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    services_now = ok(manager.get("/api/v1/service-catalogue"))["services"]
    for service in services_now:
        if service["code"] == "batupusaka":
            service["name"]["en"] = "Batupusaka union catalogue"
    revision = {"services": services_now, "reason": "its English name"}
    refused(
        manager.post("/api/v1/service-catalogue/revisions", json=revision),
        409,
        "change-not-implemented",
    )
    change = implemented_change(api, ["batupusaka"])
    revised = ok(
        manager.post("/api/v1/service-catalogue/revisions", json={**revision, "change": change}),
        201,
    )
    assert revised["version"] == 2


def implemented_change(api: Api, services: list[str]) -> str:
    agent = api.client("siti.rahma", Role.AGENT)
    manager = api.client("rina.wati", Role.CHANGE_MANAGER)
    ref: str = ok(
        agent.post(
            "/api/v1/changes",
            json={
                "kind": "normal",
                "title": "Rename Batupusaka in English",
                "services": services,
                "service_action": "modify",
                "backout_plan": "the old name",
            },
        ),
        201,
    )["ref"]
    body = {"risk": "low", "impact": "x", "cab": ["ahmad"], "quorum": 1, "tests": [DRILL]}
    ok(manager.post(f"/api/v1/changes/{ref}/assess", json={**body, **ASPECTS}))
    ok(api.client("ahmad", Role.CAB_MEMBER).post(f"/api/v1/changes/{ref}/approve"))
    ok(agent.post(f"/api/v1/changes/{ref}/record-test", json={"test": DRILL, "result": "passed"}))
    window = {"start": WINDOW[0], "end": WINDOW[1]}
    ok(manager.post(f"/api/v1/changes/{ref}/schedule", json=window))
    ok(agent.post(f"/api/v1/changes/{ref}/start-implementation"))
    outcome = {"outcome": "successful", "notes": "renamed"}
    ok(agent.post(f"/api/v1/changes/{ref}/record-implementation", json=outcome))
    return ref
