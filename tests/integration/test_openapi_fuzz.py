"""Hostile input, generated from the OpenAPI document itself (schemathesis): every operation is
called with valid and invalid requests of every shape its schema allows, by a caller whose role
may call everything, against a real server. No answer may be a server error, and every answer
must match the schema documented for its status. Bounded and derandomized, so CI runs the same
cases every time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from domain.actors import Actor, Role
from infra.bootstrap import Services
from tests.integration.conftest import Api, serving

EXAMPLES_PER_OPERATION = 30


@schemathesis.serializer("application/x-ndjson")
def _ndjson(_ctx: Any, value: Any) -> bytes:
    """Stream batches are documented as text (one JSON document per line): send the text."""
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else bytes(value)


CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def api(services: Services) -> Iterator[Api]:
    with serving(services) as served:
        yield served


def test_no_input_makes_a_server_error_and_every_answer_matches_its_schema(api: Api) -> None:
    token = api.services.tokens.issue(
        Actor(id="fuzzer", role=Role.ADMIN), at=api.services.clock(), issued_by="tests"
    ).token
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(f"{api.base_url}/openapi.json")
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            call()
        except (Exception, BaseExceptionGroup) as failure:  # a group of what failed
            failures[operation.label] = str(failure)[:2000]
    assert len(operations) >= 20
    assert failures == {}
