"""The CloudEvents envelope carries an event out and back unchanged, and names what is wrong with
anything else."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.events import EVENT_TYPES, DomainEvent
from domain.records import NumberAllocated
from infra.cloudevents import BadMessage, Reader, envelope, parse
from infra.serialisation import encode
from tests.conftest import AGENT, T0
from tests.strategies import STRATEGIES

any_event = st.one_of(*STRATEGIES.values())


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(event=any_event, position=st.integers(min_value=1, max_value=2**62))
def test_an_event_round_trips_through_its_envelope(event: DomainEvent, position: int) -> None:
    raw = envelope(position, event.type_name, encode(event))

    assert parse(raw) == (position, event)
    message = orjson.loads(raw)
    assert message["actorid"] == event.actor.id
    assert message["actorrole"] == event.actor.role.value
    assert message["correlationid"] == str(event.correlation_id)
    assert message["aggregateversion"] == event.originator_version


def _valid() -> dict[str, Any]:
    event = NumberAllocated(
        originator_id=uuid4(),
        originator_version=7,
        timestamp=T0,
        actor=AGENT,
        correlation_id=uuid4(),
        record_id=uuid4(),
    )
    return dict(orjson.loads(envelope(3, event.type_name, encode(event))))


SPOILED = [
    (lambda m: b"\x00not json", "not JSON"),
    (lambda m: b"[1, 2]", "not a JSON object"),
    (lambda m: {k: v for k, v in m.items() if k != "data"}, "missing CloudEvents attributes"),
    (lambda m: {**m, "specversion": "0.3"}, "unsupported specversion"),
    (lambda m: {**m, "position": 0}, "position must be a positive integer"),
    (lambda m: {**m, "position": "7"}, "position must be a positive integer"),
    (lambda m: {**m, "type": "Incident.Teleported"}, "no event class is registered"),
    (lambda m: {**m, "data": {**m["data"], "actor": None}}, "data is not a valid"),
]


@pytest.mark.parametrize(("spoil", "reason"), SPOILED)
def test_a_bad_message_is_named_not_guessed(spoil: Any, reason: str) -> None:
    spoiled = spoil(_valid())
    raw = spoiled if isinstance(spoiled, bytes) else orjson.dumps(spoiled)
    with pytest.raises(BadMessage, match=reason):
        parse(raw)


def test_a_tombstone_is_a_bad_message() -> None:
    with pytest.raises(BadMessage, match="tombstone"):
        parse(None)


# -- the stream reader: parse's answers, a quicker way ------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=6,
)
#: Values that lax parsing would take for another type: numbers as text, whole floats, booleans.
near_misses = st.sampled_from([None, True, False, 0, -1, 7, 7.0, "7", "", "1.0", [], {}])
some_wanted = st.sets(st.sampled_from(sorted(EVENT_TYPES)))


def outcome(read: Any, raw: bytes | None) -> Any:
    """What reading a message gives: (position, event), or the reason it is a bad message."""
    try:
        return read(raw)
    except BadMessage as bad:
        return bad.reason


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(event=any_event, position=st.integers(min_value=1, max_value=2**62), wanted=some_wanted)
def test_the_reader_reads_every_event_as_parse_does(
    event: DomainEvent, position: int, wanted: set[str]
) -> None:
    raw = envelope(position, event.type_name, encode(event))

    read = Reader(wanted).parse(raw)

    assert read == parse(raw, wanted)
    assert read == (position, event if event.type_name in wanted else None)


def spoiled_and_read(
    event: DomainEvent, wanted: set[str], in_data: bool, data: st.DataObject, name: str = ""
) -> tuple[Any, Any]:
    """Drop an attribute of an event's envelope, or a field of its data, or replace it by another
    JSON value; what the reader and parse each make of that."""
    message = orjson.loads(envelope(5, event.type_name, encode(event)))
    spoiled = message["data"] if in_data else message
    name = name or data.draw(st.sampled_from(sorted(spoiled)) | st.text(max_size=12), label="name")
    if data.draw(st.booleans(), label="dropped"):
        spoiled.pop(name, None)
    else:
        values = near_misses | json_values | st.sampled_from(sorted(EVENT_TYPES))
        spoiled[name] = data.draw(values, label="value")
    raw = orjson.dumps(message)
    return outcome(Reader(wanted).parse, raw), outcome(lambda r: parse(r, wanted), raw)


@pytest.mark.parametrize("name", ["specversion", "id", "source", "type", "position", "data"])
@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(event=any_event, wanted=some_wanted, data=st.data())
def test_the_reader_is_never_looser_than_parse_with_the_envelope(
    name: str, event: DomainEvent, wanted: set[str], data: st.DataObject
) -> None:
    read, parsed = spoiled_and_read(event, wanted, in_data=False, data=data, name=name)
    assert read == parsed


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(event=any_event, data=st.data())
def test_the_reader_is_never_looser_than_parse_with_the_data(
    event: DomainEvent, data: st.DataObject
) -> None:
    read, parsed = spoiled_and_read(event, {event.type_name}, in_data=True, data=data)
    assert read == parsed


@pytest.mark.parametrize(("spoil", "reason"), SPOILED)
def test_the_reader_names_a_bad_message_as_parse_does(spoil: Any, reason: str) -> None:
    spoiled = spoil(_valid())
    raw = spoiled if isinstance(spoiled, bytes) else orjson.dumps(spoiled)
    with pytest.raises(BadMessage, match=reason):
        Reader().parse(raw)
    with pytest.raises(BadMessage, match="tombstone"):
        Reader().parse(None)
