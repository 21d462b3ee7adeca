"""The embedded catch-up loop: projections follow the event store in global order.

The eventsourcing library's subscription runner needs a database that pushes notifications, which
SQLite cannot; this loop reads the notification log in batches from the lowest position any
projection has reached, folds each event into the projections that have not yet seen it, and
commits rows and positions together. A command wakes it at once; otherwise it polls, so events
written by other processes are picked up too.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence

from eventsourcing.persistence import ApplicationRecorder, Mapper

from domain.events import DomainEvent
from projections.base import Projection, Row
from projections.store import SQLiteViewStore, ViewTransaction

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (position reached, head position)


class ProjectionRunner:
    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper,  # type: ignore[type-arg]
        store: SQLiteViewStore,
        projections: Sequence[Projection],
        *,
        batch_size: int = 2000,
        poll_interval: float = 0.5,
    ) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.store = store
        self.projections = tuple(projections)
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._topics = {event_type.type_name for p in self.projections for event_type in p.folds}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._reached = threading.Condition()
        self._position = 0
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._thread: threading.Thread | None = None
        #: The rows the last committed batch wrote, by projection name and key.
        self._written: dict[str, dict[str, Row | None]] = {}
        store.ensure(self.projections)

    @property
    def position(self) -> int:
        """The global position every projection of this runner has folded up to."""
        return self._position

    def run_once(self) -> int:
        """Fold the next batch of events into every projection; the number of events read."""
        written: dict[str, dict[str, Row | None]] = {}
        with self.store.transaction() as tx:
            stored = tx.positions()
            positions = {p.name: stored.get(p.name, 0) for p in self.projections}
            start = min(positions.values(), default=0)
            notifications = self.recorder.select_notifications(
                start=start, limit=self.batch_size, inclusive_of_start=False
            )
            if notifications:
                events: list[tuple[int, DomainEvent]] = [
                    (n.id, self.mapper.to_domain_event(n))  # type: ignore[misc]
                    for n in notifications
                    if n.topic in self._topics
                ]
                head = notifications[-1].id
                for projection in self.projections:
                    after = positions[projection.name]
                    events_after = [ev for nid, ev in events if nid > after]
                    written[projection.name] = self._fold(tx, projection, events_after)
                    tx.set_position(projection, head)
                positions = dict.fromkeys(positions, head)
        if written:
            self._written = written
        self._advance(min(positions.values(), default=0))
        return len(notifications)

    @staticmethod
    def _fold(
        tx: ViewTransaction, projection: Projection, events: list[DomainEvent]
    ) -> dict[str, Row | None]:
        keyed = [(key, ev) for ev in events if (key := projection.key(ev)) is not None]
        if not keyed:
            return {}
        rows: dict[str, Row | None] = dict(tx.load(projection, {k for k, _ in keyed}))
        for key, ev in keyed:
            rows[key] = projection.fold(rows.get(key), ev)
        tx.write(projection, rows)
        return rows

    def written(self, projection: Projection, key: str) -> Row | None:
        """The row as the last batch this runner committed wrote it, or None if that batch did
        not write it. It is as new as the view's row or newer, so a writer can answer with it
        instead of reading it back. Rows are not changed once their batch has committed."""
        return self._written.get(projection.name, {}).get(key)

    def catch_up(self, progress: Progress | None = None) -> int:
        """Fold until the head of the store; the number of events read."""
        total = 0
        while True:
            count = self.run_once()
            total += count
            if progress:
                progress(self._position, self.recorder.max_notification_id() or 0)
            if count < self.batch_size:
                return total

    # -- following the store in the background ----------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._follow, name="projections", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._stopping.is_set():
            try:
                count = self.run_once()
            except Exception:
                log.exception("projection batch failed; retrying")
                count = 0
                self._stopping.wait(1.0)
            if count < self.batch_size:
                self._wake.wait(self.poll_interval)
                self._wake.clear()

    @property
    def is_following(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _advance(self, position: int) -> None:
        with self._reached:
            if position <= self._position:
                return
            self._position = position
            self._reached.notify_all()
            due = [w for w in self._waiters if w[0] <= position]
            self._waiters = [w for w in self._waiters if w[0] > position]
        for _, loop, future in due:
            loop.call_soon_threadsafe(_settle, future)

    async def reached(self, position: int, timeout: float) -> bool:
        """Wait, without holding a thread, until every projection has folded `position`."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._reached:
            if self._position >= position:
                return True
            self._waiters.append((position, loop, future))
        self.wake()
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return False
        return True

    def wait_for(self, position: int, timeout: float) -> bool:
        """Block until every projection has folded `position` (read-your-writes)."""
        deadline = time.monotonic() + timeout
        with self._reached:
            while self._position < position:
                self.wake()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._reached.wait(remaining)
        return True


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
