"""change_calendar: the forward schedule of change, and the blackout windows.

One row per booked window (key `change:<id>`, gone once the change is implemented or cancelled)
and one per blackout (`blackout:<code>`). Conflicts are between rows, so they are not stored:
`calendar` works them out when asked, with the same rules the schedule decided by
(domain/change_schedule.py), and shows the override recorded when a change manager booked a
window despite them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from domain import change_schedule as s
from domain.events import DomainEvent
from projections.base import Column, Projection, Row, at, by, folds_of, iso
from projections.view_store import ViewStore


def _key(event: DomainEvent) -> str:
    if isinstance(event, s.WindowBooked | s.WindowReleased):
        return f"change:{event.change_id}"
    assert isinstance(event, s.BlackoutDeclared | s.BlackoutWithdrawn)
    return f"blackout:{event.code}"


def _booked(_: Row | None, ev: s.WindowBooked) -> Row:
    return {
        "kind": "change",
        "change_id": str(ev.change_id),
        "ref": ev.change_ref,
        "title": ev.title,
        "start": iso(ev.start),
        "end": iso(ev.end),
        "configuration_items": list(ev.configuration_items),
        "reach": list(ev.reach),
        "override": (
            {"reason": ev.override_reason, "overridden": list(ev.overridden), "by": by(ev)}
            if ev.override_reason
            else None
        ),
        "booked_at": at(ev),
        "booked_by": by(ev),
    }


def _released(_: Row | None, ev: s.WindowReleased) -> None:
    return None


def _blackout(_: Row | None, ev: s.BlackoutDeclared) -> Row:
    return {
        "kind": "blackout",
        "ref": ev.code,
        "title": ev.title,
        "start": iso(ev.start),
        "end": iso(ev.end),
        "configuration_items": list(ev.configuration_items),
        "reason": ev.reason,
        "declared_at": at(ev),
        "declared_by": by(ev),
    }


def _withdrawn(_: Row | None, ev: s.BlackoutWithdrawn) -> None:
    return None


change_calendar = Projection(
    name="change_calendar",
    version=1,
    folds=folds_of(
        _booked,
        _released,
        _blackout,
        _withdrawn,
    ),
    columns=(Column("kind", "TEXT"), Column("start", "TEXT"), Column("end", "TEXT")),
    indexes=(("start", "end"),),
    key_of=_key,
)


def _window(row: Row) -> tuple[datetime, datetime, frozenset[str]]:
    """A booking's or a blackout's window and the items it covers, as the domain checks them."""
    start, end = datetime.fromisoformat(row["start"]), datetime.fromisoformat(row["end"])
    return start, end, frozenset(row["configuration_items"])


def _booking(row: Row) -> s.Booking:
    return s.Booking(row["change_id"], row["ref"], *_window(row), frozenset(row["reach"]))


def _blackout_of(row: Row) -> s.Blackout:
    return s.Blackout(row["ref"], row["title"], *_window(row))


def calendar(in_range: list[Row], around: list[Row]) -> dict[str, list[Row]]:
    """The changes and blackouts of `in_range`, each change with what it conflicts with among
    `around` (the rows overlapping any of them, which include `in_range`)."""
    bookings = [_booking(r) for r in around if r["kind"] == "change"]
    blackouts = [_blackout_of(r) for r in around if r["kind"] == "blackout"]
    changes = []
    for row in sorted(
        (r for r in in_range if r["kind"] == "change"), key=lambda r: (r["start"], r["ref"])
    ):
        entry = {k: v for k, v in row.items() if k not in ("kind", "reach")}
        entry["conflicts"] = s.conflicts_of(_booking(row), bookings, blackouts)
        changes.append(entry)
    shown = sorted(
        (r for r in in_range if r["kind"] == "blackout"), key=lambda r: (r["start"], r["ref"])
    )
    return {
        "changes": changes,
        "blackouts": [{k: v for k, v in r.items() if k != "kind"} for r in shown],
    }


def overlapping(store: ViewStore, start: datetime, end: datetime) -> list[Row]:
    """The windows and blackouts that overlap the period from `start` to `end`."""
    start_utc, end_utc = (iso(t.astimezone(UTC)) for t in (start, end))
    return store.select(change_calendar, '"start" < ? AND "end" > ?', (end_utc, start_utc))
