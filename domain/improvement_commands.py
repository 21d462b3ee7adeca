"""Commands on the improvement register (domain/improvement.py): propose one, and one action per
step of its lifecycle."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from domain.change import Change
from domain.change_commands import RecordCommand
from domain.command_base import Command, by_action
from domain.context import Context
from domain.directory import person, responsible
from domain.errors import NotFound, SourceRecordNotFound
from domain.examples import example
from domain.fields import (
    Description,
    Name,
    OptionalName,
    OptionalReason,
    Reasoned,
    Text,
    record_ref,
)
from domain.improvement import (
    Benefit,
    Improvement,
    ImprovementSource,
    SourceKind,
    SourceRecord,
)
from domain.incident import Incident
from domain.issued_report import IssuedReport, issued_report_id
from domain.organisations import RequestedOrganisation
from domain.problem import Problem
from domain.record_numbers import RecordKind, number_label
from domain.records import incident_number_label
from domain.service_request import ServiceRequest
from domain.session import Session


def source_record(session: Session, kind: SourceKind, ref: str) -> SourceRecord:
    """The record `ref` names, if the caller reaches it (else its kind's not-found)."""
    if kind is SourceKind.INCIDENT:
        incident = session.get(Incident, session.find_incident(ref), ref)
        return SourceRecord(kind=kind, id=incident.id, ref=incident_number_label(incident.number))
    if kind is SourceKind.ISSUED_REPORT:
        report = session.get(IssuedReport, issued_report_id(ref), ref)
        return SourceRecord(kind=kind, id=report.id, ref=report.code)
    numbered = {
        SourceKind.SERVICE_REQUEST: (RecordKind.SERVICE_REQUEST, ServiceRequest),
        SourceKind.PROBLEM: (RecordKind.PROBLEM, Problem),
        SourceKind.CHANGE: (RecordKind.CHANGE, Change),
    }
    record_kind, aggregate = numbered[kind]
    record = session.get(aggregate, session.find_numbered(record_kind, ref), ref)
    number: int = getattr(record, "number")  # noqa: B009 (every numbered record has one)
    return SourceRecord(kind=kind, id=record.id, ref=number_label(record_kind, number))


# -- commands -------------------------------------------------------------------------------------


class SourceRef(BaseModel):
    """The record an improvement comes from, as a command names it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: SourceKind
    ref: str = record_ref(
        "INC-000042, REQ-000007, PRB-000003, CHG-000012 or the id; an issued report's code"
    )


class ProposeImprovement(Command):
    model_config = example(
        {
            "title": "Kiosk card readers: replace before they fail",
            "description": "Three readers at Serang failed in a month.",
            "source": "problem",
            "source_record": {"kind": "problem", "ref": "PRB-000003"},
            "owner": "andi.wijaya",
            "expected_benefit": "No kiosk out of service for a card reader",
            "due": "2027-03-31",
        }
    )

    title: str = Name
    description: str = Description
    source: ImprovementSource
    source_record: SourceRef | None = None
    owner: str | None = OptionalName
    expected_benefit: str | None = Benefit
    due: date | None = None
    organisation: str | None = RequestedOrganisation

    def decide(self, session: Session, ctx: Context) -> UUID:
        Improvement.check_manager(ctx, "propose")
        linked = None
        if self.source_record is not None:
            kind, ref = self.source_record.kind, self.source_record.ref
            try:
                linked = source_record(session, kind, ref)
            except NotFound:  # missing, or out of reach: the same words
                raise SourceRecordNotFound(
                    f"source_record names no {kind.replace('_', ' ')} {ref}"
                ) from None
        if self.owner is not None:
            responsible(session, self.owner, "own an improvement")
        improvement_id = session.new_id()
        session.add(
            Improvement.propose(
                ctx,
                id=improvement_id,
                number=session.allocate(RecordKind.IMPROVEMENT, improvement_id),
                title=self.title,
                description=self.description,
                source=self.source,
                source_record=linked,
                owner=self.owner,
                expected_benefit=self.expected_benefit,
                due=self.due,
                organisation=ctx.organisation_for(self.organisation),
            )
        )
        return improvement_id


class ImprovementCommand(RecordCommand):
    """An action on one improvement: POST /api/v1/improvements/{ref}/{action}."""

    def decide(self, session: Session, ctx: Context, improvement_id: UUID) -> UUID:
        self.execute(session.get(Improvement, improvement_id), session, ctx)
        return improvement_id

    def execute(self, improvement: Improvement, session: Session, ctx: Context) -> None:
        self.call_action(improvement, ctx)


class ApproveImprovement(ImprovementCommand):
    model_config = example({"comment": "Worth doing before the new term"})

    action = "approve"
    summary = "Approve a proposed improvement (a service manager)"
    comment: str | None = OptionalReason


class StartImprovement(ImprovementCommand):
    model_config = example({})

    action = "start"
    summary = "Start the work of an approved improvement (its owner or a service manager)"


class CompleteImprovement(ImprovementCommand):
    model_config = example({"realised_benefit": "No kiosk out of service for a reader since May"})

    action = "complete"
    summary = "Record an improvement done, with the benefit it realised"
    realised_benefit: str = Text


class RejectImprovement(Reasoned, ImprovementCommand):
    model_config = example({"reason": "The kiosks are replaced next year"})

    action = "reject"
    summary = "Reject an open improvement, saying why (a service manager)"


class AssignImprovementOwner(ImprovementCommand):
    model_config = example({"owner": "andi.wijaya", "reason": "The kiosk team's manager"})

    action = "assign-owner"
    summary = "Name the owner of an open improvement (one listed as unowned, or another)"
    owner: str = Name
    reason: str | None = OptionalReason

    def execute(self, improvement: Improvement, session: Session, ctx: Context) -> None:
        person(session, self.owner).require_active("own an improvement")
        improvement.assign_owner(ctx, owner=self.owner, reason=self.reason)


IMPROVEMENT_COMMANDS = by_action(
    ApproveImprovement,
    StartImprovement,
    CompleteImprovement,
    RejectImprovement,
    AssignImprovementOwner,
)
