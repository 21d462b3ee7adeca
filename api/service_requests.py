"""Service requests: submit, read, list (the queues), history, one POST per lifecycle action;
the service catalogue they are made from."""

# No `from __future__ import annotations`: the per-action routes are built in a loop, and FastAPI
# must see each route's real body type.

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response

from api.deps import (
    AGENT_ROLES,
    CORRELATION_ID,
    IDEMPOTENCY_KEY,
    IF_MATCH,
    ReaderDep,
    ServicesDep,
    authorised,
    documented,
    expected_version,
    idempotency_key,
    services_of,
)
from api.record_answers import answer, etag, history, json_response, run
from domain.actors import Role
from domain.context import Context
from domain.errors import RecordNotFound
from domain.record_numbers import RecordKind, parse_number
from domain.request_commands import (
    REQUEST_COMMANDS,
    DefineCatalogueItem,
    RequestCommand,
    SubmitServiceRequest,
)
from domain.service_request import RequestState, Submitted
from infra.bootstrap import Services
from projections import catalogue_items, service_request_details

router = APIRouter(prefix="/service-requests", tags=["service requests"])
catalogue = APIRouter(prefix="/catalogue-items", tags=["service requests"])

SUBMITTERS = AGENT_ROLES | {Role.REQUESTER}
SERVICE_MANAGERS = authorised(
    frozenset({Role.SERVICE_MANAGER, Role.ADMIN}), "define catalogue items"
)


def _row(services: Services, ref: str) -> dict[str, Any]:
    number = parse_number(RecordKind.SERVICE_REQUEST, ref)
    row = None
    if number is not None:
        rows = services.views.select(service_request_details, '"number" = ?', (number,))
        row = rows[0] if rows else None
    else:
        try:
            record_id = services.records.find_numbered(RecordKind.SERVICE_REQUEST, ref)
            row = services.views.get(service_request_details, str(record_id))
        except RecordNotFound:
            row = None
    if row is None:
        raise RecordNotFound(f"no service request {ref}")
    return row


@router.post(
    "",
    status_code=201,
    summary="Submit a service request from a catalogue item",
    openapi_extra=documented(IDEMPOTENCY_KEY, CORRELATION_ID),
)
async def submit_service_request(
    request: Request,
    ctx: Annotated[Context, authorised(SUBMITTERS, "submit service requests")],
    command: SubmitServiceRequest,
) -> Response:
    services = services_of(request)
    outcome = await run(
        services,
        ctx,
        "submit_service_request",
        command,
        lambda session: command.decide(session, ctx),
        idempotency_key=idempotency_key(request),
    )
    location = f"/api/v1/service-requests/{outcome.record_id}"
    return await answer(services, outcome, service_request_details, location, 201)


@router.get("", summary="List service requests (a queue), newest first")
def list_service_requests(
    services: ServicesDep,
    _: ReaderDep,
    state: RequestState | None = None,
    group: Annotated[str | None, Query(max_length=200)] = None,
    requester: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    clauses, params = [], []
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
    return json_response({"items": rows})


@router.get("/{ref}", summary="Read a service request by id or number (REQ-000001)")
def get_service_request(ref: str, services: ServicesDep, _: ReaderDep) -> Response:
    row = _row(services, ref)
    return json_response(row, headers={"ETag": etag(row["version"])})


@router.get("/{ref}/history", summary="Every event, in order, with actor and time")
def get_history(ref: str, services: ServicesDep, _: ReaderDep) -> Response:
    request_id = services.records.find_numbered(RecordKind.SERVICE_REQUEST, ref)
    return json_response(history(request_id, services.records.history(request_id, Submitted)))


def _add_action(command_type: type[RequestCommand]) -> None:
    action = command_type.action
    roles = SUBMITTERS if command_type.requesters_too else AGENT_ROLES
    caller = authorised(roles, f"{action.replace('-', ' ')} service requests")

    async def act(
        request: Request,
        ref: str,
        ctx: Annotated[Context, caller],
        command: Annotated[command_type | None, Body()] = None,  # type: ignore[valid-type]
    ) -> Response:
        command = command or command_type.model_validate({})
        services = services_of(request)
        request_id = services.records.find_numbered(RecordKind.SERVICE_REQUEST, ref)
        outcome = await run(
            services,
            ctx,
            f"service-request:{action}",
            command,
            lambda session: command.decide(session, ctx, request_id),
            target=request_id,
            expected_version=expected_version(request),
            idempotency_key=idempotency_key(request),
        )
        location = f"/api/v1/service-requests/{request_id}"
        return await answer(services, outcome, service_request_details, location, 200)

    act.__name__ = f"{action.replace('-', '_')}_service_request"
    router.add_api_route(
        f"/{{ref}}/{action}",
        act,
        methods=["POST"],
        summary=command_type.summary,
        description=command_type.__doc__ or command_type.summary,
        openapi_extra=documented(IF_MATCH, IDEMPOTENCY_KEY, CORRELATION_ID),
    )


for _command_type in REQUEST_COMMANDS.values():
    _add_action(_command_type)


@catalogue.get("", summary="The service catalogue: what may be requested")
def list_catalogue_items(services: ServicesDep, _: ReaderDep) -> Response:
    return json_response(
        {"items": services.views.select(catalogue_items, "", (), 'ORDER BY "code"')}
    )


@catalogue.get("/{code}", summary="A catalogue item: its approval rule and fulfilment steps")
def get_catalogue_item(code: str, services: ServicesDep, _: ReaderDep) -> Response:
    rows = services.views.select(catalogue_items, '"code" = ?', (code,))
    if not rows:
        raise RecordNotFound(f"no catalogue item {code}")
    return json_response(rows[0])


@catalogue.post(
    "",
    status_code=201,
    summary="Define a catalogue item (a service manager)",
    openapi_extra=documented(IDEMPOTENCY_KEY, CORRELATION_ID),
)
async def define_catalogue_item(
    request: Request, ctx: Annotated[Context, SERVICE_MANAGERS], command: DefineCatalogueItem
) -> Response:
    services = services_of(request)
    outcome = await run(
        services,
        ctx,
        "define_catalogue_item",
        command,
        lambda session: command.decide(session, ctx),
        idempotency_key=idempotency_key(request),
    )
    location = f"/api/v1/catalogue-items/{command.code}"
    return await answer(services, outcome, catalogue_items, location, 201)
