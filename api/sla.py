"""SLA clocks and the rules that judge them: the policy and the business calendars.

Everyone who may read incidents may read clocks and every version of the rules; service managers
change the rules (each change is a new version; tickets keep the versions they were logged under).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import Query, Request, Response
from pydantic import BaseModel, Field

from api.deps import (
    CORRELATION_ID,
    IF_MATCH,
    ReaderDep,
    ServicesDep,
    StaffReaderDep,
    authorised,
    documented,
    expected_version,
    services_of,
)
from api.incidents import INCIDENTS
from api.models import CalendarVersion, SlaClock, SlaClocks
from api.params import IncidentRef, NamePath, RequestRef, Version
from api.reads import Readable
from api.record_answers import json_response as _json
from api.routing import ResourceRouter
from api.service_requests import REQUESTS
from application.kinds import INCIDENT, SERVICE_REQUEST, Kind
from domain.actors import Role
from domain.calendar import BusinessCalendar, HolidayYear, Hours
from domain.context import Context
from domain.events import DomainEvent
from domain.examples import example
from domain.fields import Reason
from domain.incident import Logged
from domain.moments import DESCRIPTION as MOMENT
from domain.moments import Timestamp
from domain.service_request import Submitted
from domain.sla import DEFAULT_TERMS, PolicyTerms, SlaPolicy
from domain.sla_clock import ClockState, TargetClock, TicketClock
from domain.sla_rules import Rules
from projections.sla_clocks import watched
from projections.sla_index import counting_targets
from service.bootstrap import Services

router = ResourceRouter(tags=["SLA"])

RULE_KEEPERS = authorised(frozenset({Role.SERVICE_MANAGER, Role.ADMIN}), "change SLA rules")
Keeper = Annotated[Context, RULE_KEEPERS]
AsOf = Annotated[
    Timestamp | None, Query(description=f"judge as of this moment (default: now); {MOMENT}")
]


def _minutes(delta: timedelta) -> float:
    return round(delta.total_seconds() / 60, 2)


def _target(clock: TargetClock) -> dict[str, Any]:
    target, remaining, overrun = (
        _minutes(t) for t in (clock.target_time, clock.remaining, clock.overrun)
    )
    return {
        "state": clock.state,
        "priority": clock.priority,
        "target_minutes": target,
        # from the rounded figures, so that the answer adds up to the hundredth as printed
        "elapsed_minutes": round(target - remaining + overrun, 2),
        "remaining_minutes": remaining,
        "overrun_minutes": overrun,
        "counted_minutes": _minutes(clock.counted),
        "due_at": clock.due_at,
        "stopped_at": clock.stopped_at,
        "breached_at": clock.breached_at,
    }


def clock_body(
    kind: str, ref: str, ticket_id: str, rules: Rules, clock: TicketClock
) -> dict[str, Any]:
    return {
        "id": ticket_id,
        "kind": kind,
        "ref": ref,
        "as_of": clock.as_of,
        "state": clock.state,
        "rules": {
            **rules.versions.model_dump(mode="json"),
            "recorded": rules.recorded,  # False: logged before SLA policies; first versions
        },
        "response": _target(clock.response),
        "resolution": _target(clock.resolution),
        "paused": [
            {
                "start": p.start,
                "end": p.end,
                "reason": p.reason,
                "business_minutes": _minutes(p.business_time),
            }
            for p in clock.pauses
        ],
        "timeline": [
            {"at": s.at, "what": s.what, "target": s.target, "detail": s.detail}
            for s in clock.timeline
        ],
    }


def _add_clocks_route(kind: Kind, records: Readable, ref_type: Any, summary: str) -> None:
    """GET <the kind's path>/{ref}/sla (get_<kind>_sla): a record's clocks, judged from its
    history; a record out of the caller's reach is not found."""

    def clocks(ref: str, services: ServicesDep, ctx: ReaderDep, as_of: AsOf = None) -> Response:
        record_id, history = records.events(services, ctx, ref)
        return _judged(services, kind, record_id, history, as_of)

    clocks.__annotations__["ref"] = ref_type  # the kind's reference, with its bound
    name, path = f"get_{kind.name}_sla", f"{kind.path}/{{ref}}/sla"
    router.get(path, response_model=SlaClock, name=name, summary=summary)(clocks)


_add_clocks_route(INCIDENT, INCIDENTS, IncidentRef, "An incident's SLA clocks, with their timeline")
_add_clocks_route(
    SERVICE_REQUEST, REQUESTS, RequestRef, "A service request's SLA clocks, with their timeline"
)


def _judged(
    services: Services,
    kind: Kind,
    record_id: UUID,
    history: list[DomainEvent],
    as_of: datetime | None,
) -> Response:
    """A record's clocks, judged from its history (not from a view) as of a moment."""
    assert kind.sla is not None, f"{kind.noun} records run no SLA clocks"
    rules, clock = services.desk.rulebook.judge(kind.sla.ticket(history), as_of or services.clock())
    opening = history[0]  # the kind's ticket has checked it is the kind's first event
    assert isinstance(opening, Logged | Submitted)
    label = f"{kind.prefix}-{opening.number:06d}"
    return _json(clock_body(kind.sla.name, label, str(record_id), rules, clock))


@router.get(
    "/sla/clocks",
    response_model=SlaClocks,
    summary="Open tickets' clocks in a state, the least time remaining first",
    description="Breached clocks come first among the breached, the longest overdue first;"
    " a ticket's remaining time is that of its more urgent counting target.",
)
def list_clocks(
    services: ServicesDep,
    ctx: StaffReaderDep,
    state: Annotated[ClockState | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Response:
    now = services.clock()
    index = services.sla_index
    found: list[tuple[timedelta, dict[str, Any]]] = []
    rows = watched(services.views, ctx)  # the caller's organisation's clocks
    for row in rows:
        if not index.may_list(row, now, state):
            continue  # judged before, and its state cannot have changed since (docs/sla.md)
        rules, clock = index.judge(row, now)
        counting = counting_targets(clock)
        if not counting or (state is not None and clock.state is not state):
            continue
        remaining = min(t.remaining - t.overrun for t in counting)  # the longest overdue first
        body = clock_body(row["kind"], row["ref"], row["id"], rules, clock)
        del body["timeline"]
        found.append((remaining, body))
    if len(index) > 2 * len(rows) + 1000:
        index.keep_only(row["id"] for row in rows)
    found.sort(key=lambda pair: pair[0])
    return _json({"as_of": now, "items": [body for _, body in found[:limit]]})


# -- the policy ----------------------------------------------------------------------------------


class PolicyOut(BaseModel):
    version: int
    terms: PolicyTerms


class PolicyRevision(BaseModel):
    model_config = example(
        {
            "terms": DEFAULT_TERMS.model_dump(mode="json"),
            "reason": "Warn at 75% and 90%",
        },
        extra="forbid",
    )
    terms: PolicyTerms
    reason: str = Reason


def _policy(policy: SlaPolicy) -> PolicyOut:
    return PolicyOut(version=policy.version, terms=policy.terms)


@router.get("/sla/policy", response_model=PolicyOut, summary="The SLA policy, or a version")
def get_policy(services: ServicesDep, _: ReaderDep, version: Version = None) -> PolicyOut:
    return _policy(services.desk.sla_policy(version))


@router.post(
    "/sla/policy/revisions",
    response_model=PolicyOut,
    status_code=201,
    summary="Revise the SLA policy (a new version; open tickets keep theirs)",
    openapi_extra=documented(IF_MATCH, CORRELATION_ID),
)
def revise_policy(request: Request, revision: PolicyRevision, ctx: Keeper) -> PolicyOut:
    desk = services_of(request).desk
    desk.revise_sla_policy(
        ctx, revision.terms, revision.reason, expected_version=expected_version(request)
    )
    return _policy(desk.sla_policy())


# -- the calendars -------------------------------------------------------------------------------


class CalendarOut(BaseModel):
    name: str
    version: int
    time_zone: str
    hours: Hours
    years: dict[int, HolidayYear]


class HolidayAmendment(BaseModel):
    model_config = example(
        {
            "holidays": {
                "source": "SKB 3 Menteri 2027",
                "holidays": [
                    {"date": "2027-08-17", "name": "Hari Kemerdekaan", "kind": "national"}
                ],
            },
            "reason": "The 2027 decree is published",
        },
        extra="forbid",
    )
    holidays: HolidayYear
    reason: str = Reason


class HoursRevision(BaseModel):
    model_config = example(
        {
            "hours": {
                "monday": [{"start": 480, "end": 960}],
                "tuesday": [{"start": 480, "end": 960}],
                "wednesday": [{"start": 480, "end": 960}],
                "thursday": [{"start": 480, "end": 960}],
                "friday": [{"start": 480, "end": 960}],
                "saturday": [{"start": 480, "end": 720}],
                "sunday": [],
            },
            "reason": "Saturday mornings open from March",
        },
        extra="forbid",
    )
    hours: Hours
    reason: str = Reason


def _calendar(calendar: BusinessCalendar) -> CalendarOut:
    return CalendarOut.model_validate(calendar, from_attributes=True)


@router.get(
    "/sla/calendars",
    response_model=list[CalendarVersion],
    summary="The business calendars, each at its current version",
)
def list_calendars(services: ServicesDep, _: ReaderDep) -> list[dict[str, Any]]:
    desk = services.desk
    return [
        {"name": name, "version": desk.business_calendar(name).version}
        for name in desk.calendar_names()
    ]


@router.get(
    "/sla/calendars/{name}",
    name="get_business_calendar",
    response_model=CalendarOut,
    summary="A calendar, or a version of it",
)
def get_calendar(
    name: NamePath,
    services: ServicesDep,
    _: ReaderDep,
    version: Version = None,
) -> CalendarOut:
    return _calendar(services.desk.business_calendar(name, version))


@router.put(
    "/sla/calendars/{name}/holidays/{year}",
    response_model=CalendarOut,
    summary="Replace a year's holidays (e.g. the new SKB 3 Menteri): a new calendar version",
    openapi_extra=documented(IF_MATCH, CORRELATION_ID),
)
def amend_holidays(
    name: NamePath,
    year: Annotated[int, Field(ge=1970, le=2200)],
    request: Request,
    amendment: HolidayAmendment,
    ctx: Keeper,
) -> CalendarOut:
    desk = services_of(request).desk
    desk.amend_holidays(
        ctx,
        name,
        year,
        amendment.holidays,
        amendment.reason,
        expected_version=expected_version(request),
    )
    return _calendar(desk.business_calendar(name))


@router.put(
    "/sla/calendars/{name}/hours",
    response_model=CalendarOut,
    summary="Revise the working hours: a new calendar version",
    openapi_extra=documented(IF_MATCH, CORRELATION_ID),
)
def revise_hours(
    name: NamePath, request: Request, revision: HoursRevision, ctx: Keeper
) -> CalendarOut:
    desk = services_of(request).desk
    desk.revise_calendar_hours(
        ctx, name, revision.hours, revision.reason, expected_version=expected_version(request)
    )
    return _calendar(desk.business_calendar(name))
