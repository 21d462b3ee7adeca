"""The SLA watcher: appends warnings and breaches to tickets once their moments have passed.

Each tick reads the watched tickets from the sla_clocks view, judges each clock as of now by the
rule versions it recorded, and sends the alerts it has passed but the row does not show yet to
the ticket, through the one command pipeline, by the command its kind's SLA adapter names
(application/kinds.py). The aggregate records each (target, level) once: a second
watcher, a retry, or a view that lags behind the store finds it recorded and nothing is written.
The moments are the clock's, not the watcher's, so a watcher that was down catches up with the
same events it would have written on time (recorded later, at the moment they say).

A ticket is judged again only when its row changed or its next threshold is due, so an idle tick
costs a view read and a dictionary look-up per open ticket.

An incident imported from another system's history (`Logged.source`, docs/imports.md) is not
watched: its clock is judged from its own history whenever it is read, but the watcher's alerts
are events of this service's time, and an imported incident its log leaves open would otherwise
get every breach its clock passed years before, dated the day the watcher first met it.

A ticket whose stored events cannot all be decoded cannot be written to: the watcher records no
alert on it (and says which event and why in `stuck`, until it can), and goes on with the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from application.kinds import sla_kind
from application.pipeline import Submission
from domain.errors import NothingChanged
from domain.incident import Logged, SlaAlert
from domain.rule_versions import SlaTarget
from domain.sla_request import KIND as SERVICE_REQUEST
from infra.follower import Follower, Follows
from infra.serialisation import UndecodableEvent
from processes.running import Running
from projections.sla_clocks import sla_clocks, ticket_of

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Tick:
    watched: int  # tickets read
    judged: int  # clocks computed
    recorded: int  # tickets that had alerts appended


class WatcherHost(Running, Protocol):
    """The services a watcher runs in: it says so once started, for their readiness."""

    sla_watcher: SlaWatcher | None


class SlaWatcher(Follows):
    def __init__(self, services: WatcherHost, interval: float = 30.0) -> None:
        self.services = services
        self.interval = interval
        #: ticket id -> (row version, when it next needs judging; None: not until it changes)
        self._memo: dict[str, tuple[int, datetime | None]] = {}
        #: ticket id -> the event of its that could not be decoded, as of the last tick
        self._stuck: dict[str, UndecodableEvent] = {}
        #: incident id -> imported (never changes: it is the incident's first event)
        self._imported: dict[str, bool] = {}
        self._follower = Follower(
            "sla-watch", self._follow_step, idle=interval, log=log, backoff=(0.1, interval)
        )

    @property
    def stuck(self) -> UndecodableEvent | None:
        """An event that stopped the watcher recording a ticket's alerts, if any did."""
        return next(iter(self._stuck.values()), None)

    def tick(self) -> Tick:
        now = self.services.clock()
        rows = self.services.views.select(sla_clocks, '"watched" = 1')
        judged = recorded = 0
        memo: dict[str, tuple[int, datetime | None]] = {}
        stuck: dict[str, UndecodableEvent] = {}
        for row in rows:
            key, version = row["id"], row["version"]
            seen = self._memo.get(key)
            if seen is not None and seen[0] == version and (seen[1] is None or seen[1] > now):
                memo[key] = seen
                continue
            try:
                imported = row["kind"] != SERVICE_REQUEST and self._is_imported(key)
            except UndecodableEvent as error:
                stuck[key] = error
                continue
            if imported:
                memo[key] = (version, None)  # looked at again only if it changes
                continue
            judged += 1
            _, clock = self.services.desk.rulebook.judge(ticket_of(row), now)
            shown = {(SlaTarget(t), level) for t, level in row["alerts"]}
            due = [a for a in clock.alerts() if (a.target, a.level) not in shown]
            try:
                if due and self._record(row["kind"], UUID(key), due):
                    recorded += 1
            except UndecodableEvent as error:
                stuck[key] = error  # judged again next tick, until its events can be read
                continue
            memo[key] = (version, None if due else clock.next_alert_at)
        self._memo = memo
        self._imported = {k: v for k, v in self._imported.items() if k in memo}  # still watched
        for key, undecodable in stuck.items():
            if key not in self._stuck:
                log.error("SLA watch cannot record the alerts of ticket %s: %s", key, undecodable)
        self._stuck = stuck
        return Tick(len(rows), judged, recorded)

    def _is_imported(self, key: str) -> bool:
        if key not in self._imported:
            first = next(iter(self.services.desk.events.get(UUID(key), limit=1)), None)
            self._imported[key] = isinstance(first, Logged) and first.source is not None
        return self._imported[key]

    def _record(self, kind: str, ticket: UUID, alerts: list[SlaAlert]) -> bool:
        record_kind = sla_kind(kind)
        assert record_kind.sla is not None, f"{kind} runs no SLA clocks"
        command = record_kind.sla.record_alerts(alerts)
        ctx = self.services.system_context()
        try:
            self.services.desk.execute(Submission(ctx, command, record_kind, ref=ticket))
        except NothingChanged:
            return False  # another watcher, or an earlier tick, recorded them first
        return True

    # -- in the background ------------------------------------------------------------------------

    def start(self) -> None:
        self.services.sla_watcher = self  # readiness reports what stops it
        super().start()

    def _follow_step(self) -> bool:
        self.tick()
        return False  # judged as of now: the next tick is due an interval later
