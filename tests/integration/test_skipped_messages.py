"""The projection consumer's record of the messages it passed over as undecodable, in both view
stores, without a broker (the same over HTTP on a real broker: test_kafka_skipped_events.py).

The record is written with the positions it advances, only ever inserted (a redelivery keeps the
first), read by any process on the same views, and it goes with a view when the view is rebuilt.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from consumers.projections import REASON_CHARS, ProjectionConsumer
from domain.incident import Channel, Logged
from domain.priority import Impact, Urgency
from infra.cloudevents import envelope, published_type
from infra.serialisation import encode
from infra.settings import Settings
from projections import PROJECTIONS, incident_details
from service.stores import open_view_store
from tests.conftest import AGENT, T0, Clock

TOPIC = "itsm.events"


def record(offset: int, value: bytes | None, partition: int = 0) -> Any:
    return ConsumerRecord(TOPIC, partition, -1, offset, 0, 0, None, value, [], None, 0, 0, 0)


def logged(position: int) -> tuple[str, bytes]:
    """A good message: an incident logged, at this position; its id and envelope."""
    event = Logged(
        originator_id=uuid4(),
        originator_version=1,
        timestamp=T0,
        actor=AGENT,
        correlation_id=uuid4(),
        number=position,
        title="Kiosk 3 offline",
        service="kiosks-gates",
        caller="budi",
        channel=Channel.PHONE,
        impact=Impact.MEDIUM,
        urgency=Urgency.MEDIUM,
        priority=3,
        matrix_version=1,
    )
    return str(event.originator_id), envelope(position, event.type_name, encode(event))


def consumer_on(settings: Settings, clock: Clock) -> ProjectionConsumer:
    return ProjectionConsumer(
        lambda: None,
        open_view_store(settings),
        PROJECTIONS,
        topic=TOPIC,
        dead_letters=lambda: None,
        dead_letter_topic=f"{TOPIC}.projections.dlq",
        clock=clock,
    )


SPOILT = orjson.dumps(
    {
        "specversion": "1.0",
        "id": "6f1c0c57-3a4b-4a3e-9b43-1d2f0e7c9a10/4",
        "source": "urn:itsm:deployment:elsewhere",
        "type": published_type("Incident.CommentAdded"),
        "position": 15,
        "data": {"text": "no who, no when"},
    }
)


def test_the_messages_passed_over_are_recorded_with_the_positions_once_and_go_with_the_views(
    settings: Settings, clock: Clock
) -> None:
    consumer = consumer_on(settings, clock)
    first, good = logged(10)
    later, after = logged(20)
    batch = {
        TopicPartition(TOPIC, 0): [record(0, good), record(1, b"{not json"), record(2, SPOILT)],
        TopicPartition(TOPIC, 1): [record(7, None, partition=1), record(8, after, partition=1)],
    }
    at = clock()
    dead = consumer.handle(batch)
    clock.advance(minutes=5)
    consumer.handle(batch)  # redelivered (its offsets were not committed): nothing new
    consumer.flush()  # the poll's write, under way beside the next poll, done
    store = consumer.store
    # another process on the same views (a restart, or an API that does not consume)
    other = consumer_on(settings, clock).store
    try:
        seen = other.skipped(10)
        count = other.skipped_count()
        rows = (store.get(incident_details, first), store.get(incident_details, later))
        positions = store.partition_positions(incident_details)
        store.reset(incident_details)
        after_one_reset = store.skipped_count()
        for projection in PROJECTIONS:
            store.reset(projection)
        after_all = store.skipped_count()
    finally:
        other.close()
        store.close()

    assert [(d.record.partition, d.record.offset) for d in dead] == [(0, 1), (0, 2), (1, 7)]
    assert count == 3
    assert [(s.partition, s.offset) for s in seen] == [(0, 1), (0, 2), (1, 7)]
    junk, spoilt, empty = seen
    assert junk.reason.startswith("not JSON")
    assert (junk.position, junk.event, junk.type) == (None, None, None)
    assert spoilt.position == 15
    assert spoilt.event == "6f1c0c57-3a4b-4a3e-9b43-1d2f0e7c9a10/4"
    assert spoilt.type == "Incident.CommentAdded"
    assert "Incident.CommentAdded" in spoilt.reason
    assert "\n" not in spoilt.reason
    assert empty.reason == "empty message (tombstone)"
    assert {s.skipped_at for s in seen} == {at}  # the first record stands
    # the good messages around them are folded
    assert all(row is not None for row in rows)
    assert positions == {0: 10, 1: 20}
    # the other views still lack them until they are rebuilt too
    assert after_one_reset == 3
    assert after_all == 0


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    value=st.binary(max_size=300)
    | st.dictionaries(
        st.sampled_from(["specversion", "id", "source", "type", "position", "data"]),
        st.text(max_size=600) | st.integers() | st.booleans() | st.none(),
    ).map(lambda said: json.dumps(said).encode())  # any integer: a sender's JSON is not ours
)
def test_whatever_a_message_holds_it_is_folded_or_recorded_as_passed_over(
    settings: Settings, clock: Clock, value: bytes
) -> None:
    """Never an error that would stop the consumer at it: text from the topic is cut to a
    length and freed of what a database refuses (NUL, broken UTF-8), a position out of range
    is dropped."""
    consumer = consumer_on(settings, clock)
    try:
        offset = consumer.store.skipped_count() + 1_000
        dead = consumer.handle({TopicPartition(TOPIC, 0): [record(offset, value)]})
        consumer.flush()  # the poll's write, under way beside the next poll, done
        seen = {s.offset: s for s in consumer.store.skipped(10_000)}
    finally:
        consumer.store.close()
    assert len(dead) == 1  # nothing random is a valid event
    assert offset in seen
    assert 0 < len(seen[offset].reason) <= REASON_CHARS
