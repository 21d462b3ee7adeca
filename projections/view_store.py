"""What projections need from the database their rows live in: the interface every store keeps.

Each projection has a table `view_<name>` with the row as JSON plus the indexed columns it
declares, and one row in `projection_positions` saying how far into the event store it has
folded; fed from Kafka, also one row per topic partition in `partition_positions` with the last
global position folded from it, and in `skipped_messages` the messages on the topic each view
lacks because the consumer could not decode them. Rows and positions change in one transaction,
so a crash never leaves a view ahead of or behind its recorded position; writers are serialised,
across processes too. A stored view built by an older fold version is dropped and rebuilt.

Queries (`select`) take small SQL fragments over the declared columns, in the one dialect every
store accepts: column names double-quoted (`"group"`), values only as `?` parameters (so no
quoted string literals), and in `tail` ORDER BY and LIMIT n. Engines disagree on where NULLs sort,
so ordering by a column that may be null says NULLS FIRST or NULLS LAST. Readers do not write
these fragments: they ask a view's queries (projections/queries.py and the view modules), which
also keep every answer to the caller's reach.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson

from infra.serialisation import described
from projections.base import Projection, Row


@dataclass(frozen=True)
class SkippedMessage:
    """Kafka mode: a message on the events topic that the projection consumer could not decode
    and passed over (to the dead-letter topic), so the views lack whatever it carried. What the
    message says of itself is kept where it could be read."""

    partition: int
    offset: int
    reason: str
    skipped_at: datetime
    #: its global position in the event store, its CloudEvents id ("<aggregate id>/<version>")
    #: and its stored event type, when the message says them
    position: int | None = None
    event: str | None = None
    type: str | None = None

    def describe(self) -> dict[str, Any]:
        """What /readyz shows of it (the embedded followers' fields, then where it lies)."""
        return {
            **described(self.position, self.event, self.type, self.reason),
            "partition": self.partition,
            "offset": self.offset,
            "skipped_at": self.skipped_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Match:
    """A full-text question: rows holding every one of these terms (domain/search_terms.py:
    lower-case ASCII letters and digits, which no engine splits or changes) in the first `within`
    of the projection's text columns (`Projection.text`)."""

    terms: tuple[str, ...]
    within: int = 1

    def __post_init__(self) -> None:
        if not self.terms or not all(_TERM.fullmatch(term) for term in self.terms):
            raise ValueError(f"terms are lower-case letters and digits: {self.terms!r}")


_TERM = re.compile(r"[a-z0-9]{1,64}")


@dataclass(frozen=True, slots=True)
class SearchMiss:
    """Searches that found nothing: their terms, how many there were, the first and the last."""

    terms: str
    count: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class StoredRows:
    """Rows as a store writes them (`stored_rows`), worked out before the transaction that writes
    them: a writer in another thread then writes what the rows were, whatever their folder
    does with them meanwhile."""

    kept: list[tuple[Any, ...]]
    gone: list[str]


class ViewTransaction(Protocol):
    """Reads and writes inside one store transaction (see ViewStore.transaction)."""

    def positions(self) -> dict[str, int]: ...

    def load(self, projection: Projection, keys: Iterable[str]) -> dict[str, Row]: ...

    def write(self, projection: Projection, rows: Mapping[str, Row | None] | StoredRows) -> None:
        """Replace these rows; None removes a row."""

    def fill(self, projection: Projection, rows: Mapping[str, Row | None]) -> None:
        """`write` into a view that has no rows (at position 0: a rebuild's first window). A store
        may make its indexes once the rows are in, each in one sorted pass, rather than update
        them row by row."""

    def set_position(self, projection: Projection, position: int) -> None: ...

    def partition_positions(self, projection: Projection) -> dict[int, int]:
        """Kafka mode: the last global position folded from each partition of the topic."""

    def set_partition_positions(
        self, projection: Projection, positions: Mapping[int, int]
    ) -> None: ...

    def record_skipped(self, projection: Projection, skipped: Sequence[SkippedMessage]) -> None:
        """Kafka mode: record that the view lacks these messages. Only ever inserted: a message
        already recorded for it (a redelivery) keeps its first record."""


class ViewStore(Protocol):
    def ensure(self, projections: Sequence[Projection]) -> None:
        """Create missing tables; drop views whose stored fold version is not the code's."""

    def stale(self, projections: Sequence[Projection]) -> list[Projection]:
        """Those of `projections` whose stored view was folded by another version of their fold
        (a view not yet stored is not stale: ensure makes it)."""

    def rebuilding(self) -> AbstractContextManager[None]:
        """Held while the stale views are rebuilt at start-up: one process rebuilds them, and
        the others, starting at the same time, find them current once it lets go."""

    def reset(self, projection: Projection) -> None:
        """Drop a view, its position and its skipped messages, so that it is rebuilt from the
        first event."""

    def discard(self, projection: Projection) -> None:
        """Drop a view and its position (a shadow view no longer wanted)."""

    def swap_in(self, shadow: Projection, live: Projection) -> bool:
        """In one transaction, replace the live view by the shadow one built beside it (table,
        indexes and position), if the shadow has folded at least as far as the live view; whether
        it did. Readers see the old view or the new one, never a half-built one."""

    def transaction(self) -> AbstractContextManager[ViewTransaction]:
        """One atomic write, the only writer of this store while it lasts."""

    def positions(self) -> dict[str, int]: ...

    def partition_positions(self, projection: Projection) -> dict[int, int]:
        """Kafka mode: the last global position folded from each partition of the topic."""

    def skipped(self, limit: int) -> list[SkippedMessage]:
        """Kafka mode: the first `limit` messages some view lacks because the consumer could not
        decode them, each once, by partition and offset."""

    def skipped_count(self) -> int:
        """Kafka mode: how many messages some view lacks (each counted once)."""

    def get(self, projection: Projection, key: str) -> Row | None: ...

    def load(self, projection: Projection, keys: Iterable[str]) -> dict[str, Row]:
        """The rows of these keys that the view holds, as last committed (outside any write)."""

    def select(
        self, projection: Projection, where: str = "", params: Sequence[Any] = (), tail: str = ""
    ) -> list[Row]:
        """Rows of a projection; `where` and `tail` in the dialect of this module's docstring."""

    def rows(self, projection: Projection) -> dict[str, Row]: ...

    def note_miss(self, terms: str, at: datetime, most: int) -> None:
        """Count one more search for these terms that found nothing (a new one only while fewer
        than `most` are kept). Beside the views, not one of them: no rebuild touches it."""

    def misses(self, limit: int) -> list[SearchMiss]:
        """The terms searched for in vain, the most often first."""

    def search(
        self,
        projection: Projection,
        match: Match,
        where: str = "",
        params: Sequence[Any] = (),
        limit: int = 50,
        offset: int = 0,
    ) -> list[tuple[Row, float]]:
        """Rows of a projection with text columns that hold every term of the match (and that
        `where` keeps), each with its rank: the best first (higher is better), ties by key. The
        rank is the engine's own (bm25 in SQLite, ts_rank in PostgreSQL): it orders, it is not
        compared across engines. A store may rank only the most recently written matches when
        very many rows match (SQLite: the 5,000 last), so that one common word costs what a
        rare one does."""

    def close(self) -> None: ...


def quoted(name: str) -> str:
    """An SQL identifier, double-quoted (the same in SQLite and PostgreSQL)."""
    return '"' + name.replace('"', '""') + '"'


def table(projection: Projection) -> str:
    return quoted(f"view_{projection.name}")


def indexes(projection: Projection) -> list[tuple[str, str]]:
    """Each of the view's indexes: (its name, quoted, and the statement that makes it). The name
    is the view's and the columns' (PostgreSQL names indexes per schema)."""
    made = []
    for columns in projection.indexes:
        name = quoted(f"ix_{projection.name}_{'_'.join(columns)}")
        on = ", ".join(map(quoted, columns))
        made.append((name, f"CREATE INDEX IF NOT EXISTS {name} ON {table(projection)} ({on})"))
    return made


def text_table(projection: Projection) -> str:
    """The full-text table of a projection with text columns (SQLite: an FTS5 table)."""
    return quoted(f"fts_{projection.name}")


def checked_fragment(fragment: str) -> str:
    """A `where` or `tail` fragment, refused if it quotes a string instead of passing it as a
    parameter (a `?` inside a literal would be taken for a parameter)."""
    if "'" in fragment:
        raise ValueError(f"pass values as ? parameters, not as string literals: {fragment!r}")
    return fragment


#: Kafka mode: the last global position a projection folded from each partition of the topic.
PARTITION_POSITIONS = "SELECT partition, position FROM partition_positions WHERE name = ?"


#: A quoted identifier in a fragment: `"state"`.
_QUOTED = re.compile(r'"([^"]*)"')


def known_columns(projection: Projection, fragment: str) -> str:
    """A fragment, refused if it quotes a name the view has no column of: SQLite reads a quoted
    name that is no column as a string, so `"recipient" = ?` on a view without that column
    silently matched nothing."""
    names = {"key", *(c.name for c in projection.columns)}
    unknown = sorted(set(_QUOTED.findall(fragment)) - names)
    if unknown:
        raise ValueError(f"the view {projection.name} has no column {', '.join(unknown)}")
    return fragment


def select_sql(projection: Projection, where: str, tail: str) -> str:
    """The query of `ViewStore.select`, with `?` parameters as its fragments have them."""
    where, tail = known_columns(projection, where), known_columns(projection, tail)
    sql = f"SELECT doc FROM {table(projection)}"
    if where:
        sql += f" WHERE {checked_fragment(where)}"
    if tail:
        sql += f" {checked_fragment(tail)}"
    return sql


def stored_rows(
    projection: Projection, rows: Mapping[str, Row | None] | StoredRows
) -> tuple[list[tuple[Any, ...]], list[str]]:
    """What `ViewTransaction.write` stores: (key, JSON, each declared column) of each row kept,
    and the keys of the rows removed (None). What the projection derives from a whole row is
    worked out here, once per row written (`Projection.derive`)."""
    if isinstance(rows, StoredRows):
        return rows.kept, rows.gone
    derive = projection.derive
    if derive is not None:
        for row in rows.values():
            if row is not None:
                derive(row)
    names = [c.name for c in projection.columns]
    kept = [
        (key, orjson.dumps(row), *map(row.get, names))
        for key, row in rows.items()
        if row is not None
    ]
    return kept, [key for key, row in rows.items() if row is None]
