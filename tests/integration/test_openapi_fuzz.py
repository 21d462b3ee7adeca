"""Hostile input, generated from the OpenAPI document itself by schemathesis' engine (what its
command line runs): every operation is called with the schema's examples, with the boundary
values of every bound it states (valid and just invalid), then with random valid and invalid
requests, as an admin, an agent and a requester, against a real server. No answer may be a
server error, every answer must match the schema documented for its status, and every status an
operation answers must be documented. Bounded and derandomized: CI runs the same cases each time.

(schemathesis' pytest integration is not used: it reaches into a pytest internal that pytest 9.2
no longer has.)
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.engine import events

from domain.actors import Actor, Role
from infra.settings import Settings
from service.bootstrap import build
from tests.conftest import Clock
from tests.directory_helpers import hold
from tests.integration.conftest import Api, serving

ADMIN, REQUESTER = "fuzzer-admin", "fuzzer-requester"
INCIDENT = {
    "title": "Kiosk frozen",
    "service": "kiosks-gates",
    "caller": REQUESTER,
    "impact": "low",
    "urgency": "low",
}
CATALOGUE_ITEM = {
    "code": "member-card",
    "title": "Print a membership card",
    "service": "membership-cards",
    "fulfilment_group": "layanan-keanggotaan",
    "steps": ["Print the card and hand it over"],
}
#: Random draws per operation and role, after the schema's examples and its boundary values.
EXAMPLES_PER_OPERATION = 5
CHECKS = [
    "not_a_server_error",
    "response_schema_conformance",
    "content_type_conformance",
    "status_code_conformance",
]


@schemathesis.serializer("application/x-ndjson")
def _ndjson(_ctx: Any, value: Any) -> bytes:
    """Stream batches are documented as text (one JSON document per line): send the text, and
    anything else (an invalid body) as the JSON it is."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return value if isinstance(value, bytes) else json.dumps(value).encode()


#: Each role's run is cut into this many test items, each fuzzing every this-many-th operation
#: (in label order): the same cases in all, in items small enough for xdist to spread.
SHARES = 3


@dataclass(frozen=True)
class Fuzzed:
    """The server being fuzzed, its OpenAPI document, and a token for each role."""

    base_url: str
    openapi: dict[str, Any]
    tokens: dict[str, str]


#: The roles whose callers the fuzzer plays (a token never speaks for the service itself).
FUZZED = (Role.ADMIN, Role.AGENT, Role.REQUESTER)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    """One server for every role, seeded (no rate limit: the fuzzer is one very busy caller)."""
    settings = Settings(
        data_dir=Path(tmp_path_factory.mktemp("fuzz")), read_your_writes_timeout=10, rate_limit=""
    )
    services = build(settings, clock=Clock())
    services.start()
    try:
        hold(services)  # the groups and people the seed and the examples name
        with serving(services) as served:
            seed(served)
            tokens = {
                str(role): services.tokens.issue(
                    Actor(id=f"fuzzer-{role}", role=role), at=services.clock(), issued_by="tests"
                ).token
                for role in FUZZED
            }
            openapi = httpx.get(f"{served.base_url}/openapi.json", timeout=60).json()
            yield Fuzzed(served.base_url, openapi, tokens)
    finally:
        services.close()


def seed(api: Api) -> None:
    """Number 1 of each kind, which the schema's examples name (INC-000001...), so that the
    actions reach a record and its rules, not only "no such record". The requester is the
    incident's caller and the request's requester: it reaches them too."""
    with api.client(ADMIN, Role.ADMIN) as admin:
        for route, body in (
            ("/api/v1/incidents", {**INCIDENT, "caller": REQUESTER}),
            ("/api/v1/changes", {"kind": "normal", "title": "Patch the OPAC server"}),
            ("/api/v1/problems", {"title": "Kiosks freeze", "incidents": ["INC-000001"]}),
            ("/api/v1/catalogue-items", CATALOGUE_ITEM),
            (
                "/api/v1/service-requests",
                {"catalogue_item": "member-card", "title": "Reprint", "requester": REQUESTER},
            ),
        ):
            answer = admin.post(route, json=body)
            assert answer.status_code == 201, answer.text


def failures_of(schema: Any) -> tuple[int, set[str], dict[str, set[str]]]:
    """Run the engine over the schema: how many cases it sent, the operations it ran, and what
    failed, per operation."""
    cases = 0
    ran: set[str] = set()
    failed: dict[str, set[str]] = defaultdict(set)
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            cases += len(event.recorder.cases)
            ran.add(event.recorder.label)
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        failed[event.recorder.label].add(f"{failure.title}: {failure.message}")
        elif isinstance(event, events.NonFatalError):
            failed[event.label].add(f"error: {event.value}")
        elif isinstance(event, events.FatalError):
            failed["(engine)"].add(f"fatal: {event.exception}")
    return cases, ran, failed


def share_of(labels: list[str], share: int) -> list[str]:
    """The operations one item fuzzes: every SHARES-th label, from the `share`-th on."""
    return sorted(labels)[share::SHARES]


def test_the_shares_cover_every_operation_once() -> None:
    labels = [f"GET /api/v1/things/{n}" for n in range(95)]
    shares = [share_of(labels, share) for share in range(SHARES)]
    assert sorted(label for found in shares for label in found) == sorted(labels)
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


@pytest.mark.slow
@pytest.mark.parametrize("share", range(SHARES), ids=lambda share: f"share{share}")
@pytest.mark.parametrize("role", FUZZED, ids=str)
def test_no_input_makes_a_server_error_and_every_answer_is_documented(
    fuzzed: Fuzzed, role: Role, share: int
) -> None:
    whole = schemathesis.openapi.from_dict(fuzzed.openapi)
    labels = [result.ok().label for result in whole.get_all_operations()]
    assert len(whole) >= 90  # the whole API, not a part that happened to load
    ours = share_of(labels, share)
    schema = whole.include(name=ours)
    schema.config.update(
        base_url=fuzzed.base_url, headers={"Authorization": f"Bearer {fuzzed.tokens[role]}"}
    )
    schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])
    schema.config.generation.update(
        modes=["positive", "negative"], max_examples=EXAMPLES_PER_OPERATION, deterministic=True
    )
    schema.config.checks.update(included_check_names=CHECKS)
    cases, ran, failed = failures_of(schema)
    assert ran == set(ours)  # this share's operations, every one of them, and no other
    assert cases >= 1000 // SHARES  # at least 1000 for the role's shares together
    report = [f"{label}: {message}" for label, found in failed.items() for message in sorted(found)]
    assert not failed, f"{len(failed)} operations failed:\n" + "\n".join(report)
