"""The relay: the event store is the outbox, and this publishes it to Kafka in global order.

Each stored event of the domain becomes one CloudEvent on `itsm.events` (structured mode: the
value is the event, the `content-type` header says so), keyed by its aggregate id, so Kafka
keeps every aggregate's events in version order within one partition. The store's bookkeeping
(number logs, idempotency keys: `cloudevents.is_public`) is not published; the positions on the
topic then have gaps, which every reader of ours takes as they come (a position only has to grow
within a partition). The producer is idempotent
with `acks=all`, every send's result is checked, and the relay records how far it has published
(the library's tracking table, in the event store's own database) only after the broker has
acknowledged every event up to that point. A crash between acknowledgement and record re-sends a
tail of events: at least once, never lost; consumers ignore the repeats by position.

Sending is pipelined: the relay keeps reading and sending the next batches while earlier ones are
in flight, and records the position of the longest fully acknowledged prefix.

Only one relay publishes a store at a time. A second waits on the relay lock and takes over when
the first stops or dies (the lock is an flock or a PostgreSQL advisory lock, both released by the
operating system or the server when their holder goes).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper, Tracking, TrackingRecorder

from infra import cloudevents
from infra.follower import Follower
from infra.progress import Progress
from infra.serialisation import plain

log = logging.getLogger(__name__)

TRACKING_NAME = "relay:itsm.events"


class Producer(Protocol):
    """What the relay needs of kafka-python's KafkaProducer."""

    def send(
        self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]
    ) -> Any: ...

    def flush(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...


class RelayLock(Protocol):
    def acquire(self, stop: threading.Event) -> bool:
        """Wait for the lock until it is ours (True) or `stop` is set (False)."""

    def release(self) -> None: ...


@dataclass
class _InFlight:
    position: int  # the last notification id in the batch
    futures: list[Any]

    def settled(self) -> bool:
        """True when every send has been acknowledged; raises the first failure."""
        for future in self.futures:
            if not future.is_done:
                return False
            if future.failed():
                raise future.exception
        return True


@dataclass(eq=False)
class Relay:
    recorder: ApplicationRecorder
    tracking: TrackingRecorder
    mapper: Mapper[UUID]
    producer_factory: Callable[[], Producer]
    _: KW_ONLY
    topic: str = "itsm.events"
    source: str = cloudevents.DEFAULT_SOURCE
    #: Held around the tracking write (SQLite: the event store's own writer lock).
    tracking_lock: AbstractContextManager[Any] | None = None
    batch_size: int = 500
    max_in_flight: int = 8
    poll_interval: float = 0.01
    #: How long a flush waits for the broker before the batch counts as failed (the relay
    #: then starts again from the recorded position with a new producer): without it, a
    #: producer that lost its broker could hold the relay for ever.
    flush_timeout: float = 30.0

    def __post_init__(self) -> None:
        self._producer: Producer | None = None
        self._in_flight: deque[_InFlight] = deque()
        self._sent = 0  # the last position handed to the producer
        self._published = 0  # the last position recorded as acknowledged
        self._report = Progress(log, "relay published", every=10.0)
        self._follower = Follower(
            "relay", self._follow_step, idle=self.poll_interval, log=log, on_error=self._reset
        )

    # -- positions --------------------------------------------------------------------------------

    def published(self) -> int:
        """The position up to which every event is acknowledged by the broker, as recorded."""
        return self.tracking.max_tracking_id(TRACKING_NAME) or 0

    def lag(self) -> int:
        """Events in the store not yet acknowledged by the broker."""
        return (self.recorder.max_notification_id() or 0) - self.published()

    # -- publishing -------------------------------------------------------------------------------

    def _start(self) -> None:
        """(Re)start from the recorded position with a fresh producer."""
        self._in_flight.clear()
        self._published = self._sent = self.published()
        self._producer = self.producer_factory()

    def close(self) -> None:
        """Drop the producer (and whatever it still buffers)."""
        self._reset()

    def _reset(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=0)
            except Exception:  # closing a broken producer may fail too; it is dropped either way
                log.debug("closing the failed producer raised", exc_info=True)
        self._producer = None

    def run_once(self) -> int:
        """Send the next batch and record what has been acknowledged; the number of events sent."""
        if self._producer is None:
            self._start()
        assert self._producer is not None
        notifications = self.recorder.select_notifications(
            start=self._sent, limit=self.batch_size, inclusive_of_start=False
        )
        if notifications:
            send = self._producer.send
            public = cloudevents.is_public
            futures = [
                send(
                    self.topic,
                    value=cloudevents.envelope(
                        n.id, n.topic, plain(self.mapper, n.state), source=self.source
                    ),
                    key=str(n.originator_id).encode(),
                    headers=cloudevents.HEADERS,
                )
                for n in notifications
                if public(n.topic)
            ]
            # The batch counts as published up to its last position, private events included:
            # the recorded position is how far the store has been read, not the last message.
            self._sent = notifications[-1].id
            self._in_flight.append(_InFlight(self._sent, futures))
        if not notifications or len(self._in_flight) > self.max_in_flight:
            # Idle, or too much in flight: wait for the broker before reading further.
            self._producer.flush(timeout=self.flush_timeout)
        self._record_settled()
        return len(notifications)

    def _record_settled(self) -> None:
        """Record the longest acknowledged prefix, even when a later batch failed."""
        acknowledged = self._published
        try:
            while self._in_flight and self._in_flight[0].settled():
                acknowledged = self._in_flight.popleft().position
        finally:
            if acknowledged > self._published:
                with self.tracking_lock or nullcontext():
                    self.tracking.insert_tracking(Tracking(TRACKING_NAME, acknowledged))
                self._published = acknowledged

    def drain(self, timeout: float = 30.0) -> int:
        """Publish until everything in the store is acknowledged; the position reached."""
        deadline = time.monotonic() + timeout
        while True:
            count = self.run_once()
            if not count and not self._in_flight:
                return self._published
            if time.monotonic() > deadline:
                raise TimeoutError(f"relay still behind after {timeout} s")

    # -- running ----------------------------------------------------------------------------------

    def wake(self) -> None:
        self._follower.wake()

    def run(self, stop: threading.Event, lock: RelayLock | None = None) -> None:
        """Hold the relay lock and publish until `stop` is set, recovering from broker failures
        (a failed batch drops the producer: the next starts again from the recorded position)."""
        if lock is not None:
            log.info("relay waiting for the relay lock")
            if not lock.acquire(stop):
                return
            log.info("relay holds the lock; publishing from position %d", self.published())
        try:
            self._follower.run(stop)
        finally:
            if self._producer is not None:
                try:
                    self._producer.flush(timeout=5)
                    self._record_settled()
                except Exception:
                    log.warning("relay could not flush on the way out", exc_info=True)
                self._reset()
            if lock is not None:
                lock.release()

    def _follow_step(self) -> bool:
        count = self.run_once()
        self._report(self._published, count)
        return count >= self.batch_size or bool(self._in_flight)  # more to send or settle


def last_published_position(recorder: ApplicationRecorder, head: int, page: int = 100) -> int:
    """The position of the last event at or before `head` that the relay publishes (0 if none):
    as far as views fed from the topic can ever get, since bookkeeping events never reach it."""
    stop = head
    while stop > 0:
        start = max(1, stop - page + 1)
        found = recorder.select_notifications(start=start, limit=page, stop=stop)
        public = [n.id for n in found if cloudevents.is_public(n.topic)]
        if public:
            return max(public)
        stop = start - 1
    return 0


class FileRelayLock:
    """The relay lock of a SQLite store: an flock beside it, released when its holder dies."""

    def __init__(self, path: Path | str, poll: float = 0.2) -> None:
        self.path = str(path)
        self.poll = poll
        self._fd: int | None = None

    def acquire(self, stop: threading.Event) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        while not stop.is_set():
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                stop.wait(self.poll)
                continue
            self._fd = fd
            return True
        os.close(fd)
        return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


class AdvisoryRelayLock:
    """The relay lock of a PostgreSQL store: a session advisory lock on its own connection,
    released by the server when the connection (or the process holding it) goes."""

    KEY = 0x17_5E_7A_E1  # any fixed 64-bit number, the same for every relay of the service

    def __init__(self, url: str, poll: float = 0.5) -> None:
        self.url = url
        self.poll = poll
        self._conn: Any = None

    def acquire(self, stop: threading.Event) -> bool:
        import psycopg

        conn = psycopg.connect(self.url, autocommit=True)
        while not stop.is_set():
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.KEY,)).fetchone()
            if row and row[0]:
                self._conn = conn
                return True
            stop.wait(self.poll)
        conn.close()
        return False

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
