"""The internal audit programme: plan an audit, read, list (by state, lead auditor), history, and
one POST per step of its lifecycle. Service managers plan and manage audits; the audit's auditors
record its findings (the domain checks they are its auditors). Naming an auditor who worked in a
process in scope during the audited period is 409 `auditor-not-impartial`, worked out from the
record (application/impartiality.py). The staff's only: a requester reaches none.
"""

# No `from __future__ import annotations`: the per-action routes are built in a loop, and FastAPI
# must see each route's real body type.

from datetime import date
from typing import Annotated, Any

from fastapi import Query, Request, Response
from pydantic import BaseModel, Field

from api.deps import (
    CORRELATION_ID,
    IF_MATCH,
    ServicesDep,
    StaffReaderDep,
    authorised,
    documented,
    expected_version,
)
from api.models import AuditProgramme, InternalAuditDetails, InternalAuditList
from api.params import record_ref
from api.reads import Readable, numbered
from api.record_answers import json_response, submitted
from api.record_routes import RecordRoutes
from api.routing import ResourceRouter
from application.kinds import AUDIT_SCHEDULE, INTERNAL_AUDIT
from application.pipeline import Submission
from domain.actors import Role
from domain.audit_schedule import (
    DEFAULT_TERMS,
    AuditFacts,
    AuditSchedule,
    ProgrammeLine,
    ReviseAuditSchedule,
    ScheduleTerms,
    programme,
)
from domain.change_commands import RecordCommand
from domain.context import Context
from domain.errors import NotFound
from domain.internal_audit import MANAGERS, OFFICE_ZONE, AuditState, FindingKind
from domain.internal_audit_commands import (
    INTERNAL_AUDIT_COMMANDS,
    PlanInternalAudit,
    RecordFinding,
    ReportAudit,
    StartAudit,
)
from domain.record_numbers import RecordKind
from projections.internal_audits import internal_audits
from service.bootstrap import Services

router = ResourceRouter(prefix="/internal-audits", tags=["internal audits"])

AuditRef = Annotated[str, record_ref(RecordKind.INTERNAL_AUDIT.value)]
AUDITS = Readable(internal_audits, "internal audit", numbered(RecordKind.INTERNAL_AUDIT))
#: An audit's auditors work on it (the domain checks they are its auditors): its lead starts
#: and reports it, each records findings.
AUDITORS = MANAGERS | {Role.AUDITOR}
BY_AUDITORS = (StartAudit, RecordFinding, ReportAudit)


def _roles(command: type[RecordCommand]) -> frozenset[Role]:
    return AUDITORS if command in BY_AUDITORS else MANAGERS


# -- the programme: its schedule (a rule of record) and what is due, before `/{ref}` ----------

PROGRAMME_READERS = authorised(AUDITORS, "read the audit programme")
SCHEDULE_KEEPERS = authorised(MANAGERS, "revise the audit schedule")


class ScheduleOut(BaseModel):
    version: int = Field(description="0: the defaults, before the first revision")
    terms: ScheduleTerms


def _schedule(services: Services) -> ScheduleOut:
    try:
        held = services.desk.read(AuditSchedule, AuditSchedule.ID)
    except NotFound:
        return ScheduleOut(version=0, terms=DEFAULT_TERMS)
    return ScheduleOut(version=held.version, terms=held.terms)


@router.get(
    "/schedule",
    response_model=ScheduleOut,
    summary="The audit schedule: each process's importance, frequency and owner",
)
def get_schedule(services: ServicesDep, _: Annotated[Context, PROGRAMME_READERS]) -> ScheduleOut:
    return _schedule(services)


@router.post(
    "/schedule/revisions",
    response_model=ScheduleOut,
    status_code=201,
    summary="Revise the audit schedule (a service manager; the first revision defines it)",
    openapi_extra=documented(IF_MATCH, CORRELATION_ID),
)
async def revise_schedule(
    request: Request,
    revision: ReviseAuditSchedule,
    ctx: Annotated[Context, SCHEDULE_KEEPERS],
) -> ScheduleOut:
    expected = expected_version(request)
    services, _ = await submitted(
        request,
        Submission(
            ctx,
            revision,
            AUDIT_SCHEDULE,
            operation="revise_audit_schedule",
            decision=lambda session: revision.decide(session, ctx, expected),
        ),
    )
    return _schedule(services)


@router.get(
    "/programme",
    response_model=AuditProgramme,
    summary="The audit programme: each process, its last audit and findings, when the next is due",
)
def get_programme(
    services: ServicesDep,
    ctx: Annotated[Context, PROGRAMME_READERS],
    on: Annotated[
        date | None, Query(description="the day it is worked out for (default: today, WIB)")
    ] = None,
) -> Response:
    """Worked out from the schedule in force and every audit on record: a process never audited
    is due now; otherwise the last reported audit's end plus its interval, halved when that audit
    found a major nonconformity against it; overdue when due and none is planned."""
    schedule = _schedule(services)
    today = on or services.clock().astimezone(OFFICE_ZONE).date()
    audits = [_facts(row) for row in internal_audits.rows(services.views, ctx)]
    lines = programme(schedule.terms, audits, today)
    return json_response(
        {
            "on": today.isoformat(),
            "schedule_version": schedule.version,
            "processes": [_line(line) for line in lines],
        }
    )


def _facts(row: dict[str, Any]) -> AuditFacts:
    return AuditFacts(
        ref=row["ref"],
        scope=tuple(row["scope"]),
        state=AuditState(row["state"]),
        planned_end=date.fromisoformat(row["planned"]["end"]),
        findings=tuple((f["clause"], FindingKind(f["kind"])) for f in row["findings"]),
    )


def _line(line: ProgrammeLine) -> dict[str, Any]:
    last = line.last
    return {
        **line.process.model_dump(mode="json"),
        "last_audit": None
        if last is None
        else {"ref": last.ref, "ended": last.planned_end.isoformat(), "found": line.found},
        "planned": list(line.planned),
        "due": line.due.isoformat(),
        "overdue": line.overdue,
        "brought_forward": line.brought_forward,
    }


ROUTES = RecordRoutes(
    router, AUDITS, INTERNAL_AUDIT, InternalAuditDetails, ref=AuditRef, reader=StaffReaderDep
)
ROUTES.add_create(
    PlanInternalAudit,
    name="plan_internal_audit",
    caller=authorised(MANAGERS, "plan internal audits"),
    summary="Plan an internal audit (a service manager): scope, criteria, method, dates, the"
    " audited period and its auditors, each checked impartial against the record",
)
ROUTES.add_list(
    name="list_internal_audits",
    model=InternalAuditList,
    summary="The audit programme, newest first",
    filters={
        "state": AuditState | None,
        "lead_auditor": Annotated[str | None, Query(max_length=200)],
    },
)
ROUTES.add_read(name="get_internal_audit", summary="Read an audit by id or number (AUD-000001)")
ROUTES.add_actions(INTERNAL_AUDIT_COMMANDS.values(), roles_of=_roles)
