"""The projection consumer's two steps without a broker: a poll folded in memory, then written
in one transaction (by its writer thread, in Kafka mode). A write checks that the view store still
holds the positions its fold began from, so a consumer that lost its partitions without knowing
cannot write its rows and positions over those of the partitions' new owner."""

from __future__ import annotations

import gc
from pathlib import Path
from types import SimpleNamespace
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from kafka import TopicPartition

from consumers.projections import (
    Batch,
    ProjectionConsumer,
    StaleFold,
    freeze_start_up,
    rows_before,
)
from domain import incident as e
from infra.settings import Settings
from projections.base import Projection, Row, folds_of
from projections.store import SQLiteViewStore
from projections.window import Step
from service.kafka_mode import build_projection_consumer
from tests.conftest import context


def consumer(data_dir: Path) -> ProjectionConsumer:
    # its Kafka clients never start: the batches are handed to it
    return build_projection_consumer(Settings(data_dir=data_dir), "127.0.0.1:9")


def test_given_a_poll_folded_when_its_partition_is_folded_by_another_first_then_its_write_fails(
    tmp_path: Path,
) -> None:
    lost, owner = consumer(tmp_path), consumer(tmp_path)
    try:
        # Given: the first consumer folds positions 1-3 of partition 0 (events no view folds)
        folded = lost.fold(Batch(events={0: [(1, None), (2, None), (3, None)]}))
        # When: the partition's new owner folds and writes positions 1-5 first
        owner.apply(Batch(events={0: [(n, None) for n in range(1, 6)]}))
        # Then: the first consumer's write changes nothing
        with pytest.raises(StaleFold):
            lost.write(folded)
        projection = lost.projections[0]
        assert lost.store.partition_positions(projection) == {0: 5}
    finally:
        lost.close()
        owner.close()


def test_given_positions_the_store_still_holds_then_successive_polls_write_in_order(
    tmp_path: Path,
) -> None:
    one = consumer(tmp_path)
    try:
        first = one.fold(Batch(events={0: [(1, None), (2, None)], 1: [(3, None)]}))
        second = one.fold(Batch(events={0: [(4, None)], 1: [(3, None), (6, None)]}))
        one.write(first)
        one.write(second)
        assert all(one.store.partition_positions(p) == {0: 4, 1: 6} for p in one.projections)
        assert one.progress() == 0  # progress moves as the consumer's own steps finish
        one.apply(Batch(events={1: [(7, None)]}))
        assert one.progress() == 7
    finally:
        one.close()


def test_given_two_consumers_of_one_group_then_each_writes_only_its_own_partitions_positions(
    tmp_path: Path,
) -> None:
    # Found by the rebalance test in Kafka mode: every write stored the positions of every
    # partition the consumer had read from the store, so it set another member's partitions
    # back to where they were when it read them; that member's next write was refused, and the
    # consumer taking them over after it died folded their last events a second time.
    first, second = consumer(tmp_path), consumer(tmp_path)
    try:
        second.apply(Batch(events={1: [(1, None)]}))
        first.apply(Batch(events={0: [(2, None)]}))  # it now holds partition 1 at 1
        second.apply(Batch(events={1: [(3, None)]}))
        # When: the first writes its own partition again
        first.apply(Batch(events={0: [(4, None)]}))
        # Then: the second's partition stays where the second put it, and its next write holds
        assert all(first.store.partition_positions(p) == {0: 4, 1: 3} for p in first.projections)
        second.apply(Batch(events={1: [(5, None)]}))
        assert all(first.store.partition_positions(p) == {0: 4, 1: 5} for p in first.projections)
    finally:
        first.close()
        second.close()


# -- what a poll costs: the rows it reads, the collector -------------------------------------


def assigned(record: UUID, version: int, group: str) -> e.Assigned:
    return e.Assigned(
        originator_id=record, originator_version=version, group=group, **context().stamp()
    )


def _group(row: Row | None, ev: e.Assigned) -> Row:
    return {"groups": [*(row or {"groups": []})["groups"], ev.group]}


GROUPS = Projection("test_groups", 1, folds_of(_group))


def test_given_a_record_whose_first_event_is_in_the_poll_then_its_row_is_not_read(
    tmp_path: Path,
) -> None:
    store = SQLiteViewStore(tmp_path / "views.db")
    one = ProjectionConsumer(
        lambda: None, store, [GROUPS], topic="t", dead_letters=lambda: None, dead_letter_topic="d"
    )
    old, new = uuid4(), uuid4()
    read: list[set[str]] = []
    load = store.load
    store.load = lambda p, keys: (read.append(set(keys)), load(p, keys))[1]  # type: ignore[method-assign]
    try:
        one.apply(Batch(events={0: [(1, assigned(old, 1, "a"))]}))
        one._forget()  # as after a rebalance: rows not in the write cache are read again
        read.clear()
        # When: a poll holds a later event of the first record and the first of another
        one.apply(Batch(events={0: [(2, assigned(old, 2, "b")), (3, assigned(new, 1, "c"))]}))
        # Then: only the first record's row is read; the new one's starts empty
        assert read == [{str(old)}]
        assert store.rows(GROUPS) == {str(old): {"groups": ["a", "b"]}, str(new): {"groups": ["c"]}}
    finally:
        one.close()


def test_rows_before_reads_nothing_it_knows_and_everything_it_does_not() -> None:
    first, later, cached = uuid4(), uuid4(), uuid4()
    steps: list[Step] = [
        (str(first), _group, assigned(first, 1, "a")),
        (str(first), _group, assigned(first, 2, "b")),
        (str(later), _group, assigned(later, 2, "c")),  # its first event came before
        (str(cached), _group, assigned(cached, 1, "d")),  # a redelivery's view of version 1
        (str(later), _group, assigned(later, 1, "e")),  # not its first step here
    ]
    kept: dict[str, Row | None] = {str(cached): {"groups": ["x"]}}

    assert rows_before(steps, kept, by_record=True) == {
        str(first): None,
        str(cached): {"groups": ["x"]},
    }
    # a view whose rows are not one per record reads every row it does not keep
    assert rows_before(steps, kept, by_record=False) == {str(cached): {"groups": ["x"]}}


def test_a_poll_is_handed_to_the_writer_with_the_collector_paused_and_start_up_frozen(
    tmp_path: Path,
) -> None:
    one = consumer(tmp_path)
    seen: list[bool] = []
    flush = one.flush
    one.flush = lambda: (seen.append(gc.isenabled()), flush())[1]  # type: ignore[method-assign]
    record = SimpleNamespace(offset=0, partition=0, value=b"{}")
    try:
        assert gc.isenabled()
        one.handle({TopicPartition("t", 0): [record]})
        # the wait for the poll before, and the hand-over of this one, inside the pause
        assert seen == [False]
        assert gc.isenabled()
        one.flush()
        freeze_start_up()
        assert gc.get_freeze_count() > 0
    finally:
        one.close()


# -- a group of two, any schedule: every event folded exactly once ---------------------------

PARTITIONS = 3
Poll = tuple[str, int, int]  # ("poll", member, most messages a partition)
Commit = tuple[str, int]  # ("commit", member): its polls' offsets reach the broker
Rebalance = tuple[str, tuple[int, ...], bool]  # new owner of each partition; commits land?
Crash = tuple[str, int]  # ("crash", member): killed, its offsets not yet committed lost
Action = Poll | Commit | Rebalance | Crash

polls = st.tuples(st.just("poll"), st.integers(0, 1), st.integers(1, 3))
actions = st.one_of(
    polls,
    polls,  # as likely as the rest together
    st.tuples(st.just("commit"), st.integers(0, 1)),
    st.tuples(
        st.just("rebalance"),
        st.tuples(*[st.integers(0, 1)] * PARTITIONS),
        st.booleans(),
    ),
    st.tuples(st.just("crash"), st.integers(0, 1)),
)


class Group:
    """Two members of a consumer group over one view store, with a broker's part played here:
    each partition's messages, its committed offset, and who owns it."""

    def __init__(self, store: SQLiteViewStore, topic: dict[int, list[tuple[int, e.Assigned]]]):
        self.store, self.topic = store, topic
        self.members = [self.member(), self.member()]
        self.owner = {p: p % 2 for p in topic}  # each member has partitions from the start
        self.committed = dict.fromkeys(topic, 0)  # the next offset to read, per partition
        self.fetched = dict(self.committed)  # the owner's next offset
        self.pending: list[dict[int, int]] = [{}, {}]  # polled, not yet committed

    def member(self) -> ProjectionConsumer:
        return ProjectionConsumer(
            lambda: None,
            self.store,
            [GROUPS],
            topic="t",
            dead_letters=lambda: None,
            dead_letter_topic="d",
        )

    def poll(self, who: int, most: int) -> None:
        events = {}
        for p, messages in self.topic.items():
            if self.owner[p] == who and self.fetched[p] < len(messages):
                events[p] = messages[self.fetched[p] : self.fetched[p] + most]
                self.fetched[p] += len(events[p])
                self.pending[who][p] = self.fetched[p]
        if not events:
            return
        try:
            self.members[who].apply(Batch(events=events))  # type: ignore[arg-type]
        except StaleFold:  # as the consumer does: forget, reconnect, read from the committed
            self.members[who]._forget()
            self.pending[who] = {}
            for p in events:
                self.fetched[p] = self.committed[p]

    def commit(self, who: int) -> None:
        for p, offset in self.pending[who].items():
            if self.owner[p] == who:  # the broker refuses a former owner's commit
                self.committed[p] = offset
        self.pending[who] = {}

    def rebalance(self, owners: tuple[int, ...], commits_land: bool) -> None:
        for who, member in enumerate(self.members):
            if commits_land:  # the revocation's flush commits what was written
                self.commit(who)
            self.pending[who] = {}
            member._forget()
        self.owner = dict(enumerate(owners))
        self.fetched = dict(self.committed)

    def crash(self, who: int) -> None:
        self.members[who] = self.member()
        self.pending[who] = {}
        for p, owner in self.owner.items():
            if owner == who:
                self.fetched[p] = self.committed[p]

    def run(self, schedule: list[Action]) -> None:
        for action in schedule:
            match action:
                case ("poll", int(who), int(most)):
                    self.poll(who, most)
                case ("commit", int(who)):
                    self.commit(who)
                case ("rebalance", tuple(owners), bool(lands)):
                    self.rebalance(owners, lands)
                case ("crash", int(who)):
                    self.crash(who)
        self.rebalance((0,) * PARTITIONS, True)  # the survivor reads the rest
        while any(self.fetched[p] < len(m) for p, m in self.topic.items()):
            self.poll(0, 50)


@given(
    records=st.lists(st.integers(0, 4), min_size=1, max_size=30),
    schedule=st.lists(actions, max_size=25),
)
@example(  # what the rebalance test in Kafka mode met: the partition set back, read again
    records=[1, 0, 1, 0],  # positions 1 and 3 on partition 1, 2 and 4 on partition 0
    schedule=[("poll", 1, 1), ("poll", 0, 1), ("poll", 1, 1), ("poll", 0, 1), ("crash", 1)],
)
@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_schedule_of_polls_commits_rebalances_and_crashes_folds_every_event_once(
    tmp_path_factory: pytest.TempPathFactory, records: list[int], schedule: list[Action]
) -> None:
    ids = [UUID(int=n + 1) for n in range(5)]
    topic: dict[int, list[tuple[int, e.Assigned]]] = {p: [] for p in range(PARTITIONS)}
    expected: dict[str, Row] = {}
    for position, r in enumerate(records, start=1):
        groups = expected.setdefault(str(ids[r]), {"groups": []})["groups"]
        topic[r % PARTITIONS].append((position, assigned(ids[r], len(groups) + 1, f"g{position}")))
        groups.append(f"g{position}")
    store = SQLiteViewStore(tmp_path_factory.mktemp("group") / "views.db")
    group = Group(store, topic)
    try:
        group.run(schedule)
        assert store.rows(GROUPS) == expected
        reached = {p: m[-1][0] for p, m in topic.items() if m}
        assert {
            p: n for p, n in store.partition_positions(GROUPS).items() if p in reached
        } == reached
    finally:
        for member in group.members:
            member.close()
