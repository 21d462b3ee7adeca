"""Incidents: log, read, list, history, and one POST per lifecycle action.

Routers translate: parse, call one application method, shape the answer. Writes wait until the
projections include them (read-your-writes), so the answer is the view a following GET returns.
"""

# No `from __future__ import annotations` here: the per-action routes are built in a loop, and
# FastAPI must see each route's real body type, not a string it cannot resolve.
#
# Writes are `async def`: the command goes to the API's one writer (application/writer.py), which
# group-commits it with the others queued at the time; waiting for it holds no thread at all.

from dataclasses import replace
from typing import Annotated

from fastapi import Body, Header, Query, Request, Response

from api.deps import (
    AGENT_ROLES,
    CORRELATION_ID,
    IDEMPOTENCY_KEY,
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
from api.pages import Cursor, Limit, decode_cursor, page_body
from api.params import AsOf, IncidentRef
from api.reads import Readable, add_history, numbered, shown_row
from api.record_answers import add_action_route, answer
from api.record_answers import etag as _etag
from api.record_answers import json_response as _json
from api.routing import ResourceRouter
from api.saved_filters import SavedFilterId, incident_filter
from api.schemas import IncidentDetails, IncidentPage, IncidentSummary
from api.search import ListQ, searched_keys
from application.outcome import Outcome
from application.pipeline import Submission
from domain.actors import Role
from domain.commands import INCIDENT_COMMANDS, IncidentCommand, LogIncident
from domain.context import Context
from domain.errors import IncidentNotFound
from domain.incident import IncidentState
from projections import incident_details
from projections.incident_details import incidents
from service.bootstrap import Services

router = ResourceRouter(prefix="/incidents", tags=["incidents"])

#: Actions a requester may take on incidents they reported (the domain checks "reported").
REQUESTER_ACTIONS = frozenset({"add-comment", "confirm", "reopen", "rating"})
SUMMARY_FIELDS = tuple(IncidentSummary.model_fields)
#: How incidents are read: a requester reaches those they are the caller of; others, their
#: organisation's (projections/incident_details.py `incidents`).
INCIDENTS = Readable(incidents, "incident", numbered("INC"), IncidentNotFound)


async def _answer(services: Services, outcome: Outcome, status: int, ctx: Context) -> Response:
    location = f"/api/v1/incidents/{outcome.record_id}"
    return await answer(services, outcome, incident_details, location, status, ctx=ctx)


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
    service: Annotated[
        str | None, Query(max_length=200, description="a service's code (GET /service-catalogue)")
    ] = None,
    category: Annotated[
        str | None, Query(max_length=40, description="a category's code, within its service")
    ] = None,
    filter: SavedFilterId = None,
    q: ListQ = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    given = {
        "status": status,
        "group": group,
        "priority": priority,
        "service": service,
        "category": category,
    }
    kept = replace(
        incident_filter(services, ctx, filter, given),
        among=searched_keys(services, ctx, "incident", q),
    )
    after = None if cursor is None else decode_cursor(cursor, incidents.order)
    page = incidents.page(services.views, ctx, kept, limit=limit, after=after)
    return _json(page_body(page, lambda row: {k: row[k] for k in SUMMARY_FIELDS}))


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
    as_of: AsOf = None,
) -> Response:
    if as_of is not None:
        then = INCIDENTS.read(services, ctx, ref, as_of)
        return _json(then, headers={"ETag": _etag(then["version"])})
    row = INCIDENTS.row(services, ctx, ref)
    etag = _etag(row["version"])
    if if_none_match is not None and etag in {
        t.strip().removeprefix("W/") for t in if_none_match.split(",")
    }:
        return Response(status_code=304, headers={"ETag": etag})
    return _json(shown_row(services, ctx, incident_details, row), headers={"ETag": etag})


add_history(
    router, INCIDENTS, name="get_incident_history", param="ref", ref=IncidentRef, reader=ReaderDep
)


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
            ref=ref,
            expected_version=expected_version(request),
            idempotency_key=idempotency_key(request),
        )
        try:
            outcome = await writer_of(request).submit(submission)
        except IncidentNotFound:  # missing, or out of the caller's reach: the same words
            raise IncidentNotFound(f"no incident {ref}") from None
        return await _answer(services_of(request), outcome, 200, ctx)

    add_action_route(
        router,
        command_type,
        act,
        name=f"{action.replace('-', '_')}_incident",
        model=IncidentDetails,
    )


for _command_type in INCIDENT_COMMANDS.values():
    _add_action(_command_type)
