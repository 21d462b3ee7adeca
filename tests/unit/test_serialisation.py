"""Every registered event type survives storage: encoded under its permanent type name and decoded
back to an equal event.

Each event class has an explicit strategy in tests/strategies.py, so a new event class fails
`test_every_registered_event_type_has_a_strategy` until someone says how to build one.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import orjson
import pytest
from eventsourcing.persistence import JSONTranscoder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import incident
from domain.events import EVENT_TYPES, VERSION_KEY, DomainEvent, event_class
from infra.serialisation import TypedMapper, UndecodableEvent, decode, encode
from projections.view_store import SkippedMessage
from tests.strategies import STRATEGIES

# as the application builds it (the transcoder is the library's; TypedMapper does its own JSON)
MAPPER = TypedMapper(transcoder=JSONTranscoder())


def test_every_registered_event_type_has_a_strategy() -> None:
    missing = sorted(name for name, cls in EVENT_TYPES.items() if cls not in STRATEGIES)
    assert not missing, f"add a strategy to STRATEGIES for {missing}"
    assert set(STRATEGIES) == set(EVENT_TYPES.values())


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_every_event_type_round_trips_through_storage(type_name: str, data: st.DataObject) -> None:
    event_type = EVENT_TYPES[type_name]
    if event_type not in STRATEGIES:
        pytest.fail(f"no strategy for {type_name}: add one to STRATEGIES")
    event = data.draw(STRATEGIES[event_type], label=type_name)
    assert type(event) is event_type

    stored = MAPPER.to_stored_event(event)
    decoded = MAPPER.to_domain_event(stored)

    assert stored.topic == type_name == event_type.type_name
    assert (stored.originator_id, stored.originator_version) == (
        event.originator_id,
        event.originator_version,
    )
    assert type(decoded) is event_type
    assert decoded == event
    assert decoded.model_dump() == event.model_dump()
    assert decoded.timestamp.utcoffset() is not None
    assert decoded.timestamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    # encoding is stable: the decoded event stores to the very same bytes
    assert MAPPER.to_stored_event(decoded).state == stored.state


@settings(max_examples=30, deadline=None)
@given(event=st.one_of(*STRATEGIES.values()))
def test_the_stored_state_is_the_events_own_json_without_type_or_module_paths(
    event: DomainEvent,
) -> None:
    stored = MAPPER.to_stored_event(event)
    document = orjson.loads(stored.state)

    versioned = {VERSION_KEY} if event.class_version > 1 else set()
    assert set(document) == set(type(event).model_fields) | versioned
    assert "type_name" not in document
    assert ":" not in stored.topic
    assert "domain." not in stored.topic
    assert decode(stored.topic, encode(event)) == event


def test_stored_type_names_are_unique_and_each_names_its_own_class() -> None:
    classes = list(EVENT_TYPES.values())
    assert len(set(classes)) == len(classes)
    for name, cls in EVENT_TYPES.items():
        assert cls.type_name == name
        assert cls.__dict__["type_name"] == name, f"{cls} inherits its stored name"
        assert event_class(name) is cls


def _words(camel: str) -> list[str]:
    return re.findall(r"[A-Z][a-z]*", camel)


#: Past participles that do not end in -ed.
IRREGULAR_PAST = {
    "Put",
    "Stood",
    "Made",
    "Sent",
    "Set",
    "Taken",
    "Given",
    "Held",
    "Built",
    "Done",
    "Withdrawn",
    "Chosen",
}


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
def test_stored_type_names_look_like_aggregate_dot_past_tense(type_name: str) -> None:
    assert re.fullmatch(r"[A-Z][A-Za-z]*\.[A-Z][A-Za-z]*", type_name), type_name
    _, fact = type_name.split(".")
    assert any(w.endswith("ed") or w in IRREGULAR_PAST for w in _words(fact)), (
        f"{type_name}: an event is a fact in the past tense"
    )


def test_incident_events_are_stored_under_the_incident_aggregate() -> None:
    for name, cls in EVENT_TYPES.items():
        assert name.startswith("Incident.") == issubclass(cls, incident.IncidentEvent), name


def test_a_second_class_cannot_take_a_stored_name() -> None:
    before = dict(EVENT_TYPES)
    with pytest.raises(TypeError, match="already taken"):

        class Impostor(incident.IncidentEvent):  # pragma: no cover - never registered
            type_name = "Incident.Logged"

    assert before == EVENT_TYPES


def test_decoding_an_unknown_stored_type_is_a_lookup_error() -> None:
    with pytest.raises(LookupError, match=r"Incident\.Teleported"):
        decode("Incident.Teleported", b"{}")


def test_a_skipped_message_is_shown_with_an_undecodable_events_fields_then_where_it_lies() -> None:
    """/readyz names a follower's stuck event and a skipped Kafka message in the same fields, in
    the same order, so one reader of it reads both."""
    stuck = UndecodableEvent("Incident.Logged", "abc/1", "not JSON", 7).describe()
    at = datetime(2026, 1, 2, tzinfo=UTC)
    skipped = SkippedMessage(3, 40, "not JSON", at, 7, "abc/1", "Incident.Logged").describe()

    assert stuck == {
        "position": 7,
        "event": "abc/1",
        "topic": "Incident.Logged",
        "reason": "not JSON",
    }
    assert skipped == {**stuck, "partition": 3, "offset": 40, "skipped_at": at.isoformat()}
    assert list(skipped)[: len(stuck)] == list(stuck)
