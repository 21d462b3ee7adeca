"""The projection consumer's two steps without a broker: a poll folded in memory, then written
in one transaction (by its writer thread, in Kafka mode). A write checks that the view store still
holds the positions its fold began from, so a consumer that lost its partitions without knowing
cannot write its rows and positions over those of the partitions' new owner."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumers.projections import Batch, ProjectionConsumer, StaleFold
from infra.settings import Settings
from service.kafka_mode import build_projection_consumer


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
