"""Every kind of record reads alike, over real HTTP on SQLite and PostgreSQL: every list pages by
cursor, every record read takes `as_of` (the record as it stood then; before it existed, not
found), and every history says what each event changed, from -> to."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from application.seed import seed
from domain.actors import Role
from service.bootstrap import Services
from tests.conftest import T0, Clock, shared_service
from tests.integration.conftest import Api, serving

AGENT = ("siti.rahma", Role.AGENT)
MANAGER = ("dewi.lestari", Role.SERVICE_MANAGER)
CHANGE_MANAGER = ("rina.wati", Role.CHANGE_MANAGER)


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"


@dataclass(frozen=True)
class Lifecycle:
    """A record of one kind: made by `who` at one moment, then changed by an action later."""

    path: str
    who: tuple[str, Role]
    body: dict[str, Any]
    action: str | None  # None: the kind has no action over its own routes
    action_body: dict[str, Any]
    field: str  # what the action changes
    #: How the record is named in its path: its ref, or its code.
    name: str = "ref"


LIFECYCLES = {
    "incident": Lifecycle(
        "/api/v1/incidents",
        AGENT,
        {
            "title": "Self-check kiosk 2 offline",
            "service": "kiosks-gates",
            "caller": "budi.santoso",
            "impact": "medium",
            "urgency": "high",
        },
        "assign",
        {"group": "kiosk-team"},
        "group",
    ),
    "service request": Lifecycle(
        "/api/v1/service-requests",
        AGENT,
        {"catalogue_item": "card-reprint", "title": "Kartu anggota hilang"},
        "cancel",
        {"reason": "found the card"},
        "state",
    ),
    "problem": Lifecycle(
        "/api/v1/problems",
        AGENT,
        {"title": "Kiosks drop RFID readers"},
        "start-investigation",
        {},
        "state",
    ),
    "change": Lifecycle(
        "/api/v1/changes",
        AGENT,
        {"kind": "normal", "title": "Upgrade kiosk firmware"},
        "record-backout-plan",
        {"plan": "reflash the old image"},
        "backout_plan",
    ),
    "configuration item": Lifecycle(
        "/api/v1/configuration-items",
        MANAGER,
        {"code": "kiosk-x", "name": "Kiosk X", "ci_type": "kiosk", "owner": "dpk-banten"},
        None,
        {},
        "name",
        name="code",
    ),
    "catalogue item": Lifecycle(
        "/api/v1/catalogue-items",
        MANAGER,
        {
            "code": "locker-key",
            "title": "A locker key",
            "service": "membership-cards",
            "fulfilment_group": "layanan-keanggotaan",
            "steps": ["Hand over the key"],
        },
        None,
        {},
        "title",
        name="code",
    ),
}


@dataclass(frozen=True)
class Made:
    kind: Lifecycle
    url: str
    made_at: datetime
    changed_at: datetime | None  # None: the kind has no action
    now: dict[str, Any]  # the record as a reader reads it now


def make(api: Api, clock: Clock, kind: Lifecycle) -> Made:
    """A record of this kind, made an hour from the clock's now and changed an hour later."""
    made_at = clock.advance(hours=1)
    client = api.client(*kind.who)
    url = f"{kind.path}/{ok(client.post(kind.path, json=kind.body), 201)[kind.name]}"
    changed_at = None
    if kind.action is not None:
        changed_at = clock.advance(hours=1)
        ok(client.post(f"{url}/{kind.action}", json=kind.action_body))
    return Made(kind, url, made_at, changed_at, ok(api.client(*AGENT).get(url)))


@dataclass(frozen=True)
class Reading:
    """A seeded service, served, and a record of each kind made on it in turn."""

    api: Api
    made: dict[str, Made]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def reading(request: pytest.FixtureRequest) -> Iterator[Reading]:
    """One service a backend for this module's tests that only read: they read records that no
    test changes, so one set-up serves them all."""
    clock = Clock()
    with shared_service(request.param, request, clock) as services, serving(services) as api:
        seed(services.desk)
        yield Reading(api, {name: make(api, clock, kind) for name, kind in LIFECYCLES.items()})


@pytest.fixture
def read_api(reading: Reading) -> Api:
    return reading.api


@pytest.fixture(params=list(LIFECYCLES))
def made(reading: Reading, request: pytest.FixtureRequest) -> Made:
    """A record of each kind on the seed, made an hour after the one before and changed an hour
    later (the first made an hour after T0)."""
    return reading.made[request.param]


def test_every_record_reads_as_it_stood_at_a_moment_and_not_before_it_existed(
    read_api: Api, made: Made
) -> None:
    reader, url, now = read_api.client(*AGENT), made.url, made.now

    at_making = ok(reader.get(url, params={"as_of": made.made_at.isoformat()}))
    if made.changed_at is None:
        assert at_making == now  # as of now, exactly the view
    else:
        assert at_making[made.kind.field] != now[made.kind.field]
        assert at_making["version"] == 1
        then = ok(reader.get(url, params={"as_of": made.changed_at.isoformat()}))
        assert then == now
    not_found(reader.get(url, params={"as_of": T0.isoformat()}))
    not_found(reader.get(f"{url}/history", params={"as_of": T0.isoformat()}))


def test_every_history_says_what_each_event_changed_from_and_to(read_api: Api, made: Made) -> None:
    reader, url, now, kind = read_api.client(*AGENT), made.url, made.now, made.kind
    made_at, changed_at = made.made_at, made.changed_at

    history = ok(reader.get(f"{url}/history"))
    assert history["record_id"] == now.get("id", history["record_id"])
    first = history["events"][0]["changes"]
    assert first, "the first event makes the record"
    assert all(change.get("from") is None for change in first.values())
    if changed_at is not None:
        last = history["events"][-1]
        before = ok(reader.get(url, params={"as_of": made_at.isoformat()}))[kind.field]
        assert last["changes"][kind.field] == {"from": before, "to": now[kind.field]}
        early = ok(reader.get(f"{url}/history", params={"as_of": made_at.isoformat()}))
        assert [e["version"] for e in early["events"]] == [1]
        assert early["as_of"] is not None


def test_a_change_template_reads_as_of_a_moment_and_not_before_it_was_defined(
    api: Api, clock: Clock
) -> None:
    defined_at = clock.advance(hours=1)
    body = {
        "code": "printer-swap",
        "title": "Swap a receipt printer",
        "configuration_items": [],
        "backout_plan": "put the old one back",
    }
    ok(api.client(*CHANGE_MANAGER).post("/api/v1/change-templates", json=body), 201)
    reader = api.client(*AGENT)
    url = "/api/v1/change-templates/printer-swap"

    assert ok(reader.get(url, params={"as_of": defined_at.isoformat()}))["title"] == body["title"]
    not_found(reader.get(url, params={"as_of": T0.isoformat()}))


def test_a_requester_reading_as_of_a_moment_never_reads_an_approvers_note(
    api: Api, services: Services, clock: Clock
) -> None:
    seed(services.desk)
    member = api.client("budi.santoso", Role.REQUESTER)
    request = ok(
        member.post(
            "/api/v1/service-requests",
            json={"catalogue_item": "inlislite-school-install", "title": "SMAN 2 Pandeglang"},
        ),
        201,
    )
    approved_at = clock.advance(hours=1)
    head = api.client("kepala.bidang", Role.SERVICE_MANAGER)
    note = "internal: budget line 5.2.2 for this one"
    ok(head.post(f"/api/v1/service-requests/{request['ref']}/approve", json={"comment": note}))
    url = f"/api/v1/service-requests/{request['ref']}"

    staff = api.client(*AGENT).get(url, params={"as_of": approved_at.isoformat()})
    assert note in staff.text  # the note is there, for staff
    for read in (
        member.get(url, params={"as_of": approved_at.isoformat()}),
        member.get(f"{url}/history", params={"as_of": approved_at.isoformat()}),
        member.get(f"{url}/history"),
    ):
        assert read.status_code == 200, read.text
        assert note not in read.text


LISTS = {
    "/api/v1/incidents": "ref",
    "/api/v1/service-requests": "ref",
    "/api/v1/problems": "ref",
    "/api/v1/changes": "ref",
    "/api/v1/configuration-items": "code",
    "/api/v1/catalogue-items": "code",
    "/api/v1/known-errors": "problem",
    "/api/v1/problems/recurrence": "problem",
}


def walk(client: httpx.Client, path: str, name: str, limit: int) -> list[str]:
    """Every item of a list, page after page."""
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        page = ok(client.get(path, params=params))
        assert len(page["items"]) <= limit
        seen.extend(item[name] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_every_list_walks_page_by_page_to_every_row_once(
    api: Api, services: Services, clock: Clock
) -> None:
    seed(services.desk)
    for kind in LIFECYCLES.values():
        for n in range(3):
            code = {"code": f"{kind.body['code']}-{n}"} if kind.name == "code" else {}
            ok(api.client(*kind.who).post(kind.path, json=kind.body | code), 201)
    agent = api.client(*AGENT)
    problem = ok(agent.get("/api/v1/problems", params={"limit": 1}))["items"][0]["ref"]
    for step, body in (
        ("start-investigation", {}),
        ("record-root-cause", {"root_cause": "firmware"}),
        ("publish-known-error", {"symptoms": "readers drop"}),
    ):
        ok(agent.post(f"/api/v1/problems/{problem}/{step}", json=body))

    for path, name in LISTS.items():
        everything = walk(agent, path, name, 200)
        assert len(everything) == len(set(everything)), path
        assert path.endswith("recurrence") or everything, path
        for limit in (1, 2, 5):
            assert walk(agent, path, name, limit) == everything, (path, limit)


def test_a_cursor_this_api_did_not_issue_is_refused(read_api: Api) -> None:
    agent = read_api.client(*AGENT)
    issued = {"number": "bjox", "code": "YzprLTE"}  # n:1 and c:k-1, as this API writes them
    for path, name in LISTS.items():
        order = "code" if name == "code" else "number"
        other = "number" if order == "code" else "code"
        assert agent.get(path, params={"cursor": issued[order]}).status_code == 200, path
        for cursor in ("bm90LWEtbnVtYmVy", "!!", issued[other], "bjow"):  # "n:0": no number
            answer = agent.get(path, params={"cursor": cursor})
            assert answer.status_code == 422, (path, cursor, answer.text)
            assert answer.json()["code"] == "invalid-input"
