"""What the record resources (configuration items, changes, ...) share: finding a numbered record's
row, one POST route per action, answering a write with the view a following GET returns
(read-your-writes), ETags, and history entries."""

# No `from __future__ import annotations` here: the per-action routes are built in a loop, and
# FastAPI must see each route's real body type, not a string it cannot resolve.

from collections.abc import Callable, Iterable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel

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
    writer_of,
)
from api.models import written
from api.params import record_ref
from api.problem_details import problem
from api.reads import shown_row
from application.kinds import KINDS_BY_PREFIX, Kind
from application.outcome import Outcome
from application.pipeline import Submission
from domain.actors import Role
from domain.change_commands import RecordCommand
from domain.commands import ActionCommand
from domain.context import Context
from domain.record_numbers import RecordKind
from projections.base import Projection, Row
from service.bootstrap import Services


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
    if await services.caught_up(outcome.record_id, outcome.position or 0, timeout, projection):
        # as the group commit's fold wrote it, or (another batch's, or Kafka mode) as the view
        # shows it
        return services.runner.written(projection, key) or services.views.get(projection, key)
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


async def submitted(request: Request, submission: Submission) -> tuple[Services, Outcome]:
    """Submit a command to the API's one writer (application/writer.py: group-committed with
    the others queued at the time, whatever their kind); the services, to answer with, and the
    outcome."""
    return services_of(request), await writer_of(request).submit(submission)


async def acted(
    request: Request,
    ctx: Context,
    command: ActionCommand,
    kind: Kind,
    ref: Any,
    location: str,
    projection: Projection,
    operation: str | None = None,
) -> Response:
    """An action on the record `ref` names, with the request's If-Match and Idempotency-Key,
    answered 200 with the record's row of `projection` (`operation`: by default
    "<kind>:<action>")."""
    services, outcome = await submitted(
        request,
        Submission(
            ctx,
            command,
            kind,
            ref=ref,
            operation=operation or f"{kind.name}:{command.action}",
            expected_version=expected_version(request),
            idempotency_key=idempotency_key(request),
        ),
    )
    return await answer(services, outcome, projection, location, 200, ctx=ctx)


async def decided(
    request: Request, ctx: Context, operation: str, command: BaseModel, kind: Kind
) -> tuple[Services, Outcome]:
    """Run a command that decides for itself (it creates a record of `kind`), with the
    request's Idempotency-Key."""
    return await submitted(
        request,
        Submission(
            ctx, command, kind, operation=operation, idempotency_key=idempotency_key(request)
        ),
    )


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
        services, outcome = await submitted(
            request,
            Submission(
                ctx,
                given,
                KINDS_BY_PREFIX[kind.value],
                ref=ref,
                operation=f"{noun.replace(' ', '-')}:{action}",
                expected_version=expected_version(request),
                idempotency_key=idempotency_key(request),
            ),
        )
        location = f"/api/v1{base}/{outcome.record_id}"
        return await answer(services, outcome, projection, location, 200, ctx=ctx)

    add_action_route(router, command_type, act, name=name, model=model)


def add_action_route(
    router: APIRouter,
    command_type: type[ActionCommand],
    act: Callable[..., Any],
    *,
    name: str,
    model: type[BaseModel],
    path: str = "ref",
) -> None:
    """POST .../{ref}/{action}: `act` (operation `name`) decides `command_type`'s action on the
    record the path names (its parameter named `path`), with If-Match and Idempotency-Key,
    answered with `model`."""
    act.__name__ = name
    router.add_api_route(
        f"/{{{path}}}/{command_type.action}",
        act,
        methods=["POST"],
        response_model=model,
        responses=written(),
        summary=command_type.summary,
        description=command_type.__doc__ or command_type.summary,
        openapi_extra=documented(IF_MATCH, IDEMPOTENCY_KEY, CORRELATION_ID),
    )
