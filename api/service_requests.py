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
    ServiceRequestDetails,
    ServiceRequestList,
    written,
)
from api.pages import Cursor, Limit, decode_cursor, page_body
from api.params import AsOf, CodePath, RequestRef
from api.reads import Readable, add_history, coded, numbered, shown_row
from api.record_answers import (
    add_actions,
    answer,
    decided,
    etag,
    json_response,
)
from application.kinds import CATALOGUE_ITEM, SERVICE_REQUEST
from domain.actors import Role
from domain.change_commands import RecordCommand
from domain.context import Context
from domain.record_numbers import RecordKind
from domain.request_commands import (
    REQUEST_COMMANDS,
    DefineCatalogueItem,
    RequestCommand,
    SubmitServiceRequest,
)
from domain.service_request import RequestState, catalogue_item_id
from projections import catalogue_items, service_request_details
from projections.queries import Filter
from projections.service_requests import catalogue as catalogue_view
from projections.service_requests import service_requests

router = APIRouter(prefix="/service-requests", tags=["service requests"])
catalogue = APIRouter(prefix="/catalogue-items", tags=["service requests"])

SUBMITTERS = AGENT_ROLES | {Role.REQUESTER}
#: How requests are read: a requester reaches those they asked for; others, their organisation's
#: (projections/service_requests.py).
REQUESTS = Readable(service_requests, "service request", numbered(RecordKind.SERVICE_REQUEST))
CATALOGUE = Readable(
    catalogue_view,
    "catalogue item",
    coded(catalogue_item_id),
    record_of=lambda row: catalogue_item_id(row["code"]),
)
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
    services, outcome = await decided(
        request, ctx, "submit_service_request", command, SERVICE_REQUEST
    )
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
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    kept = Filter(equal={"state": state, "fulfilment_group": group, "requester": requester})
    after = None if cursor is None else decode_cursor(cursor, service_requests.order)
    page = service_requests.page(services.views, ctx, kept, limit=limit, after=after)
    projection = service_request_details
    return json_response(page_body(page, lambda row: shown_row(services, ctx, projection, row)))


@router.get(
    "/{ref}",
    response_model=ServiceRequestDetails,
    responses=READ,
    summary="Read a service request by id or number (REQ-000001)",
)
def get_service_request(
    ref: RequestRef, services: ServicesDep, ctx: ReaderDep, as_of: AsOf = None
) -> Response:
    row = REQUESTS.read(services, ctx, ref, as_of)
    return json_response(row, headers={"ETag": etag(row["version"])})


add_history(
    router,
    REQUESTS,
    name="get_service_request_history",
    param="ref",
    ref=RequestRef,
    reader=ReaderDep,
)


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
def list_catalogue_items(
    services: ServicesDep, ctx: ReaderDep, limit: Limit = 50, cursor: Cursor = None
) -> Response:
    after = None if cursor is None else decode_cursor(cursor, catalogue_view.order)
    return json_response(
        page_body(catalogue_view.page(services.views, ctx, limit=limit, after=after))
    )


@catalogue.get(
    "/{code}",
    response_model=CatalogueItem,
    responses=READ,
    summary="A catalogue item: its approval rule and fulfilment steps",
)
def get_catalogue_item(
    code: CodePath, services: ServicesDep, ctx: ReaderDep, as_of: AsOf = None
) -> Response:
    row = CATALOGUE.read(services, ctx, code, as_of)
    return json_response(row, headers={"ETag": etag(row["version"])})


add_history(
    catalogue,
    CATALOGUE,
    name="get_catalogue_item_history",
    param="code",
    ref=CodePath,
    reader=ReaderDep,
)


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
    services, outcome = await decided(
        request, ctx, "define_catalogue_item", command, CATALOGUE_ITEM
    )
    location = f"/api/v1/catalogue-items/{command.code}"
    return await answer(services, outcome, catalogue_items, location, 201, ctx=ctx)
