"""Stored form of events: the permanent type name as the topic, and compact JSON as the state
(compressed and encrypted first when the library's COMPRESSOR_TOPIC / CIPHER_TOPIC are set).

Pydantic's own (Rust) JSON encoder and parser do the work, so an event is encoded and decoded in
one call each, and the stored bytes are exactly the event's JSON Schema shape.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent

from domain.events import DomainEvent, event_class


class TypedMapper(Mapper[UUID]):
    """Maps events to stored records by explicit type name (never by module path)."""

    def to_stored_event(self, domain_event: DomainEventProtocol[Any]) -> StoredEvent:
        assert isinstance(domain_event, DomainEvent)
        state = encode(domain_event)
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
        return decode(stored_event.topic, plain(self, stored_event.state))


def plain(mapper: Mapper[UUID], state: bytes) -> bytes:
    """A stored event's JSON: its stored state decrypted and decompressed as `mapper` would."""
    if mapper.cipher:
        state = mapper.cipher.decrypt(state)
    if mapper.compressor:
        state = mapper.compressor.decompress(state)
    return state


def encode(event: DomainEvent) -> bytes:
    return event.model_dump_json().encode()


def decode(type_name: str, state: bytes) -> DomainEvent:
    return event_class(type_name).model_validate_json(state)
