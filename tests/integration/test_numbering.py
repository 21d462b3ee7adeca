"""Record numbers are given only to what is stored, so they run 1..n with no gaps.

A refused create (a broken rule, out of the caller's reach, a reused idempotency key) takes no
number, on the single-command path, inside a group-committed batch where other commands succeed,
in a batch the store refuses as a whole, and across processes; so do the other kinds' numbers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.outcome import Outcome
from application.pipeline import Submission
from domain import commands as c
from domain.actors import Actor, Identity, Role
from domain.context import Context
from domain.errors import DomainError
from domain.incident import Logged
from domain.record_numbers import RecordKind, number_log
from domain.records import INCIDENT_NUMBERS, NumberAllocated
from service.bootstrap import Services, build
from tests.conftest import CALLER, T0, context
from tests.integration.conftest import Api
from tests.integration.test_organisations import KINDS, LEBAK, SERANG, seeded

__all__ = ["seeded"]  # a fixture, used by name

SERANG_AGENT = Actor(id="rudi.serang", role=Role.AGENT)


def log_command(n: int = 1, **overrides: Any) -> c.LogIncident:
    fields: dict[str, Any] = {
        "title": f"Gate {n} at the Serang branch does not open",
        "service": "kiosks-gates",
        "caller": CALLER.id,
        "impact": "medium",
        "urgency": "medium",
        **overrides,
    }
    return c.LogIncident(**fields)


def in_serang(actor: Actor = SERANG_AGENT) -> Context:
    return Context(actor, T0, uuid4(), scope=Identity(actor, organisation=SERANG))


#: Creates the desk accepts, and creates it refuses for each reason a create can be refused.
SUBMISSIONS: dict[str, Callable[[int], Submission]] = {
    "accepted": lambda n: Submission(context(), log_command(n)),
    "accepted in reach": lambda n: Submission(in_serang(), log_command(n)),
    "accepted with a key": lambda n: Submission(context(), log_command(n), idempotency_key=f"k{n}"),
    "not the caller": lambda n: Submission(context(CALLER), log_command(n, caller="someone")),
    "outside the organisation": lambda n: Submission(
        in_serang(), log_command(n, organisation=LEBAK)
    ),
    "key reused": lambda n: Submission(
        context(), log_command(n, title="another request"), idempotency_key=KEPT
    ),
}
KEPT = "kept"  # a key recorded before each example (`keep_the_key`)
REFUSED = {"not the caller", "outside the organisation", "key reused"}


def keep_the_key(services: Services) -> None:
    """Record the key that "key reused" reuses (a replay, once it is recorded)."""
    services.desk.log_incident(context(), log_command(0), idempotency_key=KEPT)


def stored_numbers(services: Services) -> list[int]:
    return [a.originator_version for a in services.desk.events.get(INCIDENT_NUMBERS)]


def assert_gap_free(services: Services) -> None:
    """The number log runs 1..n, and each number names a stored incident logged with it."""
    allocations = list(services.desk.events.get(INCIDENT_NUMBERS))
    assert [a.originator_version for a in allocations] == list(range(1, len(allocations) + 1))
    for allocation in allocations:
        assert isinstance(allocation, NumberAllocated)
        logged = services.desk.history(allocation.record_id)[0]
        assert isinstance(logged, Logged)
        assert logged.number == allocation.originator_version


def test_a_refused_log_in_a_batch_takes_no_number(services: Services) -> None:
    results = services.desk.execute_batch(
        [
            SUBMISSIONS["accepted"](1),
            SUBMISSIONS["not the caller"](2),
            SUBMISSIONS["outside the organisation"](3),
            SUBMISSIONS["accepted in reach"](4),
        ]
    )

    assert all(isinstance(r, DomainError) for r in results[1:3])
    logged = [r.record_id for r in results if isinstance(r, Outcome)]
    assert [services.desk.incident(i).number for i in logged] == [1, 2]
    assert stored_numbers(services) == [1, 2]
    single = services.desk.log_incident(context(), log_command(5))
    assert services.desk.incident(single.record_id).number == 3


def test_a_refused_single_log_takes_no_number(services: Services) -> None:
    desk = services.desk
    desk.log_incident(context(), log_command(1))
    with pytest.raises(DomainError):
        desk.log_incident(context(CALLER), log_command(2, caller="someone"))
    with pytest.raises(DomainError):
        desk.log_incident(in_serang(), log_command(3, organisation=LEBAK))

    second = desk.log_incident(context(), log_command(4))

    assert desk.incident(second.record_id).number == 2
    assert_gap_free(services)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    batches=st.lists(
        st.lists(st.sampled_from(sorted(SUBMISSIONS)), min_size=1, max_size=6),
        min_size=1,
        max_size=4,
    )
)
def test_any_mix_of_accepted_and_refused_creates_numbers_1_to_n_without_gaps(
    services: Services, batches: list[list[str]]
) -> None:
    keep_the_key(services)
    before = len(stored_numbers(services))
    accepted = 0
    for batch in batches:
        tag = uuid4().int % 10**9  # keys and titles of this example only
        submissions = [SUBMISSIONS[kind](tag + i) for i, kind in enumerate(batch)]
        if len(batch) == 1:  # the single-command path
            only = submissions[0]
            try:
                services.desk.log_incident(
                    only.ctx,
                    only.command,  # type: ignore[arg-type]
                    idempotency_key=only.idempotency_key,
                )
                results: list[Outcome | Exception] = [Outcome(uuid4(), 1, None)]
            except DomainError as error:
                results = [error]
        else:
            results = services.desk.execute_batch(submissions)
        for kind, result in zip(batch, results, strict=True):
            if kind in REFUSED:
                assert isinstance(result, DomainError), (kind, result)
            else:
                assert isinstance(result, Outcome), (kind, result)
                accepted += 1

    assert len(stored_numbers(services)) == before + accepted
    assert_gap_free(services)


@pytest.mark.usefixtures("directory")
def test_a_batch_the_store_refuses_as_a_whole_leaves_no_gap(services: Services) -> None:
    incident = services.desk.log_incident(context(), log_command(assignment_group="kiosk-team"))
    other = build(services.settings, clock=services.clock)  # another process, in effect
    try:
        other.desk.handle(context(), incident.record_id, c.StartWork())  # unseen by the cache
    finally:
        other.close()

    results = services.desk.execute_batch(
        [
            SUBMISSIONS["accepted"](2),
            Submission(context(), c.StartWork(), ref=str(incident.record_id)),  # stale
            SUBMISSIONS["accepted"](3),
        ]
    )

    assert isinstance(results[1], DomainError)
    assert stored_numbers(services) == [1, 2, 3]
    assert_gap_free(services)


def test_processes_logging_at_once_with_refusals_leave_no_gaps(services: Services) -> None:
    keep_the_key(services)
    other = build(services.settings, clock=services.clock)  # another process, in effect
    desks = [services.desk, other.desk]
    kinds = sorted(SUBMISSIONS)

    def work(t: int) -> None:
        desk = desks[t % 2]
        for n in range(6):
            tag = t * 100 + n * 10
            desk.execute_batch(
                [SUBMISSIONS[kinds[(t + n + i) % len(kinds)]](tag + i) for i in range(3)]
            )
            with contextlib.suppress(DomainError):  # some are refused: they take no number
                desk.execute(SUBMISSIONS[kinds[(t + n) % len(kinds)]](t * 100 + n * 10 + 9))

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(work, range(4)))
    finally:
        other.close()

    assert len(stored_numbers(services)) > 0
    assert_gap_free(services)


# -- through the API, and the other kinds of record ------------------------------------------


def test_refused_incident_logs_over_http_take_no_number(api: Api) -> None:
    agent = api.client("rudi.serang", Role.AGENT, organisation=SERANG)
    requester = api.client(CALLER.id, Role.REQUESTER)
    body = {
        "title": "Kiosk 3 frozen",
        "service": "kiosks-gates",
        "caller": CALLER.id,
        "impact": "low",
        "urgency": "low",
    }
    first = agent.post("/api/v1/incidents", json=body)
    assert first.json()["number"] == 1
    for refused in (
        agent.post("/api/v1/incidents", json={**body, "organisation": LEBAK}),
        requester.post("/api/v1/incidents", json={**body, "caller": "someone.else"}),
        agent.post("/api/v1/incidents", json={**body, "organisation": "no-such-org"}),
    ):
        assert refused.status_code in (403, 422), refused.text

    second = agent.post("/api/v1/incidents", json=body)

    assert second.status_code == 201, second.text
    assert second.json()["number"] == 2
    assert_gap_free(api.services)


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "incident"])
def test_refused_creates_of_other_kinds_take_no_number(
    api: Api, seeded: Services, kind: str
) -> None:
    k = KINDS[kind]
    serang = api.client("rudi.serang", Role.AGENT, organisation=SERANG)
    prefix = {"service request": "REQ", "problem": "PRB", "change": "CHG"}[kind]
    assert serang.post(k.path, json=k.body).json()["ref"] == f"{prefix}-000001"
    refused = serang.post(k.path, json={**k.body, "organisation": LEBAK})
    assert refused.status_code == 403, refused.text

    second = serang.post(k.path, json=k.body)

    assert second.status_code == 201, second.text
    assert second.json()["ref"] == f"{prefix}-000002"
    log = list(seeded.desk.events.get(number_log(RecordKind(prefix))))
    assert [a.originator_version for a in log] == [1, 2]
