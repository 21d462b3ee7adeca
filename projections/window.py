"""What one transaction of the runner folds: the events of the batches it reads, each routed only
to the projections that fold its type, into rows kept in memory until the transaction writes them.

A rebuild reads a long backlog. Committing each batch would load back the rows the batch before
wrote and write them again, and commit (with SQLite, rewrite the same index pages) once per batch;
kept across batches, as Kafka Streams' record cache keeps them between commits, each row is loaded
at most once and written once per window. A view at position 0 has no rows (rows are only written
with a position past them), so what is folded into it is never looked for in the table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from domain.events import DomainEvent
from projections.base import Folder, KeyOf, Projection, Row, record_key
from projections.view_store import ViewTransaction

Step = tuple[str, Folder, DomainEvent]  # (row key, fold, event)


class Routes:
    """Which projections fold each event type, and with which fold: one look-up per event,
    rather than every projection looking at every event."""

    def __init__(self, projections: Sequence[Projection]) -> None:
        self.count = len(projections)
        self.by_type: dict[type[DomainEvent], list[tuple[int, Folder, KeyOf | None]]] = {}
        for index, projection in enumerate(projections):
            # None: the row of the event's record, whose key is worked out once per record
            key_of = None if projection.key_of is record_key else projection.key_of
            for event_type, fold in projection.folds.items():
                self.by_type.setdefault(event_type, []).append((index, fold, key_of))

    def steps(
        self, events: Sequence[tuple[int, DomainEvent]], after: Sequence[int]
    ) -> list[list[Step]]:
        """Each projection's steps (by index): the events after its position it folds, in order."""
        steps: list[list[Step]] = [[] for _ in range(self.count)]
        keys: dict[int, str] = {}  # a UUID as text costs about as much as a fold: once a record
        routes_of = self.by_type.get
        for position, event in events:
            routes = routes_of(type(event))
            if routes is None:
                continue
            record = event.originator_id
            key = keys.get(record.int)
            if key is None:
                key = keys[record.int] = str(record)
            for index, fold, key_of in routes:
                if position > after[index]:
                    steps[index].append((key if key_of is None else key_of(event), fold, event))
        return steps


class Window:
    """The rows one transaction folds, by projection, from the positions stored when it began."""

    def __init__(
        self,
        tx: ViewTransaction,
        projections: Sequence[Projection],
        routes: Routes,
        stored: Mapping[str, int],
    ) -> None:
        self.tx = tx
        self.projections = projections
        self.routes = routes
        #: Each projection's position: it folds only the events after it.
        self.after = [stored.get(p.name, 0) for p in projections]
        self.rows: list[dict[str, Row | None]] = [{} for _ in projections]

    @property
    def start(self) -> int:
        """The lowest position: where reading begins."""
        return min(self.after, default=0)

    def fold(self, events: Sequence[tuple[int, DomainEvent]]) -> None:
        """Fold a batch of (position, event) into the rows."""
        steps = self.routes.steps(events, self.after)
        for projection, rows, its_steps, after in zip(
            self.projections, self.rows, steps, self.after, strict=True
        ):
            if its_steps:  # a view at position 0 is empty: nothing to load
                fold_steps(None if after == 0 else self.tx.load, projection, rows, its_steps)

    def write(self, reached: int) -> None:
        """Write the rows, and every position moved to `reached` (never backwards)."""
        for projection, rows, after in zip(self.projections, self.rows, self.after, strict=True):
            if rows:  # a view at position 0 is empty: filled, its indexes made after its rows
                (self.tx.fill if after == 0 else self.tx.write)(projection, rows)
            self.tx.set_position(projection, max(reached, after))

    def written(self) -> dict[str, dict[str, Row | None]]:
        """The rows written, by projection name and key."""
        return {p.name: rows for p, rows in zip(self.projections, self.rows, strict=True) if rows}


#: The rows of these keys that a view holds (ViewTransaction.load, ViewStore.load).
Load = Callable[[Projection, Iterable[str]], Mapping[str, Row]]


def steps_of(projection: Projection, events: Iterable[tuple[DomainEvent, str]]) -> list[Step]:
    """A projection's steps for (event, record key) pairs, the events it does not fold left out."""
    folds, key_of = projection.folds, projection.key_of
    by_record = key_of is record_key
    return [
        (record if by_record else key_of(ev), fold, ev)
        for ev, record in events
        if (fold := folds.get(type(ev)))
    ]


def fold_steps(
    load: Load | None, projection: Projection, rows: dict[str, Row | None], steps: list[Step]
) -> None:
    """Fold the steps into `rows`, first loading the rows it lacks (None: the view is empty, there
    is nothing to load). The fold may change a row in place: the rows are the caller's own."""
    if load is not None:
        missing = {key for key, _, _ in steps if key not in rows}
        if missing:
            rows.update(load(projection, missing))
    row_of = rows.get
    for key, fold, event in steps:
        rows[key] = fold(row_of(key), event)
