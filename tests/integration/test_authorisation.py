"""Every route of the OpenAPI document, called with a token of every role, answers as the
published table (docs/authorisation.md) says: 403 `forbidden` where the role is not listed,
anything but 401/403 where it is, and no token needed on the public routes. A route added
without a decision, or a decision changed without the table, fails here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from api.authorisation import ROLES, Undecided, decisions, parse_table
from domain.actors import Actor, Role
from service.bootstrap import Services
from tests.integration.conftest import Api

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def backend() -> str:
    return "sqlite"  # who may call what does not depend on the backend


@pytest.fixture
def client(api: Api) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.base_url, timeout=30) as http:
        yield http


def published() -> dict[tuple[str, str], frozenset[Role] | None]:
    return parse_table((ROOT / "docs" / "authorisation.md").read_text())


def concrete(path: str) -> str:
    """A path with its parameters filled in: ids that name no record."""
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid4()), path)


def test_the_published_table_is_the_routes_own_decisions(
    openapi_document: dict[str, Any],
) -> None:
    in_code = {(d.method, d.path): d.roles for d in decisions(openapi_document)}
    table = published()
    assert sorted(set(in_code) - set(table)) == [], "routes missing from docs/authorisation.md"
    assert sorted(set(table) - set(in_code)) == [], "rows for routes that no longer exist"
    assert in_code == table, "regenerate: itsm authorisation table --write docs/authorisation.md"


def test_every_route_answers_every_role_as_the_table_says(
    client: httpx.Client, services: Services
) -> None:
    tokens = {
        role: services.tokens.issue(
            Actor(id=f"someone.{role.value}", role=role), at=services.clock(), issued_by="tests"
        ).token
        for role in ROLES
    }
    checked = 0
    for (method, path), allowed in published().items():
        url = concrete(path)
        if allowed is None:  # public: no token needed
            answer = client.request(method, url)
            assert answer.status_code not in (401, 403), f"{method} {path} is public"
            continue
        anonymous = client.request(method, url)
        assert anonymous.status_code == 401, f"{method} {path} without a token"
        for role, token in tokens.items():
            answer = client.request(
                method, url, headers={"Authorization": f"Bearer {token}"}, json={}
            )
            if role in allowed:
                assert answer.status_code not in (401, 403), (method, path, role, answer.text)
            else:
                assert answer.status_code == 403, (method, path, role, answer.text)
                assert answer.json()["code"] == "forbidden"
            checked += 1
    assert checked >= 20 * len(ROLES)


def test_a_route_without_a_decision_is_caught(openapi_document: dict[str, Any]) -> None:
    spec = openapi_document  # the test's own copy
    spec["paths"]["/api/v1/forgotten"] = {"get": {"summary": "someone forgot", "responses": {}}}
    with pytest.raises(Undecided, match="GET /api/v1/forgotten"):
        decisions(spec)
