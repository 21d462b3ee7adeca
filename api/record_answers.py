"""What the record resources (configuration items, changes, ...) share: finding a numbered record's
row, one POST route per action, answering a write with the view a following GET returns
(read-your-writes), ETags, and history entries."""

# No `from __future__ import annotations` here: the per-action routes are built in a loop, and
# FastAPI must see each route's real body type, not a string it cannot resolve.

from collections.abc import Callable, Iterable
from typing import Annotated, Any, Protocol, cast
from uuid import UUID

import orjson
from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.deps import (
    CORRELATION_ID,
    IDEMPOTENCY_KEY,
    IF_MATCH,
    action_body,
    authorised,
    documented,
    expected_version,
    idempotency_key,
    services_of,
)
from api.models import written
from api.params import record_ref
from api.problems import problem
from api.scoping import Scoped, readable, shown
from domain.actors import Role
from domain.change_commands import RecordCommand
from domain.context import Context
from domain.errors import RecordNotFound
from domain.events import DomainEvent
from domain.record_numbers import RecordKind, parse_number
from domain.records_desk import Decision, Session
from domain.service_desk import Outcome
from infra.bootstrap import Services
from projections.base import Projection, Row

ENVELOPE = frozenset(
    {"originator_id", "originator_version", "timestamp", "actor", "correlation_id"}
)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def etag(version: int) -> str:
    return f'"{version}"'


async def answer(
    services: Services,
    outcome: Outcome,
    projection: Projection,
    location: str,
    status: int,
    key: str | None = None,
    *,
    ctx: Context,
) -> Response:
    """The record's row once the views include the write; 202 if they lag behind. A retry
    answers the first answer: the row as the first request left it (`first_answer`)."""
    key = key or str(outcome.record_id)
    if outcome.replayed:
        row = first_answer(services, outcome, projection, key)
    else:
        row = await written_row(services, outcome, projection, key)
    if row is None:
        return problem(
            202,
            "projection-lag",
            "the change is recorded; the views will show it shortly",
            headers={"Location": location},
            id=str(outcome.record_id),
            version=outcome.version,
        )
    headers = {"Location": location}
    if "version" in row:
        headers["ETag"] = etag(row["version"])
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(shown_row(services, ctx, projection, row), status, headers)


async def written_row(
    services: Services, outcome: Outcome, projection: Projection, key: str
) -> Row | None:
    """The row as the views show it once they include the write (None if they lag behind)."""
    timeout = services.settings.read_your_writes_timeout
    if await services.caught_up(outcome.record_id, outcome.position or 0, timeout):
        return services.views.get(projection, key)
    return None


def first_answer(
    services: Services, outcome: Outcome, projection: Projection, key: str
) -> Row | None:
    """The row `key` as the request a retry repeats left it: the record's events up to the
    version that request wrote, folded as the view folds them (the view itself may have moved
    on). None if the row did not exist then."""
    row: Row | None = None
    for event in services.desk.events_until(outcome.record_id, outcome.version):
        if projection.key(event) == key:
            row = projection.fold(row, event)
    return row


class Deciding(Protocol):
    """A records command that decides within one session (domain/records_desk.py)."""

    def decide(self, session: Session, ctx: Context) -> Any: ...


async def decided(
    request: Request, ctx: Context, operation: str, command: BaseModel
) -> tuple[Services, Outcome]:
    """Run a command that decides for itself, with the request's Idempotency-Key: the services
    (to answer with) and the outcome."""
    services = services_of(request)
    outcome = await run(
        services,
        ctx,
        operation,
        command,
        lambda session: cast(Deciding, command).decide(session, ctx),
        idempotency_key=idempotency_key(request),
    )
    return services, outcome


async def run(
    services: Services,
    ctx: Context,
    operation: str,
    command: BaseModel,
    decide: Decision,
    **options: Any,
) -> Outcome:
    """Run one command in a worker thread: its reads and its write (an fsync) do not hold up
    the event loop, which serves every other request meanwhile."""
    return await run_in_threadpool(services.records.run, ctx, operation, command, decide, **options)


def shown_row(
    services: Services, ctx: Context, projection: Projection, row: dict[str, Any]
) -> dict[str, Any]:
    """One record's row (its `id` names the record) as the caller reads it (api/scoping.py): for
    a requester, folded again from the record's events as they read them. A record they read
    nothing of answers as a missing one."""
    seen = shown(ctx, projection, row, lambda: _events(services, row["id"]))
    if seen is None:
        raise RecordNotFound(f"no record {row['id']}")
    return seen


def _events(services: Services, record_id: str) -> list[DomainEvent]:
    return cast(list[DomainEvent], list(services.desk.events.get(UUID(record_id))))


def history(record_id: UUID, events: list[DomainEvent]) -> dict[str, Any]:
    return {"record_id": str(record_id), "events": [history_entry(e) for e in events]}


def history_entry(event: DomainEvent) -> dict[str, Any]:
    return {
        "version": event.originator_version,
        "type": event.type_name,
        "at": event.timestamp.isoformat(),
        "actor": {"id": event.actor.id, "role": event.actor.role.value},
        "correlation_id": str(event.correlation_id),
        "data": event.model_dump(mode="json", exclude=set(ENVELOPE)),
    }


def numbered_row(
    services: Services,
    kind: RecordKind,
    projection: Projection,
    ref: str,
    ctx: Context,
    scoped: Scoped,
) -> dict[str, Any]:
    """A numbered record's row (a change, service request, problem), by number or id, if the
    caller reaches it (else not found, as if it did not exist)."""
    noun = scoped.noun
    number = parse_number(kind, ref)
    row = None
    if number is not None:
        rows = services.views.select(projection, '"number" = ?', (number,))
        row = rows[0] if rows else None
    else:
        try:
            row = services.views.get(projection, str(services.records.find_numbered(kind, ref)))
        except RecordNotFound:
            row = None
    if row is None:
        raise RecordNotFound(f"no {noun} {ref}")
    return shown_row(services, ctx, projection, scoped.row(ctx, row, ref))


def numbered_history(
    services: Services,
    kind: RecordKind,
    first_type: type[DomainEvent],
    ref: str,
    ctx: Context,
    scoped: Scoped,
) -> dict[str, Any]:
    """A numbered record's history, if the caller reaches the record."""
    try:
        record_id = services.records.find_numbered(kind, ref)
        events = services.records.history(record_id, first_type)
    except RecordNotFound:
        raise RecordNotFound(f"no {scoped.noun} {ref}") from None
    scoped.history(ctx, events, ref)
    return history(record_id, readable(ctx, events))


def add_actions(
    router: APIRouter,
    commands: Iterable[type[RecordCommand]],
    *,
    kind: RecordKind,
    projection: Projection,
    noun: str,
    roles_of: Callable[[type[RecordCommand]], frozenset[Role]],
    model: type[BaseModel],
) -> None:
    """One POST route per action command on `router`'s records: decided on the record the
    path names, with If-Match and Idempotency-Key, answered with the record's view (`model`)."""
    for command_type in commands:
        name = f"{command_type.action}_{noun}".replace("-", "_").replace(" ", "_")
        roles = roles_of(command_type)
        _add_action(router, command_type, kind, projection, noun, roles, name, model)


def _add_action(
    router: APIRouter,
    command_type: type[RecordCommand],
    kind: RecordKind,
    projection: Projection,
    noun: str,
    roles: frozenset[Role],
    name: str,
    model: type[BaseModel],
) -> None:
    action = command_type.action
    caller = authorised(roles, f"{action.replace('-', ' ')} {noun}s")
    base = router.prefix
    body, default = action_body(command_type)

    async def act(
        request: Request,
        ref: Annotated[str, record_ref(kind.value)],
        ctx: Annotated[Context, caller],
        command: Annotated[body, Body()] = default,  # type: ignore[valid-type]
    ) -> Response:
        # No body is the empty command; one with required fields then fails validation (422).
        given: RecordCommand = command or command_type.model_validate({})
        services = services_of(request)
        record_id = None
        try:
            record_id = services.records.find_numbered(kind, ref)
            outcome = await run(
                services,
                ctx,
                f"{noun.replace(' ', '-')}:{action}",
                given,
                lambda session: given.decide(session, ctx, record_id),
                target=record_id,
                expected_version=expected_version(request),
                idempotency_key=idempotency_key(request),
            )
        except RecordNotFound as error:
            # the record itself: missing, or out of reach, answers the same words
            if error.record_id in (None, record_id):
                raise RecordNotFound(f"no {noun} {ref}") from None
            raise
        location = f"/api/v1{base}/{record_id}"
        return await answer(services, outcome, projection, location, 200, ctx=ctx)

    act.__name__ = name
    router.add_api_route(
        f"/{{ref}}/{action}",
        act,
        methods=["POST"],
        response_model=model,
        responses=written(),
        summary=command_type.summary,
        description=command_type.__doc__ or command_type.summary,
        openapi_extra=documented(IF_MATCH, IDEMPOTENCY_KEY, CORRELATION_ID),
    )
