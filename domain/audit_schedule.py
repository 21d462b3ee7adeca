"""The audit programme's schedule (ISO/IEC 20000-1 9.2.2: a programme with its frequency,
methods, responsibilities and planning, that considers the importance of the processes and the
results of previous audits).

The schedule is a rule of record, versioned like the priority matrix: for each process (named by
its clause, "8.6.1") how important it is, how often it is audited (`every_months`) and who owns
it. The first revision defines it; until then the defaults below hold (version 0).

The programme is worked out from the schedule and the audits on record (`programme`, pure): for
each process, the last audit that covered it and reported (and what it found for that clause),
the audits planned that cover it, and when the next one is due:

- never audited: due now;
- else the last audit's end plus `every_months`, or half of it (at least a month) when that
  audit found a major nonconformity against the clause: previous results bring the next audit
  forward;
- overdue when the due date has passed and no audit covering it is planned or in progress.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import ClassVar
from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.aggregate import Aggregate, applies
from domain.command_base import Command
from domain.context import Context
from domain.errors import InvalidRule, NotPermitted, VersionConflict
from domain.events import DomainEvent
from domain.examples import example
from domain.fields import OptionalName, OptionalReason, Reason
from domain.internal_audit import MANAGERS, AuditState, FindingKind
from domain.nonconformity import Clause
from domain.session import Session


class Importance(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class ProcessTerms(BaseModel):
    """One process of the programme: its clause, importance, frequency and owner."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    clause: str = Clause
    importance: Importance
    every_months: int = Field(ge=1, le=60, description="months between audits of it")
    owner: str | None = OptionalName


class ScheduleTerms(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    processes: list[ProcessTerms] = Field(min_length=1, max_length=40)

    @model_validator(mode="after")
    def _each_once(self) -> ScheduleTerms:
        clauses = [p.clause for p in self.processes]
        if len(set(clauses)) != len(clauses):
            raise ValueError("each process (clause) is scheduled once")
        return self


def _every(importance: Importance) -> int:
    return {Importance.HIGH: 6, Importance.MEDIUM: 12, Importance.LOW: 24}[importance]


#: What holds until the schedule is first revised: the processes whose records the service
#: holds, the busiest and riskiest audited twice a year.
DEFAULT_TERMS = ScheduleTerms(
    processes=[
        ProcessTerms(clause=clause, importance=importance, every_months=_every(importance))
        for clause, importance in (
            ("8.6.1", Importance.HIGH),  # incidents: the public's daily contact
            ("8.5.1", Importance.HIGH),  # changes: the most outages start here
            ("10.1", Importance.HIGH),  # nonconformities: what certification looks at first
            ("8.6.2", Importance.MEDIUM),
            ("8.6.3", Importance.MEDIUM),
            ("8.2.6", Importance.MEDIUM),
            ("8.3.3", Importance.MEDIUM),
            ("9.4", Importance.MEDIUM),
            ("10.2", Importance.MEDIUM),
            ("8.2.4", Importance.LOW),
        )
    ]
)


# -- the rule of record ------------------------------------------------------------------------


class ScheduleEvent(DomainEvent):
    terms: ScheduleTerms


class ScheduleDefined(ScheduleEvent):
    type_name: ClassVar[str] = "AuditSchedule.Defined"
    reason: str | None = OptionalReason


class ScheduleRevised(ScheduleEvent):
    type_name: ClassVar[str] = "AuditSchedule.Revised"
    reason: str = Reason


class AuditSchedule(Aggregate, events=ScheduleEvent):
    """There is one schedule; its versions are its history."""

    KIND: ClassVar[str] = "audit schedule"
    ID: ClassVar[UUID] = uuid5(UUID("1d3b5a8e-2c4f-4e6a-9b0d-7f1e3c5a9b2d"), "audit-schedule")

    terms: ScheduleTerms

    @classmethod
    def define(cls, ctx: Context, terms: ScheduleTerms, reason: str) -> AuditSchedule:
        return cls._begin(ctx, cls.ID, ScheduleDefined, terms=terms, reason=reason)

    def revise(self, ctx: Context, terms: ScheduleTerms, reason: str) -> None:
        if terms == self.terms:
            raise InvalidRule("the revised schedule is the same as the current one")
        self._record(ScheduleRevised(**self._envelope(ctx), terms=terms, reason=reason))

    @applies(ScheduleDefined, ScheduleRevised)
    def _defined(self, event: ScheduleEvent) -> None:
        self.terms = event.terms


class ReviseAuditSchedule(Command):
    """The schedule as it is to be, and why (a service manager); the first revision defines it."""

    model_config = example(
        {
            "terms": {
                "processes": [
                    {"clause": "8.6.1", "importance": "high", "every_months": 6},
                    {"clause": "8.5.1", "importance": "high", "every_months": 6},
                    {"clause": "8.2.6", "importance": "medium", "every_months": 12},
                ]
            },
            "reason": "The 2027 programme, agreed in the management review",
        }
    )

    terms: ScheduleTerms
    reason: str = Reason

    def decide(self, session: Session, ctx: Context, expected: int | None = None) -> UUID:
        """Define or revise; `expected`: the version the reviser read (If-Match; 0 before the
        first revision), checked in the same write."""
        if ctx.actor.role not in MANAGERS:
            raise NotPermitted("the audit programme is planned by a service manager")
        schedule = session.find(AuditSchedule, AuditSchedule.ID)
        current = 0 if schedule is None else schedule.version
        if expected is not None and expected != current:
            raise VersionConflict(expected, current)
        if schedule is None:
            session.add(AuditSchedule.define(ctx, self.terms, self.reason))
        else:
            schedule.revise(ctx, self.terms, self.reason)
        return AuditSchedule.ID


# -- the programme, worked out -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditFacts:
    """What the programme needs of an audit on record."""

    ref: str
    scope: tuple[str, ...]
    state: AuditState
    planned_end: date
    #: (clause, kind) of each finding
    findings: tuple[tuple[str, FindingKind], ...] = ()


@dataclass(frozen=True, slots=True)
class ProgrammeLine:
    process: ProcessTerms
    last: AuditFacts | None
    planned: tuple[str, ...]
    due: date
    overdue: bool
    brought_forward: bool  # the last audit found a major nonconformity against it
    found: dict[str, int]  # the last audit's findings against the clause, by kind


DONE = (AuditState.REPORTED, AuditState.CLOSED)
UNDER_WAY = (AuditState.PLANNED, AuditState.IN_PROGRESS)


def programme(
    terms: ScheduleTerms, audits: Iterable[AuditFacts], today: date
) -> list[ProgrammeLine]:
    """Each process of the schedule with its last audit, planned audits and next due date,
    the soonest due first (then the most important)."""
    audits = list(audits)
    lines = []
    for process in terms.processes:
        covering = [a for a in audits if process.clause in a.scope]
        done = [a for a in covering if a.state in DONE]
        last = max(done, key=lambda a: (a.planned_end, a.ref), default=None)
        planned = tuple(sorted(a.ref for a in covering if a.state in UNDER_WAY))
        found: dict[str, int] = {}
        for clause, kind in () if last is None else last.findings:
            if clause == process.clause:
                found[kind.value] = found.get(kind.value, 0) + 1
        forward = FindingKind.MAJOR_NONCONFORMITY.value in found
        months = max(1, process.every_months // 2) if forward else process.every_months
        due = today if last is None else _months_after(last.planned_end, months)
        lines.append(
            ProgrammeLine(process, last, planned, due, due < today and not planned, forward, found)
        )
    rank = {Importance.HIGH: 0, Importance.MEDIUM: 1, Importance.LOW: 2}
    return sorted(lines, key=lambda line: (line.due, rank[line.process.importance]))


def _months_after(day: date, months: int) -> date:
    """The same day `months` later (the month's last day where it is shorter; the last day
    there is, past the year 9999)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    if year > date.max.year:
        return date.max
    for last_day in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last_day))
        except ValueError:
            continue
    raise AssertionError("every month has a 28th")
