"""Every input has a bound, stated in the OpenAPI document and held by the server: out of bounds
is a 4xx problem, never a 500. One test per root cause the outside attack found."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.actors import Role
from domain.record_numbers import RecordKind, parse_number
from domain.records import parse_incident_number
from tests.integration.conftest import Api, free_port

PROBLEM = "application/problem+json"
HUGE = "9" * 20  # past SQLite's and PostgreSQL's 64-bit integers


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def admin(api: Api) -> Iterator[httpx.Client]:
    with api.client("root", Role.ADMIN, all_organisations=True) as client:
        yield client


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def log_incident(client: httpx.Client) -> dict[str, Any]:
    response = client.post(
        "/api/v1/incidents",
        json={
            "title": "Kiosk frozen",
            "service": "kiosks-gates",
            "caller": "budi.santoso",
            "impact": "low",
            "urgency": "low",
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# -- record references ----------------------------------------------------------------------------

REF_ROUTES = [
    ("GET", "/api/v1/incidents/INC-{n}"),
    ("GET", "/api/v1/incidents/INC-{n}/history"),
    ("GET", "/api/v1/incidents/INC-{n}/sla"),
    ("POST", "/api/v1/incidents/INC-{n}/start-work"),
    ("GET", "/api/v1/changes/CHG-{n}"),
    ("GET", "/api/v1/changes/CHG-{n}/history"),
    ("POST", "/api/v1/changes/CHG-{n}/close"),
    ("GET", "/api/v1/service-requests/REQ-{n}"),
    ("GET", "/api/v1/service-requests/REQ-{n}/history"),
    ("GET", "/api/v1/service-requests/REQ-{n}/sla"),
    ("POST", "/api/v1/service-requests/REQ-{n}/close"),
    ("GET", "/api/v1/problems/PRB-{n}"),
    ("GET", "/api/v1/problems/PRB-{n}/history"),
    ("POST", "/api/v1/problems/PRB-{n}/close"),
]


@pytest.mark.parametrize(("method", "route"), REF_ROUTES)
def test_a_record_number_past_the_store_s_integers_is_refused_on_every_record_route(
    admin: httpx.Client, method: str, route: str
) -> None:
    assert_problem(admin.request(method, route.format(n=HUGE)), 422)


def test_every_record_reference_is_bounded_in_the_openapi(openapi_document: dict[str, Any]) -> None:
    spec = openapi_document
    refs = [
        (path, parameter["schema"])
        for path, operations in spec["paths"].items()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path" and parameter["schema"].get("type") == "string"
    ]
    assert len(refs) > 40
    unbounded = [p for p, schema in refs if "maxLength" not in schema and "format" not in schema]
    assert unbounded == []
    assert all("pattern" in schema for path, schema in refs if path.endswith("{ref}"))


@given(
    st.one_of(st.text(max_size=40), st.integers(min_value=0, max_value=10**30).map(str)),
    st.sampled_from(["INC-", "inc-", "CHG-", "REQ-", "PRB-", ""]),
)
def test_a_number_is_parsed_only_when_it_fits_the_store(text: str, prefix: str) -> None:
    for parsed in (
        parse_incident_number(prefix + text),
        *(parse_number(kind, prefix + text) for kind in RecordKind),
    ):
        assert parsed is None or 1 <= parsed < 2**63


def test_unicode_digits_and_huge_numbers_are_not_record_numbers() -> None:
    assert parse_incident_number("INC-²") is None  # str.isdigit() says yes, int() says no
    assert parse_incident_number("INC-" + HUGE) is None
    assert parse_number(RecordKind.CHANGE, "CHG-" + HUGE) is None
    assert parse_incident_number("INC-000042") == 42


def test_an_audit_filter_on_a_huge_incident_number_is_refused(api: Api) -> None:
    with api.client("ina.auditor", Role.AUDITOR) as auditor:
        answer = auditor.get("/api/v1/audit/events", params={"aggregate": f"INC-{HUGE}"})
    assert answer.status_code in {404, 422}, answer.text
    assert answer.headers["content-type"] == PROBLEM


# -- versions, cursors, seeds ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "route", ["/api/v1/sla/policy", "/api/v1/priority-matrix", "/api/v1/sla/calendars/library"]
)
def test_a_version_past_the_store_s_integers_is_refused(admin: httpx.Client, route: str) -> None:
    assert_problem(admin.get(route, params={"version": 2**63}), 422)


def test_a_cursor_that_encodes_a_huge_number_is_refused(admin: httpx.Client) -> None:
    cursor = base64.urlsafe_b64encode(f"n:{HUGE}".encode()).decode().rstrip("=")
    assert_problem(admin.get("/api/v1/incidents", params={"cursor": cursor}), 422)
    sneaky = base64.urlsafe_b64encode("n:²".encode()).decode().rstrip("=")
    assert_problem(admin.get("/api/v1/incidents", params={"cursor": sneaky}), 422)


def test_an_audit_sample_seed_past_64_bits_is_refused(api: Api) -> None:
    with api.client("ina.auditor", Role.AUDITOR) as auditor:
        assert_problem(auditor.get("/api/v1/audit/sample", params={"seed": 2**64}), 422)
        assert auditor.get("/api/v1/audit/sample", params={"seed": 7}).status_code == 200


# -- If-Match -------------------------------------------------------------------------------------


def test_an_if_match_longer_than_any_version_is_refused(admin: httpx.Client) -> None:
    incident = log_incident(admin)
    long_tag = '"' + "1" * 5000 + '"'
    answer = admin.post(
        f"/api/v1/incidents/{incident['id']}/add-work-note",
        json={"text": "x"},
        headers={"If-Match": long_tag},
    )
    assert_problem(answer, 422)


def test_a_weak_etag_never_matches_if_match(admin: httpx.Client) -> None:
    incident = log_incident(admin)
    version = incident["version"]
    weak = admin.post(
        f"/api/v1/incidents/{incident['id']}/add-work-note",
        json={"text": "x"},
        headers={"If-Match": f'W/"{version}"'},
    )
    assert_problem(weak, 412)
    strong = admin.post(
        f"/api/v1/incidents/{incident['id']}/add-work-note",
        json={"text": "x"},
        headers={"If-Match": f'"{version}"'},
    )
    assert strong.status_code == 200, strong.text


def test_if_match_is_bounded_in_the_openapi(openapi_document: dict[str, Any]) -> None:
    spec = openapi_document
    schemas = [
        parameter["schema"]
        for operations in spec["paths"].values()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter["name"] == "If-Match"
    ]
    assert schemas
    assert all(schema.get("maxLength") for schema in schemas)


# -- timestamps -----------------------------------------------------------------------------------


def test_a_moment_outside_the_supported_range_is_refused(admin: httpx.Client) -> None:
    early = {"from": "0001-01-01T00:00:00+01:00", "to": "2026-03-02T00:00:00Z"}
    assert_problem(admin.get("/api/v1/changes/calendar", params=early), 422)
    late = {"from": "2026-03-02T00:00:00Z", "to": "9999-12-31T23:59:59-01:00"}
    assert_problem(admin.get("/api/v1/changes/calendar", params=late), 422)
    fine = {"from": "2026-03-02T00:00:00Z", "to": "2026-03-09T00:00:00+07:00"}
    assert admin.get("/api/v1/changes/calendar", params=fine).status_code == 200


@pytest.mark.parametrize(
    ("route", "name"),
    [
        ("/api/v1/audit/export", "to"),
        ("/api/v1/audit/events", "from"),
        ("/api/v1/incidents/INC-000001", "as_of"),
        ("/api/v1/incidents/INC-000001/sla", "as_of"),
        ("/api/v1/changes/calendar", "from"),
    ],
)
@pytest.mark.parametrize("value", ["0.5", "1700000000", "2026-03-02"])
def test_a_timestamp_is_an_iso_8601_string_with_a_zone_not_a_number(
    admin: httpx.Client, route: str, name: str, value: str
) -> None:
    log_incident(admin)
    params = {"from": "2026-03-02T00:00:00Z", "to": "2026-03-09T00:00:00Z", name: value}
    assert_problem(admin.get(route, params=params), 422)


def test_a_timestamp_in_a_body_is_a_string_too(admin: httpx.Client) -> None:
    blackout = {
        "code": "year-end",
        "title": "Year end",
        "start": 1798675200,
        "end": "2027-01-02T00:00:00+07:00",
        "reason": "stock-taking",
    }
    assert_problem(admin.post("/api/v1/changes/blackouts", json=blackout), 422)


# -- the protocol ---------------------------------------------------------------------------------


def test_405_names_the_allowed_methods(admin: httpx.Client) -> None:
    answer = admin.delete("/api/v1/incidents")
    assert_problem(answer, 405)
    assert {m.strip() for m in answer.headers["allow"].split(",")} == {"GET", "POST"}


@pytest.mark.usefixtures("directory")
def test_an_action_body_is_documented_required_exactly_when_the_command_needs_one(
    admin: httpx.Client, openapi_document: dict[str, Any]
) -> None:
    spec = openapi_document
    incident = log_incident(admin)
    note = spec["paths"]["/api/v1/incidents/{ref}/add-work-note"]["post"]["requestBody"]
    assert note.get("required") is True
    start = spec["paths"]["/api/v1/incidents/{ref}/start-work"]["post"]["requestBody"]
    assert not start.get("required", False)
    # and the server agrees: no body is the empty command where that is valid
    assign = {"group": "kiosk-team"}
    assert admin.post(f"/api/v1/incidents/{incident['id']}/assign", json=assign).is_success
    assert admin.post(f"/api/v1/incidents/{incident['id']}/start-work").status_code == 200
    assert_problem(admin.post(f"/api/v1/incidents/{incident['id']}/add-work-note"), 422)


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1,1", b"99999999999999999999999999"])
def test_a_malformed_content_length_is_a_problem_not_plain_text(api: Api, length: bytes) -> None:
    host, port = api.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(
            b"POST /api/v1/incidents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + length + b"\r\n\r\n{}"
        )
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer
    assert b"content-type: application/problem+json" in head.lower(), answer
    assert b'"status":400' in body


# -- settings -------------------------------------------------------------------------------------


def test_serve_starts_with_a_reopen_window_in_seconds_as_the_readme_says(tmp_path: Path) -> None:
    port = free_port()
    environment = {**os.environ, "ITSM_REOPEN_WINDOW": "20", "ITSM_SLA_WATCH_INTERVAL": "0"}
    command = [sys.executable, "-m", "cli.main", "serve", "--data-dir", str(tmp_path)]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
