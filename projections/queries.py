"""The questions readers ask a view, asked here and nowhere else: one record by its key or by a
column (its number, its code), a page of a filtered list after a cursor, every row that matches.
Routers call these and write no SQL.

Every question is asked for a caller (their Context), and the view keeps to what the caller
reaches (`Reach`): the rule is the domain's (Context.reaches); a list puts it in the SQL, on the
view's indexed `organisation` (or owner) column, so that a page is never filtered after it is read
and a limit stays true; one row out of reach is answered as no row at all, so that a caller
cannot tell a record of another organisation from one that does not exist.

A page is ordered by one unique column (`Order`: the number, newest first; a code, A to Z) and
the next page starts after the last row's value of it (keyset pagination): a row written while a
client walks the pages is never shown twice, nor one skipped, and a page costs the same however
deep into the list it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from domain.actors import Role
from domain.context import Context
from domain.retention import requester_years, years_before
from projections.base import Projection, Row, iso
from projections.view_store import ViewStore, quoted

#: Conditions (SQL over the view's columns) and their parameters.
Where = tuple[list[str], list[Any]]


@dataclass(frozen=True, slots=True)
class Reach:
    """Whose rows of a view a caller reaches: their organisation's (or all, for those who see
    every organisation), and a requester only the rows whose `owner` column names them (none when
    the view has no owner), and of those, where the view says when a record `ended` (a column of
    UTC ISO text), only the ones that ended within the years the retention schedule gives the
    requester of that `kind` (domain/retention_schedule.json). `shared` views (configuration
    items, the catalogue) are everyone's."""

    owner: str | None = None
    shared: bool = False
    ended: str | None = None
    kind: str | None = None

    def admits(self, ctx: Context, record: Mapping[str, Any]) -> bool:
        """Whether the caller reaches this row (or first event: it names the organisation)."""
        if self.shared:
            return True
        owner = record.get(self.owner) if self.owner is not None else None
        if not ctx.reaches(record["organisation"], owner):
            return False
        since = self._kept_since(ctx)
        ended = record.get(self.ended) if self.ended is not None else None
        return since is None or ended is None or ended >= since

    def where(self, ctx: Context) -> Where:
        """The same rule as `admits`, as conditions on the view's columns."""
        scope = ctx.scope
        if self.shared or scope is None:
            return [], []
        if scope.actor.role is Role.REQUESTER:
            if self.owner is None:
                return ["1 = 0"], []
            since = self._kept_since(ctx)
            if since is None or self.ended is None:
                return [f"{quoted(self.owner)} = ?"], [scope.actor.id]
            ended = quoted(self.ended)
            return (
                [f"{quoted(self.owner)} = ?", f"({ended} IS NULL OR {ended} >= ?)"],
                [scope.actor.id, since],
            )
        if scope.sees_all:
            return [], []
        return ['"organisation" = ?'], [scope.home]

    def _kept_since(self, ctx: Context) -> str | None:
        """For a requester, the earliest end of a record they still read (UTC ISO text, as the
        views write times); None when nothing limits it."""
        if self.kind is None or ctx.scope is None or ctx.scope.actor.role is not Role.REQUESTER:
            return None
        years = requester_years(self.kind)
        return None if years is None else iso(years_before(ctx.at, years))

    @property
    def fields(self) -> set[str]:
        """The fields `admits` reads."""
        if self.shared:
            return set()
        return {"organisation"} | ({self.owner} if self.owner else set())


#: Records of an organisation that no requester owns (problems, changes).
STAFF = Reach()
#: Reference data every reader reads.
SHARED = Reach(shared=True)


@dataclass(frozen=True, slots=True)
class Order:
    """A list's order: one column whose values are unique in the view, so that "after this
    value" names one place in the list."""

    column: str
    descending: bool = False

    @property
    def sql(self) -> str:
        return f"ORDER BY {quoted(self.column)} {'DESC' if self.descending else 'ASC'}"

    def after(self, value: int | str) -> Where:
        return [f"{quoted(self.column)} {'<' if self.descending else '>'} ?"], [value]


NEWEST_FIRST = Order("number", descending=True)
BY_CODE = Order("code")


@dataclass(frozen=True, slots=True)
class Filter:
    """What a list keeps: rows whose columns equal these values, are at most these bounds, and
    whose text columns contain these texts (matched literally). A value of None asks nothing of
    its column."""

    equal: Mapping[str, Any] = field(default_factory=dict)
    contains: Mapping[str, str | None] = field(default_factory=dict)
    #: Rows whose column is at most this value (a date as ISO text: on or before it); a row
    #: whose column is null is not kept.
    at_most: Mapping[str, str | int | None] = field(default_factory=dict)
    #: Only the rows under these keys (what a full-text search found); None: any row.
    among: Sequence[str] | None = None

    def where(self) -> Where:
        clauses: list[str] = []
        params: list[Any] = []
        if self.among is not None:
            if not self.among:
                return ["1 = 0"], []
            clauses.append(f'"key" IN ({", ".join("?" for _ in self.among)})')
            params.extend(self.among)
        for column, value in self.equal.items():
            if value is not None:
                clauses.append(f"{quoted(column)} = ?")
                # a yes/no column holds 1 or 0 (PostgreSQL compares no integer to a boolean)
                params.append(
                    value.value
                    if isinstance(value, Enum)
                    else int(value)
                    if isinstance(value, bool)
                    else value
                )
        for column, bound in self.at_most.items():
            if bound is not None:
                clauses.append(f"{quoted(column)} <= ?")
                params.append(bound)
        for column, text in self.contains.items():
            if text is not None:
                # LIKE's wildcards in the text are escaped: it is matched as written
                escaped = text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
                clauses.append(f"{quoted(column)} LIKE ? ESCAPE ?")
                params.extend((f"%{escaped}%", "!"))
        return clauses, params


EVERYTHING = Filter()


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Row]
    #: The order column's value of the last row, when more rows follow; else None.
    after: int | str | None


@dataclass(frozen=True, slots=True)
class View:
    """A projection with the questions its readers ask of it."""

    projection: Projection
    reach: Reach = STAFF
    order: Order = NEWEST_FIRST

    def by_key(self, store: ViewStore, ctx: Context, key: str) -> Row | None:
        """The row under `key`, if there is one and the caller reaches it."""
        row = store.get(self.projection, key)
        return row if row is not None and self.reach.admits(ctx, row) else None

    def by(self, store: ViewStore, ctx: Context, column: str, value: Any) -> Row | None:
        """The row whose `column` (a unique one: a number, a code) is `value`, if the caller
        reaches it."""
        rows = self.rows(store, ctx, Filter(equal={column: value}))
        return rows[0] if rows else None

    def rows(self, store: ViewStore, ctx: Context, filter: Filter = EVERYTHING) -> list[Row]:
        """Every row the caller reaches that the filter keeps, in the view's order."""
        clauses, params = _joined(self.reach.where(ctx), filter.where())
        return store.select(self.projection, " AND ".join(clauses), params, self.order.sql)

    def page(
        self,
        store: ViewStore,
        ctx: Context,
        filter: Filter = EVERYTHING,
        *,
        limit: int,
        after: int | str | None = None,
    ) -> Page:
        """At most `limit` rows the caller reaches that the filter keeps, in the view's order,
        from just after the row whose order column is `after` (from the first, if None)."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"a page holds 1 to {MAX_PAGE} rows, not {limit}")
        parts = [self.reach.where(ctx), filter.where()]
        if after is not None:
            parts.append(self.order.after(after))
        clauses, params = _joined(*parts)
        tail = f"{self.order.sql} LIMIT {limit + 1}"  # one more: whether a next page exists
        rows = store.select(self.projection, " AND ".join(clauses), params, tail)
        if len(rows) <= limit:
            return Page(rows, None)
        rows = rows[:limit]
        last: int | str = rows[-1][self.order.column]
        return Page(rows, last)


#: The most rows one page holds, whatever the client asks.
MAX_PAGE = 200


def _joined(*parts: Where) -> Where:
    clauses: list[str] = []
    params: list[Any] = []
    for more, values in parts:
        clauses.extend(more)
        params.extend(values)
    return clauses, params


def select_where(
    store: ViewStore,
    projection: Projection,
    ctx: Context,
    reach: Reach,
    conditions: Sequence[str],
    params: Sequence[Any],
    tail: str = "",
) -> list[Row]:
    """For a view module's own query (the queues, the calendar): its conditions within the
    caller's reach."""
    clauses, values = _joined(reach.where(ctx), (list(conditions), list(params)))
    return store.select(projection, " AND ".join(clauses), values, tail)
