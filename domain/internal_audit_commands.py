"""Commands on internal audits (domain/internal_audit.py): plan one, and one action per step of
its lifecycle. Naming an auditor asks the record whether they worked in a process in scope during
the audited period (impartiality); recording a finding opens its nonconformity or improvement."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Self
from uuid import UUID

from pydantic import Field, model_validator

from domain.change_commands import RecordCommand, ServiceNames
from domain.command_base import Command, by_action
from domain.context import Context
from domain.directory import responsible
from domain.examples import example
from domain.fields import Description, Name, OptionalName, OptionalReason, Reasoned, Text
from domain.improvement import Improvement, ImprovementSource
from domain.internal_audit import (
    NONCONFORMITIES,
    AuditorIds,
    Clauses,
    Evidences,
    FindingKind,
    InternalAudit,
    Opened,
    check_dates,
    check_impartial,
    check_manager,
    kinds_in_scope,
    opened_id,
    period_bounds,
)
from domain.nonconformity import (
    Clause,
    FindingRef,
    Nonconformity,
    NonconformityGrade,
    NonconformitySource,
)
from domain.organisations import RequestedOrganisation
from domain.record_numbers import RecordKind, number_label
from domain.session import Session


def impartial(
    session: Session, auditors: list[str], scope: list[str], first: date, last: date
) -> None:
    """Refuse any of `auditors` who acted, in [first, last] (office days), on a record of a
    process in `scope`, as the store holds it."""
    kinds = kinds_in_scope(scope)
    if not kinds or not auditors:
        return
    since, until = period_bounds(first, last)
    check_impartial(session.work_in(kinds, frozenset(auditors), since, until), auditors, scope)


class PlanInternalAudit(Command):
    model_config = example(
        {
            "title": "Incident and change management, first half of 2027",
            "scope": ["8.6.1", "8.5.1"],
            "services": ["inlislite"],
            "criteria": "The documented incident and change procedures (DOC-000003, DOC-000004)",
            "method": "Samples of 10 incidents and 5 changes by seed; interviews",
            "planned_start": "2027-07-05",
            "planned_end": "2027-07-09",
            "period_from": "2027-01-01",
            "period_to": "2027-06-30",
            "lead_auditor": "rina.auditor",
            "auditors": ["dedi.auditor"],
        }
    )

    title: str = Name
    scope: Clauses
    services: Annotated[ServiceNames, Field(max_length=40)] = Field(default_factory=list)
    criteria: str = Text
    method: str = Description
    planned_start: date
    planned_end: date
    period_from: date
    period_to: date
    lead_auditor: str = Name
    auditors: AuditorIds = Field(default_factory=list)
    organisation: str | None = RequestedOrganisation

    def decide(self, session: Session, ctx: Context) -> UUID:
        check_manager(ctx, "plan")
        check_dates(self.planned_start, self.planned_end, self.period_from, self.period_to)
        if self.services:
            session.service_catalogue().known(self.services)
        team = list(dict.fromkeys([self.lead_auditor, *self.auditors]))
        for auditor in team:
            responsible(session, auditor, "audit")
        impartial(session, team, self.scope, self.period_from, self.period_to)
        audit_id = session.new_id()
        session.add(
            InternalAudit.plan(
                ctx,
                id=audit_id,
                number=session.allocate(RecordKind.INTERNAL_AUDIT, audit_id),
                title=self.title,
                scope=list(dict.fromkeys(self.scope)),
                services=self.services,
                criteria=self.criteria,
                method=self.method,
                planned_start=self.planned_start,
                planned_end=self.planned_end,
                period_from=self.period_from,
                period_to=self.period_to,
                lead_auditor=self.lead_auditor,
                auditors=self.auditors,
                organisation=ctx.organisation_for(self.organisation),
            )
        )
        return audit_id


class AuditCommand(RecordCommand):
    """An action on one internal audit: POST /api/v1/internal-audits/{ref}/{action}."""

    def decide(self, session: Session, ctx: Context, audit_id: UUID) -> UUID:
        self.execute(session.get(InternalAudit, audit_id), session, ctx)
        return audit_id

    def execute(self, audit: InternalAudit, session: Session, ctx: Context) -> None:
        self.call_action(audit, ctx)


class AssignAuditor(AuditCommand):
    model_config = example({"auditor": "dedi.auditor", "reason": "Knows the change procedure"})

    action = "assign-auditor"
    summary = "Name another auditor (refused if they worked in a process in scope: impartiality)"
    auditor: str = Name
    reason: str | None = OptionalReason

    def execute(self, audit: InternalAudit, session: Session, ctx: Context) -> None:
        responsible(session, self.auditor, "audit")
        first, last = audit.period
        impartial(session, [self.auditor], list(audit.scope), first, last)
        audit.assign_auditor(ctx, auditor=self.auditor, reason=self.reason)


class StartAudit(AuditCommand):
    model_config = example({})

    action = "start"
    summary = "Start a planned audit (its lead auditor or a service manager)"


class RecordFinding(AuditCommand):
    model_config = example(
        {
            "kind": "nonconformity-minor",
            "clause": "8.6.1",
            "text": "2 of 10 sampled P2 incidents were resolved without a resolution note.",
            "evidence": [
                {"kind": "sample", "ref": "type=Incident seed=42 n=10"},
                {"kind": "record", "ref": "INC-000123"},
            ],
            "owner": "andi.wijaya",
            "due": "2027-09-30",
        }
    )

    action = "record-finding"
    summary = (
        "Record a finding with its evidence (an auditor of the audit): a nonconformity opens a"
        " nonconformity record (NC), an opportunity for improvement an improvement (IMP)"
    )
    kind: FindingKind
    clause: str = Clause
    text: str = Text
    evidence: Evidences = Field(default_factory=list)
    #: who owns the nonconformity or improvement it opens (required for a nonconformity)
    owner: str | None = OptionalName
    #: when that is due (required for a nonconformity)
    due: date | None = None

    @model_validator(mode="after")
    def _owned_if_nonconformity(self) -> Self:
        if self.kind in NONCONFORMITIES and (self.owner is None or self.due is None):
            raise ValueError("a nonconformity found names its owner and due date")
        return self

    def execute(self, audit: InternalAudit, session: Session, ctx: Context) -> None:
        audit.check_auditor(ctx)  # before anything is opened in the auditor's name
        if self.owner is not None:
            responsible(session, self.owner, "own what an audit finding opens")
        finding = audit.next_finding
        audit_ref = number_label(RecordKind.INTERNAL_AUDIT, audit.number)
        opened: Opened | None = None
        if self.kind in NONCONFORMITIES:
            opened = self._nonconformity(session, ctx, audit, audit_ref, finding)
        elif self.kind is FindingKind.OPPORTUNITY:
            opened = self._improvement(session, ctx, audit, audit_ref, finding)
        audit.record_finding(
            ctx,
            kind=self.kind,
            clause=self.clause,
            text=self.text,
            evidence=self.evidence,
            opened=opened,
        )

    def _nonconformity(
        self, session: Session, ctx: Context, audit: InternalAudit, audit_ref: str, finding: int
    ) -> Opened:
        record_id = opened_id("nonconformity", audit.id, finding)
        found = session.find(Nonconformity, record_id)
        if found is None:
            # the validator saw to both
            assert self.owner is not None
            assert self.due is not None
            found = Nonconformity.raise_(
                ctx,
                id=record_id,
                number=session.allocate(RecordKind.NONCONFORMITY, record_id),
                clause=self.clause,
                grade=NonconformityGrade(
                    "major" if self.kind is FindingKind.MAJOR_NONCONFORMITY else "minor"
                ),
                description=self.text,
                source=NonconformitySource.AUDIT_FINDING,
                finding=FindingRef(audit_id=audit.id, audit=audit_ref, finding=finding),
                owner=self.owner,
                due=self.due,
                organisation=audit.organisation,
            )
            session.add(found)
        ref = number_label(RecordKind.NONCONFORMITY, found.number)
        return Opened(kind="nonconformity", id=record_id, ref=ref)

    def _improvement(
        self, session: Session, ctx: Context, audit: InternalAudit, audit_ref: str, finding: int
    ) -> Opened:
        record_id = opened_id("improvement", audit.id, finding)
        found = session.find(Improvement, record_id)
        if found is None:
            found = Improvement.propose(
                ctx,
                id=record_id,
                number=session.allocate(RecordKind.IMPROVEMENT, record_id),
                title=f"Opportunity for improvement: {audit_ref} finding {finding} ({self.clause})",
                description=self.text,
                source=ImprovementSource.AUDIT_FINDING,
                owner=self.owner,
                due=self.due,
                organisation=audit.organisation,
            )
            session.add(found)
        ref = number_label(RecordKind.IMPROVEMENT, found.number)
        return Opened(kind="improvement", id=record_id, ref=ref)


class ReportAudit(AuditCommand):
    model_config = example({"conclusions": "Two minor nonconformities and one opportunity."})

    action = "report"
    summary = "Report the audit with its findings (its lead auditor or a service manager)"
    conclusions: str = Text


class CloseAudit(AuditCommand):
    model_config = example({"note": "Findings handed over to their owners"})

    action = "close"
    summary = "Close a reported audit (a service manager)"
    note: str | None = OptionalReason


class CancelAudit(Reasoned, AuditCommand):
    model_config = example({"reason": "Moved to the second half of the year"})

    action = "cancel"
    summary = "Cancel a planned or running audit, saying why (a service manager)"


INTERNAL_AUDIT_COMMANDS = by_action(
    AssignAuditor, StartAudit, RecordFinding, ReportAudit, CloseAudit, CancelAudit
)
