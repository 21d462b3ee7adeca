"""Configuration items: register, read, list, impact, history, and changes through a change."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response
from starlette.concurrency import run_in_threadpool

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
from api.directory import add_coded_actions
from api.models import (
    ConfigurationItemDetails,
    ConfigurationItemList,
    ImpactReport,
    Reconciliation,
    written,
)
from api.params import CodePath
from api.reads import Readable, coded
from api.record_answers import acted, add_action_route, answer, json_response, submitted
from api.record_routes import RecordRoutes, by_code
from api.routing import ResourceRouter
from application.kinds import CONFIGURATION_ITEM
from application.pipeline import Submission
from domain.actors import Role
from domain.change_commands import (
    ChangeConfigurationItem,
    RegisterConfigurationItem,
    VerifyConfigurationItem,
)
from domain.cmdb_reconciliation import CorrectDiscrepancy
from domain.configuration_item import CiType, ci_id
from domain.context import Context
from domain.record_numbers import RecordKind
from processes import cmdb_reconcile
from projections import configuration_items
from projections.configuration_items import impact_of, items

router = ResourceRouter(prefix="/configuration-items", tags=["configuration items"])

CI_KEEPERS = authorised(
    frozenset({Role.SERVICE_MANAGER, Role.CHANGE_MANAGER, Role.ADMIN}),
    "register configuration items",
)
CI_CHANGERS = authorised(AGENT_ROLES, "record a change to configuration items")


#: Configuration items are everyone's to read (projections/configuration_items.py).
ITEMS = Readable(items, "configuration item", coded(ci_id))


ROUTES = RecordRoutes(
    router,
    ITEMS,
    CONFIGURATION_ITEM,
    ConfigurationItemDetails,
    ref=CodePath,
    reader=ReaderDep,
    param="code",
)
ROUTES.add_create(
    RegisterConfigurationItem,
    name="register_configuration_item",
    caller=CI_KEEPERS,
    summary="Register a configuration item (later changes go through changes)",
    located=by_code,
)
ROUTES.add_list(
    name="list_configuration_items",
    model=ConfigurationItemList,
    summary="List configuration items by code",
    filters={"ci_type": CiType | None, "service": Annotated[str | None, Query(max_length=200)]},
    shown=True,
)
ROUTES.add_read(
    name="get_configuration_item",
    summary="Read a configuration item (as it is now, or as of a moment)",
    history=False,  # after the impact, as it always was in the OpenAPI document
)


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


ROUTES.add_history(name="get_configuration_item_history")


@router.post(
    "/{code}/apply-change",
    response_model=ConfigurationItemDetails,
    responses=written(),
    summary="Record what a successfully implemented change did to this item (an item whose type"
    " is not under change control may be edited directly, naming none)",
    openapi_extra=documented(IF_MATCH, IDEMPOTENCY_KEY, CORRELATION_ID),
)
async def apply_change(
    code: CodePath,
    request: Request,
    ctx: Annotated[Context, CI_CHANGERS],
    command: ChangeConfigurationItem,
) -> Response:
    given = command.change  # none: an item whose type is not under change control, edited directly
    desk = services_of(request).desk
    change_id = None if given is None else desk.find_numbered(RecordKind.CHANGE, given)
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


async def verify_configuration_item(
    code: CodePath,
    request: Request,
    ctx: Annotated[Context, CI_CHANGERS],
    command: VerifyConfigurationItem,
) -> Response:
    location = f"/api/v1/configuration-items/{code}"
    return await acted(
        request, ctx, command, CONFIGURATION_ITEM, code, location, configuration_items
    )


add_action_route(
    router,
    VerifyConfigurationItem,
    verify_configuration_item,
    name="verify_configuration_item",
    model=ConfigurationItemDetails,
    path="code",
)


#: Naming the change that corrected a discrepancy: an agent's, as recording the change is.
add_coded_actions(ROUTES, [CorrectDiscrepancy], AGENT_ROLES)


@router.post(
    "/reconciliations",
    response_model=Reconciliation,
    summary="Reconcile the kiosks' and gates' records with the circulation stream now",
)
async def reconcile_now(services: ServicesDep, ctx: Annotated[Context, CI_KEEPERS]) -> Response:
    """Each kiosk and gate on record against what the circulation stream last heard of it: the
    findings recorded as verifications (source `circulation`) where they differ from the last
    or it is 30 days old; devices heard that no item records answered as `unregistered`
    (docs/configuration-items.md, "Reconciliation"). The daily run does the same."""
    done, outcome = await run_in_threadpool(cmdb_reconcile.run, services, ctx)
    if outcome is not None:  # the next run reads the views: they show what this one recorded
        timeout = services.settings.read_your_writes_timeout
        await services.caught_up(outcome.record_id, outcome.position or 0, timeout)
    return json_response(done)
