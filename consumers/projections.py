"""Kafka mode's projections: the same folds as the embedded mode, fed from `itsm.events`.

The effect is exactly once although delivery is at least once. Every message carries its global
position in the event store, and the relay publishes in global order, so within one partition the
positions only grow. For each projection and partition the view store keeps the last position
folded, in the same transaction as the rows that position changed; a message at or below it is a
repeat (a relay re-send, or a redelivery after a crash or a rebalance) and changes nothing. Kafka
offsets are committed only after that transaction, without waiting: they are a hint, the
positions are the truth.

A message that cannot be decoded goes to the dead-letter topic with the reason in its headers and
the stream continues, but not silently: the views lack whatever it carried, so it is recorded in
the view store as skipped by every view (in the same transaction as the positions), where /readyz
and /metrics of every process serving those views find it until the views are rebuilt
(docs/kafka.md, "Skipped messages"). A partition that some projection has never read from (a new
or rebuilt projection) is read again from its beginning; the other projections skip what they
have folded.
"""

from __future__ import annotations

import gc
import logging
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from kafka import TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.partitioner.default import murmur2

from consumers.group import DeadLetter, GroupConsumer
from domain.events import DomainEvent
from infra.clock import utcnow
from infra.cloudevents import BadMessage, Reader, Unseal, stored_type
from projections.base import Projection, Row, record_key, record_keys
from projections.runner import collector_paused
from projections.view_store import SkippedMessage, StoredRows, ViewStore, stored_rows
from projections.window import Step, fold_steps, steps_of

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


#: The longest text kept of what a skipped message says (its reason, id and type come from
#: whoever wrote to the topic).
REASON_CHARS = 500
NAME_CHARS = 200
#: The largest position a view store keeps (a signed 64-bit integer).
MAX_POSITION = 2**63 - 1


def skipped(letter: DeadLetter, at: datetime) -> SkippedMessage:
    """What a message the consumer cannot decode says of itself, as far as it can be read."""
    record = letter.record
    try:
        message = orjson.loads(record.value) if record.value is not None else None
    except orjson.JSONDecodeError:
        message = None
    said: dict[str, Any] = message if isinstance(message, dict) else {}
    position = said.get("position")
    event, kind = said.get("id"), said.get("type")
    return SkippedMessage(
        partition=record.partition,
        offset=record.offset,
        reason=_text(" ".join(letter.reason.split()), REASON_CHARS),
        skipped_at=at,
        position=(
            position
            if type(position) is int and 0 < position <= MAX_POSITION  # not a bool, nor too big
            else None
        ),
        event=_text(event, NAME_CHARS) if isinstance(event, str) else None,
        type=_text(stored_type(kind), NAME_CHARS) if isinstance(kind, str) else None,
    )


def _text(text: str, limit: int) -> str:
    """Text any store keeps: valid UTF-8 without NUL (PostgreSQL refuses it), cut to a limit."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")[:limit]


def partition_of(aggregate_id: UUID, partitions: int) -> int:
    """The partition the relay's producer puts an aggregate's events on (Kafka's default)."""
    hashed: int = murmur2(str(aggregate_id).encode())
    return (hashed & 0x7FFFFFFF) % partitions


def rows_before(
    steps: Sequence[Step], kept: Mapping[str, Row | None], *, by_record: bool
) -> dict[str, Row | None]:
    """The rows a poll's steps start from that need not be read from the view store: those the
    write cache keeps, and, in a view of one row per record, None for a record whose first
    step here is its first event (version 1): nothing can have been folded into its row before,
    so there is nothing to read (a catch-up's or a busy desk's new records, most of its rows)."""
    rows: dict[str, Row | None] = {}
    seen: set[str] = set()
    for key, _, event in steps:
        if key not in seen:
            seen.add(key)
            if key in kept:
                rows[key] = kept[key]
            elif by_record and event.originator_version == 1:
                rows[key] = None
    return rows


_start_up_frozen = False


def freeze_start_up() -> None:
    """Once a process, before its first poll: move what the process has made so far (modules,
    classes, validators, the service's set-up) out of the collector's generations, where every
    full collection scanned it for nothing; it lives as long as the process. Garbage is
    collected first, so none is kept."""
    global _start_up_frozen  # noqa: PLW0603 (once a process, as gc.freeze is)
    if not _start_up_frozen:
        _start_up_frozen = True
        gc.collect()
        gc.freeze()


class StaleFold(RuntimeError):
    """The positions a poll was folded from are no longer the view store's: another consumer
    folded the same partitions meanwhile (this one lost them without being told in time). The
    write is refused; the consumer starts again from the store."""


@dataclass
class Folded:
    """One poll folded in memory: what its transaction writes, and what it checks first."""

    #: each projection's rows touched, as the store writes them
    rows: list[tuple[Projection, StoredRows]] = field(default_factory=list)
    #: each projection's positions, for the partitions of the poll only, as the fold began
    #: from them (None: none yet) and as it leaves them (another member of the group owns the
    #: other partitions, and writes their positions)
    positions: list[tuple[Projection, dict[int, int | None], dict[int, int]]] = field(
        default_factory=list
    )
    skipped: list[SkippedMessage] = field(default_factory=list)
    #: per partition, the position every projection has folded to (progress)
    applied: dict[int, int] = field(default_factory=dict)


@dataclass(eq=False)
class ProjectionConsumer(GroupConsumer):
    """Each poll is folded in memory, then written in one transaction by a writer thread while
    the next poll is read and folded (SQLite and PostgreSQL do their part of a write without
    holding Python's lock, so the two overlap); one write at a time, and a poll's offsets are
    committed once its write has committed.

    A poll's fold needs the rows as the write before it left them, which may still be under
    way: the rows each projection's last poll touched are kept (a write cache, as Kafka Streams'
    record cache), and only the others are read from the view store, whose last commit holds
    them as they are (but for the rows of records whose first event is in the poll, which
    start empty: `rows_before`). The positions are kept in memory too, read from the store
    whenever the consumer is given partitions; each write first checks that the store still
    holds the positions its fold began from (only the consumer of a partition writes its rows
    and positions, and one that lost it without knowing must not write over its new owner's).
    """

    progress_label = "projections folded"

    store: ViewStore
    projections: Sequence[Projection]
    _: KW_ONLY
    group_id: str = "itsm.projections"
    clock: Callable[[], datetime] = utcnow
    #: What opens people's sealed data (docs/privacy.md); without it their events dead-letter.
    unseal: Unseal | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.projections = tuple(self.projections)
        wanted = {event.type_name for p in self.projections for event in p.folds}
        self.reader = Reader(wanted, self.unseal)
        #: The last position folded by every projection, per partition (for progress reports).
        self._applied: dict[int, int] = {}
        #: Each projection's partition positions as folded (None: to be read from the store).
        self._positions: dict[str, dict[int, int]] | None = None
        #: Each projection's rows as its last poll's fold left them (written or being written).
        self._cache: dict[str, dict[str, Row | None]] = {}
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="views-writer")
        self._writing: Future[Folded] | None = None
        #: The offsets of the poll being written, committed once it is.
        self._written_offsets: dict[TopicPartition, Any] | None = None
        self.store.ensure(self.projections)

    # -- consuming (the loop is GroupConsumer's) ------------------------------------------------

    def handle(self, records: Mapping[TopicPartition, Sequence[Any]]) -> list[DeadLetter]:
        # Like the embedded runner's batches: a poll's records, events and rows live until it is
        # folded and form no cycles, so a collection meanwhile would scan them for nothing (a
        # fifth to a third of the time). The poll's events are let go before the collector
        # resumes, and the wait for the write before and the hand-over of this one stay inside
        # the pause: resumed with them alive, its first collection scanned them all and moved
        # them to the older generations, to be scanned again there. (Not paused while polling:
        # that waits, and the API may share this process.)
        with collector_paused():
            batch = decode(records, self.reader)
            folded, dead = self.fold(batch), batch.dead
            del batch
            self.flush()  # the poll before: one write at a time, in order
            self._writing = self._writer.submit(self.write, folded)
            del folded
        return dead

    def poll_once(self, timeout_ms: int = 200) -> int:
        freeze_start_up()
        got = super().poll_once(timeout_ms)
        if not got and self._writing is not None and self._writing.done():
            self.flush()  # nothing more came: commit the last poll's offsets now
        return got

    def commit(self, offsets: Mapping[TopicPartition, Any]) -> None:
        if self._writing is None:
            super().commit(offsets)
        else:  # once the poll's write has committed
            self._written_offsets = dict(offsets)

    def flush(self) -> None:
        """Wait for the write under way, if any (raising what failed it), then commit its
        poll's offsets."""
        writing, self._writing = self._writing, None
        if writing is None:
            return
        offsets, self._written_offsets = self._written_offsets, None
        try:
            folded = writing.result()
        except BaseException:
            self._forget()  # what was folded after the store's last commit is gone with it
            raise
        self._advance(folded.applied)
        if offsets:
            super().commit(offsets)

    def listener(self) -> Any:
        return _Rewind(self)

    def progress(self) -> int:
        return max(self._applied.values(), default=0)

    def close(self) -> None:
        try:
            self.flush()
        except Exception:
            log.warning("the views' last write failed; its poll will be read again", exc_info=True)
        self._forget()
        super().close()

    def _forget(self) -> None:
        """Drop the rows and positions kept in memory: read them from the store again."""
        self._cache, self._positions = {}, None

    def apply(self, batch: Batch) -> None:
        """Fold a batch and write it, here and now (the consumer's two steps, one after the
        other)."""
        self.flush()
        self._advance(self.write(self.fold(batch)).applied)

    def fold(self, batch: Batch) -> Folded:
        """Fold a batch into every projection's rows, in memory, skipping what each has already
        folded; the rows to write, the positions moved and the messages passed over as
        undecodable."""
        if self._positions is None:
            self._positions = {p.name: self.store.partition_positions(p) for p in self.projections}
        folded = Folded(skipped=[skipped(letter, self.clock()) for letter in batch.dead])
        applied = folded.applied
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
        for projection in self.projections:
            positions = self._positions[projection.name]
            began = {partition: positions.get(partition) for partition in fresh_in_batch}
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
                rows = self._fold_rows(projection, fresh)
                folded.rows.append((projection, StoredRows(*stored_rows(projection, rows))))
            folded.positions.append(
                (projection, began, {p: positions[p] for p in began if p in positions})
            )
        return folded

    def _fold_rows(
        self, projection: Projection, events: list[tuple[DomainEvent, str]]
    ) -> dict[str, Row | None]:
        """Fold (event, record key) pairs into the rows they touch: the rows the projection's
        last poll left, the others as the view store holds them."""
        steps = steps_of(projection, events)
        kept = self._cache.get(projection.name, {})
        rows = rows_before(steps, kept, by_record=projection.key_of is record_key)
        fold_steps(self.store.load, projection, rows, steps)
        self._cache[projection.name] = rows
        return rows

    def write(self, folded: Folded) -> Folded:
        """Write what a poll folded, in one transaction: its rows, its positions and the
        messages it passed over; StaleFold if the store no longer holds the positions the fold
        began from."""
        with self.store.transaction() as tx:
            reached: list[dict[int, int]] = []
            for projection, began, positions in folded.positions:
                stored = tx.partition_positions(projection)
                moved = [p for p, at in began.items() if stored.get(p) != at]
                if moved:
                    raise StaleFold(
                        f"{projection.name}: partitions {moved} were folded by another consumer"
                    )
                reached.append(stored | positions)
            for projection, rows in folded.rows:
                tx.write(projection, rows)
            for (projection, _, positions), every in zip(folded.positions, reached, strict=True):
                if folded.skipped:
                    tx.record_skipped(projection, folded.skipped)
                tx.set_partition_positions(projection, positions)
                if every:
                    tx.set_position(projection, max(every.values()))
        return folded

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
        # The write under way finishes (its offsets committed if the broker still takes them:
        # positions make repeats harmless), and what was kept in memory is read again after.
        try:
            self.owner.flush()
        finally:
            self.owner._forget()

    def on_partitions_assigned(self, assigned: Any) -> None:
        consumer = self.owner._consumer
        if consumer is None:
            return
        unread = self.owner.unread_partitions(list(assigned))
        if unread:
            log.info("reading %s from the beginning for a new projection", unread)
            consumer.seek_to_beginning(*unread)
        self.owner.assigned.set()
