"""What state each watched ticket's SLA clock is in, remembered until it can change.

The sla_clocks rows stay a pure fold of the tickets' events (they read no policy), so a clock's
state is known only by judging it. Judging is a pure function of (row, rule versions, moment),
and between two of its thresholds a clock's state cannot change: it moves only when the row
changes (a new event) or when the next warning threshold or due moment passes
(`TicketClock.next_alert_at`). So a judged state stays true until whichever comes first, and a
query for clocks in one state (`GET /sla/clocks?state=breached`) judges only the tickets that may
be in it: those it has not judged, whose row changed, whose next threshold has passed, or whose
remembered state is the one asked for. Nothing here is stored: it is a per-process memo that any
process rebuilds on its first query, and it can never disagree with judging afresh.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from domain.sla_clock import ClockState, TargetClock, TicketClock
from domain.sla_rules import RuleBook, Rules
from projections.base import Row
from projections.sla_clocks import ticket_of

#: The states a clock still counting is listed in (met and cancelled clocks are not open work).
LISTED = frozenset({ClockState.RUNNING, ClockState.PAUSED, ClockState.WARNING, ClockState.BREACHED})


@dataclass(frozen=True, slots=True)
class Judged:
    version: int  # of the row judged
    at: datetime  # as of when
    until: datetime | None  # when the state can next change by itself; None: only by an event
    state: ClockState
    counting: bool  # a target still counts, in a listed state (what /sla/clocks shows)


def counting_targets(clock: TicketClock) -> list[TargetClock]:
    return [t for t in clock.targets if t.stopped_at is None and t.state in LISTED]


class ClockIndex:
    def __init__(self, rulebook: RuleBook) -> None:
        self.rulebook = rulebook
        self._known: dict[str, Judged] = {}
        self._lock = threading.Lock()

    def judge(self, row: Row, now: datetime) -> tuple[Rules, TicketClock]:
        """Judge the row's clock as of `now`, and remember its state until it can change."""
        ticket = ticket_of(row)
        rules, clock = self.rulebook.judge(ticket, now)
        until = clock.next_alert_at
        later = [m.at for m in ticket.marks if m.at > now]  # facts dated after now
        if later:
            until = min(later) if until is None else min(until, *later)
        judged = Judged(row["version"], now, until, clock.state, bool(counting_targets(clock)))
        with self._lock:
            self._known[row["id"]] = judged
        return rules, clock

    def may_list(self, row: Row, now: datetime, state: ClockState | None) -> bool:
        """False only if the remembered judgement shows the ticket is not listed in `state`
        (any listed state for None) as of `now`."""
        known = self._known.get(row["id"])
        if (
            known is None
            or known.version != row["version"]
            or now < known.at
            or (known.until is not None and now >= known.until)
        ):
            return True
        return known.counting and (state is None or known.state is state)

    def keep_only(self, ids: Iterable[str]) -> None:
        """Forget the tickets no longer watched."""
        keep = set(ids)
        with self._lock:
            self._known = {k: v for k, v in self._known.items() if k in keep}

    def __len__(self) -> int:
        return len(self._known)
