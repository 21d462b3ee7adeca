"""Stored form of events: the permanent type name as the topic, and compact JSON as the state
(compressed and encrypted first when the library's COMPRESSOR_TOPIC / CIPHER_TOPIC are set).

Pydantic's own (Rust) JSON encoder and parser do the work, so an event is encoded and decoded in
one call each, and the stored bytes are exactly the event's JSON Schema shape. A type whose
`class_version` is above 1 stores it first, as `{"class_version":N,...}`; a state without it is of
version 1. Reading brings an older state up to the current shape through the class's upcasters
(domain/events.py) and refuses a newer one (UndecodableEvent).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent
from pydantic import ValidationError

from domain.events import STORED, VERSION_KEY, DomainEvent, event_class, newer

if TYPE_CHECKING:
    from infra.subject_keys import Sealer


class TypedMapper(Mapper[UUID]):
    """Maps events to stored records by explicit type name (never by module path). With a
    `sealer`, an event's personal fields are stored sealed under their subject's key
    (infra/subject_keys.py); the service's mappers always have one."""

    sealer: Sealer | None = None

    def to_stored_event(self, domain_event: DomainEventProtocol[Any]) -> StoredEvent:
        assert isinstance(domain_event, DomainEvent)
        state = encode(domain_event)
        if domain_event.personal and self.sealer is not None:
            state = self.sealer.seal(type(domain_event), state)
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=domain_event.type_name,
            state=state,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        try:
            state = plain(self, stored_event.state)
            if self.sealer is not None and (cls := event_class(stored_event.topic)).personal:
                state = self.sealer.unseal_state(cls, state)
            return decode(stored_event.topic, state)
        except Exception as error:  # decoding reads nothing but these bytes: any error is theirs
            raise UndecodableEvent.of(stored_event, error) from error


def plain(mapper: Mapper[UUID], state: bytes) -> bytes:
    """A stored event's JSON: its stored state decrypted and decompressed as `mapper` would."""
    if mapper.cipher:
        state = mapper.cipher.decrypt(state)
    if mapper.compressor:
        state = mapper.compressor.decompress(state)
    return state


#: How a stored state that names its version starts.
VERSIONED = b'{"' + VERSION_KEY.encode() + b'":'


def encode(event: DomainEvent) -> bytes:
    # The serializer model_dump_json calls, called directly: bytes as they come, not decoded to
    # a str by model_dump_json and encoded again here (two copies, on every event written).
    state = event.__pydantic_serializer__.to_json(event)
    version = event.class_version
    if version == 1:
        return state
    return b"%s%d,%s" % (VERSIONED, version, state[1:])  # every event has fields: state[1] is '"'


def decode(type_name: str, state: bytes) -> DomainEvent:
    read = _readers.get(type_name) or _reader(type_name)
    try:
        return read(state)
    except ValidationError:
        cls = event_class(type_name)
        version = stored_version(state)
        if version is not None and version > cls.class_version:
            # not an extra field of this type's shape: a shape this code does not know yet
            raise ValueError(newer(cls, version)) from None
        raise


#: Each type's reader of a stored state: a type at version 1 validates the bytes as they are
#: (as fast as before versions: no upcaster reads the context), a versioned type in the STORED
#: context, where a state that names no version is of version 1.
_readers: dict[str, Callable[[bytes], DomainEvent]] = {}


def _reader(type_name: str) -> Callable[[bytes], DomainEvent]:
    cls = event_class(type_name)
    read = cls.model_validate_json
    if cls.class_version != 1:
        read = partial(cls.model_validate_json, context=STORED)
    _readers[type_name] = read
    return read


def stored_version(state: bytes) -> int | None:
    """The version a stored state names as it starts, if it names one."""
    if not state.startswith(VERSIONED):
        return None
    digits = state[len(VERSIONED) : len(VERSIONED) + 20].partition(b",")[0]
    return int(digits) if digits.isdigit() else None


#: The longest reason an UndecodableEvent gives (it is shown on /readyz and in a metric label).
MAX_REASON = 300


class UndecodableEvent(Exception):
    """A stored event this code cannot turn back into an event: a type no class is registered
    for, bytes that are not its JSON, fields that break its schema, a cipher or compressor that
    refuses it. The store is the system of record, so a follower never passes over one: it stops
    there and says so (docs/architecture.md, "An event that cannot be decoded")."""

    def __init__(self, topic: str, event: str, reason: str, position: int | None = None) -> None:
        super().__init__(f"cannot decode stored event {event} ({topic}): {reason}")
        self.topic = topic
        #: "<originator id>/<version>", as the audit ledger names events.
        self.event = event
        self.reason = reason
        #: The event's global position in the store, when the reader knows it.
        self.position = position

    @classmethod
    def of(cls, stored: StoredEvent, error: Exception) -> UndecodableEvent:
        position = getattr(stored, "id", None)  # a Notification knows its position
        return cls(
            stored.topic,
            f"{stored.originator_id}/{stored.originator_version}",
            reason_of(error),
            position if isinstance(position, int) else None,
        )

    def describe(self) -> dict[str, Any]:
        """What /readyz shows of it."""
        return described(self.position, self.event, self.topic, self.reason)


def described(
    position: int | None, event: str | None, topic: str | None, reason: str
) -> dict[str, Any]:
    """What /readyz shows of an event a follower could not read, in these fields whichever
    follower it was, so that one reader of /readyz reads them all."""
    return {"position": position, "event": event, "topic": topic, "reason": reason}


def reason_of(error: Exception) -> str:
    """One short line saying why bytes did not decode (pydantic's own text spans many lines)."""
    if isinstance(error, ValidationError):
        first = error.errors(include_url=False, include_input=False)
        shown = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or 'event'}: {e['msg']}" for e in first[:3]
        )
        more = len(first) - 3
        text = f"{shown} (and {more} more)" if more > 0 else shown
    else:
        text = str(error) or type(error).__name__
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."
