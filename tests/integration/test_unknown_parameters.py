"""A query parameter a route does not declare is refused with 422 naming it, on every route:
ignored, a misspelt filter answered with everything and the caller could not tell."""

from __future__ import annotations

import re
from typing import Any
from uuid import uuid4

import httpx
import pytest

from domain.actors import Role
from tests.integration.conftest import Api
from tests.integration.test_api import new_incident

PROBLEM = "application/problem+json"


def get_operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every GET route the OpenAPI document has, with its path parameters filled in."""
    paths = document["paths"]
    return [
        (re.sub(r"\{[^}]+\}", str(uuid4()), path), operation["get"])
        for path, operation in sorted(paths.items())
        if "get" in operation
    ]


def refused_names(response: httpx.Response) -> list[str]:
    """The query parameters a 422 refuses as unknown."""
    if response.status_code != 422:
        return []
    return [
        e["loc"][1]
        for e in response.json().get("errors", [])
        if e["type"] == "extra_forbidden" and e["loc"][0] == "query"
    ]


def test_every_get_route_refuses_a_query_parameter_it_does_not_declare(
    api: Api, openapi_document: dict[str, Any]
) -> None:
    with api.client("admin", Role.ADMIN, all_organisations=True) as client:
        operations = get_operations(openapi_document)
        answers = {path: client.get(path, params={"no_such_param": "1"}) for path, _ in operations}

    assert len(operations) > 40  # every resource, not a few
    for path, response in answers.items():
        assert response.status_code == 422, (path, response.status_code, response.text)
        assert response.headers["content-type"] == PROBLEM, path
        assert refused_names(response) == ["no_such_param"], path


def test_every_declared_query_parameter_is_still_taken(
    api: Api, openapi_document: dict[str, Any]
) -> None:
    with api.client("admin", Role.ADMIN, all_organisations=True) as client:
        for path, operation in get_operations(openapi_document):
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "query":
                    continue
                name = parameter["name"]
                response = client.get(path, params={name: example(parameter["schema"])})
                # the value may be refused, or the record missing; the name never is
                assert name not in refused_names(response), (path, name, response.text)
                assert response.status_code < 500, (path, name, response.text)


def example(schema: dict[str, Any]) -> str:
    """A value of the parameter's type (not necessarily one the route accepts)."""
    for option in schema.get("anyOf", [schema]):
        if option.get("format") == "date-time":
            return "2026-03-02T08:30:00Z"
        if option.get("type") == "integer":
            return str(option.get("minimum", 1))
        if option.get("type") in ("string", "array"):
            return "kiosk"
    return "1"


@pytest.mark.usefixtures("directory")
def test_a_misspelt_filter_is_refused_and_the_right_one_filters(api: Api) -> None:
    with api.client() as client:
        new_incident(client, assignment_group="kiosk-team")
        new_incident(client, assignment_group="network-team")
        misspelt = client.get("/api/v1/incidents", params={"grup": "kiosk-team"})
        search = client.get("/api/v1/incidents", params={"search": "kiosk"})
        searched = client.get("/api/v1/incidents", params={"q": "kiosk"})  # q is the one
        filtered = client.get("/api/v1/incidents", params={"group": "kiosk-team", "limit": 10})

    assert misspelt.status_code == 422
    assert refused_names(misspelt) == ["grup"]
    assert "group" in misspelt.json()["errors"][0]["msg"]  # it says what the route takes
    assert refused_names(search) == ["search"]
    assert searched.status_code == 200
    assert filtered.status_code == 200
    assert [i["group"] for i in filtered.json()["items"]] == ["kiosk-team"]


@pytest.mark.parametrize("path", ["/api/v1/incidents", "/healthz", "/readyz", "/metrics"])
def test_routes_outside_the_resources_refuse_unknown_parameters_too(api: Api, path: str) -> None:
    with api.client() as client:
        response = client.get(path, params={"verbose": "1"})
    assert refused_names(response) == ["verbose"]


def test_a_command_with_an_unknown_query_parameter_is_refused_and_records_nothing(
    api: Api,
) -> None:
    with api.client() as client:  # issuing its token is an event (docs/security.md)
        head = api.services.desk.recorder.max_notification_id()
        response = client.post(
            "/api/v1/incidents",
            params={"dry_run": "true"},
            json={
                "title": "Self-check kiosk 3 at Serang branch is offline",
                "service": "kiosks-gates",
                "caller": "budi.santoso",
                "impact": "medium",
                "urgency": "high",
            },
        )
    assert refused_names(response) == ["dry_run"]
    assert api.services.desk.recorder.max_notification_id() == head
