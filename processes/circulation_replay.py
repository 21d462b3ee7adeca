"""`itsm dlq replay --kafka`: re-publish the dead letters of `circulation.events.dlq` to the topic,
as a snapshot that ends, exactly once, resumable.

- **A snapshot.** A replay takes the dead letters up to the DLQ's end offsets at its start and
  stops there. A consumer running meanwhile turns what fails again into new dead letters after
  that end: they wait for the next replay (re-reading them is how 3 dead letters became 18,734).
- **Exactly once.** Each batch is one Kafka transaction: the messages it re-publishes and the
  replay group's DLQ offsets (with the snapshot's end in the offsets' metadata) commit together
  or not at all. The transactional id is fixed, so a replay started again aborts what a killed
  one left open, and a second replay running at once fences the first out. The circulation
  consumer reads `read_committed`, so it never applies what was aborted.
- **Resumable.** A replay finds the offsets and snapshot end its predecessor committed: while
  any partition is short of it, it resumes up to that same end (not a new one, which would take
  in the dead letters the first part caused); otherwise it begins a new snapshot.

Each re-published message bears the replay seal (consumers.circulation.ReplaySeal), which lets
it carry `patron_ref`, and `dlq.replay.of` (topic/partition/offset of the dead letter).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition

from consumers.circulation import REPLAY_SEAL, ReplaySeal
from infra import cloudevents
from infra.settings import Settings
from processes.circulation import dead_letter_topic

UNTIL = "replay-until="
#: How long a replay waits for dead letters its snapshot says are there before it gives up.
STALLED_AFTER = 60.0


class ReplayStalled(RuntimeError):
    """The DLQ no longer holds what the snapshot counted (e.g. retention deleted it)."""


@dataclass(frozen=True)
class Snapshot:
    """Where a replay starts and ends in each partition of the DLQ."""

    start: Mapping[TopicPartition, int]
    until: Mapping[TopicPartition, int]
    resumed: bool

    @property
    def total(self) -> int:
        return sum(self.until[tp] - self.start[tp] for tp in self.start)


def _until(committed: OffsetAndMetadata | None) -> int | None:
    if committed is None or not committed.metadata.startswith(UNTIL):
        return None
    return int(committed.metadata.removeprefix(UNTIL))


def take_snapshot(consumer: KafkaConsumer, partitions: list[TopicPartition]) -> Snapshot:
    """The unfinished replay's snapshot if there is one, else a new one to the end offsets."""
    committed = {tp: consumer.committed(tp, metadata=True) for tp in partitions}
    beginning = consumer.beginning_offsets(partitions)
    start = {
        tp: max(beginning[tp], c.offset if c is not None else 0) for tp, c in committed.items()
    }
    recorded = {tp: _until(c) for tp, c in committed.items()}
    if any(until is not None and start[tp] < until for tp, until in recorded.items()):
        until = {tp: max(start[tp], recorded[tp] or 0) for tp in partitions}
        return Snapshot(start, until, resumed=True)
    end = consumer.end_offsets(partitions)
    return Snapshot(start, {tp: max(start[tp], end[tp]) for tp in partitions}, resumed=False)


class KafkaReplay:
    """One replay of the DLQ topic: `run()` re-publishes its snapshot and returns how many."""

    def __init__(
        self,
        settings: Settings,
        bootstrap: str,
        *,
        corrections: Mapping[int, bytes] | None = None,
        batch: int = 500,
    ) -> None:
        self.topic = settings.circulation_topic
        self.dead_letters = dead_letter_topic(settings)
        self.group = settings.circulation_group + ".dlq-replay"
        self.bootstrap = bootstrap
        self.corrections = dict(corrections or {})
        self.batch = batch
        self.seal = ReplaySeal(settings.circulation_pseudonym_key)

    def run(
        self,
        on_start: Callable[[Snapshot], None] = lambda snapshot: None,
        on_progress: Callable[[int, int], None] = lambda sent, total: None,
    ) -> int:
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            client_id="itsm-dlq-replay",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        producer = KafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id="itsm-dlq-replay",
            transactional_id=self.group,
            acks="all",
            enable_idempotence=True,
            # a killed replay's open transaction holds up the consumer (read_committed) until
            # the next replay aborts it, or this long
            transaction_timeout_ms=15_000,
        )
        try:
            producer.init_transactions()  # aborts what a killed predecessor left open
            partitions = [
                TopicPartition(self.dead_letters, p)
                for p in sorted(consumer.partitions_for_topic(self.dead_letters) or ())
            ]
            snapshot = take_snapshot(consumer, partitions)
            on_start(snapshot)
            return self._replay(consumer, producer, snapshot, on_progress)
        finally:
            producer.close()
            consumer.close()

    def _replay(
        self,
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        snapshot: Snapshot,
        on_progress: Callable[[int, int], None],
    ) -> int:
        until = snapshot.until
        position = dict(snapshot.start)
        left = [tp for tp in position if position[tp] < until[tp]]
        consumer.assign(left)
        for tp in left:
            consumer.seek(tp, position[tp])
        sent, moved = 0, time.monotonic()
        while left:
            polled = consumer.poll(timeout_ms=500, max_records=self.batch)
            chosen = [
                record
                for tp, records in polled.items()
                for record in records
                if position[tp] <= record.offset < until[tp]
            ]
            if chosen:
                producer.begin_transaction()
                for record in chosen:
                    self._send(producer, record)
                    tp = TopicPartition(record.topic, record.partition)
                    position[tp] = record.offset + 1
                self._commit(producer, position, until)
                sent += len(chosen)
                on_progress(sent, snapshot.total)
                moved = time.monotonic()
            elif time.monotonic() - moved > STALLED_AFTER:
                raise ReplayStalled(
                    f"no dead letters read for {STALLED_AFTER:.0f} s; "
                    f"at {dict(position)}, the snapshot ends at {dict(until)}"
                )
            for tp in list(left):
                # past the snapshot's end, or only gaps (e.g. transaction markers) up to it
                if position[tp] >= until[tp] or consumer.position(tp) >= until[tp]:
                    left.remove(tp)
                    consumer.pause(tp)
        if any(position[tp] < until[tp] for tp in position):
            # record that the snapshot is done even where its tail held no message
            producer.begin_transaction()
            self._commit(producer, {tp: until[tp] for tp in position}, until)
        return sent

    def _send(self, producer: KafkaProducer, record: Any) -> None:
        value = self.corrections.get(record.offset, record.value)
        headers = [
            *cloudevents.HEADERS,  # back on the inbound topic as what it is: a CloudEvent
            (REPLAY_SEAL, self.seal(value)),
            ("dlq.replay.of", f"{record.topic}/{record.partition}/{record.offset}".encode()),
        ]
        producer.send(self.topic, value=value, key=record.key, headers=headers)

    def _commit(
        self,
        producer: KafkaProducer,
        position: Mapping[TopicPartition, int],
        until: Mapping[TopicPartition, int],
    ) -> None:
        """The batch's messages and the replay's progress, one transaction."""
        offsets = {
            tp: OffsetAndMetadata(position[tp], f"{UNTIL}{until[tp]}", -1) for tp in position
        }
        producer.send_offsets_to_transaction(offsets, self.group)
        producer.commit_transaction()
