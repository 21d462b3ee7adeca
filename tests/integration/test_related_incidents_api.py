"""Parents, children and duplicates through the API, on SQLite and PostgreSQL: a link is on both
records; a parent's resolution resolves its open children, each saying why and on whose behalf;
cycles, second parents and records out of reach are refused; a duplicate is merged into its
original, which names the duplicate's caller to staff only."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from domain.actors import Role
from tests.integration.conftest import Api

pytestmark = pytest.mark.usefixtures("directory")

SERANG = "perpus-kota-serang"
LEBAK = "perpus-kab-lebak"


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def log(client: httpx.Client, caller: str = "budi.santoso", **more: Any) -> dict[str, Any]:
    body = {
        "title": "Gate RFID di lantai 1 tidak membuka",
        "service": "kiosks-gates",
        "caller": caller,
        "impact": "medium",
        "urgency": "high",
        "assignment_group": "kiosk-team",
        **more,
    }
    return ok(client.post("/api/v1/incidents", json=body), 201)


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


def test_a_parents_resolution_resolves_its_open_children_and_each_says_why(api: Api) -> None:
    agent = api.client()
    parent, first, second, done = (log(agent) for _ in range(4))
    ok(agent.post(f"/api/v1/incidents/{done['ref']}/cancel", json={"reason": "logged_in_error"}))
    for child in (first, second):
        linked = ok(
            agent.post(f"/api/v1/incidents/{parent['ref']}/link-child", json={"child": child["id"]})
        )
    ok(agent.post(f"/api/v1/incidents/{second['ref']}/start-work"))
    # a cancelled incident is no child; nor is the parent of its own parent, nor one with a parent
    refused(
        agent.post(f"/api/v1/incidents/{parent['ref']}/link-child", json={"child": done["ref"]}),
        409,
        "illegal-transition",
    )
    refused(
        agent.post(f"/api/v1/incidents/{first['ref']}/link-child", json={"child": parent["ref"]}),
        422,
        "parent-cycle",
    )
    refused(
        agent.post(f"/api/v1/incidents/{done['ref']}/link-child", json={"child": first["ref"]}),
        409,
        "illegal-transition",
    )
    other = log(agent)
    refused(
        agent.post(f"/api/v1/incidents/{other['ref']}/link-child", json={"child": first["ref"]}),
        409,
        "already-has-parent",
    )
    assert [c["ref"] for c in linked["children"]] == [first["ref"], second["ref"]]
    assert ok(agent.get(f"/api/v1/incidents/{first['ref']}"))["parent"]["ref"] == parent["ref"]

    ok(agent.post(f"/api/v1/incidents/{parent['ref']}/start-work"))
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    resolution = {"code": "workaround", "notes": "Gerbang di-reset dari server."}
    ok(manager.post(f"/api/v1/incidents/{parent['ref']}/resolve", json=resolution))

    for child in (first, second):
        row = ok(agent.get(f"/api/v1/incidents/{child['ref']}"))
        assert row["state"] == "resolved"
        assert row["resolution"]["notes"] == resolution["notes"]
        assert row["resolution"]["by"] == {"id": "itsm", "role": "system"}
        why = row["resolved_with_parent"]
        assert (why["ref"], why["code"]) == (parent["ref"], "workaround")
        assert why["on_behalf_of"] == {"id": "dewi.lestari", "role": "service_manager"}
    assert ok(agent.get(f"/api/v1/incidents/{done['ref']}"))["state"] == "cancelled"
    # the caller reads why their report was resolved, and that it had a parent
    caller = api.client("budi.santoso", Role.REQUESTER)
    seen = ok(caller.get(f"/api/v1/incidents/{first['ref']}"))
    assert seen["resolved_with_parent"]["ref"] == parent["ref"]
    assert seen["parent"]["ref"] == parent["ref"]
    history = ok(agent.get(f"/api/v1/incidents/{first['ref']}/history"))
    types = [entry["type"] for entry in history["events"]]
    assert types[-2:] == ["Incident.ParentResolved", "Incident.Resolved"]


def test_a_child_out_of_reach_is_answered_as_missing_but_the_service_resolves_it(
    api: Api,
) -> None:
    serang = api.client("rudi.serang", Role.AGENT, organisation=SERANG)
    lebak = api.client("asep.lebak", Role.AGENT, organisation=LEBAK)
    everyone = api.client("tono.helpdesk", Role.AGENT, all_organisations=True)
    parent = log(serang)
    theirs = log(lebak)

    hidden = serang.post(
        f"/api/v1/incidents/{parent['ref']}/link-child", json={"child": theirs["ref"]}
    )
    missing = serang.post(
        f"/api/v1/incidents/{parent['ref']}/link-child", json={"child": "INC-999999"}
    )
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["code"] == missing.json()["code"] == "incident-not-found"
    assert ok(serang.get(f"/api/v1/incidents/{parent['ref']}"))["children"] == []

    # an agent of every organisation links them; the parent's own agent resolves it
    ok(everyone.post(f"/api/v1/incidents/{parent['ref']}/link-child", json={"child": theirs["id"]}))
    ok(serang.post(f"/api/v1/incidents/{parent['ref']}/start-work"))
    ok(
        serang.post(
            f"/api/v1/incidents/{parent['ref']}/resolve", json={"code": "fixed", "notes": "Done."}
        )
    )
    row = ok(lebak.get(f"/api/v1/incidents/{theirs['ref']}"))
    assert row["state"] == "resolved"
    assert row["resolved_with_parent"]["on_behalf_of"]["id"] == "rudi.serang"


def test_a_duplicate_is_merged_into_its_original_which_names_its_caller_to_staff(
    api: Api,
) -> None:
    agent = api.client()
    original = log(agent, caller="budi.santoso")
    duplicate = log(agent, caller="rina.kartika")

    ok(
        agent.post(
            f"/api/v1/incidents/{duplicate['ref']}/cancel",
            json={"reason": "duplicate", "duplicate_of": original["id"]},
        )
    )

    merged = ok(agent.get(f"/api/v1/incidents/{original['ref']}"))["duplicates"]
    assert [(d["ref"], d["caller"]) for d in merged] == [(duplicate["ref"], "rina.kartika")]
    cancelled = ok(agent.get(f"/api/v1/incidents/{duplicate['ref']}"))["cancellation"]
    assert cancelled["duplicate_of"] == original["id"]
    # the original's caller does not learn who else reported it
    seen = ok(
        api.client("budi.santoso", Role.REQUESTER).get(f"/api/v1/incidents/{original['ref']}")
    )
    assert seen["duplicates"] == []
    assert "rina.kartika" not in str(seen)


def test_a_duplicate_of_an_incident_out_of_reach_is_refused_and_nothing_is_written(
    api: Api,
) -> None:
    serang = api.client("rudi.serang", Role.AGENT, organisation=SERANG)
    lebak = api.client("asep.lebak", Role.AGENT, organisation=LEBAK)
    theirs, mine = log(lebak), log(serang)
    refused(
        serang.post(
            f"/api/v1/incidents/{mine['ref']}/cancel",
            json={"reason": "duplicate", "duplicate_of": theirs["id"]},
        ),
        422,
        "duplicate-not-found",
    )
    assert ok(serang.get(f"/api/v1/incidents/{mine['ref']}"))["version"] == mine["version"]
    assert ok(lebak.get(f"/api/v1/incidents/{theirs['ref']}"))["duplicates"] == []


def test_an_unlinked_child_is_no_longer_resolved_with_its_parent(api: Api) -> None:
    agent = api.client()
    parent, kept, left, loner = (log(agent) for _ in range(4))
    for child in (kept, left):
        ok(agent.post(f"/api/v1/incidents/{parent['ref']}/link-child", json={"child": child["id"]}))
    reason = {"reason": "Gangguan lain: pembaca kartu kiosk ini rusak"}

    # When the child is unlinked, on the child, with a reason
    unlinked = ok(agent.post(f"/api/v1/incidents/{left['ref']}/unlink-parent", json=reason))

    # Then neither holds the link, and each records why
    assert unlinked["parent"] is None
    remaining = ok(agent.get(f"/api/v1/incidents/{parent['ref']}"))["children"]
    assert [c["ref"] for c in remaining] == [kept["ref"]]
    for record, type_name, names in (
        (left, "Incident.UnlinkedFromParent", parent),
        (parent, "Incident.ChildUnlinked", left),
    ):
        last = ok(agent.get(f"/api/v1/incidents/{record['ref']}/history"))["events"][-1]
        assert last["type"] == type_name
        assert (last["data"]["incident_ref"], last["data"]["reason"]) == (
            names["ref"],
            reason["reason"],
        )
    # nothing to unlink a second time, nor on an incident that never had a parent
    for again in (left, loner):
        refused(
            agent.post(f"/api/v1/incidents/{again['ref']}/unlink-parent", json=reason),
            409,
            "no-parent",
        )
    refused(
        agent.post(f"/api/v1/incidents/{left['ref']}/unlink-parent", json={"reason": ""}),
        422,
        "invalid-input",
    )
    # the caller reads that their report stands on its own again, not the staff's reason
    seen = ok(
        api.client("budi.santoso", Role.REQUESTER).get(f"/api/v1/incidents/{left['ref']}/history")
    )
    assert seen["events"][-1]["type"] == "Incident.UnlinkedFromParent"
    assert seen["events"][-1]["data"]["reason"] is None
    assert (
        api.client("budi.santoso", Role.REQUESTER)
        .post(f"/api/v1/incidents/{left['ref']}/unlink-parent", json=reason)
        .status_code
        == 403
    )

    # When the parent is resolved
    ok(agent.post(f"/api/v1/incidents/{parent['ref']}/start-work"))
    ok(
        agent.post(
            f"/api/v1/incidents/{parent['ref']}/resolve", json={"code": "fixed", "notes": "Done."}
        )
    )

    # Then only the child still linked is resolved with it
    assert ok(agent.get(f"/api/v1/incidents/{kept['ref']}"))["state"] == "resolved"
    still = ok(agent.get(f"/api/v1/incidents/{left['ref']}"))
    assert (still["state"], still["resolved_with_parent"]) == ("assigned", None)
