"""Configuration items: register, read, list, impact, history, and changes through a change."""

from __future__ import annotations

from typing import Annotated

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
    written,
)
from api.pages import Cursor, Limit, decode_cursor, page_body
from api.params import AsOf, CodePath
from api.reads import Readable, add_history, coded, shown_row
from api.record_answers import answer, decided, etag, json_response, submitted
from application.kinds import CONFIGURATION_ITEM
from application.pipeline import Submission
from domain.actors import Role
from domain.change_commands import ChangeConfigurationItem, RegisterConfigurationItem
from domain.configuration_item import CiType, ci_id
from domain.context import Context
from domain.record_numbers import RecordKind
from projections import configuration_items
from projections.configuration_items import impact_of, items
from projections.queries import Filter

router = APIRouter(prefix="/configuration-items", tags=["configuration items"])

CI_KEEPERS = authorised(
    frozenset({Role.SERVICE_MANAGER, Role.CHANGE_MANAGER, Role.ADMIN}),
    "register configuration items",
)
CI_CHANGERS = authorised(AGENT_ROLES, "record a change to configuration items")


#: Configuration items are everyone's to read (projections/configuration_items.py).
ITEMS = Readable(items, "configuration item", coded(ci_id))


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
    services, outcome = await decided(
        request, ctx, "register_configuration_item", command, CONFIGURATION_ITEM
    )
    location = f"/api/v1/configuration-items/{command.code}"
    return await answer(services, outcome, configuration_items, location, 201, ctx=ctx)


@router.get("", response_model=ConfigurationItemList, summary="List configuration items by code")
def list_configuration_items(
    services: ServicesDep,
    ctx: ReaderDep,
    ci_type: CiType | None = None,
    service: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    kept = Filter(equal={"ci_type": ci_type, "service": service})
    after = None if cursor is None else decode_cursor(cursor, items.order)
    page = items.page(services.views, ctx, kept, limit=limit, after=after)
    return json_response(
        page_body(page, lambda row: shown_row(services, ctx, configuration_items, row))
    )


@router.get(
    "/{code}",
    response_model=ConfigurationItemDetails,
    responses=READ,
    summary="Read a configuration item (as it is now, or as of a moment)",
)
def get_configuration_item(
    code: CodePath, services: ServicesDep, ctx: ReaderDep, as_of: AsOf = None
) -> Response:
    row = ITEMS.read(services, ctx, code, as_of)
    return json_response(row, headers={"ETag": etag(row["version"])})


@router.get(
    "/{code}/impact",
    response_model=ImpactReport,
    summary="Everything that depends on this item, transitively, with its distance",
)
def get_impact(code: CodePath, services: ServicesDep, ctx: ReaderDep) -> Response:
    ITEMS.row(services, ctx, code)
    return json_response(
        {"code": code, "impacted": impact_of(items.rows(services.views, ctx), code)}
    )


add_history(
    router,
    ITEMS,
    name="get_configuration_item_history",
    param="code",
    ref=CodePath,
    reader=ReaderDep,
)


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
    change_id = services_of(request).desk.find_numbered(RecordKind.CHANGE, command.change)
    services, outcome = await submitted(
        request,
        Submission(
            ctx,
            command,
            CONFIGURATION_ITEM,
            ref=code,
            operation="apply_change_to_configuration_item",
            decision=lambda session: command.decide(session, ctx, code, change_id),
            expected_version=expected_version(request),
            idempotency_key=idempotency_key(request),
        ),
    )
    location = f"/api/v1/configuration-items/{code}"
    return await answer(services, outcome, configuration_items, location, 200, ctx=ctx)
