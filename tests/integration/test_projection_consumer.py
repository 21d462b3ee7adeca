"""The projection consumer's exactly-once effect, without a broker: whatever repeats a relay's
re-sends and Kafka's redeliveries put in the stream, in one batch or across batches, the views
equal the embedded ones. (The same against the real broker, with kills, is test_kafka_mode.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.projections import Batch, ProjectionConsumer, partition_of
from domain.events import DomainEvent
from projections import PROJECTIONS
from projections.store import SQLiteViewStore
from service.bootstrap import Services
from tests.kafka_harness import work

PARTITIONS = 3


def stored_events(services: Services) -> list[tuple[int, DomainEvent]]:
    notifications = services.desk.recorder.select_notifications(start=0, limit=100_000)
    return [(n.id, services.desk.mapper.to_domain_event(n)) for n in notifications]  # type: ignore[misc]


def by_partition(events: list[tuple[int, DomainEvent]]) -> dict[int, list[tuple[int, Any]]]:
    streams: dict[int, list[tuple[int, Any]]] = {p: [] for p in range(PARTITIONS)}
    for position, event in events:
        streams[partition_of(event.originator_id, PARTITIONS)].append((position, event))
    return streams


def consumer_on(path: Path) -> ProjectionConsumer:
    store = SQLiteViewStore(path)
    return ProjectionConsumer(
        lambda: None,
        store,
        PROJECTIONS,
        topic="t",
        dead_letters=lambda: None,
        dead_letter_topic="t.dlq",
    )


@pytest.mark.usefixtures("directory")
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_repeats_in_any_pattern_change_nothing(
    services: Services, tmp_path_factory: Any, data: st.DataObject
) -> None:
    if not services.desk.recorder.max_notification_id() or len(stored_events(services)) < 20:
        work(services, 60, seed=11)
    services.runner.catch_up()
    expected = {p.name: services.views.rows(p) for p in PROJECTIONS}
    streams = by_partition(stored_events(services))
    # what a partition carries after relay crashes: its stream, with stretches sent again
    delivered: dict[int, list[tuple[int, Any]]] = {}
    for partition, stream in streams.items():
        crashes = data.draw(
            st.lists(st.integers(0, len(stream)), max_size=4).map(sorted), label="crash points"
        )
        messages: list[tuple[int, Any]] = []
        sent = 0
        for crash in crashes:
            messages.extend(stream[sent:crash] if crash > sent else [])
            sent = max(sent, crash)
            resumed = data.draw(st.integers(0, sent), label="recorded position")
            messages.extend(stream[resumed:sent])  # the re-send after the restart
        messages.extend(stream[sent:])
        delivered[partition] = messages
    consumer = consumer_on(tmp_path_factory.mktemp("views") / "views.db")
    size = data.draw(st.integers(1, 40), label="poll size")
    cursor = 0
    while any(cursor < len(messages) for messages in delivered.values()):
        batch = Batch()
        for partition, messages in delivered.items():
            batch.events[partition] = messages[cursor : cursor + size]
        cursor += size
        consumer.apply(batch)

    actual = {p.name: consumer.store.rows(p) for p in PROJECTIONS}
    assert actual == expected
