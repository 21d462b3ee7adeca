"""The event store's recorders that seal each committed batch (audit/seals.py), in the same
transaction as its events.

The eventsourcing library builds them from `APPLICATION_RECORDER_TOPIC` (service/stores.py's
`event_store_env`). They seal only once the composition root attaches the key
(`recorder.seal_with(key)`): a bare desk (tests, a relay that only reads) writes as before.

Each seal chains onto the previous seal's MAC, read inside the writing transaction, after the
events are inserted, while the writer holds the store's write lock (SQLite's write transaction;
on PostgreSQL the EXCLUSIVE table lock the library takes before inserting): seals chain even
with several API processes. A recorder remembers the last seal it committed and chains onto it
without reading the table while its batch begins at the very next position: no other writer can
have written an event, let alone a seal, in between. Otherwise (another process wrote, or a
transaction rolled back) it reads the table.
"""

from __future__ import annotations

import importlib.metadata
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    ConnectionPoolClosedError,
    ConnectionUnavailableError,
    InterfaceError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteTransaction,
)
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL

from audit import chain
from audit.seals import (
    GENESIS,
    POSTGRES_SCHEMA,
    SEAL_COLUMNS,
    SQLITE_SCHEMA,
    TABLE,
    Digested,
    Seal,
    SealKey,
)
from audit.seals import (
    INDEX as SEAL_INDEX,
)

_LAST_MAC = f"SELECT mac FROM {TABLE} ORDER BY first_position DESC LIMIT 1"
_INSERT = f"INSERT INTO {TABLE} ({SEAL_COLUMNS}) VALUES (?,?,?,?,?,?)"


def _digested(ids: Sequence[int], stored_events: Sequence[StoredEvent]) -> list[Digested]:
    return [
        (
            position,
            chain.digest(
                s.topic,
                s.originator_id.hex if isinstance(s.originator_id, UUID) else str(s.originator_id),
                s.originator_version,
                s.state,
            ),
        )
        for position, s in zip(ids, stored_events, strict=True)
    ]


class _Sealer:
    """What both recorders do: seal a batch inside its transaction, chaining onto the last seal
    this recorder committed when nothing can have come between, and remember a seal only once
    its transaction has committed."""

    def _init_sealer(self) -> None:
        self.seal_key: SealKey | None = None
        #: (last position, MAC) of the last seal this recorder committed.
        self._committed: tuple[int, bytes] | None = None
        #: The seal of the transaction a thread is in, until it commits.
        self._staged = threading.local()

    def seal_with(self, key: SealKey | None) -> None:
        self.seal_key = key
        self._committed = None

    def _seal(
        self,
        ids: Sequence[int] | None,
        stored_events: Sequence[StoredEvent],
        last_mac: Callable[[], bytes | None],
        insert: Callable[[tuple[int, int, int, str, bytes, bytes]], object],
    ) -> None:
        """Seal the batch just inserted at `ids`: `last_mac` reads the table's last MAC (None:
        no seal yet), `insert` writes the seal's row, both in the batch's transaction."""
        key = self.seal_key
        self._staged.seal = None
        if key is None or not ids:
            return
        committed = self._committed
        if committed is not None and committed[0] == ids[0] - 1:
            prev = committed[1]
        else:
            prev = last_mac() or GENESIS
        seal: Seal = key.seal(prev, _digested(ids, stored_events))
        insert(seal.values())
        self._staged.seal = seal

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        try:
            ids = self._insert_committed(stored_events, **kwargs)
        except BaseException:
            self._settled(committed=False)
            raise
        self._settled(committed=True)
        return ids

    def _insert_committed(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's insert_events: the events (and their seal) in one transaction."""
        ids: Sequence[int] | None = super().insert_events(  # type: ignore[misc]
            stored_events, **kwargs
        )
        return ids

    def _settled(self, committed: bool) -> None:
        """The insert's transaction has ended: remember its seal if it committed."""
        seal: Seal | None = getattr(self._staged, "seal", None)
        self._staged.seal = None
        if committed and seal is not None:
            self._committed = (seal.last_position, seal.mac)


#: Statements each SQLite connection keeps prepared (sqlite3's own default).
STATEMENT_CACHE = 128

#: The eventsourcing release whose pool `_StorePool` and whose insert `_insert_committed` follow
#: (pyproject.toml pins it). Under any other release the store keeps the library's own pool and
#: insert, and tests/unit/test_store_pool.py fails until someone has read them against it.
LIBRARY_FOLLOWED = "9.5.6"


class _StorePool(SQLiteConnectionPool):
    """The library's pool of the event store's connections, with two differences for writing.

    Its connections keep their statements prepared. The library opens each with
    `cached_statements=True`, which sqlite3 takes for a cache of one statement: a write (BEGIN,
    the events' INSERT, the seal's INSERT) then parses and plans every statement again, each
    time, and so does a read between two of its own. `_create_connection` opens them as the
    library does in every other respect (9.5), with sqlite3's default cache instead.

    It keeps one connection for the writer (`writer`, `written`): the pool's writer lock, which
    lets one write at a time through, then that connection, not one from the pool. Getting one
    from the pool (a fairness semaphore, two conditions, the books of connections in use) cost
    more than a small write's own statements. Where the library makes reads and writes exclude
    each other (an in-memory database), or pings a connection before handing it out, the writer
    takes one from the pool as the library does.
    """

    #: The connection writes go through, opened by the first (the pool's class is set on a pool
    #: the library made, so its __init__ never runs here).
    _writer: SQLiteConnection | None = None

    def _create_connection(self) -> SQLiteConnection:
        try:
            c = sqlite3.connect(
                database=self.db_name,
                uri=True,
                check_same_thread=False,
                isolation_level=None,  # autocommit: the library issues BEGIN itself
                cached_statements=STATEMENT_CACHE,
                timeout=self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT,
            )
        except (sqlite3.Error, TypeError) as e:
            raise InterfaceError(e) from e
        if not self.is_sqlite_memory_mode and not self.is_journal_mode_wal:
            cursor = c.cursor()
            cursor.execute("PRAGMA journal_mode;")
            mode = cursor.fetchone()[0]
            if mode.lower() == "wal":
                self.is_journal_mode_wal = True
            else:
                cursor.execute("PRAGMA journal_mode=WAL;")
                self.is_journal_mode_wal = True
                self.journal_mode_was_changed_to_wal = True
        c.row_factory = sqlite3.Row
        return SQLiteConnection(sqlite_conn=c, max_age=self.max_age)

    def writer(self) -> SQLiteConnection:
        """The connection to write through, the writer lock held until `written`: waits as long
        as get_connection(is_writer=True) would, and fails as it would."""
        if self._mutually_exclusive_read_write or self.pre_ping:
            return self.get_connection(is_writer=True)
        if self._closed:
            raise ConnectionPoolClosedError
        if not self._writer_lock.acquire(timeout=self.pool_timeout):
            raise ConnectionUnavailableError("Timed out waiting for return of writer")
        try:
            conn = self._writer
            if conn is not None:
                conn.in_use.acquire()  # as a pooled connection is taken: not closed by max_age
                if conn.closed:
                    conn.in_use.release()
                    conn = None
            if conn is None:
                conn = self._writer = self._create_connection()  # made in use
        except BaseException:
            self._writer_lock.release()
            raise
        return conn

    def written(self, conn: SQLiteConnection) -> None:
        """The write through `conn` (from `writer`) is over."""
        if self._mutually_exclusive_read_write or self.pre_ping:
            self.put_connection(conn)
            return
        conn.in_use.release()
        self._writer_lock.release()

    def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        super().close()


def _library() -> str:
    return importlib.metadata.version("eventsourcing")


class SealingSQLiteRecorder(_Sealer, SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)
        self._init_sealer()
        # Before the first connection is opened (the factory creates the tables after this):
        # every connection the store's pool opens keeps its statements prepared.
        if type(datastore.pool) is SQLiteConnectionPool and _library() == LIBRARY_FOLLOWED:
            datastore.pool.__class__ = _StorePool

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), SQLITE_SCHEMA, SEAL_INDEX]

    def _insert_committed(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """What the library's insert_events does (a writer's connection, BEGIN, the inserts,
        COMMIT, or ROLLBACK on any error, sqlite3's errors raised as the library's), in the
        library's own SQLiteTransaction, on the store pool's writer (`_StorePool`), without the
        three generator-based context managers the library wraps around it: they cost about as
        much again as the pool and the transaction themselves, on every write."""
        pool = self.datastore.pool
        if not isinstance(pool, _StorePool):  # a pool of someone else's making
            return super()._insert_committed(stored_events, **kwargs)
        conn = pool.writer()
        try:
            with SQLiteTransaction(conn, commit=True) as curs, curs:
                return self._insert_events(curs, stored_events, **kwargs)
        finally:
            pool.written(conn)

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's _insert_events (each event's row, its position the row's id) on the
        sqlite3 cursor itself, not through the library's wrapper of each call; then the seal."""
        cursor = c.sqlite_cursor
        statement = self.insert_events_statement
        ids: list[int] = []
        for s in stored_events:
            o = s.originator_id
            cursor.execute(
                statement,
                (o.hex if isinstance(o, UUID) else o, s.originator_version, s.topic, s.state),
            )
            ids.append(cursor.lastrowid)  # type: ignore[arg-type]  # an INSERT's: never None

        def last_mac() -> bytes | None:
            cursor.execute(_LAST_MAC)
            row = cursor.fetchone()
            return None if row is None else bytes(row[0])

        self._seal(ids, stored_events, last_mac, lambda values: cursor.execute(_INSERT, values))
        return ids


class SealingPostgresRecorder(_Sealer, PostgresApplicationRecorder):
    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.sql_create_statements.append(SQL(POSTGRES_SCHEMA).format())
        self.sql_create_statements.append(SQL(SEAL_INDEX).format())
        self._init_sealer()

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)

        # Still in the insert's transaction, holding the library's EXCLUSIVE lock on the events
        # table: no other writer is between the last seal and this one.
        def last_mac() -> bytes | None:
            curs.execute(SQL(_LAST_MAC))
            row = curs.fetchone()
            return None if row is None else bytes(row["mac"])

        self._seal(
            ids,
            stored_events,
            last_mac,
            lambda values: curs.execute(
                SQL(f"INSERT INTO {TABLE} ({SEAL_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s)"), values
            ),
        )
        return ids
