"""Kafka mode's projections: the same folds as the embedded mode, fed from `itsm.events`.

The effect is exactly once although delivery is at least once. Every message carries its global
position in the event store, and the relay publishes in global order, so within one partition the
positions only grow. For each projection and partition the view store keeps the last position
folded, in the same transaction as the rows that position changed; a message at or below it is a
repeat (a relay re-send, or a redelivery after a crash or a rebalance) and changes nothing. Kafka
offsets are committed only after that transaction, without waiting: they are a hint, the
positions are the truth.

A message that cannot be decoded goes to the dead-letter topic with the reason in its headers and
the stream continues. A partition that some projection has never read from (a new or rebuilt
projection) is read again from its beginning; the other projections skip what they have folded.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any
from uuid import UUID

from kafka import TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.partitioner.default import murmur2

from consumers.group import DeadLetter, GroupConsumer
from domain.events import DomainEvent
from infra.cloudevents import BadMessage, Reader
from projections.base import Projection, record_keys
from projections.runner import ProjectionRunner, collector_paused
from projections.view_store import ViewStore

log = logging.getLogger(__name__)


@dataclass
class Batch:
    """One poll's messages, decoded: per partition, (position, event) in offset order."""

    events: dict[int, list[tuple[int, DomainEvent | None]]] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)  # next offset to read


def decode(records: Mapping[TopicPartition, Sequence[Any]], reader: Reader) -> Batch:
    """Decode a poll's messages; events of types no projection folds keep only their position."""
    batch = Batch()
    parse = reader.parse
    for tp, messages in records.items():
        decoded = batch.events.setdefault(tp.partition, [])
        for record in messages:
            try:
                decoded.append(parse(record.value))
            except BadMessage as bad:
                batch.dead.append(DeadLetter(record, bad.reason))
        batch.offsets[tp] = messages[-1].offset + 1
    return batch


def partition_of(aggregate_id: UUID, partitions: int) -> int:
    """The partition the relay's producer puts an aggregate's events on (Kafka's default)."""
    hashed: int = murmur2(str(aggregate_id).encode())
    return (hashed & 0x7FFFFFFF) % partitions


@dataclass(eq=False)
class ProjectionConsumer(GroupConsumer):
    progress_label = "projections folded"

    store: ViewStore
    projections: Sequence[Projection]
    _: KW_ONLY
    group_id: str = "itsm.projections"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.projections = tuple(self.projections)
        self.reader = Reader({event.type_name for p in self.projections for event in p.folds})
        #: The last position folded by every projection, per partition (for progress reports).
        self._applied: dict[int, int] = {}
        self.store.ensure(self.projections)

    # -- consuming (the loop is GroupConsumer's) ------------------------------------------------

    def handle(self, records: Mapping[TopicPartition, Sequence[Any]]) -> list[DeadLetter]:
        # Like the embedded runner's batches: a poll's records, events and rows live until it is
        # folded and form no cycles, so a collection meanwhile would scan them for nothing (a
        # fifth to a third of the time). (Not paused while polling: that waits, and the API may
        # share this process.)
        with collector_paused():
            batch = decode(records, self.reader)
            self.apply(batch)
        return batch.dead

    def listener(self) -> Any:
        return _Rewind(self)

    def progress(self) -> int:
        return max(self._applied.values(), default=0)

    def apply(self, batch: Batch) -> None:
        """Fold a batch into every projection, skipping what each has already folded, and record
        the new positions, all in one transaction."""
        applied: dict[int, int] = {}
        # Once per batch, not once per projection: each partition's events with their row keys,
        # repeats within the batch dropped (a relay re-send is at or below the highest position
        # before it), so positions strictly increase; and the event types the batch holds.
        fresh_in_batch: dict[int, tuple[list[int], list[tuple[DomainEvent | None, str]]]] = {}
        kinds: set[type[DomainEvent]] = set()
        for partition, events in batch.events.items():
            positions_seen: list[int] = []
            keyed: list[tuple[DomainEvent | None, str]] = []
            keys = record_keys(event for _, event in events)
            top = 0
            for (position, event), key in zip(events, keys, strict=True):
                if position > top:
                    top = position
                    positions_seen.append(position)
                    keyed.append((event, key))
                    if event is not None:
                        kinds.add(type(event))
            fresh_in_batch[partition] = (positions_seen, keyed)
        with self.store.transaction() as tx:
            for projection in self.projections:
                positions = tx.partition_positions(projection)
                folds = projection.folds
                folded_here = not kinds.isdisjoint(folds)
                fresh: list[tuple[DomainEvent, str]] = []
                for partition, (seen, keyed) in fresh_in_batch.items():
                    done = positions.get(partition, 0)
                    if seen and seen[-1] > done:
                        if folded_here:
                            # What this projection has not folded: after its position.
                            first = bisect_right(seen, done)
                            fresh.extend(
                                (event, key)
                                for event, key in keyed[first:]
                                if event is not None and type(event) in folds
                            )
                        positions[partition] = seen[-1]
                    if partition in positions:
                        reached = positions[partition]
                        applied[partition] = min(applied.get(partition, reached), reached)
                if fresh:
                    ProjectionRunner.fold(tx, projection, fresh)
                tx.set_partition_positions(projection, positions)
                if positions:
                    tx.set_position(projection, max(positions.values()))
        self._advance(applied)

    # -- rewinding partitions some projection has never read ------------------------------------

    def unread_partitions(self, partitions: Sequence[TopicPartition]) -> list[TopicPartition]:
        with self.store.transaction() as tx:
            known = [set(tx.partition_positions(p)) for p in self.projections]
        return [tp for tp in partitions if any(tp.partition not in k for k in known)]

    def _advance(self, applied: Mapping[int, int]) -> None:
        for partition, position in applied.items():
            if position > self._applied.get(partition, 0):
                self._applied[partition] = position


class _Rewind(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment, read again from the start the partitions some projection has not read."""

    def __init__(self, owner: ProjectionConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: Any) -> None:
        pass  # offsets are committed after every batch; positions make repeats harmless

    def on_partitions_assigned(self, assigned: Any) -> None:
        consumer = self.owner._consumer
        if consumer is None:
            return
        unread = self.owner.unread_partitions(list(assigned))
        if unread:
            log.info("reading %s from the beginning for a new projection", unread)
            consumer.seek_to_beginning(*unread)
        self.owner.assigned.set()
