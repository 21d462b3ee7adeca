"""What a projection is: a named, versioned pure fold from events to rows.

A projection answers one question (`incident_details`, `open_work_by_group`). For each event it
names the row the event touches (`key`), and folds the event into that row (`fold`), returning
the new row or None to remove it. It never reads anything else, so replaying history from zero
rebuilds exactly the live view. The runner hands a fold a row that it owns for the batch (freshly
loaded, or made by an earlier fold in the same batch), so a fold may change it in place and
return it: that saves copying every row for every event, and nothing else can see it. Events it
does not know leave rows alone; the position still advances past them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import UnionType
from typing import Any, get_args, get_type_hints

import orjson

from domain.events import DomainEvent
from domain.incident import IncidentState

Row = dict[str, Any]
#: (row or None, event) -> row, or None to remove it. Each fold takes its own event type.
Folder = Callable[..., Row | None]
#: The key of the row an event touches.
KeyOf = Callable[[DomainEvent], str]


def folds_of(*folders: Folder) -> dict[type[DomainEvent], Folder]:
    """Each fold keyed by the event type its event parameter names (each type of a union), so a
    projection names a type once: in the fold's signature. Read once, as the module loads."""
    folds: dict[type[DomainEvent], Folder] = {}
    for folder in folders:
        hints = get_type_hints(folder)
        named = hints[list(hints)[1]]  # (row, event): the second parameter
        for event_type in get_args(named) if isinstance(named, UnionType) else (named,):
            if event_type in folds:
                raise ValueError(f"{event_type.__name__} is folded twice")
            folds[event_type] = folder
    return folds


def record_key(event: DomainEvent) -> str:
    """The key of the row for the record an event belongs to: its originator id, as text."""
    return str(event.originator_id)


def record_keys(events: Iterable[DomainEvent | None]) -> list[str]:
    """`record_key` of each event ("" for None), worked out once per record rather than once per
    event and projection: a UUID as text costs about as much as folding the event."""
    known: dict[int, str] = {}
    keys = []
    for event in events:
        if event is None:
            keys.append("")
            continue
        record = event.originator_id
        key = known.get(record.int)
        if key is None:
            key = known[record.int] = str(record)
        keys.append(key)
    return keys


@dataclass(frozen=True)
class Column:
    """A row field copied into its own indexed column, for filters and ordering."""

    name: str
    sql_type: str  # "TEXT" or "INTEGER"


@dataclass(frozen=True)
class Projection:
    name: str
    #: Bump when the fold changes meaning: a stored view of another version must be rebuilt.
    version: int
    folds: Mapping[type[DomainEvent], Folder]
    columns: tuple[Column, ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()
    #: The row an event touches: by default the row of the record the event belongs to.
    key_of: KeyOf = record_key
    #: Columns (TEXT, among `columns`) of terms the store indexes for full-text search, widest
    #: audience first: a search looks in the first n of them (projections/view_store.py `Match`).
    text: tuple[str, ...] = ()
    #: What is worked out from the whole row rather than from one event (a search index's terms,
    #: from every text the row holds): done to each row once as a store writes it, in place, not
    #: after every event folded into it. Embedded and Kafka mode write through the same stores,
    #: so both views hold the same. A fold never reads what it sets.
    derive: Callable[[Row], None] | None = None

    def key(self, event: DomainEvent) -> str | None:
        """The row this event touches, or None when the projection ignores it."""
        return self.key_of(event) if type(event) in self.folds else None

    def fold(self, row: Row | None, event: DomainEvent) -> Row | None:
        return self.folds[type(event)](row, event)

    def derived(self, row: Row | None) -> Row | None:
        """The row as a store writes it (with what `derive` works out), for a reader that folds
        rows itself rather than reading them from a view."""
        if row is not None and self.derive is not None:
            self.derive(row)
        return row


_STATES = {state.value: state for state in IncidentState}


def state_of(row: Row) -> IncidentState:
    """A row's lifecycle state (stored as its text; a dictionary is quicker than the enum's own
    look-up, and a rebuild asks once per event and projection)."""
    return _STATES[row["state"]]


def iso(moment: datetime) -> str:
    """A time as views show it: ISO 8601, exactly as `datetime.isoformat()` writes an aware time.
    orjson writes the same text in a third of the time, and a rebuild formats every event's."""
    return orjson.dumps(moment)[1:-1].decode()


def at(event: DomainEvent) -> str:
    """An event's time as it appears in views: ISO 8601, UTC."""
    return iso(event.timestamp)


def copied(event: DomainEvent, names: str) -> Row:
    """The event's fields of these names (separated by spaces, as namedtuple takes them), as a row
    keeps them: each list a copy, so that the row may grow its own without touching the event."""
    row = {}
    for name in names.split():
        value = getattr(event, name)
        row[name] = list(value) if isinstance(value, list) else value
    return row


def by(event: DomainEvent) -> dict[str, str]:
    # The role itself, not its `.value`: a StrEnum is already the text, and stored as such.
    return {"id": event.actor.id, "role": event.actor.role}
