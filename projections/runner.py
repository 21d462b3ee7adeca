"""The embedded catch-up loop: projections follow the event store in global order.

The eventsourcing library's subscription runner needs a database that pushes notifications, which
SQLite cannot; this loop reads the notification log in batches from the lowest position any
projection has reached, folds each event into the projections that have not yet seen it, and
commits rows and positions together: once a window of up to `commit_every` notifications, so a
backlog's rows stay in memory across its batches (projections/window.py). A command wakes it at
once; otherwise it polls, so events written by other processes are picked up too.

An event it cannot decode stops it there: the events before it are folded, the positions stay
just before it, and `stuck` says which event and why until it can be read (it is never passed
over, or the views would be wrong without anyone knowing). `catch_up` raises it; following in the
background, the runner tries that one event again each poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import KW_ONLY, dataclass

from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification

from domain.events import DomainEvent
from infra.follower import Follower, Follows, StuckAt
from infra.serialisation import UndecodableEvent
from projections.base import Projection, Row
from projections.view_store import ViewStore
from projections.window import Routes, Window

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (position reached, head position)


@dataclass(eq=False)
class ProjectionRunner(Follows):
    recorder: ApplicationRecorder
    mapper: Mapper  # type: ignore[type-arg]
    store: ViewStore
    projections: Sequence[Projection]
    _: KW_ONLY
    batch_size: int = 2000
    #: Notifications folded in memory before their rows and positions are written: a backlog
    #: is read in batches, and a row touched in several of them is loaded and written once.
    commit_every: int = 20_000
    poll_interval: float = 0.5

    def __post_init__(self) -> None:
        self.projections = tuple(self.projections)
        self._topics = tuple(
            sorted({event_type.type_name for p in self.projections for event_type in p.folds})
        )
        self._routes = Routes(self.projections)
        self._reached = threading.Condition()
        self._position = 0
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._follower = Follower(
            "projections",
            lambda: not self._step()[1],  # more to read until a batch reaches the head
            idle=self.poll_interval,
            log=log,
            backoff=(0.1, 1.0),
        )
        #: The rows the last committed batch wrote, by projection name and key.
        self._written: dict[str, dict[str, Row | None]] = {}
        self._stuck = StuckAt("projections", log)
        self.store.ensure(self.projections)

    @property
    def position(self) -> int:
        """The global position every projection of this runner has folded up to."""
        return self._position

    @property
    def stuck(self) -> UndecodableEvent | None:
        """The event the projections stopped at because it cannot be decoded, if they have."""
        return self._stuck.event

    def run_once(self) -> int:
        """Fold the next window of events into every projection; how many notifications of the
        store that moved the projections past."""
        moved, _ = self._step()
        return moved

    def _step(self) -> tuple[int, bool]:
        """One window, in one transaction: (notifications moved past, whether that reached the
        head of the store). It reads batches until one comes back short (the head), an event
        cannot be decoded, or `commit_every` notifications are folded.

        Only the events some projection folds are read. When fewer than a batch of them come
        back, every event up to the head read beforehand has been seen, so the positions move
        to that head: events no projection folds (incident numbers, idempotency keys) are passed
        over without being read, and a write that ends with one is still reached.
        """
        # The window's events are freed when _fold_window returns, before the collector resumes:
        # while they were alive, the collection that resuming sets off scanned them all.
        with collector_paused():
            return self._fold_window()

    def _fold_window(self) -> tuple[int, bool]:
        # Stopped at an event: read just that one again, not a whole batch each poll.
        limit = 1 if self._stuck.event is not None else self.batch_size
        read = 0
        with self.store.transaction() as tx:
            window = Window(tx, self.projections, self._routes, tx.positions())
            start = reached = window.start
            head = self.recorder.max_notification_id() or 0
            while True:  # batches, until the head, an undecodable event, or a full window
                notifications = self._select(reached, head, limit)
                read += len(notifications)
                decoded, undecodable = decode(self.mapper, notifications)
                window.fold(decoded)
                caught_up = len(notifications) < limit or undecodable is not None
                if undecodable is not None:
                    reached = max(reached, notifications[len(decoded)].id - 1)
                else:
                    reached = max(reached, head) if caught_up else notifications[-1].id
                if caught_up or read >= self.commit_every:
                    break
            if reached > start:
                window.write(reached)
        if read:
            self._written = window.written()
        self._stop_at(undecodable)
        self._advance(reached)
        return reached - start, caught_up

    def _select(self, after: int, head: int, limit: int) -> Sequence[Notification]:
        """The next notifications up to `head` of the events some projection folds."""
        if head <= after:
            return ()
        return self.recorder.select_notifications(
            start=after, limit=limit, stop=head, topics=self._topics, inclusive_of_start=False
        )

    def _stop_at(self, undecodable: UndecodableEvent | None) -> None:
        """Say once that the projections stopped at an event, and once that they moved on."""
        with self._reached:
            self._stuck.report(undecodable)
            abandoned: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
            if undecodable is not None:
                # A write at or after the event will not show in the views: its waiters stop
                # waiting now rather than time out.
                self._reached.notify_all()
                abandoned = [w for w in self._waiters if self._will_not_reach(w[0])]
                self._waiters = [w for w in self._waiters if not self._will_not_reach(w[0])]
        if undecodable is not None:
            for _, loop, future in abandoned:
                loop.call_soon_threadsafe(abandon, future, undecodable)

    def written(self, projection: Projection, key: str) -> Row | None:
        """The row as the last batch this runner committed wrote it, or None if that batch did
        not write it. It is as new as the view's row or newer, so a writer can answer with it
        instead of reading it back. Rows are not changed once their batch has committed."""
        return self._written.get(projection.name, {}).get(key)

    def catch_up(self, progress: Progress | None = None) -> int:
        """Fold until the head of the store; the number of events read. UndecodableEvent if an
        event on the way cannot be decoded: everything before it is folded."""
        total = 0
        while True:
            moved, caught_up = self._step()
            total += moved
            if progress:
                progress(self._position, self.recorder.max_notification_id() or 0)
            if self._stuck.event is not None:
                raise self._stuck.event
            if caught_up:
                return total

    # -- following the store in the background (start, wake, stop: Follows) ---------------------

    def _advance(self, position: int) -> None:
        with self._reached:
            if position <= self._position:
                return
            self._position = position
            self._reached.notify_all()
            due = [w for w in self._waiters if w[0] <= position]
            self._waiters = [w for w in self._waiters if w[0] > position]
        for _, loop, future in due:
            loop.call_soon_threadsafe(settle, future)

    async def reached(self, position: int, timeout: float) -> bool:
        """Wait, without holding a thread, until every projection has folded `position`."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._reached:
            if self._position >= position:
                return True
            if self._will_not_reach(position):
                return False
            self._waiters.append((position, loop, future))
        self.wake()
        try:
            await asyncio.wait_for(future, timeout)
        except (TimeoutError, UndecodableEvent):  # too slow, or stopped before `position`
            return False
        return True

    def wait_for(self, position: int, timeout: float) -> bool:
        """Block until every projection has folded `position` (read-your-writes)."""
        deadline = time.monotonic() + timeout
        with self._reached:
            while self._position < position:
                if self._will_not_reach(position):
                    return False
                self.wake()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._reached.wait(remaining)
        return True

    def _will_not_reach(self, position: int) -> bool:
        """Stopped at an event at or before `position`: waiting for it would only time out."""
        stuck = self._stuck.event
        return stuck is not None and stuck.position is not None and stuck.position <= position


def decode(
    mapper: Mapper,  # type: ignore[type-arg]
    notifications: Sequence[Notification],
) -> tuple[list[tuple[int, DomainEvent]], UndecodableEvent | None]:
    """The notifications' events (with their positions) up to the first that cannot be decoded,
    and that one's error, or None if every one decoded."""
    to_event = mapper.to_domain_event
    try:
        return [(n.id, to_event(n)) for n in notifications], None  # type: ignore[misc]
    except UndecodableEvent:
        pass  # one by one, to keep the events before it
    decoded: list[tuple[int, DomainEvent]] = []
    for n in notifications:
        try:
            decoded.append((n.id, to_event(n)))  # type: ignore[arg-type]
        except UndecodableEvent as error:
            error.position = n.id
            return decoded, error
    return decoded, None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for one batch. A batch allocates thousands of events
    and rows that all live until it ends and form no reference cycles (reference counting frees
    them), so each collection during the batch scanned them for nothing: a quarter to a third of
    a rebuild's time. (Process-wide: a collector someone else turned off stays off.)"""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def abandon(future: asyncio.Future[None], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
