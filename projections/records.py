"""What the views of numbered records (changes, problems, service requests, articles) share: how
a row starts, how an event stamps it, how it notes who did what when, and the columns and indexes
of their lists."""

from __future__ import annotations

from typing import Any

from domain.events import DomainEvent
from domain.record_numbers import RecordKind, number_label
from projections.base import Column, Row, at, by


def numbered(event: DomainEvent, kind: RecordKind, number: int) -> Row:
    """How the row of a numbered record starts: its id, number and reference (CHG-000042)."""
    return {"id": str(event.originator_id), "number": number, "ref": number_label(kind, number)}


def stamped(row: Row, event: DomainEvent, **changes: Any) -> Row:
    """The row after an event of its record: the changes, its version and its update time."""
    row.update(changes)
    row["version"] = event.originator_version
    row["updated_at"] = at(event)
    return row


def entry(event: DomainEvent, **fields: Any) -> dict[str, Any]:
    """What a row notes of an event (a review, a link, a cancellation): the fields, and when and
    by whom."""
    return {**fields, "at": at(event), "by": by(event)}


def list_columns(*filters: str) -> tuple[Column, ...]:
    """The columns of a list of numbered records: the number (newest first), the state, each
    text column it is filtered by, and the organisation (lists are scoped to it)."""
    return (
        Column("number", "INTEGER"),
        Column("state", "TEXT"),
        *(Column(name, "TEXT") for name in filters),
        Column("organisation", "TEXT"),
    )


def list_indexes(*filters: str) -> tuple[tuple[str, ...], ...]:
    """The indexes of such a list: by number, and by number within a state, each of `filters`
    and an organisation."""
    within = ("state", *filters, "organisation")
    return (("number",), *((name, "number") for name in within))
