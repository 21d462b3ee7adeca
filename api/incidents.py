"""Incidents: log, read, list, history, and one POST per lifecycle action.

Routers translate: parse, call one application method, shape the answer. Writes wait until the
projections include them (read-your-writes), so the answer is the view a following GET returns.
"""

# No `from __future__ import annotations` here: the per-action routes are built in a loop, and
# FastAPI must see each route's real body type, not a string it cannot resolve.
#
# Writes are `async def`: the command goes to the API's one writer (api/writer.py), which
# group-commits it with the others queued at the time; waiting for it holds no thread at all.

import base64
import binascii
import re
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Header, Query, Request, Response

from api.deps import (
    AGENT_ROLES,
    CORRELATION_ID,
    IDEMPOTENCY_KEY,
    IF_MATCH,
    ReaderDep,
    ServicesDep,
    action_body,
    authorised,
    documented,
    expected_version,
    idempotency_key,
    services_of,
    writer_of,
)
from api.models import READ, written
from api.params import MAX_INT, IncidentRef
from api.problems import ApiProblem, problem
from api.record_answers import ENVELOPE, first_answer, shown_row
from api.record_answers import etag as _etag
from api.record_answers import json_response as _json
from api.schemas import History, IncidentDetails, IncidentPage, IncidentSummary
from api.scoping import Scoped, readable, reads_internal
from audit import replay
from domain.actors import Role
from domain.commands import INCIDENT_COMMANDS, IncidentCommand, LogIncident
from domain.context import Context
from domain.errors import IncidentNotFound
from domain.events import DomainEvent
from domain.incident import IncidentState
from domain.moments import Timestamp
from domain.records import parse_incident_number
from domain.service_desk import Outcome, Submission
from infra.bootstrap import Services
from projections import incident_details

router = APIRouter(prefix="/incidents", tags=["incidents"])

#: Actions a requester may take on incidents they reported (the domain checks "reported").
REQUESTER_ACTIONS = frozenset({"add-comment", "confirm", "reopen"})
SUMMARY_FIELDS = tuple(IncidentSummary.model_fields)
#: A requester reaches the incidents they are the caller of; others, their organisation's.
INCIDENTS = Scoped(IncidentNotFound, "incident", owner="caller")


def _row(services: Services, ref: str, ctx: Context) -> dict[str, Any]:
    """The incident's row, if the caller reaches it (else not found, as if it did not exist)."""
    number = parse_incident_number(ref)
    if number is not None:
        rows = services.views.select(incident_details, '"number" = ?', (number,))
        row = rows[0] if rows else None
    else:
        try:
            row = services.views.get(incident_details, str(UUID(ref)))
        except ValueError:
            row = None
    if row is None:
        raise IncidentNotFound(f"no incident {ref}")
    return INCIDENTS.row(ctx, row, ref)


def reached_incident(services: Services, ref: str, ctx: Context) -> tuple[UUID, list[DomainEvent]]:
    """The incident's id and events, if the caller reaches it; missing or out of reach, the
    same not-found."""
    try:
        incident_id = services.desk.find_incident(ref)
        events = list(services.desk.history(incident_id))
    except IncidentNotFound:
        raise IncidentNotFound(f"no incident {ref}") from None
    INCIDENTS.history(ctx, events, ref)
    return incident_id, events


async def _answer(services: Services, outcome: Outcome, status: int, ctx: Context) -> Response:
    """The incident as the write left it, once the views include it; a retry answers the first
    answer (the incident as the first request left it), with Idempotent-Replayed."""
    location = f"/api/v1/incidents/{outcome.record_id}"
    key = str(outcome.record_id)
    row = None
    if outcome.replayed:
        row = first_answer(services, outcome, incident_details, key)
    elif await services.caught_up(
        outcome.record_id, outcome.position or 0, services.settings.read_your_writes_timeout
    ):
        row = services.runner.written(incident_details, key)  # as the batch's fold wrote it
        if row is None:
            row = services.views.get(incident_details, key)
    if row is None:
        return problem(
            202,
            "projection-lag",
            "the change is recorded; the views will show it shortly",
            headers={"Location": location},
            id=key,
            version=outcome.version,
        )
    headers = {"ETag": _etag(row["version"]), "Location": location}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return _json(shown_row(services, ctx, incident_details, row), status, headers)


@router.post(
    "",
    status_code=201,
    response_model=IncidentDetails,
    summary="Log an incident",
    responses=written(201),
    openapi_extra=documented(IDEMPOTENCY_KEY, CORRELATION_ID),
)
async def log_incident(
    request: Request,
    ctx: Annotated[Context, authorised(AGENT_ROLES | {Role.REQUESTER}, "log incidents")],
    command: LogIncident,
) -> Response:
    submission = Submission(ctx, command, idempotency_key=idempotency_key(request))
    outcome = await writer_of(request).submit(submission)
    return await _answer(services_of(request), outcome, 201, ctx)


@router.get("", response_model=IncidentPage, summary="List incidents, newest first")
def list_incidents(
    services: ServicesDep,
    ctx: ReaderDep,
    status: IncidentState | None = None,
    group: Annotated[str | None, Query(max_length=200)] = None,
    priority: Annotated[int | None, Query(ge=1, le=5)] = None,
    service: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    clauses, params = INCIDENTS.where(ctx)
    for column, value in (
        ("state", status),
        ("group", group),
        ("priority", priority),
        ("service", service),
    ):
        if value is not None:
            clauses.append(f'"{column}" = ?')
            params.append(value.value if isinstance(value, IncidentState) else value)
    if cursor is not None:
        clauses.append('"number" < ?')
        params.append(_decode_cursor(cursor))
    rows = services.views.select(
        incident_details, " AND ".join(clauses), params, f'ORDER BY "number" DESC LIMIT {limit + 1}'
    )
    more = len(rows) > limit
    items = [{k: row[k] for k in SUMMARY_FIELDS} for row in rows[:limit]]
    next_cursor = _encode_cursor(items[-1]["number"]) if more else None
    return _json({"items": items, "next_cursor": next_cursor})


def _encode_cursor(number: int) -> str:
    return base64.urlsafe_b64encode(f"n:{number}".encode()).decode().rstrip("=")


_CURSOR = re.compile(rb"n:([0-9]{1,19})")  # ASCII digits: int() also reads "١٢"


def _decode_cursor(cursor: str) -> int:
    try:
        found = _CURSOR.fullmatch(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        found = None
    if found is None or not 1 <= int(found[1]) <= MAX_INT:  # past it, no number of ours
        raise ApiProblem(422, "invalid-input", "the cursor is not one this API issued")
    return int(found[1])


AS_OF = Query(
    description="time travel: the record as it stood at this moment (ISO 8601 with a zone);"
    " replayed from its events",
    examples=["2026-03-02T09:00:00Z"],
)


@router.get(
    "/{ref}",
    response_model=IncidentDetails,
    summary="Read an incident by id or number (as it is now, or as of a moment)",
    responses={**READ, 304: {"description": "Not modified (If-None-Match)"}},
)
def get_incident(
    ref: IncidentRef,
    services: ServicesDep,
    ctx: ReaderDep,
    if_none_match: Annotated[str | None, Header(max_length=1000)] = None,
    as_of: Annotated[Timestamp | None, AS_OF] = None,
) -> Response:
    if as_of is not None:
        _, events = reached_incident(services, ref, ctx)
        internal = reads_internal(ctx)
        then = replay.as_of(incident_details, events, as_of, internal=internal)
        if then is None:
            raise IncidentNotFound(f"incident {ref} was not yet logged at {as_of.isoformat()}")
        return _json(then, headers={"ETag": _etag(then["version"])})
    row = _row(services, ref, ctx)
    etag = _etag(row["version"])
    if if_none_match is not None and etag in {
        t.strip().removeprefix("W/") for t in if_none_match.split(",")
    }:
        return Response(status_code=304, headers={"ETag": etag})
    return _json(shown_row(services, ctx, incident_details, row), headers={"ETag": etag})


@router.get(
    "/{ref}/history",
    name="get_incident_history",
    response_model=History,
    summary="Every event, in order, with actor, time and what it changed",
)
def get_history(
    ref: IncidentRef,
    services: ServicesDep,
    ctx: ReaderDep,
    as_of: Annotated[Timestamp | None, AS_OF] = None,
) -> Response:
    incident_id, events = reached_incident(services, ref, ctx)
    if as_of is not None:
        events = [e for e in events if e.timestamp <= as_of]
    events = readable(ctx, events)
    changes = replay.changes(incident_details, events)
    return _json(
        {
            "incident_id": str(incident_id),
            "as_of": as_of.isoformat() if as_of else None,
            "events": [_history_entry(e, c) for e, c in zip(events, changes, strict=True)],
        }
    )


def _history_entry(event: DomainEvent, changes: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": event.originator_version,
        "type": event.type_name,
        "at": event.timestamp.isoformat(),
        "actor": {"id": event.actor.id, "role": event.actor.role.value},
        "correlation_id": str(event.correlation_id),
        "data": event.model_dump(mode="json", exclude=set(ENVELOPE)),
        "changes": changes,
    }


def _add_action(command_type: type[IncidentCommand]) -> None:
    action = command_type.action
    roles = AGENT_ROLES | ({Role.REQUESTER} if action in REQUESTER_ACTIONS else set())
    caller = authorised(frozenset(roles), f"{action.replace('-', ' ')} incidents")
    body, default = action_body(command_type)

    async def act(
        request: Request,
        ref: IncidentRef,
        ctx: Annotated[Context, caller],
        command: Annotated[body, Body()] = default,  # type: ignore[valid-type]
    ) -> Response:
        # No body is the empty command; one with required fields then fails validation (422).
        command = command or command_type.model_validate({})
        submission = Submission(
            ctx,
            command,
            incident=ref,
            expected_version=expected_version(request),
            idempotency_key=idempotency_key(request),
        )
        try:
            outcome = await writer_of(request).submit(submission)
        except IncidentNotFound:  # missing, or out of the caller's reach: the same words
            raise IncidentNotFound(f"no incident {ref}") from None
        return await _answer(services_of(request), outcome, 200, ctx)

    act.__name__ = f"{action.replace('-', '_')}_incident"
    router.add_api_route(
        f"/{{ref}}/{action}",
        act,
        methods=["POST"],
        response_model=IncidentDetails,
        responses=written(),
        summary=command_type.summary,
        description=command_type.__doc__ or command_type.summary,
        openapi_extra=documented(IF_MATCH, IDEMPOTENCY_KEY, CORRELATION_ID),
    )


for _command_type in INCIDENT_COMMANDS.values():
    _add_action(_command_type)
