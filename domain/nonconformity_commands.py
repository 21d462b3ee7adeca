"""Commands on nonconformities (domain/nonconformity.py): raise one directly, and one action per
step of its corrective action. One raised from an audit finding is raised by the finding's
command (domain/internal_audit_commands.py)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import Field

from domain.change_commands import RecordCommand
from domain.command_base import Command, by_action
from domain.context import Context
from domain.directory import person, responsible
from domain.examples import example
from domain.fields import Name, Text
from domain.nonconformity import (
    Clause,
    Nonconformity,
    NonconformityGrade,
    NonconformitySource,
)
from domain.organisations import RequestedOrganisation
from domain.record_numbers import RecordKind
from domain.session import Session


class RaiseNonconformity(Command):
    model_config = example(
        {
            "clause": "8.6.1",
            "grade": "minor",
            "description": "Three P2 incidents in March were resolved without a resolution note.",
            "source": "breach",
            "source_ref": "INC-000123",
            "owner": "andi.wijaya",
            "due": "2027-04-30",
        }
    )

    clause: str = Clause
    grade: NonconformityGrade
    description: str = Text
    #: not "audit-finding": a finding raises its own (POST /internal-audits/{ref}/record-finding)
    source: NonconformitySource
    source_ref: str | None = Field(default=None, min_length=1, max_length=40)
    owner: str = Name
    due: date
    organisation: str | None = RequestedOrganisation

    def decide(self, session: Session, ctx: Context) -> UUID:
        Nonconformity.check_raiser(ctx)
        responsible(session, self.owner, "own a nonconformity")
        nonconformity_id = session.new_id()
        session.add(
            Nonconformity.raise_(
                ctx,
                id=nonconformity_id,
                number=session.allocate(RecordKind.NONCONFORMITY, nonconformity_id),
                clause=self.clause,
                grade=self.grade,
                description=self.description,
                source=self.source,
                source_ref=self.source_ref,
                owner=self.owner,
                due=self.due,
                organisation=ctx.organisation_for(self.organisation),
            )
        )
        return nonconformity_id


class NonconformityCommand(RecordCommand):
    """An action on one nonconformity: POST /api/v1/nonconformities/{ref}/{action}."""

    def decide(self, session: Session, ctx: Context, nonconformity_id: UUID) -> UUID:
        self.execute(session.get(Nonconformity, nonconformity_id), session, ctx)
        return nonconformity_id

    def execute(self, nonconformity: Nonconformity, session: Session, ctx: Context) -> None:
        self.call_action(nonconformity, ctx)


class RecordCorrection(NonconformityCommand):
    model_config = example({"correction": "The three incidents were given their notes."})

    action = "record-correction"
    summary = "Record the correction made at once (its owner or a service manager)"
    correction: str = Text


class RecordNonconformityRootCause(NonconformityCommand):
    model_config = example({"root_cause": "The resolve form did not ask for a note."})

    action = "record-root-cause"
    summary = "Record why the nonconformity happened (its owner or a service manager)"
    root_cause: str = Text


class PlanCorrectiveAction(NonconformityCommand):
    model_config = example(
        {
            "description": "Require a resolution note on resolve",
            "owner": "budi.santoso",
            "due": "2027-04-15",
        }
    )

    action = "plan-action"
    summary = "Plan a corrective action, with its owner and due date"
    description: str = Text
    owner: str = Name
    due: date

    def execute(self, nonconformity: Nonconformity, session: Session, ctx: Context) -> None:
        person(session, self.owner).require_active("own a corrective action")
        nonconformity.plan_action(ctx, description=self.description, owner=self.owner, due=self.due)


class CompleteCorrectiveAction(NonconformityCommand):
    model_config = example({"number": 1, "note": "Deployed with CHG-000012"})

    action = "complete-action"
    summary = "Record a corrective action done, with a note (its owner, or the nonconformity's)"
    #: the action's number within the nonconformity (1 for the first planned)
    number: int = Field(ge=1, le=1_000)
    note: str = Text

    def execute(self, nonconformity: Nonconformity, session: Session, ctx: Context) -> None:
        nonconformity.complete_action(ctx, action=self.number, note=self.note)


class VerifyEffectiveness(NonconformityCommand):
    model_config = example(
        {"effective": True, "note": "No incident resolved without a note since April"}
    )

    action = "verify"
    summary = (
        "Verify whether the corrective actions worked, once all are done (someone who owned"
        " none of the work): effective closes it, not effective sends it back to the actions"
    )
    effective: bool
    note: str = Text


NONCONFORMITY_COMMANDS = by_action(
    RecordCorrection,
    RecordNonconformityRootCause,
    PlanCorrectiveAction,
    CompleteCorrectiveAction,
    VerifyEffectiveness,
)
