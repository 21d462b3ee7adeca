"""The view tables as stored, read for auditing: every row's key, JSON and indexed columns in key
order, with the position each view records, all from one snapshot.

Not through the view store's own reads: those give a row's JSON only, while an attacker who edits
an indexed column (an incident's `state`, a queue's `group`) changes what the filtered reads
serve without touching the JSON. And in one read transaction, so that the positions and the rows
agree while the service keeps folding. Keys sort byte by byte on both engines (SQLite's binary
collation; the PostgreSQL key column is collation "C"), which is also the order of Python's `str`
comparison, so the served rows and the rebuilt ones can be merged by key.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from projections.base import Projection
from projections.view_store import quoted, table

#: (key, the stored JSON, each declared column's value), as a view table holds a row.
StoredViewRow = tuple[Any, ...]


class ViewSnapshot(Protocol):
    def positions(self) -> dict[str, int]:
        """How far into the event store each view has folded (projection_positions)."""

    def has(self, projection: Projection) -> bool:
        """Whether the view's table exists."""

    def rows(self, projection: Projection) -> Iterator[StoredViewRow]:
        """The view's rows in key order, read as the cursor goes."""


class ViewTables(Protocol):
    """Where a service's view tables are; `snapshot()` reads them as of one moment."""

    def snapshot(self) -> AbstractContextManager[ViewSnapshot]: ...


def _select(projection: Projection) -> str:
    columns = "".join(f", {quoted(c.name)}" for c in projection.columns)
    return f"SELECT key, doc{columns} FROM {table(projection)} ORDER BY key"


class _SQLiteSnapshot:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def positions(self) -> dict[str, int]:
        return dict(self._conn.execute("SELECT name, position FROM projection_positions"))

    def has(self, projection: Projection) -> bool:
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return self._conn.execute(sql, (f"view_{projection.name}",)).fetchone() is not None

    def rows(self, projection: Projection) -> Iterator[StoredViewRow]:
        yield from self._conn.execute(_select(projection))


@dataclass(frozen=True)
class SQLiteViewTables:
    path: Path

    @contextmanager
    def snapshot(self) -> Iterator[ViewSnapshot]:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("PRAGMA query_only=ON")
            conn.execute("BEGIN")  # WAL: every read until COMMIT sees the same moment
            yield _SQLiteSnapshot(conn)
            conn.execute("COMMIT")
        finally:
            conn.close()


class _PostgresSnapshot:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def positions(self) -> dict[str, int]:
        rows = self._conn.execute("SELECT name, position FROM projection_positions").fetchall()
        return {name: int(position) for name, position in rows}

    def has(self, projection: Projection) -> bool:
        found = self._conn.execute("SELECT to_regclass(%s)", (table(projection),)).fetchone()
        return found is not None and found[0] is not None

    def rows(self, projection: Projection) -> Iterator[StoredViewRow]:
        with self._conn.cursor(name=f"audit_{projection.name}") as cursor:  # server-side
            cursor.execute(_select(projection))
            for row in cursor:
                yield (row[0], bytes(row[1]), *row[2:])


@dataclass(frozen=True)
class PostgresViewTables:
    url: str

    @contextmanager
    def snapshot(self) -> Iterator[ViewSnapshot]:
        import psycopg  # only where PostgreSQL is used

        with psycopg.connect(self.url) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            with conn.transaction():
                yield _PostgresSnapshot(conn)
