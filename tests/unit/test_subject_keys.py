"""Crypto-shredding (infra/subject_keys.py, docs/privacy.md): a person's own data is stored sealed
under a key of theirs, read back whole while the key lives, and reads erased, everywhere and for
good, once it is destroyed; the stored bytes never change.

Given events of every type with personal fields (from tests/strategies.py), a mapper that seals
(as the service builds it) and a real key store in a SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest
from eventsourcing.persistence import JSONTranscoder, StoredEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import directory as d
from domain import notification as n
from domain.events import EVENT_TYPES, SHREDDED, DomainEvent
from infra.cloudevents import BadMessage, Reader, envelope, parse
from infra.serialisation import TypedMapper, UndecodableEvent
from infra.subject_keys import ERASED, Sealer, SQLiteSubjectKeys, SubjectErased
from projections.notifications import notifications
from tests.strategies import STRATEGIES

AT = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
PERSONAL = sorted(name for name, cls in EVENT_TYPES.items() if cls.personal)


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[SQLiteSubjectKeys]:
    store = SQLiteSubjectKeys(tmp_path / "subject-keys.db")
    yield store
    store.close()


def mapper(keys: SQLiteSubjectKeys | None) -> TypedMapper:
    made = TypedMapper(transcoder=JSONTranscoder())
    made.sealer = Sealer(keys) if keys is not None else None
    return made


def subject_of(event: DomainEvent) -> UUID | None:
    return type(event).data_subject(event.model_dump(mode="json"))


def present(event: DomainEvent) -> list[str]:
    return [name for name in event.personal if getattr(event, name) is not None]


def erased(event: DomainEvent) -> dict[str, Any]:
    """What the event's personal fields read once its subject is erased."""
    fields = type(event).model_fields
    return {name: SHREDDED if fields[name].is_required() else None for name in present(event)}


def test_the_types_with_personal_fields_are_the_directorys_and_an_emails() -> None:
    assert PERSONAL == [
        "Notification.Decided",
        "Person.ContactChanged",
        "Person.Registered",
        "Person.Renamed",
    ]


@pytest.mark.parametrize("type_name", PERSONAL)
@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_personal_fields_are_stored_sealed_and_read_back_whole_until_the_key_is_destroyed(
    type_name: str, data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    store = SQLiteSubjectKeys(tmp_path_factory.mktemp("keys") / "subject-keys.db")
    try:
        sealing = mapper(store)
        event = data.draw(STRATEGIES[EVENT_TYPES[type_name]])
        stored = sealing.to_stored_event(event)
        subject = subject_of(event)
        state = orjson.loads(stored.state)

        # stored: every personal field that holds something is a sealed object, for its subject
        for name in event.personal:
            if subject is not None and getattr(event, name) is not None:
                assert set(state[name]) == {"sealed", "for"}
                assert state[name]["for"] == str(subject)
            else:  # a webhook's URL and payload are the office's: in the clear
                assert (
                    state[name] == orjson.loads(orjson.dumps(event.model_dump(mode="json")))[name]
                )
        assert sealing.to_domain_event(stored) == event

        if subject is None:
            return
        # erased: the same stored bytes now read erased, and nothing else of the event changes
        assert store.erase(subject, AT)
        assert store.key(subject, create=True) is ERASED
        reread = sealing.to_domain_event(stored)
        assert reread == event.model_copy(update=erased(event))
        # a field stored in the clear before sealing reads erased too: one answer for all
        clear = mapper(None).to_stored_event(event)
        assert sealing.to_domain_event(clear) == reread
    finally:
        store.close()


def registered(actor_id: str = "budi.santoso", name: str = "Budi Santoso") -> d.PersonRegistered:
    return d.PersonRegistered(
        originator_id=d.person_id(actor_id),
        originator_version=1,
        timestamp=AT,
        actor={"id": "admin", "role": "admin"},
        correlation_id=UUID(int=1),
        actor_id=actor_id,
        name=name,
        email="budi@perpus-pandeglang.example",
        phone="+62 812-3456-7890",
    )


def test_a_destroyed_key_leaves_no_copy_of_itself_in_the_key_file(
    keys: SQLiteSubjectKeys, tmp_path: Path
) -> None:
    subject = d.person_id("budi.santoso")
    key = keys.key(subject, create=True)
    assert isinstance(key, bytes)
    assert len(key) == 32
    assert keys.key(subject, create=True) == key  # made once
    assert key in (tmp_path / "subject-keys.db").read_bytes()

    assert keys.erase(subject, AT) is True
    assert keys.erase(subject, AT) is False  # already
    assert key not in (tmp_path / "subject-keys.db").read_bytes()  # secure_delete overwrote it


def test_a_sealed_value_opens_only_as_the_field_and_for_the_subject_it_was_sealed_for(
    keys: SQLiteSubjectKeys,
) -> None:
    sealing = mapper(keys)
    stored = sealing.to_stored_event(registered())
    state = orjson.loads(stored.state)
    state["name"], state["email"] = state["email"], state["name"]  # swapped by someone
    swapped = StoredEvent(
        originator_id=stored.originator_id,
        originator_version=1,
        topic=stored.topic,
        state=orjson.dumps(state),
    )
    with pytest.raises(UndecodableEvent, match="does not open"):
        sealing.to_domain_event(swapped)


def test_a_store_restored_without_its_key_store_says_so_rather_than_reading_nothing(
    keys: SQLiteSubjectKeys, tmp_path: Path
) -> None:
    stored = mapper(keys).to_stored_event(registered())
    other = SQLiteSubjectKeys(tmp_path / "another.db")
    try:
        with pytest.raises(UndecodableEvent, match="key store does not know"):
            mapper(other).to_domain_event(stored)
    finally:
        other.close()
    with pytest.raises(UndecodableEvent):  # nor does a mapper without keys read it
        mapper(None).to_domain_event(stored)


def test_nothing_personal_is_sealed_for_a_subject_already_erased(keys: SQLiteSubjectKeys) -> None:
    keys.erase(d.person_id("budi.santoso"), AT)
    with pytest.raises(SubjectErased):
        mapper(keys).to_stored_event(registered())


def test_the_topic_carries_sealed_values_and_the_services_consumer_opens_them(
    keys: SQLiteSubjectKeys,
) -> None:
    event = registered()
    stored = mapper(keys).to_stored_event(event)
    message = envelope(7, stored.topic, stored.state)
    assert b"Budi Santoso" not in message
    assert b"budi@" not in message

    sealer = Sealer(keys)
    for reader in (Reader(unseal=sealer.unseal), Reader({"Person.Registered"}, sealer.unseal)):
        assert reader.parse(message) == (7, event)
    with pytest.raises(BadMessage, match=r"not a valid Person\.Registered"):
        parse(message)  # a reader of the topic without the keys reads no one's name

    keys.erase(event.originator_id, AT)
    assert Reader(unseal=sealer.unseal).parse(message) == (
        7,
        event.model_copy(update={"name": SHREDDED, "email": None, "phone": None}),
    )


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(decided=STRATEGIES[n.Decided])
def test_an_emails_address_is_the_recipients_and_stays_out_of_the_view_a_webhooks_is_not(
    decided: n.Decided,
) -> None:
    row = notifications.folds[n.Decided](None, decided)
    if decided.channel == n.Channel.EMAIL:
        assert n.Decided.data_subject(decided.model_dump()) == d.person_id(decided.recipient)
        assert row["address"] is None  # their sealed record holds it, and is erased with them
    else:
        assert n.Decided.data_subject(decided.model_dump()) is None
        assert row["address"] == decided.address
