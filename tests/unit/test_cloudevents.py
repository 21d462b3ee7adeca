"""The CloudEvents envelope carries an event out and back unchanged, and names what is wrong with
anything else."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.events import DomainEvent
from domain.records import NumberAllocated
from infra.cloudevents import BadMessage, envelope, parse
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


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (lambda m: b"\x00not json", "not JSON"),
        (lambda m: b"[1, 2]", "not a JSON object"),
        (lambda m: {k: v for k, v in m.items() if k != "data"}, "missing CloudEvents attributes"),
        (lambda m: {**m, "specversion": "0.3"}, "unsupported specversion"),
        (lambda m: {**m, "position": 0}, "position must be a positive integer"),
        (lambda m: {**m, "position": "7"}, "position must be a positive integer"),
        (lambda m: {**m, "type": "Incident.Teleported"}, "no event class is registered"),
        (lambda m: {**m, "data": {**m["data"], "actor": None}}, "data is not a valid"),
    ],
)
def test_a_bad_message_is_named_not_guessed(spoil: Any, reason: str) -> None:
    spoiled = spoil(_valid())
    raw = spoiled if isinstance(spoiled, bytes) else orjson.dumps(spoiled)
    with pytest.raises(BadMessage, match=reason):
        parse(raw)


def test_a_tombstone_is_a_bad_message() -> None:
    with pytest.raises(BadMessage, match="tombstone"):
        parse(None)
