"""Every answer the lifecycle tests receive matches the schema its operation declares in
/openapi.json: the fields a generated client reads are the fields sent, no more (the response
models refuse extra fields) and no fewer. Routes that build their answer by hand
(api/record_answers.py `json_response`) are held to their declared model this way."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from service.bootstrap import Services
from tests.conftest import Clock
from tests.integration import test_api, test_changes_api, test_requests_problems_api
from tests.integration.conftest import Api


class Contract:
    """The operations of an OpenAPI document, checking answers against their schemas."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.components = spec["components"]
        self.operations = [
            (method.upper(), re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), op)
            for path, item in spec["paths"].items()
            for method, op in item.items()
        ]
        self.checked: list[str] = []
        self.mismatches: list[str] = []

    def check(self, response: httpx.Response) -> None:
        """An httpx response hook: the answer's JSON body against its declared schema."""
        media_type = response.headers.get("content-type", "").split(";")[0]
        if not media_type.endswith("json"):
            return
        response.read()
        request = response.request
        where = f"{request.method} {request.url.path} {response.status_code}"
        operation = self._operation(request.method, request.url.path)
        if operation is None:
            return  # not an operation of the document (a 404 for a path it does not have)
        declared = operation["responses"].get(str(response.status_code))
        content = (declared or {}).get("content", {})
        schema = next(iter(content.values()), {}).get("schema") if content else None
        if not schema:  # none, or FastAPI's {} for a route without a response model
            self.mismatches.append(f"{where}: no schema declared for this answer")
            return
        validator = Draft202012Validator({**schema, "components": self.components})
        errors = [
            f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(response.json())
        ]
        self.checked.append(where)
        self.mismatches += [f"{where}: {error[:300]}" for error in errors]

    def _operation(self, method: str, path: str) -> dict[str, Any] | None:
        for verb, pattern, operation in self.operations:
            if verb == method and pattern.match(path):
                return operation
        return None


@pytest.fixture
def contract(
    api: Api, openapi_document: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Contract]:
    """Every client the test makes checks each answer against /openapi.json; the test fails
    on the first answer that does not match."""
    checking = Contract(openapi_document)
    served = type(api)  # the class pytest loaded the conftest as
    made: Callable[..., httpx.Client] = served.client

    def client(self: Api, *args: Any, **kwargs: Any) -> httpx.Client:
        made_client = made(self, *args, **kwargs)
        made_client.event_hooks["response"].append(checking.check)
        return made_client

    monkeypatch.setattr(served, "client", client)
    yield checking
    assert checking.mismatches == []
    assert checking.checked


@pytest.mark.usefixtures("directory")
def test_every_answer_of_the_incident_lifecycle_matches_its_schema(
    api: Api, clock: Clock, contract: Contract
) -> None:
    test_api.test_the_whole_lifecycle_through_http(api, clock)


@pytest.mark.usefixtures("directory")
def test_every_answer_of_an_idempotent_retry_matches_its_schema(
    api: Api, contract: Contract
) -> None:
    test_api.test_actions_honour_idempotency_keys_too(api)


def test_every_answer_of_the_change_lifecycle_matches_its_schema(
    api: Api, services: Services, contract: Contract
) -> None:
    test_changes_api.test_configuration_items_changes_and_the_calendar(api, services)


def test_every_answer_of_the_request_lifecycle_matches_its_schema(
    api: Api, services: Services, contract: Contract
) -> None:
    test_requests_problems_api.test_a_service_request_from_the_catalogue_to_closure(api, services)


def test_every_answer_of_the_problem_lifecycle_matches_its_schema(
    api: Api, services: Services, clock: Clock, contract: Contract
) -> None:
    test_requests_problems_api.test_a_problem_from_incidents_to_a_known_error_and_recurrence(
        api, services, clock
    )


def test_every_answer_of_a_failed_change_matches_its_schema(
    api: Api, services: Services, contract: Contract
) -> None:
    test_requests_problems_api.test_a_failed_change_opens_a_problem_linked_both_ways(api, services)
