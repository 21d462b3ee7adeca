"""What-if runs (docs/whatif.md): read a period's incidents from the event store, judge each by
its rules of record and by the scenario's (domain/whatif.py), and report the comparison.

Reading is one pass over the store's incident events in global order, each decoded from its JSON
into a plain dict (domain/sla_incident.marks_of_json), not validated into its class: a year of
history is hundreds of thousands of events. The store is only read; the live views are not
touched. The verdicts go to a scratch store (memory, or a SQLite file the caller names).
"""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import orjson
from eventsourcing.persistence import ApplicationRecorder, Mapper
from pydantic import BaseModel, ConfigDict, Field

from application.desk import ServiceDesk
from domain import incident as e
from domain.calendar import CalendarSpec, HolidayYear, Hours, checked_spec
from domain.examples import example
from domain.organisations import PROVINCE
from domain.priority import Cells, Impact, Urgency, checked_cells
from domain.rule_versions import RuleVersions
from domain.sla import DEFAULT_TERMS, PolicyTerms
from domain.sla_clock import Mark, Ticket
from domain.sla_incident import KIND, MARKED_TYPE_NAMES, marks_of_json
from domain.sla_rules import Rules
from domain.whatif import (
    REPORTING_ZONE,
    Case,
    Judged,
    Outcome,
    Rating,
    Scenario,
    replay,
    report,
)
from infra.serialisation import plain
from projections.runner import collector_paused

BATCH = 5000

# -- what a scenario is made of: the same shapes as the rule endpoints' bodies -------------------


#: A rule file's version, as the endpoint answers it: a what-if is no version.
IgnoredVersion = Annotated[int | None, Field(description="ignored: a what-if is no version")]
#: A revision body's reason, kept as it came: a what-if records none.
IgnoredReason = Annotated[str | None, Field(max_length=2000)]


class RuleFile(BaseModel):
    """A rule as its endpoint answers or revises it: any other field is refused."""

    model_config = ConfigDict(extra="forbid")


class PolicyFile(RuleFile):
    """The shape of `GET /api/v1/sla/policy` and of a policy revision's body."""

    terms: PolicyTerms
    version: IgnoredVersion = None
    reason: IgnoredReason = None


class CalendarFile(RuleFile):
    """The shape of `GET /api/v1/sla/calendars/{name}`: the calendar it stands in for, by name."""

    name: str = Field(min_length=1, max_length=100)
    time_zone: str = Field(default="Asia/Jakarta", min_length=1, max_length=100)
    hours: Hours
    years: dict[int, HolidayYear] = Field(max_length=50)
    version: IgnoredVersion = None

    def spec(self) -> CalendarSpec:
        return checked_spec(self.time_zone, self.hours, self.years)


class MatrixFile(RuleFile):
    """The shape of `GET /api/v1/priority-matrix` and of a matrix revision's body."""

    cells: Cells
    version: IgnoredVersion = None
    reason: IgnoredReason = None


class WhatIf(BaseModel):
    """A what-if: any subset of the rules, and the period of logging (dates in the office's
    time, both inclusive; open-ended when left out)."""

    model_config = example(
        {
            "policy": DEFAULT_TERMS.model_dump(mode="json"),
            "from": "2026-01-05",
            "to": "2026-01-30",
        },
        extra="forbid",
        populate_by_name=True,
    )
    policy: PolicyTerms | None = Field(default=None, description="judges every ticket")
    calendars: list[CalendarFile] = Field(
        default_factory=list, max_length=8, description="each stands in for the one of its name"
    )
    matrix: Cells | None = Field(default=None, description="priority by impact, then urgency")
    since: date | None = Field(default=None, alias="from", description="first day logged")
    until: date | None = Field(default=None, alias="to", description="last day logged")

    def scenario(self) -> Scenario:
        """The scenario (InvalidRule if a calendar or the matrix would be refused as a rule)."""
        return Scenario(
            policy=self.policy,
            calendars={c.name: c.spec() for c in self.calendars},
            matrix=None if self.matrix is None else checked_cells(self.matrix),
        )

    def period(self) -> tuple[datetime | None, datetime | None]:
        """[start, end) as instants: from the first day's midnight WIB to the last day's end."""

        def midnight(day: date) -> datetime:
            return datetime(day.year, day.month, day.day, tzinfo=REPORTING_ZONE)

        return (
            None if self.since is None else midnight(self.since),
            None if self.until is None else midnight(self.until + timedelta(days=1)),
        )


def read_rule_file(path: Path) -> dict[str, Any]:
    """A rule file's content: TOML if it is named *.toml, JSON otherwise."""
    text = path.read_bytes()
    loaded = tomllib.loads(text.decode()) if path.suffix == ".toml" else orjson.loads(text)
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: a rule file holds one object")
    return loaded


# -- reading the period's incidents --------------------------------------------------------------


@dataclass
class _Reading:
    number: int
    organisation: str
    service: str
    rules: RuleVersions | None
    marks: list[Mark] = field(default_factory=list)
    ratings: list[Rating] = field(default_factory=list)


_RATED = (e.Logged.type_name, e.Reprioritised.type_name)


def read_cases(
    recorder: ApplicationRecorder,
    mapper: Mapper,  # type: ignore[type-arg]
    since: datetime | None = None,
    until: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Case]:
    """Every incident logged in [since, until), from the store's events, in logging order."""
    head = recorder.max_notification_id() or 0
    reading: dict[UUID | str, _Reading] = {}
    outside: set[UUID | str] = set()
    rules: dict[bytes, RuleVersions] = {}
    position = 0
    while position < head:
        batch = recorder.select_notifications(
            start=position,
            limit=BATCH,
            stop=head,
            topics=MARKED_TYPE_NAMES,
            inclusive_of_start=False,
        )
        if not batch:
            break
        for n in batch:
            key = n.originator_id
            if key in outside:
                continue
            data = orjson.loads(plain(mapper, n.state))
            marks = marks_of_json(n.topic, data)
            case = reading.get(key)
            if case is None:
                if n.topic != e.Logged.type_name:
                    continue  # not an incident this reader began with (never so in a store)
                at = marks[0].at
                if (since is not None and at < since) or (until is not None and at >= until):
                    outside.add(key)
                    continue
                case = reading[key] = _Reading(
                    data["number"],
                    data.get("organisation", PROVINCE),
                    data["service"],
                    _rules(data.get("sla"), rules),
                )
            if n.topic in _RATED:
                rating = Rating(len(case.marks), Impact(data["impact"]), Urgency(data["urgency"]))
                case.ratings.append(rating)
            case.marks.extend(marks)
        position = batch[-1].id
        if progress is not None:
            progress(position, head)
    return [
        Case(
            str(key),
            r.number,
            r.organisation,
            Ticket(KIND, r.service, r.rules, tuple(r.marks), r.organisation),
            tuple(r.ratings),
        )
        for key, r in reading.items()
    ]


def _rules(raw: dict[str, Any] | None, seen: dict[bytes, RuleVersions]) -> RuleVersions | None:
    if raw is None:
        return None
    key = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    found = seen.get(key)
    if found is None:
        found = seen[key] = RuleVersions.model_validate(raw)
    return found


# -- a run ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    report: dict[str, Any]
    outcomes: Sequence[Outcome]
    read_seconds: float
    judge_seconds: float


def run(
    desk: ServiceDesk,
    whatif: WhatIf,
    as_of: datetime,
    *,
    scratch: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> Run:
    """Judge the period's incidents by their rules of record and by the what-if, as of `as_of`,
    in `workers` processes (forked: see judge_all).

    InvalidRule if the what-if's rules would be refused as rules."""
    scenario = whatif.scenario()
    with collector_paused():  # a year of marks and clocks, all alive until the report is made
        return _run(desk, whatif, scenario, as_of, scratch, progress, workers)


def _run(
    desk: ServiceDesk,
    whatif: WhatIf,
    scenario: Scenario,
    as_of: datetime,
    scratch: Path | None,
    progress: Callable[[int, int], None] | None,
    workers: int,
) -> Run:
    since, until = whatif.period()
    started = time.perf_counter()
    cases = read_cases(desk.recorder, desk.mapper, since, until, progress)
    read = time.perf_counter() - started
    started = time.perf_counter()
    outcomes = judge_all(desk, cases, scenario, as_of, workers)
    judged = time.perf_counter() - started
    body = report(outcomes)
    body = {
        "as_of": as_of,
        "period": {"from": whatif.since, "to": whatif.until},
        "scenario": {
            "policy": whatif.policy is not None,
            "calendars": sorted(c.name for c in whatif.calendars),
            "matrix": whatif.matrix is not None,
        },
        **body,
        "seconds": {"read": round(read, 3), "judge": round(judged, 3)},
    }
    if scratch is not None:
        write_scratch(scratch, outcomes)
    return Run(body, outcomes, read, judged)


#: What the forked judges read: (cases, their rules of record, scenario, calendars, as_of). Set
#: in the parent just before it forks, so the children inherit it instead of unpickling it.
_JOB: tuple[Sequence[Case], Sequence[Rules], Scenario, dict[str, CalendarSpec], datetime] | None = (
    None
)
#: Below this many tickets a pool costs more than it saves.
POOL_FROM = 2000


def judge_all(
    desk: ServiceDesk, cases: Sequence[Case], scenario: Scenario, as_of: datetime, workers: int
) -> list[Outcome]:
    """`domain.whatif.compare` over the cases, in `workers` processes where fork is available.

    Everything a judge needs that lives in the store (each ticket's rules of record, the current
    version of every calendar the scenario's policy names) is resolved here first, so the forked
    children only compute: they touch no connection. They send back bare verdicts; the tickets
    that flip are judged again here, with their timelines."""
    global _JOB  # noqa: PLW0603 (handed to the forked children by inheritance)
    rules = [desk.rulebook.rules(c.ticket) for c in cases]
    names = scenario.policy.calendars() if scenario.policy is not None else set()
    calendars = {n: desk.business_calendar(n).spec() for n in names - set(scenario.calendars)}
    _JOB = (cases, rules, scenario, calendars, as_of)
    try:
        n = len(cases)
        if workers > 1 and n >= POOL_FROM and "fork" in mp.get_all_start_methods():
            size = -(-n // (workers * 4))
            chunks = [(i, min(i + size, n)) for i in range(0, n, size)]
            with mp.get_context("fork").Pool(workers) as pool:
                verdicts = [v for part in pool.map(_judge_range, chunks) for v in part]
        else:
            verdicts = _judge_range((0, n))
    finally:
        _JOB = None
    outcomes = []
    for case, record, (by_record, by_whatif) in zip(cases, rules, verdicts, strict=True):
        outcome = Outcome(case, by_record, by_whatif)
        if outcome.flipped:
            outcome = replay(case, record, scenario, calendars.__getitem__, as_of)
        outcomes.append(outcome)
    return outcomes


def _judge_range(bounds: tuple[int, int]) -> list[tuple[Judged, Judged]]:
    assert _JOB is not None
    cases, rules, scenario, calendars, as_of = _JOB
    found = []
    for i in range(*bounds):
        o = replay(cases[i], rules[i], scenario, calendars.__getitem__, as_of, explain=False)
        found.append((o.record.bare(), o.whatif.bare()))
    return found


def write_scratch(path: Path, outcomes: Sequence[Outcome]) -> None:
    """Each ticket's two verdicts, as a table of a scratch SQLite file (made anew)."""
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE verdicts (id TEXT PRIMARY KEY, ref TEXT, service TEXT,"
            " organisation TEXT, grp TEXT, month TEXT, record TEXT, record_priority INTEGER,"
            " record_resolve_minutes REAL, whatif TEXT, whatif_priority INTEGER,"
            " whatif_resolve_minutes REAL)"
        )
        db.executemany(
            "INSERT INTO verdicts VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    o.case.id,
                    o.case.ref,
                    o.case.ticket.service,
                    o.case.organisation,
                    o.case.group,
                    o.case.month,
                    o.record.verdict.value,
                    o.record.priority,
                    None if o.record.resolve is None else o.record.resolve.total_seconds() / 60,
                    o.whatif.verdict.value,
                    o.whatif.priority,
                    None if o.whatif.resolve is None else o.whatif.resolve.total_seconds() / 60,
                )
                for o in outcomes
            ],
        )
    db.close()
