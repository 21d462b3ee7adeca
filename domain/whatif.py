"""What-if: a period's incidents judged again under other rules, beside the rules of record.

"What if the P2 resolution target had been 4 hours?", "what if cuti bersama had been working
days?", "what if the matrix had rated medium/high as P1?". Each ticket is judged twice by the same
pure clock (domain/sla_clock.py): once by the rules it recorded (its own policy and calendar
versions, and the priorities the matrix of record gave it), once by the scenario's. Nothing is
recomputed in place: the record stays what it is, and the comparison is a report.

A scenario replaces any subset of the rules:
- `policy`: the policy terms that judge every ticket (targets, pauses, calendars per service);
- `calendars`: calendars by name; a ticket whose policy names one is judged on it;
- `matrix`: the priority matrix; each rating of the ticket (at logging and at each
  re-prioritisation) gives its priority through it, and so which targets apply.
What the scenario leaves out is the ticket's rule of record; a calendar that the what-if policy
names and the ticket never recorded is taken at its current version.

A ticket's verdict is that of its resolution target: met (resolved within it), breached (missed,
resolved or not), open (still counting, not missed yet) or cancelled (left out of the figures).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from domain.calendar import CalendarSpec
from domain.priority import Cells, Impact, Urgency
from domain.records import incident_number_label
from domain.sla import PolicyTerms
from domain.sla_clock import ClockState, Mark, MarkKind, Ticket, TicketClock, judge
from domain.sla_rules import Rules

REPORTING_ZONE = ZoneInfo("Asia/Jakarta")  # reports speak the office's time
NO_GROUP = "(unassigned)"
DIMENSIONS = ("priority", "service", "group", "organisation", "month")


class Verdict(StrEnum):
    MET = "met"
    BREACHED = "breached"
    OPEN = "open"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Rating:
    """An impact and urgency the ticket was rated with, on its mark at `mark` (its logging or a
    re-prioritisation): what a what-if matrix turns into a priority."""

    mark: int
    impact: Impact
    urgency: Urgency


@dataclass(frozen=True, slots=True)
class Case:
    """One incident as the what-if needs it: the ticket the clock judges (with the priorities
    of record on its marks), how it was rated, and what the report groups it by."""

    id: str
    number: int
    organisation: str
    ticket: Ticket
    ratings: tuple[Rating, ...]

    @property
    def ref(self) -> str:
        return incident_number_label(self.number)

    @property
    def logged_at(self) -> datetime:
        return self.ticket.marks[0].at

    @property
    def month(self) -> str:
        return self.logged_at.astimezone(REPORTING_ZONE).strftime("%Y-%m")

    @property
    def group(self) -> str:
        """The assignment group at resolution (the last resolution, if reopened); the group it
        is with now if it was never resolved."""
        group = NO_GROUP
        at_resolution = None
        for mark in self.ticket.marks:
            if mark.kind is MarkKind.REASSIGNED:
                group = str(mark.value)
            elif mark.kind is MarkKind.RESOLVED:
                at_resolution = group
        return at_resolution or group


@dataclass(frozen=True)
class Scenario:
    policy: PolicyTerms | None = None
    calendars: Mapping[str, CalendarSpec] = field(default_factory=dict)
    matrix: Cells | None = None

    @property
    def empty(self) -> bool:
        return self.policy is None and not self.calendars and self.matrix is None


@dataclass(frozen=True, slots=True)
class Judged:
    """A ticket's verdict under one set of rules."""

    verdict: Verdict
    priority: int  # at the end (the last re-prioritisation's)
    resolve: timedelta | None  # business time the resolution clock ran, once resolved
    clock: TicketClock | None  # the clock judged (kept where it explains a flip)

    @classmethod
    def of(cls, clock: TicketClock) -> Judged:
        resolution = clock.resolution
        if resolution.state is ClockState.CANCELLED:
            verdict = Verdict.CANCELLED
        elif resolution.state is ClockState.BREACHED:
            verdict = Verdict.BREACHED
        elif resolution.state is ClockState.MET:
            verdict = Verdict.MET
        else:
            verdict = Verdict.OPEN
        stopped = resolution.stopped_at is not None and verdict is not Verdict.CANCELLED
        return cls(verdict, resolution.priority, resolution.counted if stopped else None, clock)

    def bare(self) -> Judged:
        """The verdict without its clock (to send between processes)."""
        return Judged(self.verdict, self.priority, self.resolve, None)


@dataclass(frozen=True, slots=True)
class Outcome:
    case: Case
    record: Judged
    whatif: Judged

    @property
    def flipped(self) -> bool:
        """Met under one set of rules and breached under the other."""
        return {self.record.verdict, self.whatif.verdict} == {Verdict.MET, Verdict.BREACHED}


def rated(case: Case, matrix: Cells) -> Ticket:
    """The ticket with each rating's priority given by `matrix` instead of the matrix of record."""
    marks = list(case.ticket.marks)
    for rating in case.ratings:
        mark = marks[rating.mark]
        marks[rating.mark] = Mark(mark.at, mark.kind, matrix[rating.impact][rating.urgency])
    ticket = case.ticket
    return Ticket(ticket.kind, ticket.service, ticket.rules, tuple(marks), ticket.organisation)


def replay(
    case: Case,
    record: Rules,
    scenario: Scenario,
    current_calendar: Callable[[str], CalendarSpec],
    as_of: datetime,
    *,
    explain: bool = True,
) -> Outcome:
    """The ticket judged by its rules of record and by the scenario, as of `as_of` (with the
    judge's timelines if `explain`)."""
    ticket = case.ticket
    by_record = Judged.of(judge(ticket, record.terms, record.calendar, as_of, explain=explain))
    if scenario.empty:
        return Outcome(case, by_record, by_record)
    terms = scenario.policy or record.terms
    name = terms.calendar_for(ticket.service, ticket.organisation)
    calendar = scenario.calendars.get(name)
    if calendar is None:
        calendar = (
            record.calendar if name == record.versions.calendar_name else current_calendar(name)
        )
    if scenario.matrix is not None:
        ticket = rated(case, scenario.matrix)
    return Outcome(
        case, by_record, Judged.of(judge(ticket, terms, calendar, as_of, explain=explain))
    )


def compare(
    cases: Iterable[Case],
    rules_of: Callable[[Ticket], Rules],
    scenario: Scenario,
    current_calendar: Callable[[str], CalendarSpec],
    as_of: datetime,
) -> list[Outcome]:
    """Every case replayed; only those whose verdict flips are judged again with timelines."""
    outcomes = []
    for case in cases:
        rules = rules_of(case.ticket)
        outcome = replay(case, rules, scenario, current_calendar, as_of, explain=False)
        if outcome.flipped:
            outcome = replay(case, rules, scenario, current_calendar, as_of)
        outcomes.append(outcome)
    return outcomes


# -- the report ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figures:
    tickets: int
    met: int
    breached: int
    open: int
    compliance_pct: float | None  # percent of decided tickets (met + breached) that were met
    median_resolve_minutes: float | None
    p90_resolve_minutes: float | None

    @classmethod
    def of(cls, judged: Sequence[Judged]) -> Figures:
        counted = [j for j in judged if j.verdict is not Verdict.CANCELLED]
        met = sum(j.verdict is Verdict.MET for j in counted)
        breached = sum(j.verdict is Verdict.BREACHED for j in counted)
        minutes = sorted(j.resolve.total_seconds() / 60 for j in counted if j.resolve is not None)
        return cls(
            tickets=len(counted),
            met=met,
            breached=breached,
            open=len(counted) - met - breached,
            compliance_pct=round(100 * met / (met + breached), 2) if met + breached else None,
            median_resolve_minutes=round(statistics.median(minutes), 1) if minutes else None,
            p90_resolve_minutes=round(nearest_rank(minutes, 90), 1) if minutes else None,
        )

    def as_dict(self) -> dict[str, Any]:
        """The figures as the answer shows them: under their own names."""
        return asdict(self)


def nearest_rank(ordered: Sequence[float], percent: int) -> float:
    """The nearest-rank percentile of an ascending, non-empty sequence (always a value of it)."""
    return ordered[max(math.ceil(percent * len(ordered) / 100), 1) - 1]


def delta(record: Figures, whatif: Figures) -> dict[str, Any]:
    def minus(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(b - a, 2)

    before, after = record.as_dict(), whatif.as_dict()
    return {name: minus(before[name], after[name]) for name in before}


@dataclass(frozen=True, slots=True)
class Row:
    """One group's figures under the rules of record and under the what-if."""

    dimension: str
    key: str
    record: Figures
    whatif: Figures

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "delta": delta(self.record, self.whatif)}


def _keys(outcome: Outcome) -> dict[str, str]:
    """The groups a ticket falls in, but for priority (each side has its own: a matrix moves
    tickets between priorities)."""
    case = outcome.case
    return {
        "service": case.ticket.service,
        "group": case.group,
        "organisation": case.organisation,
        "month": case.month,
    }


def rows(outcomes: Sequence[Outcome]) -> list[Row]:
    """Per priority, service, group, organisation and month: the figures on both sides."""
    keys = [_keys(o) for o in outcomes]
    found: list[Row] = []
    for dimension in DIMENSIONS:
        record: dict[str, list[Judged]] = defaultdict(list)
        whatif: dict[str, list[Judged]] = defaultdict(list)
        for outcome, key in zip(outcomes, keys, strict=True):
            if dimension == "priority":
                record[f"P{outcome.record.priority}"].append(outcome.record)
                whatif[f"P{outcome.whatif.priority}"].append(outcome.whatif)
            else:
                record[key[dimension]].append(outcome.record)
                whatif[key[dimension]].append(outcome.whatif)
        for name in sorted(record.keys() | whatif.keys()):
            found.append(
                Row(dimension, name, Figures.of(record.get(name, [])), Figures.of(whatif[name]))
            )
    return found


def explanation(clock: TicketClock | None) -> list[str]:
    """The judge's timeline, one line a step, in the office's time."""
    if clock is None:
        return []
    return [
        f"{step.at.astimezone(REPORTING_ZONE):%Y-%m-%d %H:%M} WIB {step.what}: {step.detail}"
        for step in clock.timeline
    ]


def flip(outcome: Outcome) -> dict[str, Any]:
    case = outcome.case

    def side(judged: Judged) -> dict[str, Any]:
        return {
            "verdict": judged.verdict.value,
            "priority": judged.priority,
            "resolve_minutes": None
            if judged.resolve is None
            else round(judged.resolve.total_seconds() / 60, 1),
            "breached_at": judged.clock and judged.clock.resolution.breached_at,
            "explanation": explanation(judged.clock),
        }

    return {
        "id": case.id,
        "ref": case.ref,
        "service": case.ticket.service,
        "organisation": case.organisation,
        "group": case.group,
        "logged_at": case.logged_at,
        "record": side(outcome.record),
        "whatif": side(outcome.whatif),
    }


def report(outcomes: Iterable[Outcome]) -> dict[str, Any]:
    """The comparison: totals, the rows per dimension, and every ticket whose verdict flips."""
    done = list(outcomes)
    total = Row(
        "total", "all", Figures.of([o.record for o in done]), Figures.of([o.whatif for o in done])
    )
    flips = sorted((o for o in done if o.flipped), key=lambda o: o.case.number)
    return {
        "tickets": len(done),
        "flipped": len(flips),
        "met_to_breached": sum(o.record.verdict is Verdict.MET for o in flips),
        "breached_to_met": sum(o.record.verdict is Verdict.BREACHED for o in flips),
        "total": total.as_dict(),
        "rows": [row.as_dict() for row in rows(done)],
        "flips": [flip(o) for o in flips],
    }
