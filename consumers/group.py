"""What every Kafka consumer of this service does each step of its loop (the one Follower of
infra/follower.py): join the group once the topic has partitions, poll, let the subclass store
the effect, send dead letters (acknowledged) and only then commit the offsets; reconnecting after
failures, and after the group has stayed unsettled too long.

Subclasses implement `handle` (store the effect of one poll; return what must be dead-lettered)
and may give a rebalance listener and a progress figure.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

from kafka import OffsetAndMetadata, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener

from infra.follower import Follower
from infra.progress import Progress

log = logging.getLogger(__name__)

#: How many session timeouts the group may stay unsettled (no coordinator known, or a rejoin
#: pending) before the consumer is dropped and joins afresh.
UNSETTLED_SESSIONS = 2


class GroupUnsettled(RuntimeError):
    """The consumer's group has stayed without a coordinator, or waiting to rejoin, too long."""


@dataclass
class DeadLetter:
    record: Any  # kafka-python's ConsumerRecord
    reason: str
    #: what to keep instead of the record's value (e.g. with personal data redacted)
    value: bytes | None = None


@dataclass(eq=False)
class GroupConsumer:
    """A subclass is a dataclass too: its own fields follow `consumer_factory` (positional) and
    the group's keywords."""

    #: what the progress log calls the work, e.g. "projections folded"
    progress_label = "messages handled"

    consumer_factory: Callable[[], Any]
    _: KW_ONLY
    topic: str
    dead_letters: Callable[[], Any]
    dead_letter_topic: str
    group_id: str

    def __post_init__(self) -> None:
        self._consumer: Any = None
        self._dead_letter_producer: Any = None
        #: Set once the group has given this consumer its partitions (readiness).
        self.assigned = threading.Event()
        #: Since when the group has been unsettled, as far as the polls have seen.
        self._unsettled_since: float | None = None
        self._report = Progress(log, self.progress_label, every=10.0)
        # The poll itself waits for messages, so the loop never idles on its own; a failure
        # drops the clients, and the next poll reconnects.
        self._follower = Follower(
            f"{self.group_id} consumer", self._follow_step, idle=0.0, log=log, on_error=self.close
        )

    # -- what a subclass provides ------------------------------------------------------------

    def handle(self, records: Mapping[TopicPartition, Sequence[Any]]) -> list[DeadLetter]:
        """Store the effect of one poll's records (or begin to: see `commit`); the ones to
        dead-letter."""
        raise NotImplementedError

    def listener(self) -> Any:
        """The rebalance listener to subscribe with."""
        return _Assigned(self)

    def progress(self) -> int:
        """A figure that grows as work is done, for the progress log."""
        return 0

    # -- the loop -----------------------------------------------------------------------------

    def _connect(self, timeout: float = 30.0) -> Any:
        consumer = self.consumer_factory()
        # Join only once the topic's partitions are known: a member that joins before that is
        # assigned nothing, and may wait a long metadata refresh before the group rebalances.
        deadline = time.monotonic() + timeout
        while not consumer.partitions_for_topic(self.topic):
            if time.monotonic() > deadline:
                consumer.close()
                raise RuntimeError(f"topic {self.topic} has no partitions (was it created?)")
            time.sleep(0.2)
        consumer.subscribe([self.topic], listener=self.listener())
        return consumer

    def poll_once(self, timeout_ms: int = 200) -> int:
        """Handle one poll's messages; the number of messages read."""
        if self._consumer is None:
            self._consumer = self._connect()
        self._finish_stranded_join()
        records = self._consumer.poll(timeout_ms=timeout_ms)
        if not records:
            self._watch_group()
            return 0
        self._unsettled_since = None
        dead = self.handle(records)
        if dead:
            self._send_dead_letters(dead)
        self.commit(
            {
                tp: OffsetAndMetadata(messages[-1].offset + 1, "", -1)
                for tp, messages in records.items()
            }
        )
        return sum(len(messages) for messages in records.values())

    def commit(self, offsets: Mapping[TopicPartition, Any]) -> None:
        """Commit the offsets after a poll whose effect `handle` has stored (a subclass that
        stores it later commits them then). Offsets are a hint (what the effect's store records
        is the truth), so the commit need not wait for the broker: a lost commit only means
        repeats that change nothing."""
        if self._consumer is not None:
            self._consumer.commit_async(dict(offsets))

    def _finish_stranded_join(self) -> None:
        """Rejoin when kafka-python 3.0 has stranded a join. A rejoin that a metadata change
        asked for (the leader's assignment no longer matches the topic's partitions) runs as a
        task that may outlive the poll that started it; once the leader has assigned, the
        change no longer shows, so no later poll takes up the finished task's assignment: the
        consumer keeps no partitions and sends no heartbeats, the coordinator drops it, and it
        reads nothing for good (as seen under load with 200 ms polls). Asking for a rejoin
        makes the next poll join afresh and take its partitions up."""
        coordinator = getattr(self._consumer, "_coordinator", None)
        task = getattr(coordinator, "_join_task", None)
        if task is None or not task.is_done or coordinator is None or coordinator.need_rejoin():
            return
        log.warning("group %s: a finished join was never taken up; joining again", self.group_id)
        coordinator.request_rejoin()

    def _watch_group(self) -> None:
        """Raise GroupUnsettled once the group has stayed unsettled for UNSETTLED_SESSIONS
        session timeouts. kafka-python's poll returns nothing, and raises nothing, while the
        coordinator is unknown or a rejoin is pending, and after a broker restart a consumer may
        stay so (its views never catching up). A fresh consumer looks the coordinator up anew."""
        coordinator = getattr(self._consumer, "_coordinator", None)
        if coordinator is None or not (
            coordinator.coordinator_unknown() or coordinator.need_rejoin()
        ):
            self._unsettled_since = None
            return
        now = time.monotonic()
        if self._unsettled_since is None:
            self._unsettled_since = now
            return
        session = self._consumer.config["session_timeout_ms"] / 1000
        unsettled = now - self._unsettled_since
        if unsettled > UNSETTLED_SESSIONS * session:
            self._unsettled_since = None
            raise GroupUnsettled(
                f"group {self.group_id} has had no coordinator, or waited to rejoin,"
                f" for {unsettled:.1f} s"
            )

    def _send_dead_letters(self, dead: list[DeadLetter]) -> None:
        if self._dead_letter_producer is None:
            self._dead_letter_producer = self.dead_letters()
        futures = []
        for letter in dead:
            record = letter.record
            log.warning(
                "dead letter from %s[%d]@%d: %s",
                record.topic,
                record.partition,
                record.offset,
                letter.reason,
            )
            # The message as it came, so its content-type (structured-mode CloudEvents, if it
            # said so) too; the why in the dlq.* headers.
            headers = [
                *((k, v) for k, v in record.headers or () if k == "content-type"),
                ("dlq.reason", letter.reason.encode()),
                ("dlq.topic", record.topic.encode()),
                ("dlq.partition", str(record.partition).encode()),
                ("dlq.offset", str(record.offset).encode()),
                ("dlq.consumer", self.group_id.encode()),
            ]
            value = record.value if letter.value is None else letter.value
            futures.append(
                self._dead_letter_producer.send(
                    self.dead_letter_topic, value=value, key=record.key, headers=headers
                )
            )
        self._dead_letter_producer.flush()
        for future in futures:
            future.get(timeout=0)  # raises when the broker refused it: the offset stays

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set, reconnecting after failures."""
        try:
            self._follower.run(stop)
        finally:
            self.close()

    def _follow_step(self) -> bool:
        self._report(self.progress(), self.poll_once())
        return True

    def close(self) -> None:
        for client in (self._consumer, self._dead_letter_producer):
            if client is not None:
                try:
                    client.close()
                except Exception:
                    log.debug("closing a Kafka client failed", exc_info=True)
        self._consumer = self._dead_letter_producer = None
        self._unsettled_since = None


class _Assigned(ConsumerRebalanceListener):  # type: ignore[misc]
    """The default listener: only marks the consumer ready once it has partitions."""

    def __init__(self, owner: GroupConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: Any) -> None:
        pass

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.owner.assigned.set()
