"""The default view store: projection rows and positions in a SQLite file beside the event store.

Each projection has a table `view_<name>` with the row as JSON plus the indexed columns it
declares, one row in `projection_positions` saying how far into the event store it has folded,
and in Kafka mode one row per topic partition in `partition_positions` and one row per view and
message it lacks in `skipped_messages`. The interface and its
guarantees are in projections/view_store.py. Writers are serialised by SQLite's single writer
(BEGIN IMMEDIATE) and a write lock shared with other processes.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import Any, Protocol

import orjson

from infra.locks import InterProcessLock
from infra.migrations import Migration, migrate_sqlite, migrations
from projections.base import Projection, Row
from projections.checkpoints import Checkpointer
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
    text_table,
)


def positions_migrations(integer: str) -> tuple[str, tuple[Migration, ...]]:
    """The bookkeeping tables beside the views (infra/migrations.py): which fold version each
    view was built by and how far it has read; `integer` is the engine's type for a position.
    The views themselves are rebuilt by version, not migrated."""
    return migrations(
        "view-positions",
        (
            "positions",
            [
                "CREATE TABLE IF NOT EXISTS projection_positions (name TEXT PRIMARY KEY,"
                f" version INTEGER NOT NULL, position {integer} NOT NULL)",
                "CREATE TABLE IF NOT EXISTS partition_positions (name TEXT NOT NULL,"
                f" partition INTEGER NOT NULL, position {integer} NOT NULL,"
                " PRIMARY KEY (name, partition))",
            ],
        ),
        (
            "skipped-messages",
            [
                "CREATE TABLE skipped_messages (name TEXT NOT NULL, partition INTEGER NOT NULL,"
                f" topic_offset {integer} NOT NULL, position {integer}, event TEXT,"
                " event_type TEXT, reason TEXT NOT NULL, skipped_at TEXT NOT NULL,"
                " PRIMARY KEY (name, partition, topic_offset))"
            ],
        ),
        (
            "search-misses",
            [
                f"CREATE TABLE search_misses (terms TEXT PRIMARY KEY, count {integer} NOT NULL,"
                " first_seen TEXT NOT NULL, last_seen TEXT NOT NULL)"
            ],
        ),
    )


# The searches that found nothing (projections/search_index.py `note_miss`): one counter per
# query's terms, not a row per search; a new one only while fewer than `MAX_MISSES` are kept.
COUNT_MISS = "UPDATE search_misses SET count = count + 1, last_seen = ? WHERE terms = ?"
NEW_MISS = (
    "INSERT INTO search_misses (terms, count, first_seen, last_seen)"
    " SELECT ?, 1, ?, ? WHERE (SELECT count(*) FROM search_misses) < ?"
    " ON CONFLICT (terms) DO UPDATE SET count = search_misses.count + 1,"
    " last_seen = excluded.last_seen"
)
MISSES = (
    "SELECT terms, count, first_seen, last_seen FROM search_misses"
    " ORDER BY count DESC, last_seen DESC, terms LIMIT ?"
)


# The statements on `skipped_messages`, in the `?` dialect of projections/view_store.py (ON
# CONFLICT DO NOTHING is both engines'): a row is only ever inserted, so a redelivered message
# keeps its first record; each message is listed once, whichever views lack it (what their
# records say of it agrees).
RECORD_SKIPPED = (
    "INSERT INTO skipped_messages (name, partition, topic_offset, position, event, event_type,"
    " reason, skipped_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
SKIPPED = (
    "SELECT partition, topic_offset, min(reason), min(skipped_at), min(position), min(event),"
    " min(event_type) FROM skipped_messages GROUP BY partition, topic_offset"
    " ORDER BY partition, topic_offset LIMIT ?"
)
SKIPPED_COUNT = (
    "SELECT count(*) FROM (SELECT DISTINCT partition, topic_offset FROM skipped_messages) AS s"
)


def skipped_rows(
    projection: Projection, skipped: Sequence[SkippedMessage]
) -> list[tuple[Any, ...]]:
    """RECORD_SKIPPED's parameters for these messages lacking from a view."""
    return [
        (
            projection.name,
            s.partition,
            s.offset,
            s.position,
            s.event,
            s.type,
            s.reason,
            s.skipped_at.isoformat(),
        )
        for s in skipped
    ]


def search_misses(rows: Iterable[Sequence[Any]]) -> list[SearchMiss]:
    return [
        SearchMiss(terms, count, datetime.fromisoformat(first), datetime.fromisoformat(last))
        for terms, count, first, last in rows
    ]


def skipped_messages(rows: Iterable[Sequence[Any]]) -> list[SkippedMessage]:
    """The messages SKIPPED's rows name."""
    return [
        SkippedMessage(partition, offset, reason, datetime.fromisoformat(at), position, event, kind)
        for partition, offset, reason, at, position, event, kind in rows
    ]


def fts_query(projection: Projection, match: Match) -> str:
    """An FTS5 query for every term of the match (each a bare word: letters and digits), in the
    first `within` text columns."""
    columns = " ".join(projection.text[: match.within])
    return "{" + columns + "} : (" + " AND ".join(f'"{term}"' for term in match.terms) + ")"


#: The most matches a search ranks, on both backends: past it, the most recently written ones.
#: As many as a reader can page through (search_index.MAX_HITS): a wider window only chose which
#: records filled those pages, at a cost that grew with it (docs/search.md, "How many are
#: ranked").
RANKED = 1_000


def window_sql(projection: Projection) -> str:
    """The rowid of the RANKED-th most recently written match (none: fewer match)."""
    fts = text_table(projection)
    return (
        f"SELECT rowid FROM {fts} WHERE {fts} MATCH ? ORDER BY rowid DESC"
        f" LIMIT 1 OFFSET {RANKED - 1}"
    )


def search_sql(
    projection: Projection, where: str, limit: int, offset: int, windowed: bool = False
) -> str:
    """Matches (the FTS5 query: the first parameter; with `windowed`, the lowest rowid ranked:
    the second), kept by `where`, best first."""
    # The sorter carries each candidate's rowid, score and key, not its row: a search ranks
    # thousands of candidates to keep a page of them, and only the page's rows are read.
    fts, view = text_table(projection), table(projection)
    ranked = (
        f"SELECT v.rowid AS id, bm25({fts}) AS score, v.key AS key FROM {fts} JOIN {view} AS v"
        f" ON v.rowid = {fts}.rowid WHERE {fts} MATCH ?"
    )
    if windowed:
        ranked += f" AND {fts}.rowid >= ?"
    if where:
        ranked += f" AND ({checked_fragment(where)})"
    ranked += f" ORDER BY score, key LIMIT {int(limit)} OFFSET {int(offset)}"
    return (
        f"SELECT v.doc, r.score FROM ({ranked}) AS r JOIN {view} AS v ON v.rowid = r.id"
        " ORDER BY r.score, r.key"
    )


#: The writer's page cache, in KiB (SQLite's default is 2 MiB). A rebuild writes rows under
#: random keys (their ids) into every view's key index; once a view's index outgrew 2 MiB nearly
#: every insert read its page back from the file and spilled dirty pages to the log mid-window,
#: so each row's write cost grew with the views (docs/capacity.md, "Rebuild"). Pages are taken as
#: they are needed, up to this.
WRITER_CACHE_KIB = 256 * 1024
#: The most the views' write-ahead log may hold before the writer checkpoints it itself. The log
#: is rewound only by a transaction that begins once every frame is copied into the database
#: file; the checkpoint thread's checkpoints, once a second, never finish between two of a busy
#: writer's transactions (a rebuild, a catch-up), so a 500k rebuild left a 10 GB log beside a
#: 3 GB database and filled the disk. Past this, the writer checkpoints (PASSIVE: it never waits
#: for a reader, such as a backup's long snapshot) just before it begins, so that its transaction
#: rewinds the log as far as the readers allow, and a rewound file is cut back to this size
#: (journal_size_limit).
WAL_LIMIT_BYTES = 512 * 1024 * 1024
_CHUNK = 500  # keys per IN (...) query, well under SQLite's parameter limit
#: Rows per INSERT (a row binds 2 values and one per column), within SQLite's parameter limit.
_ROWS_PER_STATEMENT = 500
_MAX_VALUES = 32_766


class _Versions(Protocol):
    def versions(self) -> dict[str, int]:
        """The fold version each stored view was built by."""


def changed(stored: _Versions, projections: Sequence[Projection]) -> list[Projection]:
    """The projections whose stored view was folded by another version of their fold."""
    versions = stored.versions()
    return [p for p in projections if versions.get(p.name, p.version) != p.version]


class SQLiteViewTransaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def positions(self) -> dict[str, int]:
        rows = self._conn.execute("SELECT name, position FROM projection_positions").fetchall()
        return dict(rows)

    def versions(self) -> dict[str, int]:
        return dict(self._conn.execute("SELECT name, version FROM projection_positions"))

    def load(self, projection: Projection, keys: Iterable[str]) -> dict[str, Row]:
        found: dict[str, Row] = {}
        wanted = list(keys)
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT key, doc FROM {table(projection)} WHERE key IN ({marks})"
            for key, doc in self._conn.execute(sql, chunk):
                found[key] = orjson.loads(doc)
        return found

    def write(self, projection: Projection, rows: Mapping[str, Row | None] | StoredRows) -> None:
        kept, gone = stored_rows(projection, rows)
        if projection.text:
            self._forget_text(projection, [row[0] for row in kept] + gone)
        if kept:
            self._upsert(projection, kept)
        if gone:
            sql = f"DELETE FROM {table(projection)} WHERE key = ?"
            self._conn.executemany(sql, [(key,) for key in gone])
        if projection.text and kept:
            self._index_text(projection, [row[0] for row in kept])

    def _upsert(self, projection: Projection, kept: list[tuple[Any, ...]]) -> None:
        """INSERT OR REPLACE the rows, many to a statement: each statement is one call into
        SQLite, which holds Python's lock only to bind its values (executemany takes it back for
        every row, so a writer thread beside a busy one waited up to a switch interval a row)."""
        names = ", ".join(["key", "doc", *(quoted(c.name) for c in projection.columns)])
        values = 2 + len(projection.columns)
        row_marks = "(" + ", ".join("?" * values) + ")"
        per = min(_ROWS_PER_STATEMENT, _MAX_VALUES // values)
        for i in range(0, len(kept), per):
            chunk = kept[i : i + per]
            self._conn.execute(
                f"INSERT OR REPLACE INTO {table(projection)} ({names})"
                f" VALUES {', '.join([row_marks] * len(chunk))}",
                list(chain.from_iterable(chunk)),
            )

    # A view's full-text table holds its rows' terms under each row's rowid. REPLACE gives a row a
    # new rowid, so its terms are taken out before it is written and put back after.
    def _forget_text(self, projection: Projection, keys: list[str]) -> None:
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i : i + _CHUNK]
            self._conn.execute(
                f"DELETE FROM {text_table(projection)} WHERE rowid IN"
                f" (SELECT rowid FROM {table(projection)}"
                f" WHERE key IN ({','.join('?' * len(chunk))}))",
                chunk,
            )

    def _index_text(self, projection: Projection, keys: list[str]) -> None:
        columns = ", ".join(map(quoted, projection.text))
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i : i + _CHUNK]
            self._conn.execute(
                f"INSERT INTO {text_table(projection)} (rowid, {columns})"
                f" SELECT rowid, {columns} FROM {table(projection)}"
                f" WHERE key IN ({','.join('?' * len(chunk))})",
                chunk,
            )

    def fill(self, projection: Projection, rows: Mapping[str, Row | None] | StoredRows) -> None:
        # Each index made in one sorted pass once the rows are in, rather than one b-tree
        # insertion per row and index: a rebuild's incident_details has six. Readers keep the
        # snapshot they began with (WAL), so they never see the view without its indexes.
        made = indexes(projection)
        for name, _ in made:
            self._conn.execute(f"DROP INDEX IF EXISTS {name}")
        self.write(projection, rows)
        for _, create in made:
            self._conn.execute(create)

    def set_position(self, projection: Projection, position: int) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO projection_positions (name, version, position)"
            " VALUES (?, ?, ?)",
            (projection.name, projection.version, position),
        )

    def partition_positions(self, projection: Projection) -> dict[int, int]:
        """Kafka mode: the last global position folded from each partition of the topic."""
        return dict(self._conn.execute(PARTITION_POSITIONS, (projection.name,)))

    def set_partition_positions(self, projection: Projection, positions: Mapping[int, int]) -> None:
        self._conn.executemany(
            "INSERT OR REPLACE INTO partition_positions (name, partition, position)"
            " VALUES (?, ?, ?)",
            [(projection.name, partition, position) for partition, position in positions.items()],
        )

    def record_skipped(self, projection: Projection, skipped: Sequence[SkippedMessage]) -> None:
        self._conn.executemany(RECORD_SKIPPED, skipped_rows(projection, skipped))

    def skipped(self, limit: int) -> list[SkippedMessage]:
        return skipped_messages(self._conn.execute(SKIPPED, (limit,)))

    def skipped_count(self) -> int:
        count: int = self._conn.execute(SKIPPED_COUNT).fetchone()[0]
        return count

    def note_miss(self, terms: str, at: datetime, most: int) -> None:
        when = at.isoformat()
        if self._conn.execute(COUNT_MISS, (when, terms)).rowcount == 0:
            self._conn.execute(NEW_MISS, (terms, when, when, most))

    def misses(self, limit: int) -> list[SearchMiss]:
        return search_misses(self._conn.execute(MISSES, (limit,)))


class SQLiteViewStore:
    """Projection rows and positions in one SQLite database file (WAL, one writer)."""

    def __init__(
        self,
        path: Path | str,
        write_lock: AbstractContextManager[Any] | None = None,
        checkpoints: Checkpointer | None = None,
    ) -> None:
        self.path = str(path)
        #: Copies the log into the database file on its own thread, not in a commit.
        self._checkpoints = checkpoints or Checkpointer(self.path)
        #: Serialises writers: this process's threads, and other processes if the lock is shared.
        self._write_lock = write_lock or threading.Lock()
        self._writer = self._connect()
        self._writer.execute("PRAGMA wal_autocheckpoint=0")
        self._writer.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
        self._writer.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        self._readers = threading.local()
        self._migrated = False
        self._wal = f"{self.path}-wal"
        self.wal_limit = WAL_LIMIT_BYTES

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            # A new file: the first to open it switches it to WAL. The switch does not wait for
            # a busy database as statements do, so two processes opening it at once would fail
            # one of them: they take turns under the write lock, and the next finds it done.
            with self._write_lock:
                conn.execute("PRAGMA journal_mode=WAL")
        # Views can always be rebuilt from the event store, so they need not be fsynced on every
        # commit; the event store itself keeps full durability.
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def ensure(self, projections: Sequence[Projection]) -> None:
        """Create missing tables; drop views whose stored fold version is not the code's."""
        self._migrate()
        with self.transaction() as tx:
            for projection in changed(tx, projections):
                self._drop(projection)
            for projection in projections:
                self._create(projection)
                if projection.name not in tx.positions():
                    tx.set_position(projection, 0)

    def _create(self, projection: Projection) -> None:
        columns = "".join(f", {quoted(c.name)} {c.sql_type}" for c in projection.columns)
        self._writer.execute(
            f"CREATE TABLE IF NOT EXISTS {table(projection)} "
            f"(key TEXT PRIMARY KEY, doc BLOB NOT NULL{columns})"
        )
        for _, create in indexes(projection):
            self._writer.execute(create)
        if projection.text:
            # The terms are made in Python (domain/search_terms.py): FTS5's own tokeniser only
            # splits them at the spaces, and ranks them by bm25.
            self._writer.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {text_table(projection)} USING fts5"
                f"({', '.join(map(quoted, projection.text))}, tokenize = 'ascii')"
            )

    def stale(self, projections: Sequence[Projection]) -> list[Projection]:
        """See ViewStore.stale."""
        self._migrate()
        return changed(SQLiteViewTransaction(self._reader()), projections)

    @contextmanager
    def rebuilding(self) -> Iterator[None]:
        """See ViewStore.rebuilding: a file lock beside the database (the write lock is taken
        by each of the rebuild's own transactions)."""
        lock = InterProcessLock(f"{self.path}.rebuild.lock")
        try:
            with lock:
                yield
        finally:
            lock.close()

    def _migrate(self) -> None:
        if not self._migrated:
            with self._write_lock:
                migrate_sqlite(self._writer, positions_migrations("INTEGER"))
            self._migrated = True

    def _drop(self, projection: Projection) -> None:
        self._writer.execute(f"DROP TABLE IF EXISTS {table(projection)}")
        self._writer.execute(f"DROP TABLE IF EXISTS {text_table(projection)}")
        self._writer.execute("DELETE FROM projection_positions WHERE name = ?", (projection.name,))
        self._writer.execute("DELETE FROM partition_positions WHERE name = ?", (projection.name,))
        self._writer.execute("DELETE FROM skipped_messages WHERE name = ?", (projection.name,))

    def reset(self, projection: Projection) -> None:
        """Drop a view, its position and its skipped messages, so that it is rebuilt from the
        first event."""
        with self.transaction() as tx:
            self._drop(projection)
            self._create(projection)
            tx.set_position(projection, 0)

    def discard(self, projection: Projection) -> None:
        with self.transaction():
            self._drop(projection)

    def swap_in(self, shadow: Projection, live: Projection) -> bool:
        """See ViewStore.swap_in. SQLite's DDL is transactional, and a reader keeps the snapshot
        it began with (WAL), so it sees the old view or the new one."""
        with self.transaction() as tx:
            positions = tx.positions()
            if positions.get(shadow.name, -1) < positions.get(live.name, 0):
                return False
            self._writer.execute(f"DROP TABLE IF EXISTS {table(live)}")
            self._writer.execute(f"ALTER TABLE {table(shadow)} RENAME TO {table(live)}")
            if live.text:  # its terms under the same rowids: the full-text table goes with it
                self._writer.execute(f"DROP TABLE IF EXISTS {text_table(live)}")
                self._writer.execute(
                    f"ALTER TABLE {text_table(shadow)} RENAME TO {text_table(live)}"
                )
            # the shadow was built without indexes (faster to fill); SQLite cannot rename an
            # index, so the live view's are made here, under their own names
            self._create(live)
            self._writer.execute("DELETE FROM projection_positions WHERE name = ?", (shadow.name,))
            # folded from the store, the new view lacks nothing the topic's consumer passed over
            self._writer.execute("DELETE FROM skipped_messages WHERE name = ?", (live.name,))
            tx.set_position(live, positions[shadow.name])
        return True

    @contextmanager
    def transaction(self) -> Iterator[SQLiteViewTransaction]:
        with self._write_lock:
            self._bound_log()
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield SQLiteViewTransaction(self._writer)
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")
        self._checkpoints.due()

    def _bound_log(self) -> None:
        """Past `wal_limit`, copy the log into the database file as far as the readers allow, so
        that the transaction about to begin rewinds it (the write lock held: no writer of this
        store is in the middle of a transaction; the checkpoint thread's turn waited for)."""
        try:
            size = os.stat(self._wal).st_size
        except FileNotFoundError:
            return
        if size > self.wal_limit:
            # (an OperationalError: another process's checkpoint is under way)
            with self._checkpoints.running, suppress(sqlite3.OperationalError):
                self._writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    # -- reads ------------------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._readers, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only=ON")
            self._readers.conn = conn
        return conn

    def positions(self) -> dict[str, int]:
        return SQLiteViewTransaction(self._reader()).positions()

    def partition_positions(self, projection: Projection) -> dict[int, int]:
        return SQLiteViewTransaction(self._reader()).partition_positions(projection)

    def skipped(self, limit: int) -> list[SkippedMessage]:
        return SQLiteViewTransaction(self._reader()).skipped(limit)

    def skipped_count(self) -> int:
        return SQLiteViewTransaction(self._reader()).skipped_count()

    def note_miss(self, terms: str, at: datetime, most: int) -> None:
        """See ViewStore.note_miss."""
        self._migrate()
        with self.transaction() as tx:
            tx.note_miss(terms, at, most)

    def misses(self, limit: int) -> list[SearchMiss]:
        self._migrate()
        return SQLiteViewTransaction(self._reader()).misses(limit)

    def get(self, projection: Projection, key: str) -> Row | None:
        return SQLiteViewTransaction(self._reader()).load(projection, [key]).get(key)

    def load(self, projection: Projection, keys: Iterable[str]) -> dict[str, Row]:
        return SQLiteViewTransaction(self._reader()).load(projection, keys)

    def select(
        self, projection: Projection, where: str = "", params: Sequence[Any] = (), tail: str = ""
    ) -> list[Row]:
        """Rows of a projection; `where` and `tail` in the dialect of projections/view_store.py."""
        sql = select_sql(projection, where, tail)
        return [orjson.loads(doc) for (doc,) in self._reader().execute(sql, params)]

    def rows(self, projection: Projection) -> dict[str, Row]:
        sql = f"SELECT key, doc FROM {table(projection)}"
        return {key: orjson.loads(doc) for key, doc in self._reader().execute(sql)}

    def search(
        self,
        projection: Projection,
        match: Match,
        where: str = "",
        params: Sequence[Any] = (),
        limit: int = 50,
        offset: int = 0,
    ) -> list[tuple[Row, float]]:
        """See ViewStore.search: FTS5, its bm25 negated (so that higher is better), over the
        RANKED most recently written matches at most."""
        reader, query = self._reader(), fts_query(projection, match)
        floor = reader.execute(window_sql(projection), (query,)).fetchone()
        sql = search_sql(projection, where, limit, offset, windowed=floor is not None)
        found = reader.execute(sql, [query, *(floor or ()), *params])
        return [(orjson.loads(doc), -score) for doc, score in found]

    def close(self) -> None:
        self._checkpoints.close()
        self._writer.close()
