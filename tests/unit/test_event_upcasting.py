"""Stored events evolve through upcasters: a state stored in an older shape of its type reads as
the current class, step by step; one stored by a newer version of the code is refused, never
misread (domain/events.py, docs/architecture.md "Evolving an event").

The real example is Change.Raised: changes raised before records carried an organisation were
stored without one (version 1); version 2 names it always, and its upcaster gives an old change
the province, as the service did for such records all along. Version 3 classifies the change
(what it does to a service) and names its source: a change stored before touched no service as
such (`none`) and was a person's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar
from uuid import uuid4

import orjson
import pytest
from eventsourcing.persistence import JSONTranscoder, StoredEvent
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain import change
from domain.events import EVENT_TYPES, STORED, VERSION_KEY, DomainEvent
from domain.organisations import PROVINCE
from infra.cloudevents import BadMessage, Reader, envelope, parse
from infra.serialisation import TypedMapper, UndecodableEvent, decode, encode
from tests.conftest import AGENT, T0
from tests.strategies import STRATEGIES

MAPPER = TypedMapper(transcoder=JSONTranscoder())
RAISED = "Change.Raised"


#: What version 3 added to Change.Raised.
CLASSIFICATION = ("service_action", "transfer_to", "source", "external_reference")


def version_1(event: change.Raised, *, with_organisation: bool = False) -> bytes:
    """The state a change was stored with before records carried an organisation (and, with
    `with_organisation`, between then and version 2: version 1 did not name its version)."""
    state = orjson.loads(encode(event))
    del state[VERSION_KEY]
    for name in CLASSIFICATION:
        del state[name]
    if not with_organisation:
        del state["organisation"]
    return orjson.dumps(state)


def version_2(event: change.Raised) -> bytes:
    """The state a change was stored with before changes were classified and sourced."""
    state = orjson.loads(encode(event))
    state[VERSION_KEY] = 2
    for name in CLASSIFICATION:
        del state[name]
    return orjson.dumps(state)


def unclassified(event: change.Raised, **more: Any) -> change.Raised:
    """The event as an old state of it reads: no service action, a person's, no reference."""
    return event.model_copy(
        update={
            "service_action": change.ServiceAction.NONE,
            "transfer_to": None,
            "source": change.ChangeSource.PERSON,
            "external_reference": None,
            **more,
        }
    )


def a_change() -> change.Raised:
    return change.Raised(
        originator_id=uuid4(),
        originator_version=1,
        timestamp=T0,
        actor=AGENT,
        correlation_id=uuid4(),
        number=42,
        kind=change.ChangeKind.NORMAL,
        title="Upgrade the catalogue server",
        requester="andi.pratama",
        services=["catalogue-search"],
        configuration_items=[],
        backout_plan="restore the snapshot",
        organisation="dispusip-serang",
        service_action=change.ServiceAction.NONE,
        source=change.ChangeSource.PERSON,
    )


def stored(topic: str, state: bytes) -> StoredEvent:
    return StoredEvent(originator_id=uuid4(), originator_version=1, topic=topic, state=state)


@settings(max_examples=40, deadline=None)
@given(event=STRATEGIES[change.Raised])
def test_a_change_raised_before_organisations_reads_as_the_provinces(
    event: change.Raised,
) -> None:
    decoded = decode(RAISED, version_1(event))

    assert type(decoded) is change.Raised
    assert decoded == unclassified(event, organisation=PROVINCE)


@settings(max_examples=40, deadline=None)
@given(event=STRATEGIES[change.Raised])
def test_a_version_1_change_that_named_its_organisation_keeps_it(event: change.Raised) -> None:
    assert decode(RAISED, version_1(event, with_organisation=True)) == unclassified(event)


@settings(max_examples=40, deadline=None)
@given(event=STRATEGIES[change.Raised])
def test_a_change_stored_before_classification_reads_as_touching_no_service_from_a_person(
    event: change.Raised,
) -> None:
    decoded = decode(RAISED, version_2(event))

    assert type(decoded) is change.Raised
    assert (decoded.service_action, decoded.source) == ("none", "person")
    assert decoded == unclassified(event)


@settings(max_examples=40, deadline=None)
@given(event=STRATEGIES[change.Raised])
def test_a_versioned_type_stores_its_version_first_and_reads_back_unchanged(
    event: change.Raised,
) -> None:
    state = encode(event)

    assert state.startswith(b'{"class_version":3,"')
    assert orjson.loads(state) == {VERSION_KEY: 3, **orjson.loads(event.model_dump_json())}
    assert decode(RAISED, state) == event


@settings(max_examples=60, deadline=None)
@given(
    event=st.one_of(*(s for cls, s in STRATEGIES.items() if cls.class_version == 1)),
)
def test_a_type_at_version_1_stores_its_json_as_before_without_a_version(
    event: DomainEvent,
) -> None:
    assert encode(event) == event.model_dump_json().encode()
    assert VERSION_KEY not in orjson.loads(encode(event))


def test_an_event_made_in_code_is_of_the_current_shape_and_is_not_upcast() -> None:
    """Without the STORED context a state that names no version is current: version 2 requires
    the organisation, so the province is never filled in behind a caller's back."""
    event = a_change()
    fields = event.model_dump()
    del fields["organisation"]

    with pytest.raises(ValidationError, match="organisation"):
        change.Raised(**fields)
    assert change.Raised.model_validate(fields, context=STORED).organisation == PROVINCE


@pytest.mark.parametrize(
    ("topic", "state", "shown"),
    [
        (RAISED, b'{"class_version":4,"originator_id":"x"}', "version 4 of Change.Raised"),
        (
            "Incident.CommentAdded",
            b'{"class_version":2,"text":"a field version 2 may have"}',
            "version 2 of Incident.CommentAdded",
        ),
    ],
    ids=["versioned-type", "type-at-version-1"],
)
def test_a_state_stored_by_a_newer_version_is_refused_not_misread(
    topic: str, state: bytes, shown: str
) -> None:
    with pytest.raises(UndecodableEvent) as refused:
        MAPPER.to_domain_event(stored(topic, state))

    assert shown in refused.value.reason
    assert "newer than this code's version" in refused.value.reason


@pytest.mark.parametrize("version", [0, -1, "2", 2.5, True, None])
def test_a_version_that_is_not_a_whole_number_from_1_is_refused(version: Any) -> None:
    event = a_change()
    state = orjson.loads(encode(event))
    state[VERSION_KEY] = version

    with pytest.raises(UndecodableEvent, match=VERSION_KEY):
        MAPPER.to_domain_event(stored(RAISED, orjson.dumps(state)))


@settings(max_examples=40, deadline=None)
@given(event=STRATEGIES[change.Raised], position=st.integers(min_value=1, max_value=2**62))
def test_a_published_version_1_change_reads_as_the_current_class_from_its_envelope(
    event: change.Raised, position: int
) -> None:
    """The relay publishes the stored state as it is: a consumer upcasts it as the store does."""
    raw = envelope(position, RAISED, version_1(event))
    current = unclassified(event, organisation=PROVINCE)

    assert parse(raw) == (position, current)
    assert Reader().parse(raw) == (position, current)
    assert Reader([RAISED]).parse(raw) == (position, current)


def test_a_published_state_of_a_newer_version_is_a_bad_message() -> None:
    event = a_change()
    state = orjson.loads(encode(event))
    state[VERSION_KEY] = 4
    raw = envelope(7, RAISED, orjson.dumps(state))

    for reader in (parse, Reader().parse):
        with pytest.raises(BadMessage, match="newer than this code's version"):
            reader(raw)


# -- the mechanism, on a type made for the test -----------------------------------------------


@pytest.fixture(scope="module")
def evolved() -> Iterator[type[DomainEvent]]:
    """A type at version 3: v1 named the field `note`, v2 renamed it `text`, v3 added `tags`."""

    class Evolved(DomainEvent):
        type_name: ClassVar[str] = "Test.Evolved"
        class_version: ClassVar[int] = 3
        text: str
        tags: list[str]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["text"] = state.pop("note")

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["tags"] = [word for word in state["text"].split() if word.startswith("#")]

    try:
        yield Evolved
    finally:
        del EVENT_TYPES["Test.Evolved"]


@given(text=st.text(alphabet=" #ab", max_size=12))
def test_upcasters_run_one_step_at_a_time_from_the_stored_version(
    evolved: type[DomainEvent], text: str
) -> None:
    common = orjson.loads(encode(a_change()))
    base = {k: common[k] for k in ("originator_id", "originator_version", "timestamp", "actor")}
    base["correlation_id"] = common["correlation_id"]
    tags = [word for word in text.split() if word.startswith("#")]
    shapes = [
        {**base, "note": text},
        {**base, VERSION_KEY: 2, "text": text},
        {**base, VERSION_KEY: 3, "text": text, "tags": tags},
    ]

    read = [decode("Test.Evolved", orjson.dumps(shape)) for shape in shapes]

    assert all(type(event) is evolved for event in read)
    assert read[0] == read[1] == read[2]
    assert read[0].model_dump()["tags"] == tags
    assert decode("Test.Evolved", encode(read[0])) == read[0]


def test_a_versioned_class_without_every_upcaster_is_refused_when_it_is_defined() -> None:
    with pytest.raises(TypeError, match="upcast_v2_v3"):

        class Unfinished(DomainEvent):
            type_name: ClassVar[str] = "Test.Unfinished"
            class_version: ClassVar[int] = 3

            @staticmethod
            def upcast_v1_v2(state: dict[str, Any]) -> None:
                pass

    assert "Test.Unfinished" not in EVENT_TYPES
