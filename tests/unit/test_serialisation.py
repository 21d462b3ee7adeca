"""Every registered event type survives storage: encoded under its permanent type name and decoded
back to an equal event.

Each event class has an explicit strategy below, so a new event class fails
`test_every_registered_event_type_has_a_strategy` until someone says how to build one.
"""

from __future__ import annotations

import re
import types
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Union, get_args, get_origin
from uuid import UUID

import orjson
import pytest
from eventsourcing.persistence import JSONTranscoder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime
from pydantic.fields import FieldInfo

from domain import incident, priority, records
from domain.actors import Actor, Role
from domain.events import EVENT_TYPES, DomainEvent, event_class
from infra.serialisation import TypedMapper, decode, encode

ENVELOPE = ("originator_id", "originator_version", "timestamp", "actor", "correlation_id")

utc_datetimes = st.datetimes(timezones=st.just(UTC))
actors = st.builds(Actor, id=st.text(min_size=1, max_size=200), role=st.sampled_from(Role))
cells = st.fixed_dictionaries(
    {
        impact: st.fixed_dictionaries({u: st.integers(1, 5) for u in priority.Urgency})
        for impact in priority.Impact
    }
)


def _bounds(field: FieldInfo) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in field.metadata:
        for name in ("min_length", "max_length", "ge", "le"):
            if getattr(item, name, None) is not None:
                found[name] = getattr(item, name)
    return found


def _value(annotation: Any, bounds: dict[str, Any]) -> st.SearchStrategy[Any]:
    if annotation is str:
        return st.text(
            min_size=bounds.get("min_length", 0), max_size=min(bounds.get("max_length", 60), 60)
        )
    if annotation is int:
        return st.integers(min_value=bounds.get("ge"), max_value=bounds.get("le"))
    if annotation is UUID:
        return st.uuids()
    if annotation in (datetime, AwareDatetime):
        return utc_datetimes
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return st.sampled_from(list(annotation))
    if annotation == priority.Cells:
        return cells
    raise NotImplementedError(f"no strategy for fields of type {annotation!r}: add one")


def field_values(field: FieldInfo) -> st.SearchStrategy[Any]:
    """Values a field accepts, from its annotation and its length and range constraints."""
    annotation = field.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        assert len(options) == 1, annotation
        return st.none() | _value(options[0], _bounds(field))
    return _value(annotation, _bounds(field))


def events(event_type: type[DomainEvent], **overrides: st.SearchStrategy[Any]) -> Any:
    """Instances of an event type: the envelope, then every field (optional ones included)."""
    fields = {
        name: overrides.get(name, field_values(info))
        for name, info in event_type.model_fields.items()
        if name not in ENVELOPE
    }
    return st.builds(
        event_type,
        originator_id=st.uuids(),
        originator_version=st.integers(min_value=1, max_value=2**63 - 1),
        timestamp=utc_datetimes,
        actor=actors,
        correlation_id=st.uuids(),
        **fields,
    )


names = st.text(min_size=1, max_size=60)

STRATEGIES: dict[type[DomainEvent], st.SearchStrategy[Any]] = {
    incident.Logged: events(incident.Logged),
    incident.Assigned: events(incident.Assigned),
    incident.WorkStarted: events(incident.WorkStarted),
    incident.PutOnHold: events(incident.PutOnHold),
    incident.Resumed: events(incident.Resumed),
    incident.WorkNoteAdded: events(incident.WorkNoteAdded),
    incident.CommentAdded: events(incident.CommentAdded),
    incident.Reprioritised: events(incident.Reprioritised),
    # the target must fit the kind of escalation
    incident.Escalated: events(
        incident.Escalated,
        kind=st.just(incident.EscalationKind.FUNCTIONAL),
        to_group=names,
        to_manager=st.none(),
    )
    | events(
        incident.Escalated,
        kind=st.just(incident.EscalationKind.HIERARCHICAL),
        to_group=st.none(),
        to_manager=names,
    ),
    incident.MajorIncidentDeclared: events(incident.MajorIncidentDeclared),
    incident.MajorIncidentStoodDown: events(incident.MajorIncidentStoodDown),
    incident.Resolved: events(incident.Resolved),
    incident.Reopened: events(incident.Reopened),
    incident.Closed: events(incident.Closed),
    # a duplicate names the original, and only a duplicate does
    incident.Cancelled: events(
        incident.Cancelled,
        reason=st.just(incident.CancelReason.DUPLICATE),
        duplicate_of=st.uuids(),
    )
    | events(
        incident.Cancelled,
        reason=st.just(incident.CancelReason.LOGGED_IN_ERROR),
        duplicate_of=st.none(),
    ),
    priority.MatrixDefined: events(priority.MatrixDefined),
    priority.MatrixRevised: events(priority.MatrixRevised),
    records.NumberAllocated: events(records.NumberAllocated),
    records.IdempotencyKeyRecorded: events(records.IdempotencyKeyRecorded),
}

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

    assert set(document) == set(type(event).model_fields)
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
IRREGULAR_PAST = {"Put", "Stood", "Made", "Sent", "Set", "Taken", "Given", "Held", "Built", "Done"}


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
