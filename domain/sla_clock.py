"""The SLA clock: a pure function of a ticket's timeline, a policy version and a calendar version.

`judge(ticket, terms, calendar, as_of)` reads no clock and nothing else: `as_of` is an argument,
the moment the caller asks about. A ticket of any kind (incident, service request) comes in as a
`Ticket`: a time-ordered list of `Mark`s, the SLA-relevant facts of its events, made by an
adapter per record type (domain/sla_incident.py for incidents). The marks do not depend on the
policy, so they can be kept in a projection and judged later by any version.

Rules (docs/sla.md says why):
- Two targets run from logging: response (stops at the first response) and resolution (stops at
  resolution; a reopen restarts it where it stopped; the time in between does not count).
- A hold pauses both clocks only if the policy, or the ticket's agreement, lists its reason in
  `pause_on`; otherwise the clock runs on through the hold. An agreement's `closed_days` are
  holidays for its customer's tickets. A wait the record type's lifecycle defines (a service request
  awaiting approval or its requester) always pauses. Pauses are intervals with reasons, measured
  in business time.
- Re-prioritisation: the new target applies from the change, and the share of the target used so
  far carries over (half the P3 time used leaves half the P1 time). A breach already passed
  stays a breach. A target that is no longer counting (met, or stopped) keeps the priority and
  the target it stopped under; a reopened resolution takes the ticket's priority of the moment.
- A target is breached when more business time than the target has run; finishing exactly at the
  due moment meets it. Each warning threshold and the breach are passed at most once.

Every target's answer adds up, in the terms of its own priority: `elapsed + remaining == target`
while it is not breached, and `remaining == 0`, `elapsed == target + overrun` once it is. So
`elapsed` is the part of the current target used (after a re-prioritisation, the share carried
over), not the business time that ran; that is `counted`, which re-prioritisation leaves alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Protocol, TypeVar

from domain.calendar import CalendarSpec
from domain.events import DomainEvent
from domain.incident import BREACH, SlaAlert
from domain.rule_versions import RuleVersions, SlaTarget
from domain.sla import PolicyTerms

MINUTE = timedelta(minutes=1)


class MarkKind(StrEnum):
    LOGGED = "logged"  # value: the priority
    RESPONDED = "responded"
    HELD = "held"  # value: the hold reason
    RESUMED = "resumed"
    REPRIORITISED = "reprioritised"  # value: the new priority
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    REASSIGNED = "reassigned"  # value: the group; the clock is the ticket's and runs on
    #: value: what the ticket waits for; pauses whatever the policy's pause_on says, because the
    #: record type's lifecycle defines it (a service request awaiting approval or its requester)
    PAUSED = "paused"
    REJECTED = "rejected"  # the request was refused: the clocks stop, not judged (as cancelled)


@dataclass(frozen=True, slots=True)
class Mark:
    at: datetime
    kind: MarkKind
    value: str | int | None = None


@dataclass(frozen=True, slots=True)
class Ticket:
    """What the clock needs of a ticket: its kind and service, the rules it recorded (None for
    tickets logged before SLA policies existed), and its marks in time order."""

    kind: str
    service: str
    rules: RuleVersions | None
    marks: tuple[Mark, ...]
    #: Whose ticket it is: the customer whose agreement (domain/sla.py) may set its targets.
    organisation: str | None = None


class Opening(Protocol):
    """The first event of a clocked record's history: the service and rules its clock runs by."""

    @property
    def service(self) -> str: ...

    @property
    def sla(self) -> RuleVersions | None: ...


_Opening = TypeVar("_Opening", bound=Opening)


def ticket_of(
    kind: str,
    opening: type[_Opening],
    marks_of: Callable[[DomainEvent], tuple[Mark, ...]],
    events: Iterable[DomainEvent],
) -> Ticket:
    """A record's ticket from its history, which starts with its `opening` event; each adapter
    (domain/sla_incident.py, domain/sla_request.py) says which events make which marks."""
    history = list(events)
    first = history[0]
    assert isinstance(first, opening), f"a {kind} history starts with {opening.__name__}"
    marks = tuple(m for event in history for m in marks_of(event))
    return Ticket(kind, first.service, first.sla, marks, getattr(first, "organisation", None))


class ClockState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    WARNING = "warning"
    BREACHED = "breached"
    MET = "met"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Pause:
    start: datetime
    end: datetime | None  # None: still paused
    reason: str
    business_time: timedelta  # the working time the pause covered (up to as_of while it lasts)


@dataclass(frozen=True, slots=True)
class Step:
    """One line of the explanation: what happened to a clock, when, and why."""

    at: datetime
    what: str
    target: SlaTarget | None
    detail: str


@dataclass(frozen=True, slots=True)
class TargetClock:
    target: SlaTarget
    state: ClockState
    priority: int  # the ticket's priority, or the one the target was met (or stopped) under
    target_time: timedelta  # of that priority
    #: the part of the target used: elapsed + remaining == target_time + overrun
    elapsed: timedelta
    remaining: timedelta  # of the target, never negative: zero once breached
    overrun: timedelta  # how far past the target it ran: zero unless breached
    counted: timedelta  # the business time the clock ran, under every priority it had
    due_at: datetime | None  # when it will breach if nothing stops it; None unless counting
    stopped_at: datetime | None  # when it was met (or stopped after a breach)
    breached_at: datetime | None
    next_alert_at: datetime | None  # the next threshold it passes after as_of if nothing stops it
    alerts: tuple[SlaAlert, ...]  # thresholds passed up to as_of


@dataclass(frozen=True, slots=True)
class TicketClock:
    as_of: datetime
    state: ClockState
    response: TargetClock
    resolution: TargetClock
    pauses: tuple[Pause, ...]
    timeline: tuple[Step, ...]

    @property
    def targets(self) -> tuple[TargetClock, TargetClock]:
        return self.response, self.resolution

    def alerts(self) -> list[SlaAlert]:
        return [a for t in self.targets for a in t.alerts]

    @property
    def next_alert_at(self) -> datetime | None:
        moments = [t.next_alert_at for t in self.targets if t.next_alert_at is not None]
        return min(moments, default=None)


def hours(delta: timedelta) -> str:
    """A business duration as people say it: 7h30m, 45m, 2h."""
    sign = "-" if delta < timedelta() else ""
    minutes = int(abs(delta).total_seconds() // 60)
    h, m = divmod(minutes, 60)
    return sign + (f"{h}h{m:02d}m" if h and m else f"{h}h" if h else f"{m}m")


def _why(hold: str | None) -> str:
    return f"while on hold ({hold}, which does not pause the clock)" if hold else "while running"


@lru_cache(maxsize=1024)
def _limits(total: timedelta, levels: tuple[int, ...]) -> dict[int, timedelta]:
    """What is left of a target of `total` when each level is used (never mutated: shared)."""
    return {level: total * (BREACH - level) // BREACH for level in levels}


@dataclass(slots=True)
class _Run:
    """One target's clock while the marks are replayed."""

    target: SlaTarget
    total: timedelta
    priority: int
    levels: tuple[int, ...]
    #: what is left of the target, negative once it is breached; used + left == total always
    left: timedelta = field(init=False)
    used: timedelta = timedelta()
    counted: timedelta = timedelta()  # the business time run, whatever the priority
    counting: bool = True  # not stopped (met, resolved, cancelled)
    paused: bool = False
    cancelled: bool = False
    stopped_at: datetime | None = None
    breached_at: datetime | None = None
    crossed: dict[int, datetime] = field(default_factory=dict)
    #: the levels not passed yet, ascending (so their thresholds descend)
    pending: list[int] = field(init=False)
    #: what is left of the target when each level is used (of the current total)
    limits: dict[int, timedelta] = field(init=False)

    def __post_init__(self) -> None:
        self.left = self.total
        self.pending = list(self.levels)
        self.retarget(self.total)

    def retarget(self, total: timedelta) -> None:
        self.total = total
        self.limits = _limits(total, self.levels)

    def reprioritise(self, priority: int, total: timedelta) -> None:
        """The new target from now, with the share of the old one used so far carried over; a
        breach stays one, by the same overrun."""
        if self.left > timedelta():
            self.left = self.left * (total // MINUTE) // (self.total // MINUTE)
        self.retarget(total)
        self.used = total - self.left
        self.priority = priority

    def threshold(self, level: int) -> timedelta:
        """What is left of the target when `level` percent of it is used."""
        return self.limits[level]

    def running(self) -> bool:
        return self.counting and not self.paused

    def work(
        self,
        cal: CalendarSpec,
        start: datetime,
        worked: timedelta,
        hold: str | None,
        steps: list[Step],
    ) -> None:
        """Count `worked`, the working time from `start` on, noting each threshold passed."""
        if not self.running():
            return
        after = self.left - worked
        if self.pending:
            # thresholds descend as levels ascend: if the first pending is not passed, none is
            level = self.pending[0]
            limit = self.limits[level]
            if after < limit or (after == limit and level != BREACH):
                self._cross(cal, start, after, hold, steps)
        self.left = after
        self.used += worked
        self.counted += worked

    def _cross(
        self,
        cal: CalendarSpec,
        start: datetime,
        after: timedelta,
        hold: str | None,
        steps: list[Step],
    ) -> None:
        for level in list(self.pending):
            mark = self.limits[level]
            passed = after < mark if level == BREACH else after <= mark
            if not passed:
                break
            self.pending.remove(level)
            moment = cal.add(start, self.left - mark)
            self.crossed[level] = moment
            if level == BREACH:
                self.breached_at = moment
                steps.append(
                    Step(
                        moment,
                        "breached",
                        self.target,
                        f"the {self.target} target of {hours(self.total)} (P{self.priority}) "
                        f"was missed {_why(hold)}",
                    )
                )
            else:
                steps.append(
                    Step(
                        moment,
                        "warning",
                        self.target,
                        f"{level}% of the {self.target} target of {hours(self.total)} used",
                    )
                )

    def upcoming(self, cal: CalendarSpec, now: datetime) -> tuple[datetime | None, datetime | None]:
        """(due, next threshold) from `now` if the clock runs on; (None, None) if it is not."""
        if not self.running():
            return None, None
        # at the due moment itself nothing is left and nothing is breached yet: due now
        due = cal.add(now, self.left) if self.left >= timedelta() else self.breached_at
        if not self.pending:
            return due, None
        level = self.pending[0]
        return due, cal.add(now, max(self.left - self.limits[level], timedelta()))


def judge(  # noqa: PLR0915 (one branch per kind of mark reads best as one walk)
    ticket: Ticket,
    terms: PolicyTerms,
    calendar: CalendarSpec,
    as_of: datetime,
    *,
    explain: bool = True,
) -> TicketClock:
    """The ticket's SLA clocks as of `as_of`, judged by these terms on this calendar.

    Without `explain` the timeline is left empty and the due moments it would quote are not
    worked out (a what-if judges thousands of tickets and explains only the verdicts that flip);
    everything else is the same."""
    first = ticket.marks[0]
    assert first.kind is MarkKind.LOGGED, "a ticket's timeline starts when it is logged"
    priority = int(first.value or 3)
    # the ticket's agreement's exceptions: days its customer is closed, holds that also pause
    calendar = calendar.closed_also(terms.closed_days_for(ticket.service, ticket.organisation))
    pause_on = terms.pauses_for(ticket.service, ticket.organisation)
    noun = ticket.kind.replace("_", " ")
    levels = (*terms.warn_at, BREACH)

    def allowed(target: SlaTarget, p: int) -> timedelta:
        """The business time these terms give a P`p` ticket of this service to meet `target`."""
        return terms.targets_for(ticket.service, p, ticket.organisation).minutes(target) * MINUTE

    runs = {
        target: _Run(target, allowed(target, priority), priority, levels) for target in SlaTarget
    }
    response, resolution = runs[SlaTarget.RESPONSE], runs[SlaTarget.RESOLUTION]
    steps: list[Step] = []
    pauses: list[Pause] = []
    pause_start: tuple[datetime, str] | None = None
    hold: str | None = None  # the reason of a hold that does not pause
    last = first.at

    def close_pause(at: datetime) -> None:
        nonlocal pause_start
        if pause_start is not None:
            start, reason = pause_start
            pauses.append(Pause(start, at, reason, calendar.business_time(start, at)))
            pause_start = None
        for run in runs.values():
            run.paused = False

    def resolution_due(at: datetime) -> datetime | None:
        """When resolution falls due from `at` if it runs on (worked out only to explain)."""
        return resolution.upcoming(calendar, at)[0] if explain else None

    for mark in ticket.marks:
        if mark.at > as_of:  # judged as of an earlier moment: later facts are not known yet
            break
        if mark.at > last and (response.running() or resolution.running()):
            worked = calendar.business_time(last, mark.at)
            response.work(calendar, last, worked, hold, steps)
            resolution.work(calendar, last, worked, hold, steps)
        last = max(last, mark.at)
        at, kind = mark.at, mark.kind
        if kind is MarkKind.LOGGED:
            if not explain:
                continue
            due_response, _ = response.upcoming(calendar, at)
            due_resolution, _ = resolution.upcoming(calendar, at)
            steps.append(
                Step(
                    at,
                    "started",
                    None,
                    f"P{priority} {noun} logged: response within {hours(response.total)},"
                    f" resolution within {hours(resolution.total)} of business time;"
                    f" response due {due_response and due_response.isoformat()},"
                    f" resolution due {due_resolution and due_resolution.isoformat()}",
                )
            )
        elif kind is MarkKind.RESPONDED and response.counting:
            response.counting, response.stopped_at = False, at
            verdict = "late" if response.left < timedelta() else "met"
            steps.append(Step(at, f"response {verdict}", SlaTarget.RESPONSE, "first response"))
        elif kind in (MarkKind.HELD, MarkKind.PAUSED):
            waiting = kind is MarkKind.PAUSED
            if (waiting or str(mark.value) in pause_on) and pause_start is None:
                pause_start = (at, str(mark.value))
                for run in runs.values():
                    run.paused = run.counting
                label = "waiting" if waiting else "on hold"
                steps.append(Step(at, "paused", None, f"{label}: {mark.value}"))
            elif pause_start is None:
                hold = str(mark.value)
                steps.append(
                    Step(at, "held", None, f"on hold: {hold}; this reason does not pause the clock")
                )
        elif kind is MarkKind.RESUMED:
            if pause_start is not None:
                close_pause(at)
                steps.append(Step(at, "resumed", None, "work resumed; the clock runs again"))
            hold = None
        elif kind is MarkKind.REPRIORITISED:
            new = int(mark.value or priority)
            for run in runs.values():
                if run.counting:  # a met target keeps the terms it was met under
                    run.reprioritise(new, allowed(run.target, new))
            due = resolution_due(at)
            note = (
                f"P{priority} -> P{new}: the P{new} targets apply from now to the targets still"
                " counting, with the share of each used so far carried over; resolution"
                + (f" due {due.isoformat()}" if due else " not counting")
            )
            steps.append(Step(at, "reprioritised", None, note))
            priority = new
        elif kind is MarkKind.RESOLVED:
            close_pause(at)
            hold = None
            for run in runs.values():
                if run.counting:
                    run.counting, run.stopped_at = False, at
            verdict = "late" if resolution.left < timedelta() else "met"
            steps.append(Step(at, f"resolution {verdict}", SlaTarget.RESOLUTION, "resolved"))
        elif kind is MarkKind.REOPENED:
            resolution.counting, resolution.stopped_at = True, None
            if resolution.priority != priority:  # re-prioritised while it was stopped
                resolution.reprioritise(priority, allowed(resolution.target, priority))
            due = resolution_due(at)
            note = f"reopened: the resolution clock runs on from {hours(resolution.left)} left"
            note += f", due {due.isoformat()}" if due else ""
            steps.append(Step(at, "restarted", SlaTarget.RESOLUTION, note))
        elif kind in (MarkKind.CLOSED, MarkKind.CANCELLED, MarkKind.REJECTED):
            close_pause(at)
            hold = None
            for run in runs.values():
                if run.counting:
                    run.counting, run.stopped_at = False, at
                    run.cancelled = kind is not MarkKind.CLOSED
            steps.append(Step(at, str(kind), None, f"{noun} {kind}; the clocks stop"))
        elif kind is MarkKind.REASSIGNED:
            steps.append(
                Step(at, "reassigned", None, f"to {mark.value}; the ticket's clock runs on")
            )

    if as_of > last and (response.running() or resolution.running()):
        worked = calendar.business_time(last, as_of)
        response.work(calendar, last, worked, hold, steps)
        resolution.work(calendar, last, worked, hold, steps)
    upcoming = {t: run.upcoming(calendar, max(last, as_of)) for t, run in runs.items()}
    if pause_start is not None:
        start, reason = pause_start
        pauses.append(Pause(start, None, reason, calendar.business_time(start, max(start, as_of))))

    clocks = {
        t: _clock(run, upcoming[t], as_of, min(terms.warn_at, default=BREACH))
        for t, run in runs.items()
    }
    steps.sort(key=lambda s: s.at)
    return TicketClock(
        as_of=as_of,
        state=_overall(clocks[SlaTarget.RESPONSE], clocks[SlaTarget.RESOLUTION]),
        response=clocks[SlaTarget.RESPONSE],
        resolution=clocks[SlaTarget.RESOLUTION],
        pauses=tuple(pauses),
        timeline=tuple(steps) if explain else (),
    )


def _clock(
    run: _Run,
    upcoming: tuple[datetime | None, datetime | None],
    as_of: datetime,
    first_warning: int,
) -> TargetClock:
    if run.cancelled:
        state = ClockState.CANCELLED
    elif run.left < timedelta():
        state = ClockState.BREACHED
    elif not run.counting:
        state = ClockState.MET
    elif run.paused:
        state = ClockState.PAUSED
    elif run.left <= run.threshold(first_warning):
        state = ClockState.WARNING
    else:
        state = ClockState.RUNNING
    due, next_alert = upcoming
    return TargetClock(
        target=run.target,
        state=state,
        priority=run.priority,
        target_time=run.total,
        elapsed=run.used,
        remaining=max(run.left, timedelta()),
        overrun=max(-run.left, timedelta()),
        counted=run.counted,
        due_at=due,  # both None unless the clock runs (upcoming)
        stopped_at=run.stopped_at,
        breached_at=run.breached_at,
        next_alert_at=next_alert,
        alerts=tuple(
            SlaAlert(target=run.target, level=level, at=moment)
            for level, moment in sorted(run.crossed.items())
            if moment <= as_of
        ),
    )


_SEVERITY = {
    ClockState.BREACHED: 5,
    ClockState.WARNING: 4,
    ClockState.RUNNING: 3,
    ClockState.PAUSED: 2,
    ClockState.MET: 1,
    ClockState.CANCELLED: 0,
}


def _overall(response: TargetClock, resolution: TargetClock) -> ClockState:
    """The ticket's state: the more urgent of its two clocks."""
    if ClockState.CANCELLED in (response.state, resolution.state):
        return ClockState.CANCELLED
    return max(response.state, resolution.state, key=_SEVERITY.__getitem__)
