"""The internal audit programme (ISO/IEC 20000-1 9.2): audits planned with their scope, criteria,
method, dates and auditors; their findings, with evidence; their report.

    planned -> in_progress -> reported -> closed
    planned | in_progress -> cancelled (with the reason)

An audit names its scope (clauses of the standard, as "8.6.1", and the services it looks at), the
criteria it checks against (the documented procedure, the SLA), its method, the dates it is planned
for, and the period of the record it audits. It has a lead auditor and other auditors, people of
the directory. A service manager plans it, names auditors, starts, reports, closes or cancels it;
its auditors record findings while it is in progress.

Impartiality (9.2 b: "auditors shall not audit their own work"): nobody audits a process they
worked in during the audited period. Whether they did is read from the record: they are the actor
of an event, in the audited period, of a record of a kind that belongs to a process in scope
(`PROCESS_KINDS`, clause -> kinds). Naming such an auditor, at planning or later, is refused with
`AuditorNotImpartial`, naming one record they worked on. The domain asks the session
(`Session.work_in`); the application answers from the store (application/impartiality.py).

A finding is a nonconformity (major or minor), an observation, or an opportunity for improvement;
it names a clause, says what was found, and links its evidence (records, samples, evidence packs,
attachments). A nonconformity found opens a nonconformity record (domain/nonconformity.py), an
opportunity for improvement opens an improvement in the register (domain/improvement.py, source
"audit-finding"), in the same write as the finding; their ids derive from the audit's and the
finding's, so each finding opens its record exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from domain.actors import Role
from domain.aggregate import LifecycleAggregate, applies
from domain.context import Context
from domain.errors import DomainError, NothingChanged, NotPermitted
from domain.events import DomainEvent
from domain.fields import Description, Name, Number, OptionalReason, Reasoned, Text
from domain.fields import Ref as RefField
from domain.nonconformity import Clause
from domain.organisations import PROVINCE, OrganisationCode
from domain.record_numbers import named_id

#: Who plans and manages audits.
MANAGERS = frozenset({Role.SERVICE_MANAGER, Role.ADMIN})
#: The most auditors (the lead among them) and findings one audit holds.
MAX_AUDITORS = 20
MAX_FINDINGS = 500
#: The audited period is a span of whole days in the office's time.
OFFICE_ZONE = ZoneInfo("Asia/Jakarta")

#: The processes a clause names, as the kinds of record they are worked in (application/kinds.py
#: names them). An auditor who acted on a record of one of these kinds in the audited period
#: worked in that process. A clause not listed here has no records of its own to judge by.
PROCESS_KINDS: dict[str, tuple[str, ...]] = {
    "8.2.4": ("catalogue_item", "service_catalogue"),  # service catalogue management
    "8.2.6": ("configuration_item",),  # configuration management
    "8.3.3": ("sla_policy", "business_calendar"),  # service level management
    "8.5.1": ("change", "change_template"),  # change management
    "8.6.1": ("incident",),  # incident management
    "8.6.2": ("service_request", "catalogue_item"),  # service request management
    "8.6.3": ("problem",),  # problem management
    "9.4": ("issued_report",),  # service reporting
    "10.1": ("nonconformity",),  # nonconformity and corrective action
    "10.2": ("improvement",),  # continual improvement
}


def kinds_in_scope(clauses: list[str]) -> frozenset[str]:
    """The kinds of record the processes of these clauses are worked in."""
    return frozenset(kind for clause in clauses for kind in PROCESS_KINDS.get(clause, ()))


def period_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """The audited period from the start of its first day to the end of its last, in the
    office's time: [since, until)."""
    since = datetime.combine(first, time(), OFFICE_ZONE)
    return since, datetime.combine(last + timedelta(days=1), time(), OFFICE_ZONE)


@dataclass(frozen=True, slots=True)
class Work:
    """One record someone worked on: its kind and how people read it (INC-000123, a code)."""

    kind: str
    ref: str


class AuditState(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    REPORTED = "reported"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class FindingKind(StrEnum):
    MAJOR_NONCONFORMITY = "nonconformity-major"
    MINOR_NONCONFORMITY = "nonconformity-minor"
    OBSERVATION = "observation"
    OPPORTUNITY = "opportunity-for-improvement"


NONCONFORMITIES = (FindingKind.MAJOR_NONCONFORMITY, FindingKind.MINOR_NONCONFORMITY)


class EvidenceKind(StrEnum):
    RECORD = "record"  # INC-000123, REQ-000007, CHG-000012, or a code
    SAMPLE = "sample"  # GET /api/v1/audit/sample: "type=Incident seed=42 n=10 since=… until=…"
    EVIDENCE_PACK = "evidence-pack"  # GET /api/v1/audit/export: its manifest digest, its period
    ATTACHMENT = "attachment"  # a file's id on a record


class Evidence(BaseModel):
    """What a finding rests on, as an auditor can find it again."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: EvidenceKind
    ref: str = Field(min_length=1, max_length=300)
    note: str | None = OptionalReason


Evidences = Annotated[list[Evidence], Field(max_length=50)]
AuditorIds = Annotated[list[Annotated[str, Name]], Field(max_length=MAX_AUDITORS - 1)]
Clauses = Annotated[list[Annotated[str, Clause]], Field(min_length=1, max_length=40)]


class Opened(BaseModel):
    """The record a finding opened: a nonconformity (NC-…) or an improvement (IMP-…)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: str = Field(pattern=r"^(nonconformity|improvement)$")
    id: UUID
    ref: str = RefField


def opened_id(kind: str, audit_id: UUID, finding: int) -> UUID:
    """The id of the record a finding opens: the same on every retry, so that a second one
    collides in the store instead of being written."""
    return named_id(f"audit-finding-{kind}", f"{audit_id}/{finding}")


class AuditorNotImpartial(DomainError):
    """An auditor named for an audit worked in a process in its scope during the audited
    period (read from the record)."""

    code = "auditor-not-impartial"


class NotAnAuditorOfThis(NotPermitted):
    code = "not-an-auditor-of-this-audit"


class InvalidAuditDates(DomainError):
    code = "invalid-audit-dates"


# -- events --------------------------------------------------------------------------------------


class AuditEvent(DomainEvent):
    """A fact in an internal audit's history."""


class Planned(AuditEvent):
    type_name: ClassVar[str] = "InternalAudit.Planned"
    number: int = Number
    title: str = Name
    scope: Clauses
    services: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(max_length=40)
    criteria: str = Text
    method: str = Description
    planned_start: date
    planned_end: date
    period_from: date
    period_to: date
    lead_auditor: str = Name
    auditors: AuditorIds
    organisation: str = OrganisationCode


class AuditorAssigned(AuditEvent):
    type_name: ClassVar[str] = "InternalAudit.AuditorAssigned"
    auditor: str = Name
    reason: str | None = OptionalReason


class Started(AuditEvent):
    type_name: ClassVar[str] = "InternalAudit.Started"


class FindingRecorded(AuditEvent):
    type_name: ClassVar[str] = "InternalAudit.FindingRecorded"
    #: the finding's number within the audit, from 1
    finding: int = Number
    kind: FindingKind
    clause: str = Clause
    text: str = Text
    evidence: Evidences
    #: the nonconformity or improvement it opened, if it is of a kind that opens one
    opened: Opened | None = None


class Reported(AuditEvent):
    type_name: ClassVar[str] = "InternalAudit.Reported"
    conclusions: str = Text


class Closed(AuditEvent):
    type_name: ClassVar[str] = "InternalAudit.Closed"
    note: str | None = OptionalReason


class Cancelled(Reasoned, AuditEvent):
    type_name: ClassVar[str] = "InternalAudit.Cancelled"


def transition(state: AuditState | None, event: AuditEvent) -> AuditState:
    """The lifecycle state after an event: shared by the aggregate and the view."""
    match event:
        case Planned():
            return AuditState.PLANNED
        case Started():
            return AuditState.IN_PROGRESS
        case Reported():
            return AuditState.REPORTED
        case Closed():
            return AuditState.CLOSED
        case Cancelled():
            return AuditState.CANCELLED
    assert state is not None, "an audit's history starts with InternalAudit.Planned"
    return state


def check_manager(ctx: Context, action: str) -> None:
    if ctx.actor.role not in MANAGERS:
        raise NotPermitted(f"only a service manager may {action} an internal audit")


def check_impartial(worked: dict[str, Work], auditors: list[str], clauses: list[str]) -> None:
    """Refuse the first of `auditors` who worked in a process in scope (`worked`: what the
    record says each of them worked on in the audited period)."""
    for auditor in auditors:
        work = worked.get(auditor)
        if work is not None:
            raise AuditorNotImpartial(
                f"{auditor} worked in a process in scope ({', '.join(clauses)}) during the"
                f" audited period: they acted on {work.kind.replace('_', ' ')} {work.ref};"
                " an auditor does not audit their own work"
            )


def check_dates(start: date, end: date, first: date, last: date) -> None:
    if end < start:
        raise InvalidAuditDates("the audit's planned end is before its start")
    if last < first:
        raise InvalidAuditDates("the audited period ends before it begins")


# -- the aggregate -------------------------------------------------------------------------------


class InternalAudit(
    LifecycleAggregate[AuditState], events=AuditEvent, transition=transition, noun="audit"
):
    KIND: ClassVar[str] = "internal_audit"

    number: int
    state: AuditState
    organisation: str
    team: tuple[str, ...]
    scope: tuple[str, ...]
    period: tuple[date, date]
    findings: int

    @classmethod
    def plan(cls, ctx: Context, *, id: UUID, **fields: Any) -> InternalAudit:
        """Plan an audit (the caller has checked its auditors are people and impartial)."""
        check_manager(ctx, "plan")
        check_dates(
            fields["planned_start"],
            fields["planned_end"],
            fields["period_from"],
            fields["period_to"],
        )
        fields.setdefault("organisation", PROVINCE)
        # the lead once, and each other auditor once, in the order named
        lead = fields["lead_auditor"]
        fields["auditors"] = [a for a in dict.fromkeys(fields["auditors"]) if a != lead]
        return cls._begin(ctx, id, Planned, **fields)

    def assign_auditor(self, ctx: Context, *, auditor: str, reason: str | None = None) -> None:
        self._require("assign_auditor", AuditState.PLANNED, AuditState.IN_PROGRESS)
        check_manager(ctx, "name the auditors of")
        if auditor in self.team:
            raise NothingChanged(f"{auditor} is already an auditor of this audit")
        if len(self.team) >= MAX_AUDITORS:
            raise NotPermitted(f"an audit has at most {MAX_AUDITORS} auditors")
        self._record(AuditorAssigned(**self._envelope(ctx), auditor=auditor, reason=reason))

    def start(self, ctx: Context) -> None:
        self._require("start", AuditState.PLANNED)
        self._manager_or_lead(ctx, "start")
        self._record(Started(**self._envelope(ctx)))

    def record_finding(
        self,
        ctx: Context,
        *,
        kind: FindingKind,
        clause: str,
        text: str,
        evidence: list[Evidence],
        opened: Opened | None = None,
    ) -> None:
        self._require("record_finding", AuditState.IN_PROGRESS)
        self.check_auditor(ctx)
        if self.findings >= MAX_FINDINGS:
            raise NotPermitted(f"an audit holds at most {MAX_FINDINGS} findings")
        self._record(
            FindingRecorded(
                **self._envelope(ctx),
                finding=self.next_finding,
                kind=kind,
                clause=clause,
                text=text,
                evidence=evidence,
                opened=opened,
            )
        )

    def report(self, ctx: Context, *, conclusions: str) -> None:
        self._require("report", AuditState.IN_PROGRESS)
        self._manager_or_lead(ctx, "report")
        self._record(Reported(**self._envelope(ctx), conclusions=conclusions))

    def close(self, ctx: Context, *, note: str | None = None) -> None:
        self._require("close", AuditState.REPORTED)
        check_manager(ctx, "close")
        self._record(Closed(**self._envelope(ctx), note=note))

    def cancel(self, ctx: Context, *, reason: str) -> None:
        self._require("cancel", AuditState.PLANNED, AuditState.IN_PROGRESS)
        check_manager(ctx, "cancel")
        self._record(Cancelled(**self._envelope(ctx), reason=reason))

    # -- helpers --------------------------------------------------------------------------------

    @property
    def next_finding(self) -> int:
        return self.findings + 1

    def check_auditor(self, ctx: Context) -> None:
        """Refuse anyone but this audit's auditors recording its findings."""
        if ctx.actor.id not in self.team:
            raise NotAnAuditorOfThis("only this audit's auditors record its findings")

    def _manager_or_lead(self, ctx: Context, action: str) -> None:
        if ctx.actor.role not in MANAGERS and ctx.actor.id != self.team[0]:
            raise NotPermitted(
                f"only its lead auditor or a service manager may {action} an internal audit"
            )

    @applies(Planned)
    def _planned(self, e: Planned) -> None:
        self.number = e.number
        self.organisation = e.organisation
        self.team = (e.lead_auditor, *e.auditors)
        self.scope = tuple(e.scope)
        self.period = (e.period_from, e.period_to)
        self.findings = 0

    @applies(AuditorAssigned)
    def _assigned(self, e: AuditorAssigned) -> None:
        self.team = (*self.team, e.auditor)

    @applies(FindingRecorded)
    def _found(self, e: FindingRecorded) -> None:
        self.findings = e.finding

    @applies(Started, Reported, Closed, Cancelled)
    def _moved(self, e: AuditEvent) -> None:
        pass  # the lifecycle state is all the decisions need
