"""Service requests: submit, read, list (the queues), history, one POST per lifecycle action;
the service catalogue they are made from."""

# No `from __future__ import annotations`: the per-action routes are built in a loop, and FastAPI
# must see each route's real body type.

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import (
    AGENT_ROLES,
    CORRELATION_ID,
    IDEMPOTENCY_KEY,
    ReaderDep,
    ServicesDep,
    authorised,
    documented,
)
from api.models import (
    READ,
    CatalogueItem,
    CatalogueItemList,
    RecordHistory,
    ServiceRequestDetails,
    ServiceRequestList,
    written,
)
from api.params import CodePath, RequestRef
from api.record_answers import (
    add_actions,
    answer,
    decided,
    etag,
    json_response,
    numbered_history,
    numbered_row,
    shown_row,
)
from api.scoping import Scoped
from domain.actors import Role
from domain.change_commands import RecordCommand
from domain.context import Context
from domain.errors import RecordNotFound
from domain.record_numbers import RecordKind
from domain.request_commands import (
    REQUEST_COMMANDS,
    DefineCatalogueItem,
    RequestCommand,
    SubmitServiceRequest,
)
from domain.service_request import RequestState, Submitted
from projections import catalogue_items, service_request_details

router = APIRouter(prefix="/service-requests", tags=["service requests"])
catalogue = APIRouter(prefix="/catalogue-items", tags=["service requests"])

SUBMITTERS = AGENT_ROLES | {Role.REQUESTER}
#: A requester reaches the requests they asked for; others, their organisation's.
REQUESTS = Scoped(RecordNotFound, "service request", owner="requester")
SERVICE_MANAGERS = authorised(
    frozenset({Role.SERVICE_MANAGER, Role.ADMIN}), "define catalogue items"
)


@router.post(
    "",
    response_model=ServiceRequestDetails,
    responses=written(201),
    status_code=201,
    summary="Submit a service request from a catalogue item",
    openapi_extra=documented(IDEMPOTENCY_KEY, CORRELATION_ID),
)
async def submit_service_request(
    request: Request,
    ctx: Annotated[Context, authorised(SUBMITTERS, "submit service requests")],
    command: SubmitServiceRequest,
) -> Response:
    services, outcome = await decided(request, ctx, "submit_service_request", command)
    location = f"/api/v1/service-requests/{outcome.record_id}"
    return await answer(services, outcome, service_request_details, location, 201, ctx=ctx)


@router.get(
    "", response_model=ServiceRequestList, summary="List service requests (a queue), newest first"
)
def list_service_requests(
    services: ServicesDep,
    ctx: ReaderDep,
    state: RequestState | None = None,
    group: Annotated[str | None, Query(max_length=200)] = None,
    requester: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    clauses, params = REQUESTS.where(ctx)
    for column, value in (("state", state), ("fulfilment_group", group), ("requester", requester)):
        if value is not None:
            clauses.append(f'"{column}" = ?')
            params.append(str(value))
    rows = services.views.select(
        service_request_details,
        " AND ".join(clauses),
        params,
        f'ORDER BY "number" DESC LIMIT {limit}',
    )
    return json_response(
        {"items": [shown_row(services, ctx, service_request_details, r) for r in rows]}
    )


@router.get(
    "/{ref}",
    response_model=ServiceRequestDetails,
    responses=READ,
    summary="Read a service request by id or number (REQ-000001)",
)
def get_service_request(ref: RequestRef, services: ServicesDep, ctx: ReaderDep) -> Response:
    row = numbered_row(
        services, RecordKind.SERVICE_REQUEST, service_request_details, ref, ctx, REQUESTS
    )
    return json_response(row, headers={"ETag": etag(row["version"])})


@router.get(
    "/{ref}/history",
    response_model=RecordHistory,
    name="get_service_request_history",
    summary="Every event, in order, with actor and time",
)
def get_history(ref: RequestRef, services: ServicesDep, ctx: ReaderDep) -> Response:
    kind = RecordKind.SERVICE_REQUEST
    return json_response(numbered_history(services, kind, Submitted, ref, ctx, REQUESTS))


def _roles(command: type[RecordCommand]) -> frozenset[Role]:
    requesters_too = issubclass(command, RequestCommand) and command.requesters_too
    return SUBMITTERS if requesters_too else AGENT_ROLES


add_actions(
    router,
    REQUEST_COMMANDS.values(),
    kind=RecordKind.SERVICE_REQUEST,
    projection=service_request_details,
    noun="service request",
    roles_of=lambda command: (
        SUBMITTERS if getattr(command, "requesters_too", False) else AGENT_ROLES
    ),
    model=ServiceRequestDetails,
)


@catalogue.get(
    "", response_model=CatalogueItemList, summary="The service catalogue: what may be requested"
)
def list_catalogue_items(services: ServicesDep, _: ReaderDep) -> Response:
    return json_response(
        {"items": services.views.select(catalogue_items, "", (), 'ORDER BY "code"')}
    )


@catalogue.get(
    "/{code}",
    response_model=CatalogueItem,
    summary="A catalogue item: its approval rule and fulfilment steps",
)
def get_catalogue_item(code: CodePath, services: ServicesDep, _: ReaderDep) -> Response:
    rows = services.views.select(catalogue_items, '"code" = ?', (code,))
    if not rows:
        raise RecordNotFound(f"no catalogue item {code}")
    return json_response(rows[0])


@catalogue.post(
    "",
    response_model=CatalogueItem,
    responses=written(201),
    status_code=201,
    summary="Define a catalogue item (a service manager)",
    openapi_extra=documented(IDEMPOTENCY_KEY, CORRELATION_ID),
)
async def define_catalogue_item(
    request: Request, ctx: Annotated[Context, SERVICE_MANAGERS], command: DefineCatalogueItem
) -> Response:
    services, outcome = await decided(request, ctx, "define_catalogue_item", command)
    location = f"/api/v1/catalogue-items/{command.code}"
    return await answer(services, outcome, catalogue_items, location, 201, ctx=ctx)
