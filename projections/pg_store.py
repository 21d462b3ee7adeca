"""The view store on PostgreSQL, for the scale backend: the interface and guarantees of
projections/view_store.py, in the database that also holds the event store.

Writers, in this process and in others, are serialised by an advisory lock taken at the start of
each write transaction (the runner folds a batch from the positions it read in that transaction,
so two runners must not interleave). Readers are never blocked by it. Text columns compare and
sort byte by byte (collation "C"), as in SQLite, whatever the database's default collation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg_pool import ConnectionPool

from infra.migrations import migrate_postgres
from projections.base import Projection, Row
from projections.store import (
    COUNT_MISS,
    MISSES,
    NEW_MISS,
    RANKED,
    RECORD_SKIPPED,
    SKIPPED,
    SKIPPED_COUNT,
    changed,
    positions_migrations,
    search_misses,
    skipped_messages,
    skipped_rows,
)
from projections.view_store import (
    PARTITION_POSITIONS,
    Match,
    SearchMiss,
    SkippedMessage,
    StoredRows,
    checked_fragment,
    indexes,
    quoted,
    select_sql,
    stored_rows,
    table,
)

#: The advisory lock key held by each write transaction ("itsmview" in ASCII).
WRITE_LOCK = 0x69_74_73_6D_76_69_65_77
#: Held while the views of a changed fold version are rebuilt at start-up ("itsmrebl").
REBUILD_LOCK = 0x69_74_73_6D_72_65_62_6C
#: How the column types projections declare are stored here.
COLUMN_TYPES = {"TEXT": 'TEXT COLLATE "C"', "INTEGER": "BIGINT"}
#: A full-text view's column that orders its rows by when each was last written: every write of
#: a row gives it the next number (as SQLite's REPLACE gives it the next rowid), so that a search
#: ranks the RANKED most recently written matches on both stores (docs/search.md).
WRITTEN = "written"

Connection = psycopg.Connection[tuple[Any, ...]]


def _placeholders(fragment: str) -> str:
    """The store-neutral `?` parameters as psycopg's `%s` (a literal % doubled)."""
    return checked_fragment(fragment).replace("%", "%%").replace("?", "%s")


class PostgresViewTransaction:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def positions(self) -> dict[str, int]:
        rows = self._conn.execute("SELECT name, position FROM projection_positions").fetchall()
        return dict(rows)

    def load(self, projection: Projection, keys: Iterable[str]) -> dict[str, Row]:
        sql = f"SELECT key, doc FROM {table(projection)} WHERE key = ANY(%s)"
        rows = self._conn.execute(sql, (list(keys),)).fetchall()
        return {key: orjson.loads(doc) for key, doc in rows}

    def write(self, projection: Projection, rows: Mapping[str, Row | None] | StoredRows) -> None:
        columns = [quoted(c.name) for c in projection.columns]
        names = ", ".join(["key", "doc", *columns])
        marks = ", ".join(["%s"] * (2 + len(columns)))
        updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in ["doc", *columns])
        if projection.text:  # a rewritten row is the most recently written
            updates += f", {quoted(WRITTEN)} = DEFAULT"
        upsert = (
            f"INSERT INTO {table(projection)} ({names}) VALUES ({marks})"
            f" ON CONFLICT (key) DO UPDATE SET {updates}"
        )
        kept, gone = stored_rows(projection, rows)
        with self._conn.cursor() as cursor:
            if kept:
                cursor.executemany(upsert, kept)
            if gone:
                cursor.execute(f"DELETE FROM {table(projection)} WHERE key = ANY(%s)", (gone,))

    def fill(self, projection: Projection, rows: Mapping[str, Row | None] | StoredRows) -> None:
        # The indexes stay: dropping one here would lock the view's readers out until commit.
        self.write(projection, rows)

    def versions(self) -> dict[str, int]:
        rows = self._conn.execute("SELECT name, version FROM projection_positions").fetchall()
        return dict(rows)

    def set_position(self, projection: Projection, position: int) -> None:
        self._conn.execute(
            "INSERT INTO projection_positions (name, version, position) VALUES (%s, %s, %s)"
            " ON CONFLICT (name) DO UPDATE"
            " SET version = EXCLUDED.version, position = EXCLUDED.position",
            (projection.name, projection.version, position),
        )

    def partition_positions(self, projection: Projection) -> dict[int, int]:
        rows = self._conn.execute(_placeholders(PARTITION_POSITIONS), (projection.name,))
        return dict(rows.fetchall())

    def set_partition_positions(self, projection: Projection, positions: Mapping[int, int]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO partition_positions (name, partition, position) VALUES (%s, %s, %s)"
                " ON CONFLICT (name, partition) DO UPDATE SET position = EXCLUDED.position",
                [(projection.name, partition, at) for partition, at in positions.items()],
            )

    def record_skipped(self, projection: Projection, skipped: Sequence[SkippedMessage]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(_placeholders(RECORD_SKIPPED), skipped_rows(projection, skipped))

    def skipped(self, limit: int) -> list[SkippedMessage]:
        return skipped_messages(self._conn.execute(_placeholders(SKIPPED), (limit,)).fetchall())

    def skipped_count(self) -> int:
        row = self._conn.execute(SKIPPED_COUNT).fetchone()
        return int(row[0]) if row is not None else 0


class PostgresViewStore:
    """Projection rows and positions in PostgreSQL. Takes over the pool: close() closes it."""

    def __init__(self, pool: ConnectionPool[Connection]) -> None:
        self._pool = pool
        self._migrated = False

    def ensure(self, projections: Sequence[Projection]) -> None:
        """Create missing tables; drop views whose stored fold version is not the code's."""
        self._migrate()
        with self._writing() as conn:
            tx = PostgresViewTransaction(conn)
            for projection in changed(tx, projections):
                self._drop(conn, projection)
            for projection in projections:
                self._create(conn, projection)
                if projection.name not in tx.positions():
                    tx.set_position(projection, 0)

    @staticmethod
    def _create(conn: Connection, projection: Projection) -> None:
        columns = "".join(
            f", {quoted(c.name)} {COLUMN_TYPES[c.sql_type]}" for c in projection.columns
        )
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table(projection)} "
            f'(key TEXT COLLATE "C" PRIMARY KEY, doc BYTEA NOT NULL{columns}'
            f"{''.join(f', {column}' for column in text_vectors(projection))}"
            f"{f', {written_column()}' if projection.text else ''})"
        )
        if projection.text and not _has_column(conn, projection, WRITTEN):
            # a view made before the column: its rows numbered in the order they lie (a table
            # rewrite, once)
            conn.execute(f"ALTER TABLE {table(projection)} ADD COLUMN {written_column()}")
        for _, create in [*indexes(projection), *text_indexes(projection)]:
            conn.execute(create)

    def stale(self, projections: Sequence[Projection]) -> list[Projection]:
        """See ViewStore.stale."""
        self._migrate()
        with self._pool.connection() as conn:
            return changed(PostgresViewTransaction(conn), projections)

    @contextmanager
    def rebuilding(self) -> Iterator[None]:
        """See ViewStore.rebuilding: a session advisory lock, held on a connection of its own."""
        with self._pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (REBUILD_LOCK,))
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (REBUILD_LOCK,))

    def _migrate(self) -> None:
        if not self._migrated:
            with self._pool.connection() as conn:
                migrate_postgres(conn, positions_migrations("BIGINT"))
            self._migrated = True

    @staticmethod
    def _drop(conn: Connection, projection: Projection) -> None:
        conn.execute(f"DROP TABLE IF EXISTS {table(projection)}")
        conn.execute("DELETE FROM projection_positions WHERE name = %s", (projection.name,))
        conn.execute("DELETE FROM partition_positions WHERE name = %s", (projection.name,))
        conn.execute("DELETE FROM skipped_messages WHERE name = %s", (projection.name,))

    def reset(self, projection: Projection) -> None:
        """Drop a view, its position and its skipped messages, so that it is rebuilt from the
        first event."""
        with self._writing() as conn:
            self._drop(conn, projection)
            self._create(conn, projection)
            PostgresViewTransaction(conn).set_position(projection, 0)

    def discard(self, projection: Projection) -> None:
        with self._writing() as conn:
            self._drop(conn, projection)

    def swap_in(self, shadow: Projection, live: Projection) -> bool:
        """See ViewStore.swap_in. PostgreSQL's DDL is transactional: a reader blocked on the
        dropped table's lock looks the name up again once the swap commits, and finds the new
        table."""
        with self._writing() as conn:
            tx = PostgresViewTransaction(conn)
            positions = tx.positions()
            if positions.get(shadow.name, -1) < positions.get(live.name, 0):
                return False
            conn.execute(f"DROP TABLE IF EXISTS {table(live)}")
            conn.execute(f"ALTER TABLE {table(shadow)} RENAME TO {table(live)}")
            # the primary key's index keeps the name it was made under: give it the live one,
            # so that the next shadow can be made under its own
            conn.execute(
                f"ALTER INDEX IF EXISTS {quoted(f'view_{shadow.name}_pkey')}"
                f" RENAME TO {quoted(f'view_{live.name}_pkey')}"
            )
            for name, _ in text_indexes(shadow):  # made for the shadow: the live ones are made next
                conn.execute(f"DROP INDEX IF EXISTS {name}")
            self._create(conn, live)  # the shadow was built without indexes: make the live ones
            conn.execute("DELETE FROM projection_positions WHERE name = %s", (shadow.name,))
            # folded from the store, the new view lacks nothing the topic's consumer passed over
            conn.execute("DELETE FROM skipped_messages WHERE name = %s", (live.name,))
            tx.set_position(live, positions[shadow.name])
        return True

    @contextmanager
    def transaction(self) -> Iterator[PostgresViewTransaction]:
        with self._writing() as conn:
            yield PostgresViewTransaction(conn)

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A transaction that is the only writer of the views until it ends."""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            yield conn

    # -- reads ------------------------------------------------------------------------------------

    def positions(self) -> dict[str, int]:
        with self._pool.connection() as conn:
            return PostgresViewTransaction(conn).positions()

    def partition_positions(self, projection: Projection) -> dict[int, int]:
        with self._pool.connection() as conn:
            return PostgresViewTransaction(conn).partition_positions(projection)

    def skipped(self, limit: int) -> list[SkippedMessage]:
        with self._pool.connection() as conn:
            return PostgresViewTransaction(conn).skipped(limit)

    def skipped_count(self) -> int:
        with self._pool.connection() as conn:
            return PostgresViewTransaction(conn).skipped_count()

    def note_miss(self, terms: str, at: datetime, most: int) -> None:
        """See ViewStore.note_miss: outside the views' write lock (the upsert is atomic)."""
        self._migrate()
        when = at.isoformat()
        with self._pool.connection() as conn, conn.transaction():
            if conn.execute(_placeholders(COUNT_MISS), (when, terms)).rowcount == 0:
                conn.execute(_placeholders(NEW_MISS), (terms, when, when, most))

    def misses(self, limit: int) -> list[SearchMiss]:
        self._migrate()
        with self._pool.connection() as conn:
            return search_misses(conn.execute(_placeholders(MISSES), (limit,)).fetchall())

    def get(self, projection: Projection, key: str) -> Row | None:
        with self._pool.connection() as conn:
            return PostgresViewTransaction(conn).load(projection, [key]).get(key)

    def load(self, projection: Projection, keys: Iterable[str]) -> dict[str, Row]:
        with self._pool.connection() as conn:
            return PostgresViewTransaction(conn).load(projection, keys)

    def select(
        self, projection: Projection, where: str = "", params: Sequence[Any] = (), tail: str = ""
    ) -> list[Row]:
        """Rows of a projection; `where` and `tail` in the dialect of projections/view_store.py."""
        sql = _placeholders(select_sql(projection, where, tail))
        with self._pool.connection() as conn:
            return [orjson.loads(doc) for (doc,) in conn.execute(sql, params).fetchall()]

    def rows(self, projection: Projection) -> dict[str, Row]:
        with self._pool.connection() as conn:
            rows = conn.execute(f"SELECT key, doc FROM {table(projection)}").fetchall()
        return {key: orjson.loads(doc) for key, doc in rows}

    def search(
        self,
        projection: Projection,
        match: Match,
        where: str = "",
        params: Sequence[Any] = (),
        limit: int = 50,
        offset: int = 0,
    ) -> list[tuple[Row, float]]:
        """See ViewStore.search: a tsvector of the first `within` text columns, ranked by
        ts_rank, over the RANKED most recently written matches at most (as on SQLite)."""
        sql = search_sql(projection, match, where, limit, offset)
        query = " & ".join(match.terms)  # bare words: letters and digits
        with self._pool.connection() as conn:
            # never prepared: psycopg prepares a statement run five times, and PostgreSQL then
            # plans it once for any words (a generic plan), which cannot tell a frequent word
            # (walk the written index) from a rare one (GIN) and took 200 ms at 500k for both
            found = conn.execute(sql, [query, query, *params], prepare=False).fetchall()
        return [(orjson.loads(doc), float(score)) for doc, score in found]

    def close(self) -> None:
        self._pool.close()


def text_vectors(projection: Projection) -> list[str]:
    """A projection's full-text columns: for each n, `tsv_n`, the tsvector of its first n text
    columns (the terms are made in Python, domain/search_terms.py: the 'simple' configuration
    only splits them at the spaces)."""
    vectors = []
    for n in range(1, len(projection.text) + 1):
        joined = " || ' ' || ".join(f"coalesce({quoted(c)}, '')" for c in projection.text[:n])
        vectors.append(
            f"{quoted(f'tsv_{n}')} tsvector GENERATED ALWAYS AS"
            f" (to_tsvector('simple', {joined})) STORED"
        )
    return vectors


def written_column() -> str:
    return f"{quoted(WRITTEN)} BIGINT GENERATED BY DEFAULT AS IDENTITY"


def _has_column(conn: Connection, projection: Projection, column: str) -> bool:
    found = conn.execute(
        "SELECT 1 FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s"
        " AND NOT attisdropped",
        (table(projection), column),
    ).fetchone()
    return found is not None


def search_sql(projection: Projection, match: Match, where: str, limit: int, offset: int) -> str:
    """The matches of the tsquery (the first two parameters, the same), kept by `where`, best
    first: ranked within the RANKED most recently written matches, found by walking the
    `written` index backwards (a frequent word: the walk stops after RANKED matches however
    long the history) or by the GIN index (a rarer one: its matches are few); the planner takes
    the cheaper by its statistics."""
    # The window and the ranking carry each candidate's key, rank and the columns `where` may
    # name, not its document nor its terms (a sort of thousands of whole rows went to disk):
    # only the page's documents are read.
    vector = quoted(f"tsv_{match.within}")
    carried = ", ".join(
        [
            "key",
            vector,
            *(quoted(c.name) for c in projection.columns if c.name not in projection.text),
        ]
    )
    window = (
        f"SELECT {carried} FROM {table(projection)}"
        f" WHERE {vector} @@ to_tsquery('simple', %s)"
        f" ORDER BY {quoted(WRITTEN)} DESC LIMIT {RANKED}"
    )
    ranked = (
        f"SELECT key, ts_rank({vector}, to_tsquery('simple', %s)) AS score FROM ({window}) AS w"
    )
    if where:
        ranked += f" WHERE ({_placeholders(where)})"
    ranked += f" ORDER BY score DESC, key LIMIT {int(limit)} OFFSET {int(offset)}"
    return (
        f"SELECT v.doc, r.score FROM ({ranked}) AS r JOIN {table(projection)} AS v"
        " ON v.key = r.key ORDER BY r.score DESC, r.key"
    )


def text_indexes(projection: Projection) -> list[tuple[str, str]]:
    """The GIN index of each of a projection's full-text columns, and the index of the order
    rows were written in: (its name, its statement)."""
    if not projection.text:
        return []
    written = quoted(f"ix_{projection.name}_{WRITTEN}")
    made = [
        (
            written,
            f"CREATE INDEX IF NOT EXISTS {written} ON {table(projection)} ({quoted(WRITTEN)})",
        )
    ]
    for n in range(1, len(projection.text) + 1):
        name = quoted(f"ix_{projection.name}_tsv_{n}")
        statement = (
            f"CREATE INDEX IF NOT EXISTS {name} ON {table(projection)}"
            f" USING gin ({quoted(f'tsv_{n}')})"
        )
        made.append((name, statement))
    return made
