"""Whose records a caller reaches, and what of them they read, applied the same way by every
record route.

A record (an incident, service request, problem, change) belongs to an organisation; the caller
reaches it when they see that organisation (Identity.sees: their own, or all for service managers,
auditors, admins and those granted all organisations), and a requester reaches only the records
they own (the incidents they are the caller of, the requests they asked for). The rule itself is
the domain's (Context.reaches); this module applies it to what routes read:

- one row (`Scoped.row`) or one history (`Scoped.history`): out of reach is answered exactly as a
  record that does not exist (404 with the same code and detail), so that a caller cannot learn
  which records other organisations keep;
- a list (`Scoped.where`): the condition goes into the SQL, on the view's indexed `organisation`
  (or owner) column, so a page is never filtered after it is read and limits stay true.

Actions and creation need nothing here: the command carries the caller's scope
(Context.scope, set by api/deps.py for every request) and the domain refuses a record out of reach
as not found (domain/records_desk.py, domain/service_desk.py). A new record kind gets a `Scoped`
beside its routes and a view with an `organisation` column.

What a caller reads of a record they reach is domain/visibility.py's rule: staff read everything,
a requester reads the events said to them, never internal notes. `readable` gives a history as
the caller reads it, and `shown` a view's row: as stored for staff, and for a requester folded
again from the events they read (audit/replay.py). Every answer that carries a record to a
caller, a write's answer too, goes through one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from audit import replay
from domain import visibility
from domain.actors import Role
from domain.context import Context
from domain.errors import NotFound
from domain.events import DomainEvent
from projections.base import Projection, Row


@dataclass(frozen=True, slots=True)
class Scoped:
    """How one kind of record is reached: the error its absence raises, and the field (of its
    rows and of its first event) that names whose own record it is, when requesters own some."""

    not_found: type[NotFound]
    noun: str
    owner: str | None = None

    def reaches(self, ctx: Context, record: dict[str, Any]) -> bool:
        owner = record.get(self.owner) if self.owner is not None else None
        return ctx.reaches(record["organisation"], owner)

    def row(self, ctx: Context, row: dict[str, Any], ref: str) -> dict[str, Any]:
        """The row, if the caller reaches it; else the not-found a missing record gets."""
        if not self.reaches(ctx, row):
            raise self.not_found(f"no {self.noun} {ref}")
        return row

    def history(self, ctx: Context, events: Sequence[DomainEvent], ref: object) -> None:
        """Refuse a record's history, as not found, unless the caller reaches the record (its
        first event names the organisation and the owner)."""
        if events and not self.reaches(ctx, events[0].model_dump(include=self._fields)):
            raise self.not_found(f"no {self.noun} {ref}")

    @property
    def _fields(self) -> set[str]:
        return {"organisation"} | ({self.owner} if self.owner else set())

    def where(self, ctx: Context) -> tuple[list[str], list[Any]]:
        """The SQL conditions (and their parameters) that keep a list to what the caller
        reaches; none for a caller who sees every organisation."""
        return where(ctx, self.owner)


def where(ctx: Context, owner: str | None = None) -> tuple[list[str], list[Any]]:
    """`Scoped.where` for views of records whose owner column is `owner` (None: no requester
    owns any, and a requester's list is empty)."""
    scope = ctx.scope
    if scope is None:
        return [], []
    if scope.actor.role is Role.REQUESTER:
        if owner is None:
            return ["1 = 0"], []
        return [f'"{owner}" = ?'], [scope.actor.id]
    if scope.sees_all:
        return [], []
    return ['"organisation" = ?'], [scope.home]


def reads_internal(ctx: Context) -> bool:
    """Whether the caller reads internal events and fields (staff), or only what is said to a
    caller (a requester): domain/visibility.py."""
    return visibility.reads_internal(ctx.actor.role)


def readable(ctx: Context, events: Sequence[DomainEvent]) -> list[DomainEvent]:
    """A record's events as the caller reads them."""
    return list(events) if reads_internal(ctx) else visibility.for_caller(events)


def shown(
    ctx: Context,
    projection: Projection,
    row: Row,
    history: Callable[[], Iterable[DomainEvent]],
) -> Row | None:
    """A view's row of one record as the caller reads it: as stored for staff, and for a view
    folded only from events a caller reads whole; otherwise folded again from the record's
    events (`history`) as the caller reads them. None when the caller reads none of it."""
    if reads_internal(ctx) or visibility.hides_nothing(projection.folds):
        return row
    return replay.as_of(projection, list(history()), None, internal=False)
