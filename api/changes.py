"""Changes: raise, read, list, history, the calendar, one POST per lifecycle action; standard
change templates; blackout windows."""

# No `from __future__ import annotations`: the per-action routes are built in a loop, and FastAPI
# must see each route's real body type.

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Query, Request, Response

from api.deps import (
    AGENT_ROLES,
    CORRELATION_ID,
    IDEMPOTENCY_KEY,
    ReaderDep,
    ServicesDep,
    StaffReaderDep,
    authorised,
    documented,
    idempotency_key,
    services_of,
)
from api.models import (
    LOCATION,
    ChangeCalendar,
    ChangeDetails,
    ChangeList,
    ChangeReceipt,
    ChangeTemplate,
    DeclaredBlackout,
    WithdrawnBlackout,
    written,
)
from api.params import AsOf, ChangeRef, CodePath
from api.problem_details import ApiProblem, problem
from api.reads import Readable, numbered, record_events
from api.record_answers import answer, decided, json_response, submitted, written_row
from api.record_routes import RecordRoutes
from api.routing import ResourceRouter
from api.scoping import reads_internal
from application.kinds import CHANGE, CHANGE_SCHEDULE, CHANGE_TEMPLATE
from application.outcome import Outcome
from application.pipeline import Submission
from domain.actors import Role
from domain.change import (
    ChangeKind,
    ChangeState,
    NoticeAlreadyTakenIn,
    TemplateDefined,
    template_id,
)
from domain.change_commands import (
    CHANGE_COMMANDS,
    DeclareBlackout,
    DefineChangeTemplate,
    RaiseChange,
    TakeInChange,
    WithdrawBlackout,
)
from domain.context import Context
from domain.errors import RecordNotFound
from domain.events import ENVELOPE
from domain.moments import DESCRIPTION as MOMENT
from domain.moments import Timestamp
from domain.record_numbers import RecordKind
from domain.saved_filter import RecordList
from projections import change_calendar
from projections.base import Row
from projections.change_calendar import calendar, overlapping
from projections.change_details import change_details, changes
from service.bootstrap import Services

router = ResourceRouter(prefix="/changes", tags=["changes"])
templates = ResourceRouter(prefix="/change-templates", tags=["changes"])

CHANGE_MANAGERS = authorised(frozenset({Role.CHANGE_MANAGER, Role.ADMIN}), "define templates")
#: Machines that raise requests for change: release pipelines, vendors' upgrade notices.
INTEGRATIONS = authorised(frozenset({Role.INTEGRATION}), "send requests for change")
#: Who declares and withdraws blackout windows (the console's calendar offers it to them too).
BLACKOUT_ROLES = frozenset({Role.SERVICE_MANAGER, Role.ADMIN})
SERVICE_MANAGERS = authorised(BLACKOUT_ROLES, "declare blackout windows")
#: CAB members decide on changes; the domain checks that they are named on the change's CAB.
CHANGE_ACTORS = AGENT_ROLES
#: How changes are read: the staff's, a requester reaches none (they see the calendar of
#: windows); projections/change_details.py.
CHANGES = Readable(changes, "change", numbered(RecordKind.CHANGE))


ROUTES = RecordRoutes(router, CHANGES, CHANGE, ChangeDetails, ref=ChangeRef, reader=StaffReaderDep)
ROUTES.add_create(
    RaiseChange,
    name="raise_change",
    caller=authorised(AGENT_ROLES, "raise changes"),
    summary="Raise a change (a standard one names its template and is authorised by it)",
)
ROUTES.add_list(
    name="list_changes",
    model=ChangeList,
    summary="List changes, newest first",
    filters={"state": ChangeState | None, "kind": ChangeKind | None},
    searched=True,
    saved=RecordList.CHANGES,
)


@router.post(
    "/intake",
    response_model=ChangeReceipt,
    responses={
        **written(201),
        200: {"description": "the same notice again: the change it raised", "headers": LOCATION},
    },
    status_code=201,
    name="take_in_change",
    summary="A request for change from a release pipeline, a vendor or an upgrade notice"
    " (the integration role); the same source and reference again answers the first change",
    description="The answer is a receipt (the change's reference, state and source), not the"
    " change: a machine reads no staff record. 201 for a new change; 200 naming the change the"
    " same (source, external_reference) raised before, with nothing recorded.",
    openapi_extra=documented(IDEMPOTENCY_KEY, CORRELATION_ID),
)
async def take_in_change(
    request: Request, ctx: Annotated[Context, INTEGRATIONS], command: TakeInChange
) -> Response:
    services = services_of(request)
    try:
        services, outcome = await decided(request, ctx, "take_in_change", command, CHANGE)
        status = 201
    except NoticeAlreadyTakenIn as again:  # the same notice: the change it raised answers it
        outcome = Outcome(again.change_id, services.desk.stored_version(again.change_id), None)
        status = 200
    key = str(outcome.record_id)
    row = await written_row(services, outcome, change_details, key)
    location = f"/api/v1/changes/{outcome.record_id}"
    if row is None:
        return problem(
            202,
            "projection-lag",
            "the change is recorded; the views will show it shortly",
            headers={"Location": location},
            id=key,
            version=outcome.version,
        )
    receipt = {name: row[name] for name in ChangeReceipt.model_fields}
    return json_response(receipt, status, {"Location": f"/api/v1/changes/{row['ref']}"})


#: The longest period the calendar shows: what it costs grows with the windows in the period
#: (each with its conflicts), so a period of ages would be every window ever booked.
CALENDAR_PERIOD = timedelta(days=366)


@router.get(
    "/calendar",
    response_model=ChangeCalendar,
    name="get_change_calendar",
    summary="The forward schedule of change: windows in a period, with their conflicts",
    description="`from` and `to` are times with a zone, `to` after `from`, at most 366 days"
    " apart (422 otherwise).",
)
def get_calendar(
    services: ServicesDep,
    ctx: ReaderDep,
    from_: Annotated[Timestamp, Query(alias="from", description=f"period start ({MOMENT})")],
    to: Annotated[Timestamp, Query(description=f"period end ({MOMENT})")],
) -> Response:
    if to <= from_:
        raise ApiProblem(422, "invalid-input", "to must be after from")
    if to - from_ > CALENDAR_PERIOD:
        raise ApiProblem(422, "invalid-input", "the period is at most 366 days: ask year by year")
    return json_response(
        {"from": from_.isoformat(), "to": to.isoformat(), **calendar_of(services, ctx, from_, to)}
    )


def calendar_of(
    services: Services, ctx: Context, from_: datetime, to: datetime
) -> dict[str, list[Row]]:
    """The changes booked in the period, each with its conflicts, and its blackouts, as `ctx`
    reads them (the API's calendar and the console's)."""
    in_range = overlapping(services.views, from_, to)
    around = in_range
    if in_range:  # what overlaps the windows shown, inside the period or not
        start = min(datetime.fromisoformat(r["start"]) for r in in_range)
        end = max(datetime.fromisoformat(r["end"]) for r in in_range)
        around = overlapping(services.views, start, end)
    body = calendar(in_range, around)
    if not reads_internal(ctx):  # a caller reads the windows, not why a manager overrode a clash
        for change in body["changes"]:
            if change["override"] is not None:
                change["override"] = {**change["override"], "reason": None}
    return body


@router.post(
    "/blackouts",
    response_model=DeclaredBlackout,
    responses=written(201, versioned=False),
    status_code=201,
    summary="Declare a blackout window (opening hours, events, year end): a service manager",
    openapi_extra=documented(IDEMPOTENCY_KEY, CORRELATION_ID),
)
async def declare_blackout(
    request: Request, ctx: Annotated[Context, SERVICE_MANAGERS], command: DeclareBlackout
) -> Response:
    services, outcome = await decided(request, ctx, "declare_blackout", command, CHANGE_SCHEDULE)
    key = f"blackout:{command.code}"
    return await answer(
        services, outcome, change_calendar, "/api/v1/changes/calendar", 201, key, ctx=ctx
    )


@router.post(
    "/blackouts/{code}/withdraw",
    response_model=WithdrawnBlackout,
    summary="Withdraw a blackout window",
    openapi_extra=documented(IDEMPOTENCY_KEY, CORRELATION_ID),
)
async def withdraw_blackout(
    code: CodePath,
    request: Request,
    ctx: Annotated[Context, SERVICE_MANAGERS],
    command: WithdrawBlackout,
) -> Response:
    services, outcome = await submitted(
        request,
        Submission(
            ctx,
            command,
            CHANGE_SCHEDULE,
            ref=code,
            operation="withdraw_blackout",
            decision=lambda session: command.decide(session, ctx, code),
            idempotency_key=idempotency_key(request),
        ),
    )
    timeout = services.settings.read_your_writes_timeout
    position = outcome.position or 0
    await services.caught_up(outcome.record_id, position, timeout)
    return json_response({"withdrawn": code})


ROUTES.add_read(
    name="get_change", summary="Read a change by id or number (as it is now, or as of a moment)"
)
ROUTES.add_actions(CHANGE_COMMANDS.values(), roles_of=lambda _: CHANGE_ACTORS)


@templates.post(
    "",
    response_model=ChangeTemplate,
    responses={201: {"headers": LOCATION}},
    status_code=201,
    summary="Define a pre-approved standard change template (a change manager)",
    openapi_extra=documented(IDEMPOTENCY_KEY, CORRELATION_ID),
)
async def define_change_template(
    request: Request, ctx: Annotated[Context, CHANGE_MANAGERS], command: DefineChangeTemplate
) -> Response:
    services, outcome = await decided(
        request, ctx, "define_change_template", command, CHANGE_TEMPLATE
    )
    events = services.desk.record_history(outcome.record_id, TemplateDefined)
    first = events[0]
    assert isinstance(first, TemplateDefined)
    return json_response(
        _template(first), 201, {"Location": f"/api/v1/change-templates/{command.code}"}
    )


@templates.get(
    "/{code}",
    response_model=ChangeTemplate,
    summary="Read a standard change template (or as of a moment)",
)
def get_change_template(
    code: CodePath, services: ServicesDep, _: ReaderDep, as_of: AsOf = None
) -> Response:
    events = record_events(services, template_id(code))
    first = events[0] if events else None
    if not isinstance(first, TemplateDefined) or (as_of is not None and first.timestamp > as_of):
        raise RecordNotFound(f"no change template {code}")
    return json_response(_template(first))


def _template(defined: TemplateDefined) -> dict[str, object]:
    return defined.model_dump(mode="json", include=set(TemplateDefined.model_fields) - ENVELOPE)
