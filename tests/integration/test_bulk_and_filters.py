"""Saved filters and bulk actions through the API, on SQLite and PostgreSQL: a filter is kept by
its owner (a person, or a group's members and manager) and is missing to anyone else; the
incidents' list takes it as ?filter=; a bulk action decides each record on its own, answers each
record's outcome, refuses more than the setting allows, and honours an Idempotency-Key; and,
as a property, a bulk action's outcome for each record is what doing it alone would have been."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from application import bulk
from application.outcome import Outcome
from application.pipeline import Submission
from application.seed import seed
from domain.actors import Role
from domain.commands import (
    AddComment,
    Assign,
    CancelIncident,
    Close,
    LogIncident,
    PutOnHold,
    ResolveIncident,
    StartWork,
)
from domain.incident import IncidentState
from infra.settings import Settings
from service.bootstrap import Services
from tests.conftest import AGENT, Clock, context
from tests.integration.conftest import Api

pytestmark = pytest.mark.usefixtures("directory")

LEBAK = "perpus-kab-lebak"
MOST = 4  # this module's bulk_max_records


@pytest.fixture
def settings(make_settings: Callable[[], Settings]) -> Settings:
    return make_settings().model_copy(update={"bulk_max_records": MOST})


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def log(client: httpx.Client, **more: Any) -> dict[str, Any]:
    body = {
        "title": "Kiosk mati",
        "service": "kiosks-gates",
        "caller": "budi.santoso",
        "impact": "low",
        "urgency": "low",
        "assignment_group": "kiosk-team",
        **more,
    }
    return ok(client.post("/api/v1/incidents", json=body), 201)


def listed(client: httpx.Client, **query: Any) -> list[str]:
    return [i["ref"] for i in ok(client.get("/api/v1/incidents", params=query))["items"]]


# -- saved filters -------------------------------------------------------------------------------


def test_a_filter_is_kept_by_its_owner_and_lists_what_it_finds(api: Api) -> None:
    siti, andi = api.client("siti.rahma"), api.client("andi.wijaya")
    outsider = api.client("tono.helpdesk")
    kiosk = log(siti)
    urgent = log(siti, impact="high", urgency="high")
    network = log(siti, assignment_group="network-team")
    mine = ok(siti.post("/api/v1/saved-filters", json={"name": "Mine", "query": {}}), 201)
    ours = ok(
        andi.post(
            "/api/v1/saved-filters",
            json={"name": "Kiosk", "group": "kiosk-team", "query": {"group": "kiosk-team"}},
        ),
        201,
    )
    assert (ours["owner_kind"], ours["owner"]) == ("group", "kiosk-team")
    refused = outsider.post(
        "/api/v1/saved-filters", json={"name": "Not mine", "group": "kiosk-team"}
    )
    assert refused.status_code == 403, refused.text

    # siti keeps her own and her group's; the outsider neither, and each is missing to them
    assert [f["name"] for f in ok(siti.get("/api/v1/saved-filters"))["items"]] == ["Kiosk", "Mine"]
    assert ok(outsider.get("/api/v1/saved-filters"))["items"] == []
    for made in (mine, ours):
        for hidden, missing in (
            (f"/api/v1/saved-filters/{made['id']}", f"/api/v1/saved-filters/{uuid4()}"),
            (f"/api/v1/incidents?filter={made['id']}", f"/api/v1/incidents?filter={uuid4()}"),
        ):
            seen, none = outsider.get(hidden), outsider.get(missing)
            assert seen.status_code == none.status_code == 404
            assert seen.json()["code"] == none.json()["code"]
        revised = outsider.post(f"/api/v1/saved-filters/{made['id']}/revise", json={"name": "x"})
        assert revised.status_code == 404

    assert listed(siti, filter=ours["id"]) == [urgent["ref"], kiosk["ref"]]
    assert listed(siti, filter=ours["id"], priority=urgent["priority"]) == [urgent["ref"]]
    assert network["ref"] in listed(siti, filter=mine["id"])

    # any member of the group revises or deletes its filter
    ok(
        siti.post(
            f"/api/v1/saved-filters/{ours['id']}/revise",
            json={
                "name": "Kiosk, urgent",
                "query": {"group": "kiosk-team", "priority": urgent["priority"]},
            },
        )
    )
    assert listed(andi, filter=ours["id"]) == [urgent["ref"]]
    ok(andi.post(f"/api/v1/saved-filters/{ours['id']}/delete"))
    assert siti.get(f"/api/v1/saved-filters/{ours['id']}").status_code == 404
    assert [f["name"] for f in ok(siti.get("/api/v1/saved-filters"))["items"]] == ["Mine"]
    requester = api.client("budi.santoso", Role.REQUESTER)
    assert requester.get("/api/v1/saved-filters").status_code == 403


# -- bulk actions --------------------------------------------------------------------------------


def test_each_record_of_a_bulk_action_is_decided_on_its_own(api: Api) -> None:
    siti = api.client("siti.rahma")
    lebak = api.client("asep.lebak", Role.AGENT, organisation=LEBAK)
    a, b, c = log(siti), log(siti), log(siti)
    theirs = log(lebak)
    ok(siti.post(f"/api/v1/incidents/{b['ref']}/start-work"))

    answer = ok(
        siti.post(
            "/api/v1/incidents/bulk",
            json={
                "action": "resolve",
                "incidents": [a["ref"], b["ref"], theirs["ref"], "INC-999999"],
                "resolve": {"code": "fixed", "notes": "Kiosk dinyalakan ulang."},
            },
        )
    )

    items = {item["ref"]: item for item in answer["items"]}
    assert list(items) == [a["ref"], b["ref"], theirs["ref"], "INC-999999"]
    assert (answer["succeeded"], answer["failed"]) == (1, 3)
    assert items[b["ref"]]["status"] == 200
    assert (items[a["ref"]]["status"], items[a["ref"]]["code"]) == (409, "illegal-transition")
    # out of reach answers exactly as missing
    hidden, missing = items[theirs["ref"]], items["INC-999999"]
    assert hidden["status"] == missing["status"] == 404
    assert hidden["code"] == missing["code"] == "incident-not-found"
    assert hidden["detail"] == missing["detail"].replace("INC-999999", theirs["ref"])
    # what failed changed nothing; what succeeded is as the single action leaves it
    assert ok(siti.get(f"/api/v1/incidents/{a['ref']}"))["version"] == a["version"]
    assert ok(lebak.get(f"/api/v1/incidents/{theirs['ref']}"))["version"] == theirs["version"]
    resolved = ok(siti.get(f"/api/v1/incidents/{b['ref']}"))
    assert resolved["state"] == "resolved"
    assert resolved["version"] == items[b["ref"]]["version"]
    assert ok(siti.get(f"/api/v1/incidents/{c['ref']}"))["version"] == c["version"]

    # once the callers' window has passed, closed in bulk
    assert isinstance(api.services.clock, Clock)
    api.services.clock.advance(days=6)
    closed = ok(
        siti.post("/api/v1/incidents/bulk", json={"action": "close", "incidents": [b["ref"]]})
    )
    assert [i["status"] for i in closed["items"]] == [200]


def test_a_filter_of_each_list_lists_what_it_finds_there_and_only_there(
    api: Api, services: Services
) -> None:
    seed(services.desk)
    siti = api.client("siti.rahma")
    member = api.client("budi.santoso", Role.REQUESTER)
    resolver = api.client("andi.wijaya", Role.RESOLVER)

    def refs(path: str, **query: Any) -> list[str]:
        return [row["ref"] for row in ok(siti.get(path, params=query))["items"]]

    def request(item: str) -> str:
        made = member.post("/api/v1/service-requests", json={"catalogue_item": item, "title": "x"})
        return str(ok(made, 201)["ref"])

    def change(kind: str) -> str:
        body = {"kind": kind, "title": "Patch", "backout_plan": "Restore the snapshot"}
        return str(ok(resolver.post("/api/v1/changes", json=body), 201)["ref"])

    def problem(**fields: Any) -> str:
        made = siti.post("/api/v1/problems", json={"title": "Kiosk hang", **fields})
        return str(ok(made, 201)["ref"])

    waiting, reprint = request("inlislite-school-install"), request("card-reprint")
    kiosks, other = problem(service="kiosks-gates"), problem(service="public-wifi")
    emergency, normal = change("emergency"), change("normal")
    incident = log(siti)
    saved = {
        path: ok(
            siti.post(
                "/api/v1/saved-filters",
                json={"name": path, "list": path, "query": query},
            ),
            201,
        )
        for path, query in (
            ("service-requests", {"state": "awaiting_approval", "requester": "budi.santoso"}),
            ("problems", {"service": "kiosks-gates"}),
            ("changes", {"kind": "emergency"}),
            ("incidents", {"group": "kiosk-team"}),
        )
    }
    assert saved["problems"]["list"] == "problems"
    assert saved["problems"]["query"] == {"state": None, "service": "kiosks-gates"}

    # Each list takes a filter of its own, and a parameter given replaces the filter's
    found = {path: refs(f"/api/v1/{path}", filter=made["id"]) for path, made in saved.items()}
    assert found == {
        "service-requests": [waiting],
        "problems": [kiosks],
        "changes": [emergency],
        "incidents": [incident["ref"]],
    }
    assert reprint in refs("/api/v1/service-requests")
    assert {other, normal} <= {*refs("/api/v1/problems"), *refs("/api/v1/changes")}
    assert refs("/api/v1/problems", filter=saved["problems"]["id"], service="public-wifi") == [
        other
    ]
    assert refs("/api/v1/changes", filter=saved["changes"]["id"], state="cancelled") == []

    # A filter of another list is refused there, in so many words; one not kept is missing
    for path in saved:
        for of, made in saved.items():
            if of != path:
                wrong = siti.get(f"/api/v1/{path}", params={"filter": made["id"]})
                assert wrong.status_code == 422, (path, of, wrong.text)
                assert wrong.json()["code"] == "filter-of-another-list"
                assert of in wrong.json()["detail"]
        missing = siti.get(f"/api/v1/{path}", params={"filter": str(uuid4())})
        assert missing.status_code == 404, missing.text
        theirs = api.client("rudi.hartono").get(
            f"/api/v1/{path}", params={"filter": saved[path]["id"]}
        )
        assert theirs.status_code == 404, theirs.text
    bulk_of_problems = siti.post(
        "/api/v1/incidents/bulk", json={"action": "close", "filter": saved["problems"]["id"]}
    )
    assert bulk_of_problems.status_code == 422, bulk_of_problems.text
    assert bulk_of_problems.json()["code"] == "filter-of-another-list"

    # A filter's parameters are its list's, and its list stays its own
    invalid = siti.post(
        "/api/v1/saved-filters",
        json={"name": "x", "list": "problems", "query": {"status": "assigned"}},
    )
    assert invalid.status_code == 422, invalid.text
    assert invalid.json()["errors"][0]["loc"][-2:] == ["query", "status"]
    moved = siti.post(
        f"/api/v1/saved-filters/{saved['problems']['id']}/revise",
        json={"name": "x", "list": "changes", "query": {"kind": "normal"}},
    )
    assert moved.status_code == 422, moved.text
    assert moved.json()["code"] == "filter-list-changed"
    revised = ok(
        siti.post(
            f"/api/v1/saved-filters/{saved['problems']['id']}/revise",
            json={"name": "Wi-Fi", "list": "problems", "query": {"service": "public-wifi"}},
        )
    )
    assert revised["query"] == {"state": None, "service": "public-wifi"}
    assert refs("/api/v1/problems", filter=saved["problems"]["id"]) == [other]


def test_a_bulk_action_by_saved_filter_and_its_limits(api: Api) -> None:
    siti = api.client("siti.rahma")
    made = [log(siti) for _ in range(MOST)]
    network = log(siti, assignment_group="network-team")
    kiosk = ok(
        siti.post(
            "/api/v1/saved-filters",
            json={"name": "Kiosk", "query": {"group": "kiosk-team", "status": "assigned"}},
        ),
        201,
    )

    moved = ok(
        siti.post(
            "/api/v1/incidents/bulk",
            json={
                "action": "assign",
                "filter": kiosk["id"],
                "assign": {"group": "network-team", "agent": "andi.wijaya"},
            },
        )
    )
    assert [i["ref"] for i in moved["items"]] == [m["id"] for m in reversed(made)]
    assert moved["succeeded"] == MOST
    assert listed(siti, filter=kiosk["id"]) == []
    assert ok(siti.get(f"/api/v1/incidents/{network['ref']}"))["agent"] is None

    # more than the setting allows: refused whole, by list and by filter
    everything = ok(siti.post("/api/v1/saved-filters", json={"name": "All"}), 201)
    for body in (
        {"incidents": [m["ref"] for m in made] + [network["ref"]]},
        {"filter": everything["id"]},
    ):
        refused = siti.post(
            "/api/v1/incidents/bulk",
            json={"action": "add-comment", "add_comment": {"text": "Sedang dicek."}, **body},
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "too-many-records"
    assert ok(siti.get(f"/api/v1/incidents/{network['ref']}"))["comments"] == []
    # and past the schema's own bound, or naming both or neither, refused by validation
    for body in (
        {"incidents": ["INC-000001"] * (bulk.BULK_CEILING + 1)},
        {"incidents": [made[0]["ref"]], "filter": kiosk["id"]},
        {},
    ):
        invalid = siti.post("/api/v1/incidents/bulk", json={"action": "close", **body})
        assert invalid.status_code == 422, invalid.text
    requester = api.client("budi.santoso", Role.REQUESTER)
    forbidden = requester.post(
        "/api/v1/incidents/bulk", json={"action": "close", "incidents": [made[0]["ref"]]}
    )
    assert forbidden.status_code == 403


def test_a_bulk_action_retried_with_its_idempotency_key_is_done_once(api: Api) -> None:
    siti = api.client("siti.rahma")
    a, b = log(siti), log(siti)
    body = {
        "action": "add-comment",
        "incidents": [a["ref"], b["ref"]],
        "add_comment": {"text": "Teknisi menuju lokasi."},
    }
    headers = {"Idempotency-Key": "pagi-2026-03-02"}

    first = ok(siti.post("/api/v1/incidents/bulk", json=body, headers=headers))
    again = ok(siti.post("/api/v1/incidents/bulk", json=body, headers=headers))

    assert again["items"] == first["items"]
    for record in (a, b):
        assert len(ok(siti.get(f"/api/v1/incidents/{record['ref']}"))["comments"]) == 1
    other = siti.post(
        "/api/v1/incidents/bulk",
        json={**body, "add_comment": {"text": "Lain."}},
        headers=headers,
    )
    assert [i["code"] for i in ok(other)["items"]] == ["idempotency-key-reused"] * 2


# -- the property: in bulk as alone ---------------------------------------------------------------

_MOVES: dict[IncidentState, list[Any]] = {
    IncidentState.ASSIGNED: [],
    IncidentState.IN_PROGRESS: [StartWork()],
    IncidentState.ON_HOLD: [StartWork(), PutOnHold(reason="awaiting_caller")],
    IncidentState.RESOLVED: [StartWork(), ResolveIncident(code="fixed", notes="ok")],
    IncidentState.CANCELLED: [CancelIncident(reason="logged_in_error")],
}
ACTIONS = [
    Assign(group="network-team"),
    Assign(group="kiosk-team"),
    AddComment(text="Sedang dicek."),
    ResolveIncident(code="workaround", notes="Pakai kiosk lain."),
    Close(),
]


def _incident_in(services: Services, state: IncidentState) -> Any:
    ctx = context(AGENT, services.clock())
    log = LogIncident(
        title="Kiosk",
        service="kiosks-gates",
        caller="budi.santoso",
        impact="low",
        urgency="low",
        assignment_group="kiosk-team",
    )
    record_id = services.desk.execute(Submission(ctx, log)).record_id
    for command in _MOVES[state]:
        services.desk.execute(Submission(ctx, command, ref=record_id))
    return record_id


def _seen(services: Services, result: Outcome | Exception, record_id: Any) -> tuple[Any, ...]:
    """What became of a record: its outcome (how many events it took, or the error's code)
    and its state."""
    state = services.desk.incident(record_id).state
    if isinstance(result, Outcome):
        return ("done", result.version, state)
    return (getattr(result, "code", type(result).__name__), state)


@examples(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    states=st.lists(st.sampled_from(sorted(_MOVES)), min_size=1, max_size=5),
    action=st.sampled_from(ACTIONS),
    days=st.sampled_from([0, 6]),
)
def test_a_bulk_actions_outcome_for_each_record_is_doing_it_alone(
    services: Services, clock: Clock, states: list[IncidentState], action: Any, days: int
) -> None:
    in_bulk = [_incident_in(services, s) for s in states]
    alone = [_incident_in(services, s) for s in states]
    clock.advance(days=days)  # a resolved incident closes only after its window
    ctx = context(AGENT, clock())
    together = services.desk.execute_batch(bulk.submissions(ctx, action, list(in_bulk), None))
    one_by_one: list[Outcome | Exception] = []
    for record_id in alone:
        try:
            one_by_one.append(services.desk.execute(Submission(ctx, action, ref=record_id)))
        except Exception as error:
            one_by_one.append(error)

    assert [_seen(services, r, i) for r, i in zip(together, in_bulk, strict=True)] == [
        _seen(services, r, i) for r, i in zip(one_by_one, alone, strict=True)
    ]
