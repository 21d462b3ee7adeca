"""The REST API over real HTTP, against a running app on a temporary data directory."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.incidents import SUMMARY_FIELDS
from domain.actors import Role
from tests.conftest import Clock
from tests.integration.conftest import Api

PROBLEM = "application/problem+json"


def new_incident(client: httpx.Client, **overrides: Any) -> dict[str, Any]:
    body = {
        "title": "Self-check kiosk 3 at Serang branch is offline",
        "service": "kiosks-gates",
        "caller": "budi.santoso",
        "impact": "medium",
        "urgency": "high",
        "assignment_group": "kiosk-team",
        **overrides,
    }
    response = client.post("/api/v1/incidents", json=body)
    assert response.status_code == 201, response.text
    incident: dict[str, Any] = response.json()
    return incident


def act(
    client: httpx.Client, ref: str, action: str, body: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    return client.post(f"/api/v1/incidents/{ref}/{action}", json=body, headers=headers)


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"/problems/{code}"
    assert body["title"]
    assert body["detail"]


# -- identity ---------------------------------------------------------------------------------


def test_requests_without_a_valid_token_get_401(api: Api) -> None:
    anonymous = httpx.Client(base_url=api.base_url)
    assert_problem(anonymous.get("/api/v1/incidents"), 401, "unauthenticated")
    assert anonymous.get("/api/v1/incidents").headers["www-authenticate"] == "Bearer"
    forged = httpx.Client(base_url=api.base_url, headers={"Authorization": "Bearer itsm_00_bad"})
    assert_problem(forged.get("/api/v1/incidents"), 401, "unauthenticated")


@pytest.mark.usefixtures("directory")
def test_auditor_reads_but_may_not_write(api: Api) -> None:
    agent = api.client()
    incident = new_incident(agent)
    auditor = api.client("auditor.bsn", Role.AUDITOR)
    assert auditor.get(f"/api/v1/incidents/{incident['id']}").status_code == 200
    assert_problem(act(auditor, incident["id"], "start-work"), 403, "forbidden")
    assert_problem(auditor.post("/api/v1/incidents", json={"title": "x"}), 403, "forbidden")


def test_integration_tokens_may_not_read_incidents(api: Api) -> None:
    kiosk_monitor = api.client("kiosk-monitor", Role.INTEGRATION)
    assert_problem(kiosk_monitor.get("/api/v1/incidents"), 403, "forbidden")


@pytest.mark.usefixtures("directory")
def test_the_actor_from_the_token_goes_into_every_event(api: Api) -> None:
    agent = api.client("siti.rahma", Role.AGENT)
    resolver = api.client("agus.setiawan", Role.RESOLVER)
    incident = new_incident(agent)
    act(resolver, incident["id"], "start-work").raise_for_status()
    history = agent.get(f"/api/v1/incidents/{incident['id']}/history").json()["events"]
    assert [(e["type"], e["actor"]) for e in history] == [
        ("Incident.Logged", {"id": "siti.rahma", "role": "agent"}),
        ("Incident.Assigned", {"id": "siti.rahma", "role": "agent"}),
        ("Incident.WorkStarted", {"id": "agus.setiawan", "role": "resolver"}),
    ]


# -- logging and reading ------------------------------------------------------------------------


def test_logging_returns_the_incident_with_location_etag_and_priority(api: Api) -> None:
    client = api.client()
    response = client.post(
        "/api/v1/incidents",
        json={
            "title": "OPAC search times out",
            "service": "batupusaka",
            "caller": "budi.santoso",
            "impact": "high",
            "urgency": "high",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/api/v1/incidents/{body['id']}"
    assert response.headers["etag"] == '"1"'
    assert body["ref"] == "INC-000001"
    assert body["priority"] == 1
    assert body["matrix_version"] == 1
    assert body["state"] == "logged"
    assert body["logged_by"] == {"id": "siti.rahma", "role": "agent"}


@pytest.mark.usefixtures("directory")
def test_an_incident_is_found_by_id_or_number(api: Api) -> None:
    client = api.client()
    incident = new_incident(client)
    by_id = client.get(f"/api/v1/incidents/{incident['id']}")
    by_number = client.get(f"/api/v1/incidents/{incident['ref']}")
    by_lower_number = client.get(f"/api/v1/incidents/{incident['ref'].lower()}")
    assert by_id.json() == by_number.json() == by_lower_number.json() == incident


def test_unknown_incidents_are_404_problems(api: Api) -> None:
    client = api.client()
    assert_problem(
        client.get("/api/v1/incidents/00000000-0000-0000-0000-000000000000"),
        404,
        "incident-not-found",
    )
    assert_problem(client.get("/api/v1/incidents/INC-999999"), 404, "incident-not-found")
    assert_problem(act(client, "INC-000404", "start-work"), 404, "incident-not-found")
    # no id nor number at all: refused by the path's pattern, before any lookup
    assert_problem(client.get("/api/v1/incidents/not-a-ref"), 422, "invalid-input")


@pytest.mark.usefixtures("directory")
def test_a_get_with_the_current_etag_is_not_modified(api: Api) -> None:
    client = api.client()
    incident = new_incident(client)
    url = f"/api/v1/incidents/{incident['id']}"
    etag = client.get(url).headers["etag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    act(client, incident["id"], "start-work").raise_for_status()
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 200


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (
            {"service": "catalogue-search", "caller": "b", "impact": "low", "urgency": "low"},
            "title",
        ),
        (
            {
                "title": "t",
                "service": "helpdesk",
                "caller": "c",
                "impact": "huge",
                "urgency": "low",
            },
            "impact",
        ),
        (
            {"title": "", "service": "helpdesk", "caller": "c", "impact": "low", "urgency": "low"},
            "title",
        ),
        (
            {
                "title": "t",
                "service": "helpdesk",
                "caller": "c",
                "impact": "low",
                "urgency": "low",
                "x": 1,
            },
            "x",
        ),
        (
            {
                "title": "t" * 201,
                "service": "helpdesk",
                "caller": "c",
                "impact": "low",
                "urgency": "low",
            },
            "title",
        ),
        # PostgreSQL cannot hold NUL in text: stored, it would stop every view at this event
        (
            {
                "title": "t",
                "service": "helpdesk",
                "caller": "a\u0000b",
                "impact": "low",
                "urgency": "low",
            },
            "caller holds U+0000",
        ),
        (
            {
                "title": "t\u001b[2J",
                "service": "helpdesk",
                "caller": "c",
                "impact": "low",
                "urgency": "low",
            },
            "title holds U+001B",
        ),
    ],
)
def test_invalid_input_is_a_422_problem_and_writes_nothing(
    api: Api, body: dict[str, Any], where: str
) -> None:
    client = api.client()
    head = api.services.desk.recorder.max_notification_id()
    response = client.post("/api/v1/incidents", json=body)
    assert_problem(response, 422, "invalid-input")
    assert where in str(response.json()["errors"])
    assert api.services.desk.recorder.max_notification_id() == head


def test_malformed_json_is_a_422_problem(api: Api) -> None:
    client = api.client()
    response = client.post(
        "/api/v1/incidents", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 422, "invalid-input")


# -- idempotency ------------------------------------------------------------------------------


def test_a_retry_with_the_same_idempotency_key_returns_the_same_incident(api: Api) -> None:
    client = api.client()
    body = {
        "title": "Card printer jammed",
        "service": "membership-cards",
        "caller": "budi",
        "impact": "low",
        "urgency": "medium",
    }
    first = client.post("/api/v1/incidents", json=body, headers={"Idempotency-Key": "req-1"})
    head = api.services.desk.recorder.max_notification_id()
    retry = client.post("/api/v1/incidents", json=body, headers={"Idempotency-Key": "req-1"})
    assert first.status_code == retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert api.services.desk.recorder.max_notification_id() == head
    assert len(client.get("/api/v1/incidents").json()["items"]) == 1


def test_reusing_an_idempotency_key_for_another_request_is_refused(api: Api) -> None:
    client = api.client()
    body = {
        "title": "Wi-Fi down",
        "service": "public-wifi",
        "caller": "budi",
        "impact": "medium",
        "urgency": "medium",
    }
    client.post("/api/v1/incidents", json=body, headers={"Idempotency-Key": "k"}).raise_for_status()
    response = client.post(
        "/api/v1/incidents", json={**body, "title": "Other"}, headers={"Idempotency-Key": "k"}
    )
    assert_problem(response, 422, "idempotency-key-reused")


def test_idempotency_keys_belong_to_the_actor_who_sent_them(api: Api) -> None:
    body = {
        "title": "Gate alarm",
        "service": "kiosks-gates",
        "caller": "budi",
        "impact": "low",
        "urgency": "low",
    }
    one = api.client("siti").post("/api/v1/incidents", json=body, headers={"Idempotency-Key": "k"})
    two = api.client("agus").post("/api/v1/incidents", json=body, headers={"Idempotency-Key": "k"})
    assert one.json()["id"] != two.json()["id"]


@pytest.mark.usefixtures("directory")
def test_actions_honour_idempotency_keys_too(api: Api) -> None:
    client = api.client()
    incident = new_incident(client)
    note = {"text": "Rebooted the kiosk"}
    first = act(client, incident["id"], "add-work-note", note, **{"Idempotency-Key": "n1"})
    retry = act(client, incident["id"], "add-work-note", note, **{"Idempotency-Key": "n1"})
    assert first.status_code == retry.status_code == 200
    assert len(retry.json()["work_notes"]) == 1


# -- concurrency ------------------------------------------------------------------------------


@pytest.mark.usefixtures("directory")
def test_a_stale_if_match_is_412_and_changes_nothing(api: Api) -> None:
    client = api.client()
    incident = new_incident(client)  # version 2: logged and assigned
    act(client, incident["id"], "add-work-note", {"text": "first"}, **{"If-Match": '"2"'})
    stale = act(client, incident["id"], "start-work", **{"If-Match": '"2"'})
    assert_problem(stale, 412, "version-conflict")
    current = client.get(f"/api/v1/incidents/{incident['id']}").json()
    assert current["version"] == 3
    assert current["state"] == "assigned"
    fresh = act(client, incident["id"], "start-work", **{"If-Match": '"3"'})
    assert fresh.status_code == 200
    assert fresh.headers["etag"] == '"4"'


@pytest.mark.usefixtures("directory")
def test_a_malformed_if_match_is_a_422_problem(api: Api) -> None:
    client = api.client()
    incident = new_incident(client)
    assert_problem(
        act(client, incident["id"], "start-work", **{"If-Match": "yesterday"}), 422, "invalid-input"
    )


# -- the lifecycle ----------------------------------------------------------------------------


@pytest.mark.usefixtures("directory")
def test_the_whole_lifecycle_through_http(api: Api, clock: Clock) -> None:
    agent = api.client("siti.rahma", Role.AGENT)
    caller = api.client("budi.santoso", Role.REQUESTER)
    incident = new_incident(caller, assignment_group=None)
    ref = incident["ref"]
    steps: list[tuple[httpx.Client, str, dict[str, Any] | None, str]] = [
        (agent, "assign", {"group": "servicedesk-l1", "agent": "siti.rahma"}, "assigned"),
        (agent, "start-work", None, "in_progress"),
        (
            agent,
            "put-on-hold",
            {"reason": "awaiting_caller", "note": "asked for card no."},
            "on_hold",
        ),
        (agent, "resume", None, "in_progress"),
        (agent, "add-work-note", {"text": "Card reader cable replaced"}, "in_progress"),
        (caller, "add-comment", {"text": "It still beeps"}, "in_progress"),
        (
            agent,
            "reprioritise",
            {"impact": "high", "urgency": "high", "reason": "all kiosks"},
            "in_progress",
        ),
        (
            agent,
            "declare-major",
            {"manager": "dewi.lestari", "reason": "every branch"},
            "in_progress",
        ),
        (
            agent,
            "escalate",
            {"kind": "hierarchical", "reason": "needs budget", "to_manager": "kepala.upt"},
            "in_progress",
        ),
        (
            agent,
            "escalate",
            {"kind": "functional", "reason": "network", "to_group": "network-team"},
            "assigned",
        ),
        (agent, "start-work", None, "in_progress"),
        (agent, "stand-down-major", {"reason": "contained"}, "in_progress"),
        (agent, "resolve", {"code": "fixed", "notes": "Switch port reset"}, "resolved"),
        (caller, "reopen", {"reason": "Broke again"}, "in_progress"),
        (agent, "resolve", {"code": "workaround", "notes": "Bypass cable"}, "resolved"),
        (caller, "confirm", None, "closed"),
    ]
    for client, action, body, state in steps:
        clock.advance(minutes=7)
        response = act(client, ref, action, body)
        assert response.status_code == 200, (action, response.text)
        assert response.json()["state"] == state, action
    final = agent.get(f"/api/v1/incidents/{ref}").json()
    assert final["priority"] == 1
    assert final["escalation_level"] == 1
    assert final["group"] == "network-team"
    assert final["reopen_count"] == 1
    assert final["closure"]["basis"] == "confirmed_by_caller"
    assert final["major_incident"]["stood_down"]["reason"] == "contained"
    history = agent.get(f"/api/v1/incidents/{ref}/history").json()["events"]
    assert [e["version"] for e in history] == list(range(1, len(steps) + 2))
    times = [e["at"] for e in history]
    assert times == sorted(times)
    assert history[-1]["type"] == "Incident.Closed"
    assert history[-1]["actor"] == {"id": "budi.santoso", "role": "requester"}


@pytest.mark.usefixtures("directory")
def test_an_illegal_transition_is_a_409_problem_and_writes_nothing(api: Api) -> None:
    client = api.client()
    incident = new_incident(client)
    response = act(client, incident["id"], "resolve", {"code": "fixed", "notes": "n"})
    assert_problem(response, 409, "illegal-transition")
    assert (
        client.get(f"/api/v1/incidents/{incident['id']}").json()["version"] == incident["version"]
    )


@pytest.mark.usefixtures("directory")
def test_after_the_reopen_window_the_incident_closes_and_cannot_reopen(
    api: Api, clock: Clock
) -> None:
    client = api.client()
    incident = new_incident(client)
    act(client, incident["id"], "start-work").raise_for_status()
    act(client, incident["id"], "resolve", {"code": "fixed", "notes": "ok"}).raise_for_status()
    assert_problem(act(client, incident["id"], "close"), 409, "confirmation-window-open")
    clock.advance(days=api.services.settings.reopen_window.days, seconds=1)
    assert_problem(
        act(client, incident["id"], "reopen", {"reason": "r"}), 409, "reopen-window-closed"
    )
    closed = act(client, incident["id"], "close")
    assert closed.json()["closure"]["basis"] == "window_elapsed"
    assert_problem(
        act(client, incident["id"], "add-work-note", {"text": "late"}), 409, "incident-closed"
    )


def test_a_requester_logs_only_as_their_own_caller(api: Api) -> None:
    requester = api.client("budi.santoso", Role.REQUESTER)
    response = requester.post(
        "/api/v1/incidents",
        json={
            "title": "t",
            "service": "helpdesk",
            "caller": "someone.else",
            "impact": "low",
            "urgency": "low",
        },
    )
    assert_problem(response, 403, "not-the-caller")


def test_the_correlation_id_header_is_recorded(api: Api) -> None:
    client = api.client()
    correlation = "5f0c2f64-2a3c-4c70-9d0b-6d4c6f3f2a11"
    incident = client.post(
        "/api/v1/incidents",
        json={
            "title": "t",
            "service": "helpdesk",
            "caller": "c",
            "impact": "low",
            "urgency": "low",
        },
        headers={"X-Correlation-ID": correlation},
    ).json()
    history = client.get(f"/api/v1/incidents/{incident['id']}/history").json()["events"]
    assert history[0]["correlation_id"] == correlation


@pytest.mark.usefixtures("directory")
@pytest.mark.parametrize(
    ("header", "value"),
    [("X-Correlation-ID", "not-a-uuid"), ("Idempotency-Key", ""), ("Idempotency-Key", "k" * 256)],
)
def test_malformed_write_headers_are_422_problems_and_write_nothing(
    api: Api, header: str, value: str
) -> None:
    client = api.client()
    incident = new_incident(client)
    body = {"title": "t", "service": "helpdesk", "caller": "c", "impact": "low", "urgency": "low"}

    assert_problem(
        client.post("/api/v1/incidents", json=body, headers={header: value}), 422, "invalid-input"
    )
    assert_problem(
        act(client, incident["id"], "start-work", **{header: value}), 422, "invalid-input"
    )

    assert client.get("/api/v1/incidents").json()["items"] == [
        {k: v for k, v in incident.items() if k in SUMMARY_FIELDS}
    ]
    assert client.get(f"/api/v1/incidents/{incident['id']}").json()["version"] == 2


# -- lists and queues -------------------------------------------------------------------------


@pytest.mark.usefixtures("directory")
def test_the_list_filters_and_pages_with_a_cursor(api: Api) -> None:
    client = api.client()
    made = [
        new_incident(client, assignment_group=group, impact=impact, service=service)
        for group, impact, service in [
            ("kiosk-team", "low", "kiosks-gates"),
            ("network-team", "high", "public-wifi"),
            ("kiosk-team", "high", "kiosks-gates"),
            ("slims-team", "medium", "inlislite-slims"),
            ("kiosk-team", "medium", "circulation"),
            ("network-team", "low", "public-wifi"),
            ("kiosk-team", "low", "kiosks-gates"),
        ]
    ]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/incidents", params=params).json()
        seen += [item["ref"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [m["ref"] for m in reversed(made)]
    kiosk = client.get("/api/v1/incidents", params={"group": "kiosk-team"}).json()["items"]
    assert len(kiosk) == 4
    urgent = client.get("/api/v1/incidents", params={"priority": 1}).json()["items"]
    assert {i["ref"] for i in urgent} == {made[1]["ref"], made[2]["ref"]}
    wifi = client.get("/api/v1/incidents", params={"service": "public-wifi"}).json()["items"]
    assert len(wifi) == 2
    act(client, made[0]["id"], "start-work").raise_for_status()
    working = client.get("/api/v1/incidents", params={"status": "in_progress"}).json()["items"]
    assert [i["ref"] for i in working] == [made[0]["ref"]]
    assert_problem(
        client.get("/api/v1/incidents", params={"cursor": "garbage!"}), 422, "invalid-input"
    )
    assert_problem(
        client.get("/api/v1/incidents", params={"status": "asleep"}), 422, "invalid-input"
    )


@pytest.mark.usefixtures("directory")
def test_queues_order_open_work_by_priority_then_age(api: Api, clock: Clock) -> None:
    client = api.client()
    low = new_incident(client, impact="low", urgency="low")
    clock.advance(minutes=1)
    high_old = new_incident(client, impact="high", urgency="medium")
    clock.advance(minutes=1)
    high_new = new_incident(client, impact="high", urgency="medium")
    clock.advance(minutes=1)
    triage = new_incident(client, assignment_group=None)
    done = new_incident(client)
    act(client, done["id"], "start-work").raise_for_status()
    act(client, done["id"], "resolve", {"code": "fixed", "notes": "n"}).raise_for_status()

    listed = client.get("/api/v1/queues").json()["queues"]
    # Triage (no group yet) comes first on every backend, whatever its NULL ordering.
    assert [q["group"] for q in listed] == [None, "kiosk-team"]
    queues = {q["group"]: q for q in listed}
    assert [i["ref"] for i in queues["kiosk-team"]["items"]] == [
        high_old["ref"],
        high_new["ref"],
        low["ref"],
    ]
    assert queues["kiosk-team"]["open"] == 3
    assert [i["ref"] for i in queues[None]["items"]] == [triage["ref"]]

    act(client, done["id"], "reopen", {"reason": "again"}).raise_for_status()
    kiosk = client.get("/api/v1/queues", params={"group": "kiosk-team"}).json()["queues"]
    assert done["ref"] in [i["ref"] for i in kiosk[0]["items"]]


# -- meta ---------------------------------------------------------------------------------------


def test_health_readiness_and_openapi(api: Api) -> None:
    # The OpenAPI document is built on its first request: seconds on a loaded machine.
    anonymous = httpx.Client(base_url=api.base_url, timeout=60)
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    ready = anonymous.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    spec = anonymous.get("/openapi.json").json()
    for action in ("assign", "start-work", "put-on-hold", "resolve", "confirm", "reopen", "cancel"):
        assert f"/api/v1/incidents/{{ref}}/{action}" in spec["paths"]
    writes = {
        "/api/v1/incidents/{ref}/resolve": {
            "ref",
            "If-Match",
            "Idempotency-Key",
            "X-Correlation-ID",
        },
        "/api/v1/incidents": {"Idempotency-Key", "X-Correlation-ID"},
        "/api/v1/priority-matrix/revisions": {"If-Match", "X-Correlation-ID"},
    }
    for path, parameters in writes.items():  # the headers a write reads itself are documented
        operation = spec["paths"][path]["post"]
        assert {p["name"] for p in operation["parameters"]} == parameters
        [requirement] = operation["security"]  # a bearer token of one of the listed roles
        assert "agent" in requirement["HTTPBearer"] or path.endswith("/revisions")
        assert "auditor" not in requirement["HTTPBearer"]
    assert anonymous.get("/docs").status_code == 200
    assert anonymous.get("/problems/version-conflict").json()["code"] == "version-conflict"
