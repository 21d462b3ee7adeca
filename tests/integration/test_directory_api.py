"""The directory over real HTTP, on SQLite and PostgreSQL: admins keep people, admins and service
managers keep groups and lists, staff read them, a requester reads and changes only their own
entry; a missing record in the path is 404, a missing person or group a body names is 422; and
work is assigned only to groups and people the directory holds."""

from __future__ import annotations

from typing import Any

import httpx

from domain.actors import Role
from tests.integration.conftest import Api
from tests.integration.test_requests_problems_api import ok, refused

PEOPLE = "/api/v1/directory/people"
GROUPS = "/api/v1/directory/groups"


def register(admin: httpx.Client, actor_id: str, **fields: Any) -> dict[str, Any]:
    name = actor_id.replace(".", " ").title()
    return ok(admin.post(PEOPLE, json={"actor_id": actor_id, "name": name, **fields}), 201)


def test_an_admin_keeps_people_and_groups_and_staff_read_them(api: Api) -> None:
    admin = api.client("admin.dpk", Role.ADMIN)
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    agent = api.client("siti.rahma", Role.AGENT)
    member = api.client("budi.santoso", Role.REQUESTER)

    siti = register(admin, "siti.rahma", email="Siti@DPK-Banten.example", roles=["agent"])
    assert (siti["email"], siti["active"], siti["language"]) == ("siti@dpk-banten.example", 1, "id")
    register(admin, "andi.wijaya", organisation="perpus-kab-lebak")
    twice = admin.post(PEOPLE, json={"actor_id": "siti.rahma", "name": "Siti"})
    refused(twice, 409, "record-already-exists")
    # people are the admins' to register; groups the service managers' too
    refused(manager.post(PEOPLE, json={"actor_id": "rudi", "name": "Rudi"}), 403, "forbidden")
    created = manager.post(
        GROUPS, json={"code": "kiosk-team", "name": "Tim Kiosk", "members": ["siti.rahma"]}
    )
    assert created.headers["Location"] == "/api/v1/directory/groups/kiosk-team"
    assert ok(created, 201)["members"] == ["siti.rahma"]
    ok(manager.post(f"{GROUPS}/kiosk-team/appoint-manager", json={"manager": "andi.wijaya"}))

    group = ok(agent.get(f"{GROUPS}/kiosk-team"))
    assert (group["manager"], group["members"], group["disbanded"]) == (
        "andi.wijaya",
        ["siti.rahma"],
        0,
    )
    history = ok(agent.get(f"{GROUPS}/kiosk-team/history"))
    assert [e["type"] for e in history["events"]] == ["Group.Formed", "Group.ManagerAppointed"]
    refused(member.get(f"{GROUPS}/kiosk-team"), 403, "forbidden")

    ok(admin.post(f"{PEOPLE}/andi.wijaya/deactivate", json={"reason": "moved to Lebak"}))
    listed = ok(admin.get(PEOPLE, params={"active": "false"}))["items"]
    assert [p["actor_id"] for p in listed] == ["andi.wijaya"]
    listed = ok(admin.get(PEOPLE, params={"organisation": "dpk-banten", "active": "true"}))
    assert [p["actor_id"] for p in listed["items"]] == ["siti.rahma"]
    # an agent of the province reads the province's people, not a regency library's
    assert [p["actor_id"] for p in ok(agent.get(PEOPLE))["items"]] == ["siti.rahma"]
    refused(agent.get(f"{PEOPLE}/andi.wijaya"), 404, "person-not-found")


def test_a_requester_reads_and_changes_only_their_own_entry(api: Api) -> None:
    admin = api.client("admin.dpk", Role.ADMIN)
    member = api.client("budi.santoso", Role.REQUESTER)
    register(admin, "budi.santoso", roles=["requester"])
    register(admin, "siti.rahma")

    assert ok(member.get("/api/v1/directory/me"))["actor_id"] == "budi.santoso"
    assert ok(member.get(f"{PEOPLE}/budi.santoso"))["name"] == "Budi Santoso"
    refused(member.get(f"{PEOPLE}/siti.rahma"), 404, "person-not-found")
    assert [p["actor_id"] for p in ok(member.get(PEOPLE))["items"]] == ["budi.santoso"]

    muted = member.post(
        "/api/v1/directory/me/choose-mutes", json={"topics": ["incident.commented"]}
    )
    assert ok(muted)["muted"] == ["incident.commented"]
    chosen = ok(member.post("/api/v1/directory/me/choose-language", json={"language": "en"}))
    assert chosen["language"] == "en"
    history = ok(member.get(f"{PEOPLE}/budi.santoso/history"))
    assert [e["type"] for e in history["events"]] == [
        "Person.Registered",
        "Person.MutesChosen",
        "Person.LanguageChosen",
    ]
    # someone else's entry is not theirs to change, by any road
    refused(
        member.post(f"{PEOPLE}/siti.rahma/choose-mutes", json={"topics": ["incident.commented"]}),
        403,
        "forbidden",
    )
    siti = ok(admin.get(f"{PEOPLE}/siti.rahma"))
    assert (siti["muted"], siti["language"]) == ([], "id")
    # a caller the directory does not hold has no entry to read
    refused(api.client("rudi", Role.AGENT).get("/api/v1/directory/me"), 404, "person-not-found")


def test_a_missing_record_in_the_path_is_404_and_one_a_body_names_is_422(api: Api) -> None:
    admin = api.client("admin.dpk", Role.ADMIN)
    register(admin, "siti.rahma")
    ok(admin.post(GROUPS, json={"code": "tim-wifi", "name": "Wi-Fi"}), 201)

    ghost = admin.post(f"{GROUPS}/tim-ghost/add-member", json={"member": "siti.rahma"})
    refused(ghost, 404, "group-not-found")
    nobody = admin.post(f"{GROUPS}/tim-wifi/add-member", json={"member": "rudi"})
    refused(nobody, 422, "person-not-found")
    refused(admin.post(f"{PEOPLE}/rudi/deactivate"), 404, "person-not-found")
    refused(admin.get("/api/v1/directory/broadcast-lists/none"), 404, "broadcast-list-not-found")
    managed = admin.post(GROUPS, json={"code": "tim-x", "name": "X", "manager": "rudi"})
    refused(managed, 422, "person-not-found")
    described = ok(admin.get("/problems/not-a-group-member"))
    assert described["title"] == "The agent is not a member of the group"


def test_work_is_assigned_only_to_groups_and_members_the_directory_holds(api: Api) -> None:
    admin = api.client("admin.dpk", Role.ADMIN)
    agent = api.client("siti.rahma", Role.AGENT)
    register(admin, "siti.rahma")
    register(admin, "andi.wijaya")
    register(admin, "dewi.lestari")
    kiosk = {"code": "kiosk-team", "name": "Kiosk", "members": ["siti.rahma"]}
    ok(admin.post(GROUPS, json=kiosk), 201)
    ok(admin.post(GROUPS, json={"code": "tim-lama", "name": "Lama"}), 201)
    ok(admin.post(f"{GROUPS}/tim-lama/disband", json={"reason": "merged"}))
    incident = {
        "title": "Kiosk 3 offline",
        "service": "kiosks-gates",
        "caller": "budi.santoso",
        "impact": "medium",
        "urgency": "high",
    }

    def log(**fields: Any) -> httpx.Response:
        return agent.post("/api/v1/incidents", json={**incident, **fields})

    refused(log(assignment_group="tim-ghost"), 422, "group-not-found")
    refused(log(assignment_group="tim-lama"), 409, "illegal-transition")
    refused(log(assignment_group="kiosk-team", agent="andi.wijaya"), 422, "not-a-group-member")
    refused(log(assignment_group="kiosk-team", agent="rudi"), 422, "person-not-found")
    logged = ok(log(assignment_group="kiosk-team", agent="siti.rahma"), 201)
    assert (logged["group"], logged["agent"]) == ("kiosk-team", "siti.rahma")
    path = f"/api/v1/incidents/{logged['id']}"

    refused(agent.post(f"{path}/assign", json={"group": "tim-ghost"}), 422, "group-not-found")
    escalate = {"kind": "hierarchical", "reason": "Needs a decision", "to_manager": "rudi"}
    refused(agent.post(f"{path}/escalate", json=escalate), 422, "person-not-found")
    ok(admin.post(f"{PEOPLE}/dewi.lestari/deactivate"))
    escalate["to_manager"] = "dewi.lestari"
    refused(agent.post(f"{path}/escalate", json=escalate), 409, "person-inactive")
    ok(admin.post(f"{PEOPLE}/dewi.lestari/reactivate"))
    assert ok(agent.post(f"{path}/escalate", json=escalate))["escalations"]
    # a catalogue item's requests go to its fulfilment group: one the directory holds
    item = {
        "code": "card-reprint",
        "title": "Reprint a card",
        "service": "membership-cards",
        "fulfilment_group": "tim-ghost",
        "steps": ["Print it"],
    }
    refused(admin.post("/api/v1/catalogue-items", json=item), 422, "group-not-found")
    item["fulfilment_group"] = "kiosk-team"
    ok(admin.post("/api/v1/catalogue-items", json=item), 201)


def test_a_person_whose_actor_id_is_not_latin_1_is_registered_and_found_by_its_location(
    api: Api,
) -> None:
    # A header holds only Latin-1: a Location naming the id as it is answered 500 (schemathesis
    # found it with U+3F124); it is percent-encoded, and the path it names finds the person.
    admin = api.client("admin.dpk", Role.ADMIN)
    for actor_id in ("ahmad.𠀋", "dewi lestari"):
        made = admin.post("/api/v1/directory/people", json={"actor_id": actor_id, "name": "X"})
        assert made.status_code == 201, made.text
        location = made.headers["location"]
        assert location.isascii()
        assert ok(admin.get(location))["actor_id"] == actor_id
        renamed = admin.post(f"{location}/update", json={"name": "Y"})
        assert renamed.status_code == 200, renamed.text
        assert renamed.headers["location"] == location
