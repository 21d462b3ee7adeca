"""Changes: raise, read, list, history, the calendar, one POST per lifecycle action; standard
change templates; blackout windows."""

# No `from __future__ import annotations`: the per-action routes are built in a loop, and FastAPI
# must see each route's real body type.

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

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
    READ,
    ChangeCalendar,
    ChangeDetails,
    ChangeList,
    ChangeTemplate,
    DeclaredBlackout,
    RecordHistory,
    WithdrawnBlackout,
    written,
)
from api.params import ChangeRef, CodePath
from api.problems import ApiProblem
from api.record_answers import (
    add_actions,
    answer,
    decided,
    etag,
    json_response,
    numbered_history,
    numbered_row,
    run,
)
from api.scoping import Scoped, reads_internal
from domain.actors import Role
from domain.change import ChangeKind, ChangeState, Raised, TemplateDefined, template_id
from domain.change_commands import (
    CHANGE_COMMANDS,
    DeclareBlackout,
    DefineChangeTemplate,
    RaiseChange,
    WithdrawBlackout,
)
from domain.context import Context
from domain.errors import RecordNotFound
from domain.moments import DESCRIPTION as MOMENT
from domain.moments import Timestamp
from domain.record_numbers import RecordKind
from infra.bootstrap import Services
from projections import change_calendar, change_details
from projections.change_calendar import calendar

router = APIRouter(prefix="/changes", tags=["changes"])
templates = APIRouter(prefix="/change-templates", tags=["changes"])

CHANGE_MANAGERS = authorised(frozenset({Role.CHANGE_MANAGER, Role.ADMIN}), "define templates")
SERVICE_MANAGERS = authorised(
    frozenset({Role.SERVICE_MANAGER, Role.ADMIN}), "declare blackout windows"
)
#: CAB members decide on changes; the domain checks that they are named on the change's CAB.
CHANGE_ACTORS = AGENT_ROLES
#: Changes are the staff's: a requester reaches none (they see the calendar of windows).
CHANGES = Scoped(RecordNotFound, "change")


@router.post(
    "",
    response_model=ChangeDetails,
    responses=written(201),
    status_code=201,
    summary="Raise a change (a standard one names its template and is authorised by it)",
    openapi_extra=documented(IDEMPOTENCY_KEY, CORRELATION_ID),
)
async def raise_change(
    request: Request,
    ctx: Annotated[Context, authorised(AGENT_ROLES, "raise changes")],
    command: RaiseChange,
) -> Response:
    services, outcome = await decided(request, ctx, "raise_change", command)
    location = f"/api/v1/changes/{outcome.record_id}"
    return await answer(services, outcome, change_details, location, 201, ctx=ctx)


@router.get("", response_model=ChangeList, summary="List changes, newest first")
def list_changes(
    services: ServicesDep,
    ctx: StaffReaderDep,
    state: ChangeState | None = None,
    kind: ChangeKind | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    clauses, params = CHANGES.where(ctx)
    if state is not None:
        clauses.append('"state" = ?')
        params.append(state.value)
    if kind is not None:
        clauses.append('"kind" = ?')
        params.append(kind.value)
    rows = services.views.select(
        change_details, " AND ".join(clauses), params, f'ORDER BY "number" DESC LIMIT {limit}'
    )
    return json_response({"items": rows})


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
    in_range = _overlapping(services, from_.isoformat(), to.isoformat())
    around = in_range
    if in_range:  # what overlaps the windows shown, inside the period or not
        start = min(r["start"] for r in in_range)
        end = max(r["end"] for r in in_range)
        around = _overlapping(services, start, end)
    body = calendar(in_range, around)
    if not reads_internal(ctx):  # a caller reads the windows, not why a manager overrode a clash
        for change in body["changes"]:
            if change["override"] is not None:
                change["override"] = {**change["override"], "reason": None}
    return json_response({"from": from_.isoformat(), "to": to.isoformat(), **body})


def _overlapping(services: Services, start: str, end: str) -> list[dict[str, Any]]:
    start_utc = datetime.fromisoformat(start).astimezone(UTC).isoformat()
    end_utc = datetime.fromisoformat(end).astimezone(UTC).isoformat()
    return services.views.select(change_calendar, '"start" < ? AND "end" > ?', (end_utc, start_utc))


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
    services, outcome = await decided(request, ctx, "declare_blackout", command)
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
    services = services_of(request)
    outcome = await run(
        services,
        ctx,
        "withdraw_blackout",
        command,
        lambda session: command.decide(session, ctx, code),
        idempotency_key=idempotency_key(request),
    )
    timeout = services.settings.read_your_writes_timeout
    position = outcome.position or 0
    await services.caught_up(outcome.record_id, position, timeout)
    return json_response({"withdrawn": code})


@router.get(
    "/{ref}", response_model=ChangeDetails, responses=READ, summary="Read a change by id or number"
)
def get_change(ref: ChangeRef, services: ServicesDep, ctx: StaffReaderDep) -> Response:
    row = numbered_row(services, RecordKind.CHANGE, change_details, ref, ctx, CHANGES)
    return json_response(row, headers={"ETag": etag(row["version"])})


@router.get(
    "/{ref}/history",
    response_model=RecordHistory,
    name="get_change_history",
    summary="Every event, in order, with actor and time",
)
def get_history(ref: ChangeRef, services: ServicesDep, ctx: StaffReaderDep) -> Response:
    return json_response(numbered_history(services, RecordKind.CHANGE, Raised, ref, ctx, CHANGES))


add_actions(
    router,
    CHANGE_COMMANDS.values(),
    kind=RecordKind.CHANGE,
    projection=change_details,
    noun="change",
    roles_of=lambda _: CHANGE_ACTORS,
    model=ChangeDetails,
)


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
    services, outcome = await decided(request, ctx, "define_change_template", command)
    events = services.records.history(outcome.record_id, TemplateDefined)
    first = events[0]
    assert isinstance(first, TemplateDefined)
    body = first.model_dump(mode="json", include=set(TemplateDefined.model_fields) - _ENVELOPE)
    return json_response(body, 201, {"Location": f"/api/v1/change-templates/{command.code}"})


@templates.get("/{code}", response_model=ChangeTemplate, summary="Read a standard change template")
def get_change_template(code: CodePath, services: ServicesDep, _: ReaderDep) -> Response:
    events = services.records.history(template_id(code), TemplateDefined)
    first = events[0]
    assert isinstance(first, TemplateDefined)
    body = first.model_dump(mode="json", include=set(TemplateDefined.model_fields) - _ENVELOPE)
    return json_response(body)


_ENVELOPE = {"originator_id", "originator_version", "timestamp", "actor", "correlation_id"}
