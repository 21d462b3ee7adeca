"""Time travel for one record: its state as of any moment, and what each event changed.

Both replay the record's own events through the same pure fold that builds the live view
(`incident_details`), so "as of now" is exactly the view, and any earlier moment is the view as
it then stood.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from domain.events import DomainEvent
from projections.base import Projection, Row

#: Fields every event moves; a change there says nothing of what the event did.
_BOOKKEEPING = frozenset({"version", "updated_at"})


def as_of(
    projection: Projection, events: Sequence[DomainEvent], moment: datetime | None
) -> Row | None:
    """The record's row as it stood at `moment` (every event up to and including it)."""
    row: Row | None = None
    for event in events:
        if moment is not None and event.timestamp > moment:
            break
        if type(event) in projection.folds:
            row = projection.fold(row, event)
    return None if row is None else _copy(row)


def changes(
    projection: Projection, events: Sequence[DomainEvent]
) -> list[dict[str, dict[str, Any]]]:
    """For each event, what it changed in the record's row: {field: {"from", "to"}}, or for a
    list that only grew, {field: {"added": [...]}}."""
    row: Row | None = None
    before: Row = {}
    result = []
    for event in events:
        if type(event) in projection.folds:
            row = projection.fold(row, event)
        after = _copy(row) if row is not None else {}
        result.append(_diff(before, after))
        before = after
    return result


def _diff(before: Row, after: Row) -> dict[str, dict[str, Any]]:
    changed: dict[str, dict[str, Any]] = {}
    for name in after.keys() | before.keys():
        if name in _BOOKKEEPING:
            continue
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if isinstance(old, list) and isinstance(new, list) and new[: len(old)] == old:
            changed[name] = {"added": new[len(old) :]}
        else:
            changed[name] = {"from": old, "to": new}
    return changed


def _copy(row: Row) -> Row:
    """A deep, JSON-shaped copy (folds change rows in place)."""
    copied: Row = orjson.loads(orjson.dumps(row))
    return copied
