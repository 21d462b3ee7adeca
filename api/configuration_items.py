"""Configuration items: register, read, list, impact, history, and changes through a change."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

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
from api.models import (
    READ,
    ConfigurationItemDetails,
    ConfigurationItemList,
    ImpactReport,
    RecordHistory,
    written,
)
from api.params import CodePath
from api.record_answers import answer, decided, etag, history, json_response, run, shown_row
from api.scoping import readable
from domain.actors import Role
from domain.change_commands import ChangeConfigurationItem, RegisterConfigurationItem
from domain.configuration_item import CiType, Registered, ci_id
from domain.context import Context
from domain.errors import RecordNotFound
from domain.record_numbers import RecordKind
from infra.bootstrap import Services
from projections import configuration_items
from projections.configuration_items import impact_of

router = APIRouter(prefix="/configuration-items", tags=["configuration items"])

CI_KEEPERS = authorised(
    frozenset({Role.SERVICE_MANAGER, Role.CHANGE_MANAGER, Role.ADMIN}),
    "register configuration items",
)
CI_CHANGERS = authorised(AGENT_ROLES, "record a change to configuration items")


def _row(services: Services, code: str) -> dict[str, Any]:
    row = services.views.get(configuration_items, str(ci_id(code)))
    if row is None:
        raise RecordNotFound(f"no configuration item {code}")
    return row


@router.post(
    "",
    response_model=ConfigurationItemDetails,
    responses=written(201),
    status_code=201,
    summary="Register a configuration item (later changes go through changes)",
    openapi_extra=documented(IDEMPOTENCY_KEY, CORRELATION_ID),
)
async def register_configuration_item(
    request: Request,
    ctx: Annotated[Context, CI_KEEPERS],
    command: RegisterConfigurationItem,
) -> Response:
    services, outcome = await decided(request, ctx, "register_configuration_item", command)
    location = f"/api/v1/configuration-items/{command.code}"
    return await answer(services, outcome, configuration_items, location, 201, ctx=ctx)


@router.get("", response_model=ConfigurationItemList, summary="List configuration items by code")
def list_configuration_items(
    services: ServicesDep,
    ctx: ReaderDep,
    ci_type: CiType | None = None,
    service: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    clauses, params = [], []
    if ci_type is not None:
        clauses.append('"ci_type" = ?')
        params.append(ci_type.value)
    if service is not None:
        clauses.append('"service" = ?')
        params.append(service)
    rows = services.views.select(
        configuration_items, " AND ".join(clauses), params, 'ORDER BY "code"'
    )
    return json_response(
        {"items": [shown_row(services, ctx, configuration_items, r) for r in rows]}
    )


@router.get(
    "/{code}",
    response_model=ConfigurationItemDetails,
    responses=READ,
    summary="Read a configuration item",
)
def get_configuration_item(code: CodePath, services: ServicesDep, ctx: ReaderDep) -> Response:
    row = shown_row(services, ctx, configuration_items, _row(services, code))
    return json_response(row, headers={"ETag": etag(row["version"])})


@router.get(
    "/{code}/impact",
    response_model=ImpactReport,
    summary="Everything that depends on this item, transitively, with its distance",
)
def get_impact(code: CodePath, services: ServicesDep, _: ReaderDep) -> Response:
    _row(services, code)
    rows = services.views.select(configuration_items)
    return json_response({"code": code, "impacted": impact_of(rows, code)})


@router.get(
    "/{code}/history",
    response_model=RecordHistory,
    name="get_configuration_item_history",
    summary="Every event, in order, with actor and time",
)
def get_history(code: CodePath, services: ServicesDep, ctx: ReaderDep) -> Response:
    record_id = ci_id(code)
    events = readable(ctx, services.records.history(record_id, Registered))
    return json_response(history(record_id, events))


@router.post(
    "/{code}/apply-change",
    response_model=ConfigurationItemDetails,
    responses=written(),
    summary="Record what a successfully implemented change did to this item",
    openapi_extra=documented(IF_MATCH, IDEMPOTENCY_KEY, CORRELATION_ID),
)
async def apply_change(
    code: CodePath,
    request: Request,
    ctx: Annotated[Context, CI_CHANGERS],
    command: ChangeConfigurationItem,
) -> Response:
    services = services_of(request)
    change_id = services.records.find_numbered(RecordKind.CHANGE, command.change)
    outcome = await run(
        services,
        ctx,
        "apply_change_to_configuration_item",
        command,
        lambda session: command.decide(session, ctx, code, change_id),
        target=ci_id(code),
        expected_version=expected_version(request),
        idempotency_key=idempotency_key(request),
    )
    location = f"/api/v1/configuration-items/{code}"
    return await answer(services, outcome, configuration_items, location, 200, ctx=ctx)
