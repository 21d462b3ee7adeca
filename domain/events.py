"""The base of every domain event, and the registry of permanent stored type names.

An event is a past-tense business fact. It names its aggregate (originator id and version), when
it happened (UTC, from the command's Context: the domain never reads a clock), who did it, and the
correlation id of the request or stream message that caused it. Each concrete event class declares
`type_name`, the name it is stored under for ever: renaming the class never orphans history.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.actors import Actor

EVENT_TYPES: dict[str, type[DomainEvent]] = {}

#: The largest whole number an event may carry: a signed 64-bit integer, as every store and
#: JSON reader this service meets (SQLite, PostgreSQL's bigint, orjson) can hold exactly.
MAX_INT = 2**63 - 1


class DomainEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type_name: ClassVar[str] = ""

    originator_id: UUID
    originator_version: int = Field(le=MAX_INT)
    timestamp: AwareDatetime
    actor: Actor
    correlation_id: UUID

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        name = cls.__dict__.get("type_name")
        if not name:
            return  # an abstract base such as IncidentEvent
        if name in EVENT_TYPES:
            raise TypeError(f"stored type name {name!r} is already taken by {EVENT_TYPES[name]}")
        EVENT_TYPES[name] = cls


def event_class(type_name: str) -> type[DomainEvent]:
    try:
        return EVENT_TYPES[type_name]
    except KeyError:
        raise LookupError(f"no event class is registered for stored type {type_name!r}") from None
