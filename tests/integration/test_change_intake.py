"""Requests for change from every source, over real HTTP, on SQLite and PostgreSQL: a person's
change records what it does to a service and where it came from; release pipelines and vendors'
upgrade notices raise theirs through the integration role's intake, one change per notice."""

from __future__ import annotations

from domain.actors import Role
from tests.integration.conftest import Api
from tests.integration.test_requests_problems_api import ok

NOTICE = {
    "source": "upgrade-notice",
    "external_reference": "SLiMS-SA-2026-004",
    "kind": "normal",
    "title": "SLiMS 9.6.2 security release",
    "services": ["inlislite-slims"],
    "service_action": "modify",
    "backout_plan": "Reinstall 9.6.1 from the package cache",
}


def test_a_person_raises_a_change_classified_with_its_source(api: Api) -> None:
    agent = api.client("siti.rahma", Role.AGENT)
    change = ok(
        agent.post(
            "/api/v1/changes",
            json={
                "kind": "normal",
                "title": "Hand the public Wi-Fi over to Diskominfo",
                "services": ["public-wifi"],
                "service_action": "transfer",
                "transfer_to": "Diskominfo Provinsi Banten",
                "source": "problem",
                "external_reference": "PRB-000012",
            },
        ),
        201,
    )
    assert (change["service_action"], change["transfer_to"]) == (
        "transfer",
        "Diskominfo Provinsi Banten",
    )
    assert (change["source"], change["external_reference"]) == ("problem", "PRB-000012")
    # a change raised without saying: a person's, touching no service as such
    plain = ok(
        agent.post("/api/v1/changes", json={"kind": "normal", "title": "Swap a switch"}), 201
    )
    assert (plain["service_action"], plain["source"], plain["transfer_to"]) == (
        "none",
        "person",
        None,
    )
    # a transfer says where to; a person does not speak as a vendor
    refused = agent.post(
        "/api/v1/changes",
        json={
            "kind": "normal",
            "title": "x",
            "services": ["public-wifi"],
            "service_action": "transfer",
        },
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid-input")
    as_vendor = agent.post(
        "/api/v1/changes",
        json={"kind": "normal", "title": "x", "source": "vendor", "external_reference": "v-1"},
    )
    assert (as_vendor.status_code, as_vendor.json()["code"]) == (422, "invalid-input")


def test_an_upgrade_notice_raises_one_change_however_often_it_comes(api: Api) -> None:
    machine = api.client("slims-release-feed", Role.INTEGRATION)

    first = machine.post("/api/v1/changes/intake", json=NOTICE)
    again = machine.post("/api/v1/changes/intake", json={**NOTICE, "title": "re-sent"})

    created = ok(first, 201)
    assert (created["source"], created["external_reference"]) == (
        "upgrade-notice",
        "SLiMS-SA-2026-004",
    )
    assert created["state"] == "raised"
    assert first.headers["Location"] == f"/api/v1/changes/{created['ref']}"
    # a receipt, not the staff's record
    assert set(created) == {"id", "ref", "state", "source", "external_reference", "version"}
    answered = ok(again, 200)
    assert answered == created
    # one change, as the staff read it, raised by the machine for itself
    manager = api.client("rina.wati", Role.CHANGE_MANAGER)
    listed = ok(manager.get("/api/v1/changes"))["items"]
    assert [c["ref"] for c in listed] == [created["ref"]]
    change = ok(manager.get(f"/api/v1/changes/{created['ref']}"))
    assert (change["title"], change["requester"], change["raised_by"]["role"]) == (
        NOTICE["title"],
        "slims-release-feed",
        "integration",
    )
    assert (change["service_action"], change["services"]) == ("modify", ["inlislite-slims"])
    # the same reference from a release pipeline is another notice
    pipeline = ok(
        machine.post("/api/v1/changes/intake", json={**NOTICE, "source": "release-pipeline"}),
        201,
    )
    assert pipeline["ref"] != created["ref"]


def test_the_intake_is_the_machines_and_raising_the_peoples(api: Api) -> None:
    agent = api.client("siti.rahma", Role.AGENT)
    machine = api.client("slims-release-feed", Role.INTEGRATION)

    assert agent.post("/api/v1/changes/intake", json=NOTICE).status_code == 403
    assert machine.post("/api/v1/changes", json={"kind": "normal", "title": "x"}).status_code == 403
    person = machine.post("/api/v1/changes/intake", json={**NOTICE, "source": "person"})
    assert (person.status_code, person.json()["code"]) == (422, "invalid-input")
    unreferenced = {k: v for k, v in NOTICE.items() if k != "external_reference"}
    assert machine.post("/api/v1/changes/intake", json=unreferenced).status_code == 422
