"""What of a record a caller reads, applied the same way by every record route.

Whose records a caller reaches is the view's to say (projections/queries.py `Reach`, from the
domain's rule, Context.reaches): every query a route asks of a view keeps to the caller's reach,
and a record out of reach is answered exactly as one that does not exist (api/reads.py). Actions
and creation need nothing here: the command carries the caller's scope (Context.scope, set by
api/deps.py for every request) and the domain refuses a record out of reach as not found.

What a caller reads of a record they reach is domain/visibility.py's rule: staff read everything,
a requester reads the events said to them, never internal notes. `readable` gives a history as
the caller reads it, and `shown` a view's row: as stored for staff, and for a requester folded
again from the events they read (audit/replay.py). Every answer that carries a record to a
caller, a write's answer too, goes through one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from audit import replay
from domain import visibility
from domain.context import Context
from domain.events import DomainEvent
from projections.base import Projection, Row


def reads_internal(ctx: Context) -> bool:
    """Whether the caller reads internal events and fields (staff), or only what is said to a
    caller (a requester): domain/visibility.py."""
    return visibility.reads_internal(ctx.actor.role)


def readable(ctx: Context, events: Sequence[DomainEvent]) -> list[DomainEvent]:
    """A record's events as the caller reads them."""
    return visibility.for_reader(ctx.actor.role, events)


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
