"""Issued service reports (ISO/IEC 20000-1 9.4): a report of a period as it was made and given
to management, kept as a record, and the decisions taken from it.

    issued -> decision recorded*

A report is issued once for its name and period (`issued_report_code`: `2026-03-incidents`), by
the monthly schedule on the first working day of the next month or by a service manager; issuing
it again is refused (RecordAlreadyExists), so a schedule that runs twice, or a manager and the
schedule together, issue it once. The event holds the report whole, with the position of the
record it was made from and the digest of its figures: anyone can make it again from that
position and compare (docs/reports.md). Like every event, it is chained and sealed in the audit
ledger, and the application signs a checkpoint over it when it is issued.

A decision (9.4 "decisions and actions taken from reports") says what management decided, the
actions agreed, and may name the improvement opened for it (docs/improvements.md).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar
from uuid import UUID

from pydantic import Field

from domain.aggregate import Aggregate, applies
from domain.command_base import ActionCommand, Command, by_action
from domain.context import Context
from domain.errors import DomainError, RecordAlreadyExists
from domain.events import DomainEvent
from domain.examples import example
from domain.fields import Text
from domain.improvement import Improvement
from domain.record_numbers import named_id
from domain.session import Session

#: A report's name in the catalogue, a month, and an issued report's code: both together.
REPORT_NAME = r"^[a-z]{1,40}$"
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
CODE_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])-[a-z]{1,40}$"
DIGEST = r"^[0-9a-f]{64}$"
#: What an improvement is called by (docs/improvements.md).
IMPROVEMENT_REF = r"^IMP-\d{6}$"


def issued_report_code(report: str, month: str) -> str:
    """Month first, so that codes in descending order list the newest month first."""
    return f"{month}-{report}"


def issued_report_id(code: str) -> UUID:
    return named_id("issued-report", code)


# -- events -------------------------------------------------------------------------------------


class IssuedReportEvent(DomainEvent):
    """A fact in an issued report's record."""


class Issued(IssuedReportEvent):
    type_name: ClassVar[str] = "IssuedReport.Issued"
    code: str = Field(pattern=CODE_PATTERN, max_length=80)
    report: str = Field(pattern=REPORT_NAME, max_length=40)
    period_from: date
    period_to: date
    #: the record was read up to this position
    position: int = Field(ge=0)
    digest: str = Field(pattern=DIGEST, max_length=64)
    #: "schedule" (the first working day of the next month) or "request" (a service manager)
    trigger: str = Field(pattern=r"^(schedule|request)$", max_length=8)
    #: the report as made (processes/reports.make): its figures, rows and months
    body: dict[str, Any]


class DecisionRecorded(IssuedReportEvent):
    type_name: ClassVar[str] = "IssuedReport.DecisionRecorded"
    decision: str = Text
    actions: list[Annotated[str, Field(min_length=1, max_length=2000)]] = Field(
        default_factory=list, max_length=20
    )
    improvement: str | None = Field(default=None, pattern=IMPROVEMENT_REF, max_length=10)


# -- the aggregate ------------------------------------------------------------------------------


class IssuedReport(Aggregate, events=IssuedReportEvent):
    KIND: ClassVar[str] = "issued report"

    code: str
    decisions: int

    @classmethod
    def issue(
        cls,
        ctx: Context,
        *,
        code: str,
        report: str,
        period_from: date,
        period_to: date,
        position: int,
        digest: str,
        trigger: str,
        body: dict[str, Any],
    ) -> IssuedReport:
        return cls._begin(
            ctx,
            issued_report_id(code),
            Issued,
            code=code,
            report=report,
            period_from=period_from,
            period_to=period_to,
            position=position,
            digest=digest,
            trigger=trigger,
            body=body,
        )

    def record_decision(
        self, ctx: Context, *, decision: str, actions: list[str], improvement: str | None
    ) -> None:
        self._record(
            DecisionRecorded(
                **self._envelope(ctx), decision=decision, actions=actions, improvement=improvement
            )
        )

    @applies(Issued)
    def _issued(self, e: Issued) -> None:
        self.code, self.decisions = e.code, 0

    @applies(DecisionRecorded)
    def _decided(self, e: DecisionRecorded) -> None:
        self.decisions += 1


# -- commands -----------------------------------------------------------------------------------


class IssueReport(Command):
    """Issue report `report` of `month` (which has ended): made from the record as stored now,
    and kept. Once for a report and month."""

    model_config = example({"report": "incidents", "month": "2026-11"})

    report: str = Field(pattern=REPORT_NAME, max_length=40, examples=["incidents"])
    month: str = Field(pattern=MONTH, max_length=7, examples=["2026-11"])

    def decide(self, session: Session, ctx: Context, made: dict[str, Any], trigger: str) -> UUID:
        """Keeps `made` (processes/reports.make's report of this name and month) as issued."""
        code = issued_report_code(self.report, self.month)
        if session.find(IssuedReport, issued_report_id(code)) is not None:
            raise RecordAlreadyExists(f"report {code} was issued already")
        period = made["period"]
        session.add(
            IssuedReport.issue(
                ctx,
                code=code,
                report=self.report,
                period_from=date.fromisoformat(period["from"]),
                period_to=date.fromisoformat(period["to"]),
                position=made["position"],
                digest=made["digest"],
                trigger=trigger,
                body=made,
            )
        )
        return issued_report_id(code)


#: An action agreed: one line of what is to be done.
Action = Annotated[str, Field(min_length=1, max_length=2000)]


class ImprovementNotFound(DomainError):
    """A decision names an improvement there is none of (an invalid command: 422)."""

    code = "improvement-not-found"


class RecordDecision(ActionCommand):
    """What management decided from the report, the actions agreed, and the improvement opened
    for it if one was (its IMP number)."""

    model_config = example(
        {
            "decision": "Batupusaka's resolution attainment (70%) is below target: review it",
            "actions": ["Add a second person to the Batupusaka on-call rota"],
            "improvement": "IMP-000004",
        }
    )

    action: ClassVar[str] = "record-decision"
    summary: ClassVar[str] = "Record a decision taken from the report, and its actions"
    decision: str = Text
    actions: list[Action] = Field(default_factory=list, max_length=20)
    improvement: str | None = Field(default=None, pattern=IMPROVEMENT_REF, max_length=10)

    def decide(
        self, session: Session, ctx: Context, record_id: UUID, improvement_id: UUID | None = None
    ) -> UUID:
        """Records the decision on the report; the improvement it names (found by the caller
        from its number: `improvement_id`) must exist."""
        if self.improvement is not None and (
            improvement_id is None or session.find(Improvement, improvement_id) is None
        ):
            raise ImprovementNotFound(f"no improvement {self.improvement}")
        self.call_action(session.get(IssuedReport, record_id), ctx)
        return record_id


ISSUED_REPORT_COMMANDS = by_action(RecordDecision)
