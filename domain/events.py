"""The base of every domain event, and the registry of permanent stored type names.

An event is a past-tense business fact. It names its aggregate (originator id and version), when
it happened (UTC, from the command's Context: the domain never reads a clock), who did it, and the
correlation id of the request or stream message that caused it. Each concrete event class declares
`type_name`, the name it is stored under for ever: renaming the class never orphans history.

A type's stored shape has a version, `class_version` (1 unless the class says otherwise), as in
the eventsourcing library: when a change to a class would misread what is already stored, the
class raises its version and gains `upcast_vN_vN+1(state)`, which turns a stored state of version
N into one of N+1 in place. An event read back from the store (STORED) is brought up to the current
shape step by step before it is validated; one stored by a newer version of this code is refused,
never misread (docs/architecture.md, "Evolving an event").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from domain.actors import Actor

EVENT_TYPES: dict[str, type[DomainEvent]] = {}

#: The largest whole number an event may carry: a signed 64-bit integer, as every store and
#: JSON reader this service meets (SQLite, PostgreSQL's bigint, orjson) can hold exactly.
MAX_INT = 2**63 - 1

#: The key a stored state of a type whose class_version is above 1 carries its version under.
VERSION_KEY: Final = "class_version"

#: The validation context of a state read back from the store (or a message that carries one):
#: there a state without VERSION_KEY is of version 1. Without it (an event made in code) the state
#: is of the current version unless it says otherwise.
STORED: Final = {"stored": True}


def _stored_version_schema(schema: dict[str, Any], cls: type[Any]) -> None:
    """The published schema of a versioned type names the version its stored state starts with."""
    version = getattr(cls, "class_version", 1)
    if version != 1:
        schema["properties"] = {
            VERSION_KEY: {"const": version, "description": "the version of this stored shape"},
            **schema.get("properties", {}),
        }
        schema["required"] = [VERSION_KEY, *schema.get("required", [])]


#: The fields every event has, apart from its own data: whose, which version, when, by whom, why.
ENVELOPE = frozenset(
    {"originator_id", "originator_version", "timestamp", "actor", "correlation_id"}
)


#: What a personal field reads once its subject's key is destroyed, where the field cannot be
#: empty (a name, an address); a field that may be empty reads as empty (docs/privacy.md).
SHREDDED: Final = "[shredded]"


class DomainEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=_stored_version_schema)

    type_name: ClassVar[str] = ""
    #: The version of this type's stored shape; raise it together with an upcaster.
    class_version: ClassVar[int] = 1
    #: A versioned class's validator that upcasts a stored state (set below, per class).
    upcast_stored: ClassVar[Any]

    originator_id: UUID
    originator_version: int = Field(le=MAX_INT)
    timestamp: AwareDatetime
    actor: Actor
    correlation_id: UUID

    #: The fields that hold a person's own data (a name, an address, what was written to them):
    #: stored sealed under that person's key, so that destroying the key erases them everywhere
    #: the stored bytes went (docs/privacy.md). Empty for most types.
    personal: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def data_subject(cls, fields: Mapping[str, Any]) -> UUID | None:
        """Whose data `personal` holds, read from the event's fields in JSON form: the person
        whose key seals it (None: nobody's)."""
        return None

    def data(self) -> dict[str, Any]:
        """The event's own fields in JSON form, without the envelope's (ENVELOPE): what a
        history entry or a webhook shows as its `data`."""
        return self.model_dump(mode="json", exclude=set(ENVELOPE))

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        name = cls.__dict__.get("type_name")
        if not name:
            return  # an abstract base such as IncidentEvent
        if "class_version" in cls.__dict__:
            _check_upcasters(cls)
        if name in EVENT_TYPES:
            raise TypeError(f"stored type name {name!r} is already taken by {EVENT_TYPES[name]}")
        EVENT_TYPES[name] = cls

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Before pydantic collects the class's validators: only a versioned class pays for one.
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("class_version", 1) != 1:
            cls.upcast_stored = model_validator(mode="before")(_upcast)


def event_class(type_name: str) -> type[DomainEvent]:
    try:
        return EVENT_TYPES[type_name]
    except KeyError:
        raise LookupError(f"no event class is registered for stored type {type_name!r}") from None


def _check_upcasters(cls: type[DomainEvent]) -> None:
    """A versioned class has every step from version 1 up to its own (checked at import)."""
    version = cls.class_version
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise TypeError(f"{cls.__name__}.class_version must be a whole number from 1")
    missing = [
        f"upcast_v{n}_v{n + 1}"
        for n in range(1, version)
        if not callable(getattr(cls, f"upcast_v{n}_v{n + 1}", None))
    ]
    if missing:
        raise TypeError(f"{cls.__name__} is at version {version} but lacks {', '.join(missing)}")


def _upcast(cls: type[DomainEvent], data: Any, info: ValidationInfo) -> Any:
    """A stored state of `cls` in its current shape: older versions upcast one step at a time,
    a newer one refused."""
    if not isinstance(data, dict):
        return data  # not a state at all: the model's own validation says so
    if VERSION_KEY not in data and info.context is not STORED:
        return data  # made in code, in the current shape
    state = dict(data)
    version = state.pop(VERSION_KEY, 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"{VERSION_KEY} must be a whole number from 1, not {version!r}")
    if version > cls.class_version:
        raise ValueError(newer(cls, version))
    while version < cls.class_version:
        step: Callable[[dict[str, Any]], None] = getattr(cls, f"upcast_v{version}_v{version + 1}")
        step(state)
        version += 1
    return state


def newer(cls: type[DomainEvent], version: object) -> str:
    """Why a state stored by a newer version of this code is refused."""
    return (
        f"stored as version {version} of {cls.type_name}, newer than this code's "
        f"version {cls.class_version}: upgrade the reader, never read it as an older shape"
    )
