"""Saved filters: the queues people keep (docs/bulk-and-filters.md). Staff save, list, read,
revise and delete their own filters and their groups'; a filter kept by someone else answers as
one that does not exist. A filter is for one list: GET /api/v1/{list}?filter=<id> (incidents,
service requests, problems, changes) lists what it finds, and bulk actions act on what an
incidents' filter finds.
"""

# No `from __future__ import annotations`: the per-action routes are built in a loop, and FastAPI
# must see each route's real body type.

from collections.abc import Mapping
from typing import Annotated, Any
from uuid import UUID

from fastapi import Body, Query, Request, Response

from api.deps import (
    AGENT_ROLES,
    CORRELATION_ID,
    IDEMPOTENCY_KEY,
    ServicesDep,
    action_body,
    authorised,
    documented,
    idempotency_key,
)
from api.models import READ, SavedFilterList, SavedFilterOut, written
from api.problem_details import ApiProblem
from api.record_answers import acted, add_action_route, answer, etag, json_response, submitted
from api.routing import ResourceRouter
from application.kinds import SAVED_FILTER
from application.pipeline import Submission
from domain.context import Context
from domain.saved_filter import FILTER_COMMANDS, FilterCommand, RecordList, SaveFilter
from projections.base import Row
from projections.queries import Filter
from projections.saved_filters import kept_by, kept_filter, saved_filters
from service.bootstrap import Services

router = ResourceRouter(prefix="/saved-filters", tags=["saved filters"])

KeeperDep = Annotated[Context, authorised(AGENT_ROLES, "keep saved filters")]
#: `?filter=` on a list: a saved filter of that list.
SavedFilterId = Annotated[
    UUID | None,
    Query(description="a saved filter of this list you keep: its parameters, unless given here"),
]


def kept(services: Services, ctx: Context, filter_id: UUID) -> Row:
    """The filter, if the caller keeps it; else the kind's not-found (as for a missing one)."""
    row = kept_filter(services.views, ctx.actor.id, filter_id)
    if row is None:
        raise SAVED_FILTER.missing(filter_id, filter_id)
    return row


def saved_query(
    services: Services,
    ctx: Context,
    listed: RecordList,
    filter_id: UUID | None,
    given: Mapping[str, Any],
) -> dict[str, Any]:
    """The parameters a list keeps: the saved filter's (if one is named, and the caller keeps
    it: else 404 as for a missing one), each replaced by the one given on the request, if any.
    A filter for another list is refused (422): its parameters mean nothing here."""
    query: dict[str, Any] = {}
    if filter_id is not None:
        row = kept(services, ctx, filter_id)
        if row["list"] != listed:
            raise ApiProblem(
                422,
                "filter-of-another-list",
                f"saved filter {filter_id} is a filter of the {row['list']} list, not of the"
                f" {listed.value} list: use it there (GET /api/v1/{row['list']}?filter=…)",
            )
        query = dict(row["query"])
    query.update({name: value for name, value in given.items() if value is not None})
    return query


def incident_filter(
    services: Services, ctx: Context, filter_id: UUID | None, given: dict[str, Any]
) -> Filter:
    """What a list of incidents keeps (`saved_query`); its `status` is the `state` column."""
    query = saved_query(services, ctx, RecordList.INCIDENTS, filter_id, given)
    return Filter(equal={"state": query.pop("status", None), **query})


def _location(filter_id: UUID | str) -> str:
    return f"/api/v1/saved-filters/{filter_id}"


@router.post(
    "",
    status_code=201,
    response_model=SavedFilterOut,
    responses=written(201),
    summary="Save a filter of a list (incidents, service requests, problems, changes), for"
    " yourself or for a group you are in",
    openapi_extra=documented(IDEMPOTENCY_KEY, CORRELATION_ID),
)
async def save_filter(request: Request, ctx: KeeperDep, command: SaveFilter) -> Response:
    services, outcome = await submitted(
        request,
        Submission(
            ctx,
            command,
            SAVED_FILTER,
            operation="saved_filter:save",
            idempotency_key=idempotency_key(request),
        ),
    )
    location = _location(outcome.record_id)
    return await answer(services, outcome, saved_filters, location, 201, ctx=ctx)


@router.get("", response_model=SavedFilterList, summary="The filters you keep, by name")
def list_saved_filters(services: ServicesDep, ctx: KeeperDep) -> Response:
    return json_response({"items": kept_by(services.views, ctx.actor.id)})


@router.get(
    "/{filter_id}", response_model=SavedFilterOut, responses=READ, summary="Read a saved filter"
)
def get_saved_filter(filter_id: UUID, services: ServicesDep, ctx: KeeperDep) -> Response:
    row = kept(services, ctx, filter_id)
    return json_response(row, headers={"ETag": etag(row["version"])})


def _add_action(command_type: type[FilterCommand]) -> None:
    action = command_type.action
    body_type, default = action_body(command_type)

    async def act(
        request: Request,
        filter_id: UUID,
        ctx: KeeperDep,
        command: Annotated[body_type, Body()] = default,  # type: ignore[valid-type]
    ) -> Response:
        given = command or command_type.model_validate({})
        location = _location(filter_id)
        return await acted(request, ctx, given, SAVED_FILTER, filter_id, location, saved_filters)

    add_action_route(
        router,
        command_type,
        act,
        name=f"{action}_saved_filter",
        model=SavedFilterOut,
        path="filter_id",
    )


for _command in FILTER_COMMANDS.values():
    _add_action(_command)
