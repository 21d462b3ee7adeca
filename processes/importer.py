"""Imports of another system's ticket history as incident events, with their original times.

One code path for every log: a mapping (processes/import_mapping.py, docs/imports.md) says which
column is what; each case's rows are replayed in order through the Incident aggregate, so the
events are the normal domain events, checked by the normal rules. Every row is applied, recorded
with a counted approximation, or refused with a counted reason (a change our lifecycle cannot
represent, a value the mapping does not map under --refuse-unmapped); the report's counts add up
to the rows read.

Idempotent: a case's incident id is derived from (system, case id), and a case found in the store
is passed over, so importing a file again writes nothing, and a run stopped halfway is finished by
running it again. Cases are written in batches, each batch one atomic write with the numbers its
incidents take from the live incident number log (the store arbitrates between the importer and
the API exactly as between two API processes).
"""

from __future__ import annotations

import csv
import gzip
import io
import lzma
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import IO, Any, cast
from uuid import UUID, uuid4, uuid5

from application.desk import ServiceDesk
from application.pipeline import Submission
from application.session import Session
from domain.actors import Actor, Role
from domain.context import Context
from domain.errors import DomainError
from domain.incident import (
    OPEN_STATES,
    CancelReason,
    ImportSource,
    Incident,
    IncidentState,
)
from domain.priority import PriorityMatrix
from domain.record_numbers import named_id
from domain.records import INCIDENT_PREFIX
from domain.rule_versions import RuleVersions
from processes.import_mapping import Mapping, MappingError, Target

_NAMESPACE = UUID("3c8e5d2a-9b41-4f7e-a0c6-5e2d7b9f1a38")


def incident_id(system: str, case: str) -> UUID:
    """The id of the incident imported from a case: the same on every run."""
    return named_id(f"import:{system}", case)


def source_correlation(system: str, case: str, line: int) -> UUID:
    """The correlation id of the events imported from one row (line of the file, header = 1)."""
    return uuid5(_NAMESPACE, f"{system}\n{case}\n{line}")


@dataclass(frozen=True, slots=True)
class SourceRow:
    line: int
    values: dict[str, str]


@dataclass
class ImportReport:
    """What an import did with every row it read: each row is applied, approximated (recorded
    differently from the source, with the reason) or refused (not recorded, with the reason), or
    belongs to a case already in the store or not written; `unaccounted()` is 0."""

    rows: int = 0
    cases: int = 0
    imported: int = 0  # cases written by this run
    already: int = 0  # cases found in the store (an earlier run wrote them)
    already_rows: int = 0
    unwritten_rows: int = 0  # rows of cases read but not written (a run stopped on purpose)
    events: int = 0
    applied: int = 0  # rows recorded as the source has them
    #: reason -> rows whose change was not recorded (refused)
    skipped: Counter[str] = field(default_factory=Counter)
    #: reason -> cases not imported at all (their rows are refused, under "case not imported")
    failed: Counter[str] = field(default_factory=Counter)
    #: what was recorded differently from the source -> rows (a row may have several)
    approximated: Counter[str] = field(default_factory=Counter)
    approximated_rows: int = 0
    #: "column 'value'" -> rows with a value the mapping does not map
    unmapped: Counter[str] = field(default_factory=Counter)
    #: state -> imported cases whose last row leaves them unfinished (not closed or cancelled)
    unfinished: Counter[str] = field(default_factory=Counter)
    #: the last case replayed and the state its rows leave it in
    last_case: tuple[str, str] | None = None

    def merge(self, other: ImportReport) -> None:
        self.imported += other.imported
        self.events += other.events
        self.applied += other.applied
        self.approximated_rows += other.approximated_rows
        self.skipped.update(other.skipped)
        self.failed.update(other.failed)
        self.approximated.update(other.approximated)
        self.unmapped.update(other.unmapped)
        self.unfinished.update(other.unfinished)
        self.last_case = other.last_case or self.last_case

    def unaccounted(self) -> int:
        """Rows read that are neither applied, approximated, refused, already stored nor left
        unwritten: 0, or the importer lost a row."""
        accounted = self.applied + self.approximated_rows + sum(self.skipped.values())
        return self.rows - accounted - self.already_rows - self.unwritten_rows

    def lines(self) -> list[str]:
        """The summary, as the command prints it."""
        out = [
            f"rows read: {self.rows:,}; cases: {self.cases:,}",
            f"imported: {self.imported:,} incidents ({self.events:,} events); "
            f"already in the store: {self.already:,}",
            f"rows: {self.applied:,} applied + {self.approximated_rows:,} approximated"
            f" + {sum(self.skipped.values()):,} refused + {self.already_rows:,} of cases already"
            f" stored + {self.unwritten_rows:,} not written"
            f" = {self.rows - self.unaccounted():,} of {self.rows:,} read",
        ]
        for title, counts, unit in (
            ("cases not imported", self.failed, "cases"),
            ("rows refused (not representable)", self.skipped, "rows"),
            ("approximations (a row may have several)", self.approximated, "rows"),
            ("values not in the mapping", self.unmapped, "rows"),
            ("cases the log leaves unfinished, by state", self.unfinished, "cases"),
        ):
            total = sum(counts.values())
            out.append(f"{title}: {total:,}")
            out.extend(f"  {n:>8,} {unit}  {reason}" for reason, n in counts.most_common())
        if self.last_case and self.last_case[1] in self.unfinished:
            case, state = self.last_case
            out.append(
                f"the file's last case, {case}, ends {state}: if the file is a slice of a log, "
                "the slice may have cut it off"
            )
        return out


# -- reading -------------------------------------------------------------------------------------


def open_text(path: Path) -> tuple[IO[bytes], IO[str]]:
    """The raw file (its position measures progress) and its text, decompressed by suffix."""
    raw = path.open("rb")
    stream: IO[bytes]
    # the caller closes them (and the raw file) through the text wrapper
    if path.suffix == ".xz":
        stream = lzma.open(raw)  # noqa: SIM115
    elif path.suffix == ".gz":
        stream = cast(IO[bytes], gzip.GzipFile(fileobj=raw))
    else:
        stream = raw
    return raw, io.TextIOWrapper(stream, encoding="utf-8", newline="")


def read_cases(text: IO[str], mapping: Mapping) -> Iterator[tuple[str, list[SourceRow]]]:
    """Each case with its rows, for a file whose rows of a case are contiguous (a case met again
    later is yielded again, and the importer reports it as already imported)."""
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        index.setdefault(name, i)  # a repeated column name: the first one
    missing = sorted(mapping.columns() - index.keys())
    if missing:
        raise MappingError(f"the file has no column {', '.join(map(repr, missing))}")
    wanted = sorted(mapping.columns(), key=index.__getitem__)
    positions = [(name, index[name]) for name in wanted]
    case_at = index[mapping.case]
    current: str | None = None
    rows: list[SourceRow] = []
    for line, record in enumerate(reader, start=2):
        if not record:
            continue
        case = record[case_at].strip() if case_at < len(record) else ""
        values = {name: record[i] if i < len(record) else "" for name, i in positions}
        if case != current and rows:
            assert current is not None
            yield current, rows
            rows = []
        current = case
        rows.append(SourceRow(line, values))
    if rows and current is not None:
        yield current, rows


# -- replaying a case ----------------------------------------------------------------------------


class CaseReplay:
    """Replays one case's rows through the Incident aggregate (nothing is written here).

    Each row ends as exactly one of: applied, approximated (with its reasons) or refused (with
    its reason), counted in the report."""

    def __init__(
        self,
        mapping: Mapping,
        matrix: PriorityMatrix,
        report: ImportReport,
        *,
        refuse_unmapped: bool = False,
    ) -> None:
        self.m = mapping
        self.matrix = matrix
        self.report = report
        #: Refuse a row with a value the mapping does not map, rather than record the default
        #: (first row) or leave the attribute as it was.
        self.refuse_unmapped = refuse_unmapped
        self._timed: list[tuple[datetime, int, SourceRow]] = []
        self._notes: list[str] = []  # the approximations of the row being replayed
        self._unmapped_seen: set[tuple[int, str | None]] = set()  # (line, column), counted once

    def actor(self, row: SourceRow, column: str | None) -> Actor | None:
        who = self.m.value(row.values, column)
        return None if who is None else Actor(id=f"{self.m.system}:{who}"[:200], role=self.m.role)

    def replay(
        self,
        case: str,
        rows: list[SourceRow],
        *,
        number: int,
        sla: Callable[[str], RuleVersions | None],
        file: str | None = None,
    ) -> Incident | None:
        """The incident the rows describe, its events pending; None (and counted) if the case
        cannot be imported at all."""
        m = self.m
        timed: list[tuple[datetime, int, SourceRow]] = []
        for row in rows:
            try:
                at = m.parse_time(m.value(row.values, m.time) or "")
            except ValueError:
                self.report.skipped[f"{m.time}: missing, or not in the format {m.time_format}"] += 1
                continue
            if self.refuse_unmapped and (unmapped := self._unmapped(row)):
                self.report.skipped[f"{unmapped} is not in the mapping (refused by option)"] += 1
                continue
            order = m.value(row.values, m.order_by) or "0"
            timed.append((at, int(order) if order.isdigit() else 0, row))
        if not case:
            self._fail("no case id", timed)
            return None
        if not timed:
            self._fail("no row left to replay (each is refused above)", timed)
            return None
        timed.sort(key=lambda t: (t[0], t[1]))
        self._timed = timed
        self._notes = []
        self._unmapped_seen = set()
        first_at, _, first = timed[0]
        opened_at = first_at
        opened_text = m.value(first.values, m.opened_at)
        if opened_text is not None:
            try:
                opened_at = min(m.parse_time(opened_text), first_at)
            except ValueError:
                self._notes.append(f"{m.opened_at} unreadable: opened at the first row")
        opener = self.actor(first, m.opened_by) or self.actor(first, m.actor)
        opener = opener or Actor(id=f"{m.system}:unknown", role=m.role)
        caller = m.value(first.values, m.caller)
        impact = self._mapped(first, m.impact, m.impacts, default=m.default_impact)
        urgency = self._mapped(first, m.urgency, m.urgencies, default=m.default_urgency)
        channel = self._mapped(first, m.channel, m.channels, default=m.default_channel)
        try:
            incident = Incident.log(
                Context(opener, opened_at, source_correlation(m.system, case, first.line)),
                id=incident_id(m.system, case),
                number=number,
                title=m.render(m.title, first.values)[:200],
                description=m.render(m.description, first.values)[:10_000],
                service=m.render(m.service, first.values)[:200],
                configuration_item=m.value(first.values, m.configuration_item),
                caller=f"{m.system}:{caller}"[:200] if caller else opener.id,
                channel=channel or m.default_channel,
                impact=impact or m.default_impact,
                urgency=urgency or m.default_urgency,
                matrix=self.matrix,
                sla=sla(m.render(m.service, first.values)[:200]),
                organisation=m.organisation,
                source=ImportSource(system=m.system, case=case[:200], line=first.line, file=file),
                priority=self._mapped(first, m.priority, m.priorities, default="the matrix's"),
            )
        except (DomainError, ValueError) as error:
            self._fail(f"cannot be logged: {_reason(error)}", timed)
            return None
        for index, (at, _, row) in enumerate(timed):
            self._row(incident, case, index, row, at)
            self._notes = []
        if incident.state not in (IncidentState.CLOSED, IncidentState.CANCELLED):
            self.report.unfinished[incident.state] += 1
        self.report.last_case = (case, incident.state)
        return incident

    def _fail(self, reason: str, timed: list[tuple[datetime, int, SourceRow]]) -> None:
        self.report.failed[reason] += 1
        if timed:
            self.report.skipped[f"case not imported: {reason}"] += len(timed)

    def _unmapped(self, row: SourceRow) -> str | None:
        """The first "column 'value'" of the row that the mapping does not map, if any."""
        for column, table in self._tables():
            value = self.m.value(row.values, column)
            if table and value is not None and value not in table:
                return f"{column} {value!r}"
        return None

    def _tables(self) -> list[tuple[str | None, dict[str, Any]]]:
        m = self.m
        return [(m.impact, m.impacts), (m.urgency, m.urgencies), (m.priority, m.priorities)]

    def _mapped(
        self, row: SourceRow, column: str | None, table: dict[str, Any], *, default: object
    ) -> Any:
        """The mapped value of a column (None where missing); a value the mapping does not map is
        counted, and noted as recorded as `default` (None: left as it was)."""
        value = self.m.value(row.values, column)
        if value is None:
            return None
        if value in table:
            return table[value]
        if table and (row.line, column) not in self._unmapped_seen:
            # (a mapping with no table for a column takes every value as its default)
            self._unmapped_seen.add((row.line, column))
            self.report.unmapped[f"{column} {value!r}"] += 1
            outcome = "left as it was" if default is None else f"recorded as {default}"
            self._notes.append(f"{column} {value!r} is not in the mapping: {outcome}")
        return None

    def _row(self, incident: Incident, case: str, index: int, row: SourceRow, at: datetime) -> None:
        m = self.m
        value = m.value(row.values, m.state)
        target = m.states.get(value or "")
        if target is None:
            self.report.skipped[f"{m.state} {value!r} is not in the mapping's states"] += 1
            return
        who = self.actor(row, m.actor) or Actor(id=f"{m.system}:unknown", role=m.role)
        ctx = Context(who, at, source_correlation(m.system, case, row.line))
        before = incident.state
        saved, pending = dict(incident.__dict__), len(incident._pending)
        try:
            if incident.state in OPEN_STATES:
                self._attributes(incident, ctx, row)
                self._move(incident, ctx, target, index, row)
            else:
                self._move(incident, ctx, target, index, row)
                self._attributes(incident, ctx, row)
        except (DomainError, ValueError) as error:
            incident.__dict__.update(saved)
            del incident._pending[pending:]
            self.report.skipped[f"{before} -> {value}: {_reason(error)}"] += 1
            return
        if self._notes:
            self.report.approximated.update(dict.fromkeys(self._notes, 1))
            self.report.approximated_rows += 1
        else:
            self.report.applied += 1

    def _attributes(self, incident: Incident, ctx: Context, row: SourceRow) -> None:
        """Group, agent, impact, urgency and priority as the row has them (missing: as they
        were)."""
        m = self.m
        group = m.value(row.values, m.group) or incident.group
        agent = m.value(row.values, m.agent)
        if agent is not None:
            agent = f"{m.system}:{agent}"[:200]
        elif group == incident.group:
            agent = incident.agent  # a row without an agent leaves the agent as it was
        impact = self._mapped(row, m.impact, m.impacts, default=None) or incident.impact
        urgency = self._mapped(row, m.urgency, m.urgencies, default=None) or incident.urgency
        given = self._mapped(row, m.priority, m.priorities, default=None)
        assignment = group is not None and (group, agent) != (incident.group, incident.agent)
        changed = (impact, urgency) != (incident.impact, incident.urgency)
        if given is not None and given != incident.priority and not changed:
            self._notes.append("priority changed with neither impact nor urgency: not recorded")
        if incident.state not in OPEN_STATES:
            what = {"assignment": assignment, "impact/urgency": changed}
            for name in (name for name, change in what.items() if change):
                self._notes.append(f"{name} changed on a {incident.state} incident: not recorded")
            return
        if assignment:
            assert group is not None
            incident.assign(ctx, group=group, agent=agent)
        if changed:
            incident.reprioritise(
                ctx,
                impact=impact,
                urgency=urgency,
                reason=f"{m.system}: impact or urgency changed",
                matrix=self.matrix,
                priority=given,
            )

    def _move(
        self, incident: Incident, ctx: Context, target: Target, index: int, row: SourceRow
    ) -> None:
        """Record what takes the incident to the target state, or raise why it cannot."""
        state, want = incident.state, target.state
        value = self.m.value(row.values, self.m.state) or ""
        if state in (IncidentState.CLOSED, IncidentState.CANCELLED) and want is not state:
            raise _Unrepresentable(f"a {state} incident is final here")
        if want is IncidentState.LOGGED:
            if state is IncidentState.RESOLVED:  # the source reopened it as new
                incident.reopen(ctx, reason=f"{self.m.system}: {value} after resolution")
                self._notes.append(f"{value} after a resolution: recorded as a reopen")
            elif state not in (IncidentState.LOGGED, IncidentState.ASSIGNED):
                raise _Unrepresentable("back to a new incident")
            return
        if want is IncidentState.ASSIGNED:
            if state is IncidentState.RESOLVED:
                incident.reopen(ctx, reason=f"{self.m.system}: {value}")
            elif state is IncidentState.ON_HOLD:
                incident.resume(ctx)
            self._ensure_assigned(incident, ctx)
            if incident.state is not IncidentState.ASSIGNED:
                raise _Unrepresentable(f"back to assigned from {incident.state}")
            return
        if want is IncidentState.IN_PROGRESS:
            self._reopen_or_resume(incident, ctx, value)
            self._ensure_started(incident, ctx)
            return
        if want is IncidentState.ON_HOLD:
            assert target.hold_reason is not None
            if state is IncidentState.ON_HOLD and incident.hold_reason is target.hold_reason:
                return
            self._reopen_or_resume(incident, ctx, value)
            self._ensure_assigned(incident, ctx)
            incident.put_on_hold(ctx, reason=target.hold_reason, note=f"{self.m.system}: {value}")
            return
        if want is IncidentState.RESOLVED:
            if state is not IncidentState.RESOLVED:
                self._resolve(incident, ctx, index, row)
            return
        if want is IncidentState.CLOSED:
            self._close(incident, ctx, index, row)
            return
        if want is IncidentState.CANCELLED:
            if state is not IncidentState.CANCELLED:
                incident.cancel(
                    ctx, reason=CancelReason.LOGGED_IN_ERROR, note=f"{self.m.system}: {value}"
                )
            return
        raise _Unrepresentable(f"no path to {want}")  # pragma: no cover - every state is above

    def _close(self, incident: Incident, ctx: Context, index: int, row: SourceRow) -> None:
        """Only the case's last Closed row closes it (the source's own close time, ServiceNow's
        `closed_at`): our closes are final, and the source's are not (it reopens closed records,
        and updates them while closed). An earlier Closed row leaves the incident resolved."""
        if incident.state is IncidentState.CLOSED:
            return
        if incident.state in OPEN_STATES:
            self._resolve(incident, ctx, index, row)
            self._notes.append("closed with no resolution: resolved at the close")
        if any(self._target(r) is IncidentState.CLOSED for _, _, r in self._timed[index + 1 :]):
            self._notes.append("a Closed row before the case's last one: left resolved")
            return
        assert incident.reopen_until is not None
        if ctx.at >= incident.reopen_until:
            incident.close(ctx)
        else:
            incident.confirm_resolution(ctx)
            self._notes.append(
                "closed inside the reopen window: recorded as confirmed by the caller"
            )

    def _target(self, row: SourceRow) -> IncidentState | None:
        target = self.m.states.get(self.m.value(row.values, self.m.state) or "")
        return None if target is None else target.state

    def _reopen_or_resume(self, incident: Incident, ctx: Context, value: str) -> None:
        if incident.state is IncidentState.RESOLVED:
            incident.reopen(ctx, reason=f"{self.m.system}: {value} after resolution")
        elif incident.state is IncidentState.ON_HOLD:
            incident.resume(ctx)

    def _ensure_assigned(self, incident: Incident, ctx: Context) -> None:
        if incident.state is IncidentState.LOGGED:
            incident.assign(ctx, group=incident.group or self.m.default_group)

    def _ensure_started(self, incident: Incident, ctx: Context) -> None:
        self._ensure_assigned(incident, ctx)
        if incident.state is IncidentState.ASSIGNED:
            agent = None
            # a log with an agent column whose row names none: not the updater (an activity
            # log without one is its actors' work: who takes it in charge is the agent)
            if incident.agent is None and self.m.agent is not None:
                agent = f"{self.m.system}:unknown"
                self._notes.append(f"work started with no agent in the source: agent {agent}")
            incident.start_work(ctx, agent=agent)

    def _resolve(self, incident: Incident, ctx: Context, index: int, row: SourceRow) -> None:
        """Resolved at the row where the state becomes resolved (the source's resolution time,
        where the mapping names one, is compared, and a difference counted)."""
        m = self.m
        if incident.state in (IncidentState.LOGGED, IncidentState.ASSIGNED):
            self._ensure_started(incident, ctx)
        code = m.resolution_codes.get(m.value(row.values, m.resolution_code) or "")
        reopened = self._next_reopen(index)
        window = m.reopen_window
        if reopened is not None and reopened - ctx.at > window:
            self._notes.append("reopened after our reopen window: the window widened to it")
            window = reopened - ctx.at
        if reopened is None:  # the case's last resolution: the one a resolution time measures
            self._check_resolved_at(ctx.at, row)
        incident.resolve(
            ctx,
            code=code or m.default_resolution_code,
            notes=m.render(m.resolution_notes, row.values)[:10_000] or "resolved (imported)",
            reopen_window=window,
        )

    def _check_resolved_at(self, at: datetime, row: SourceRow) -> None:
        m = self.m
        first = at <= self._timed[0][0]
        if m.resolved_at is None:
            if first:
                self._notes.append("resolved at the case's first row (0 h): the source's first row")
            return
        text = m.value(row.values, m.resolved_at)
        try:
            source = None if text is None else m.parse_time(text)
        except ValueError:
            source = None
        if source is None:
            where = "its first row (0 h)" if first else "the row where the state became resolved"
            self._notes.append(f"no {m.resolved_at} in the source: resolved at {where}")
        elif source != at:
            self._notes.append(
                f"{m.resolved_at} in the source differs: resolved at the row where the state"
                " became resolved"
            )

    def _next_reopen(self, index: int) -> datetime | None:
        """When the source reopens the case after the row at `index`, if it does (its next row
        in an open state, past any resolved or closed rows)."""
        for later, _, row in self._timed[index + 1 :]:
            state = self._target(row)
            if state not in (None, IncidentState.RESOLVED, IncidentState.CLOSED):
                return later
        return None


class _Unrepresentable(DomainError):
    code = "not-representable"


class AlreadyImported(DomainError):
    """The case is in the store already (another import wrote it since the batch looked)."""

    code = "already-imported"


class CaseNotImported(DomainError):
    """None of the case can be imported; its figures say why."""

    code = "case-not-imported"


def _reason(error: Exception) -> str:
    if isinstance(error, DomainError):
        return f"{error.code} ({error})" if isinstance(error, _Unrepresentable) else error.code
    return type(error).__name__


# -- writing ---------------------------------------------------------------------------------------

#: (bytes of the file read, its size, rows read)
ImportProgress = Callable[[int, int, int], None]


@dataclass(eq=False)
class Importer:
    """Imports a log into the desk's event store, `batch` cases per atomic write."""

    desk: ServiceDesk
    mapping: Mapping
    _: KW_ONLY
    clock: Callable[[], datetime]
    batch: int = 500
    #: Stop after this many batches have been written (to test a crash halfway).
    stop_after: int | None = None
    refuse_unmapped: bool = False

    def __post_init__(self) -> None:
        self._written_batches = 0
        self._sla: dict[str, RuleVersions | None] = {}

    def run(self, path: Path, progress: ImportProgress | None = None) -> ImportReport:
        report = ImportReport()
        size = path.stat().st_size
        raw, text = open_text(path)
        with raw, text:
            pending: list[tuple[str, list[SourceRow]]] = []
            for case, rows in read_cases(text, self.mapping):
                report.rows += len(rows)
                report.cases += 1
                pending.append((case, rows))
                if len(pending) >= self.batch:
                    if not self._flush(pending, report, path.name):
                        report.unwritten_rows += sum(len(rows) for _, rows in pending)
                        break
                    pending = []
                    if progress:
                        progress(raw.tell(), size, report.rows)
            else:
                if pending:
                    self._flush(pending, report, path.name)
            if progress:
                progress(raw.tell(), size, report.rows)
        return report

    def _flush(
        self, cases: list[tuple[str, list[SourceRow]]], report: ImportReport, file: str
    ) -> bool:
        """Write one batch through the command pipeline, as one group commit; False once
        `stop_after` batches are written."""
        if self.stop_after is not None and self._written_batches >= self.stop_after:
            return False
        system = self.mapping.system
        new = []
        for case, rows in cases:
            if self._exists(incident_id(system, case)):
                report.already += 1
                report.already_rows += len(rows)
            else:
                new.append((case, rows))
        if not new:
            self._written_batches += 1
            return True
        ctx = Context(Actor(id=f"importer:{system}", role=Role.INTEGRATION), self.clock(), uuid4())
        matrix = self.desk.priority_matrix()
        #: Each case's own figures, from the last time it was decided: the pipeline decides a
        #: case again (alone) when the batch cannot take it, and only that decision counts.
        figures: dict[int, ImportReport] = {}
        submissions = [
            Submission(
                ctx,
                case,
                operation="import_incident",
                decision=partial(self._import, matrix, figures, i, case, rows, file),
            )
            for i, (case, rows) in enumerate(new)
        ]
        outcomes = self.desk.execute_batch(submissions)
        for i, ((_, rows), result) in enumerate(zip(new, outcomes, strict=True)):
            if isinstance(result, AlreadyImported):  # another import wrote it meanwhile
                report.already += 1
                report.already_rows += len(rows)
            elif isinstance(result, Exception) and not isinstance(result, CaseNotImported):
                raise result  # the store refused the batch, or contention outlasted the retries
            else:
                report.merge(figures[i])
        self._written_batches += 1
        return True

    def _import(
        self,
        matrix: PriorityMatrix,
        figures: dict[int, ImportReport],
        i: int,
        case: str,
        rows: list[SourceRow],
        file: str,
        session: Session,
    ) -> UUID:
        """The pipeline's decision for one case: the incident its rows describe, numbered next."""
        record_id = incident_id(self.mapping.system, case)
        # The batch looked before deciding it; should another import write the case meanwhile,
        # the store refuses the batch and each case is decided again, looking again.
        if i in figures and session.find(Incident, record_id) is not None:
            raise AlreadyImported(case)
        figures[i] = counted = ImportReport()
        replay = CaseReplay(self.mapping, matrix, counted, refuse_unmapped=self.refuse_unmapped)
        number = session.allocate(INCIDENT_PREFIX, record_id)
        incident = replay.replay(case, rows, number=number, sla=self._sla_rules, file=file)
        if incident is None:  # counted in its figures; its number is not taken
            raise CaseNotImported(case)
        counted.imported = 1
        counted.events = incident.version
        session.add(incident)
        return incident.id

    def _exists(self, aggregate_id: UUID) -> bool:
        return bool(list(self.desk.events.get(aggregate_id, limit=1)))

    def _sla_rules(self, service: str) -> RuleVersions | None:
        if service not in self._sla:
            self._sla[service] = self.desk.sla_rules_for(service)
        return self._sla[service]
