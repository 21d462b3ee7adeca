"""Time travel for one record: its state as of any moment, and what each event changed.

Both replay the record's own events through the same pure fold that builds the live view
(`incident_details`), so "as of now" is exactly the view, and any earlier moment is the view as
it then stood. A caller (a requester) reads the record as `as_of(..., internal=False)` folds it:
from the events they may read (domain/visibility.py), the same view with no staff-only part.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import takewhile
from typing import Any

import orjson

from domain.events import DomainEvent
from domain.visibility import for_caller
from projections.base import Projection, Row, at

#: Fields every event moves; a change there says nothing of what the event did.
_BOOKKEEPING = frozenset({"version", "updated_at"})


def as_of(
    projection: Projection,
    events: Sequence[DomainEvent],
    moment: datetime | None,
    *,
    internal: bool = True,
) -> Row | None:
    """The record's row as it stood at `moment` (every event up to and including it), as a
    reader who reads internal events sees it, or (`internal=False`) as a caller does: folded from
    the events a caller reads. Its version and update time count every event either way: they are
    the record's (its ETag, for If-Match), and say that it changed, not how."""
    then = [
        event
        for event in takewhile(lambda e: moment is None or e.timestamp <= moment, events)
        if type(event) in projection.folds
    ]
    row: Row | None = None
    for event in then if internal else for_caller(then):
        row = projection.fold(row, event)
    if row is None:
        return None
    row = _copy(row)
    if not internal:
        last = then[-1]
        record = {"version": last.originator_version, "updated_at": at(last)}
        row.update((name, value) for name, value in record.items() if name in row)
    return row


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
