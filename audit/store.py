"""Where the ledger lives, how the event store is read for it, and the append-only triggers.

SQLite: the ledger is `audit.db` in the data directory, beside `events.db` (a file of its own so
that appending to it never queues behind the service's writers). PostgreSQL: tables in the one
database. Either way the store is read with plain SQL, as the exact stored columns, in pages.

The triggers make the database itself refuse UPDATE and DELETE (and TRUNCATE, on PostgreSQL) on
the event store's table (the eventsourcing library's `stored_events` on SQLite, `servicedesk_events`
on PostgreSQL), on its seals (`event_seals`, audit/seals.py) and on the ledger's tables. They are
created at start-up if missing. Whoever can drop a trigger can still tamper: the seals, the ledger
and its published checkpoints are what detect that.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from audit import seals as sealing
from audit.chain import GENESIS, Checkpoint, Entry
from audit.seals import Seal, seal_of
from infra.migrations import migrate_postgres, migrate_sqlite, migrations

if TYPE_CHECKING:  # psycopg is imported only where PostgreSQL is used: a verifier's worker
    # process on SQLite starts without it (a third of a second)
    from infra.pg import Pool

#: (position, topic, originator id as 32 hex digits, version, state bytes), as stored.
StoredRow = tuple[int, str, str, int, bytes]
#: (position, topic + originator hex + version, each with a newline after it, state)
DigestRow = tuple[int, bytes, bytes]
#: What the verifier reads of an entry: (position, its hashed fields as the bytes
#: `chain.entry_fields` gives, digest, previous hash, hash). The database joins the fields, so
#: a row costs the verifier one object instead of six.
ChainRow = tuple[int, bytes, bytes, bytes, bytes]

SQLITE_EVENTS = "stored_events"
POSTGRES_EVENTS = "servicedesk_events"  # the library names it after the application
LEDGER_TABLES = ("audit_ledger", "audit_checkpoints", "audit_publications")
#: The append-only tables in the event store's database: the events and their seals.
EVENT_TABLES = {
    "sqlite": (SQLITE_EVENTS, sealing.TABLE),
    "postgres": (POSTGRES_EVENTS, sealing.TABLE),
}

_SEALS = f"SELECT {sealing.SEAL_COLUMNS} FROM {sealing.TABLE}"
_SEALS_AFTER = f"{_SEALS} WHERE first_position > ? ORDER BY first_position LIMIT ?"
#: Read through the index on last_position (the `+` keeps SQLite from reading every seal from
#: the first by its primary key instead); the few found are put in order here.
_SEALS_COVERING = f"{_SEALS} WHERE last_position >= ? AND +first_position <= ?"
_SEAL_BEFORE = f"{_SEALS} WHERE first_position < ? ORDER BY first_position DESC LIMIT 1"

#: The ledger table's columns: an entry's fields, in their order.
ENTRY_COLUMNS = ", ".join(f.name for f in fields(Entry))
CHECKPOINT_COLUMNS = "position, hash, at, key_id, signature"


class AppendOnlyViolation(RuntimeError):
    """The database refused to change or remove a row of an append-only table."""


class AuditStore(Protocol):
    #: The event store table the triggers guard, for messages and tests.
    events_table: str

    def store_head(self) -> int:
        """The highest position in the event store (0 when empty)."""

    def stored(self, after: int, limit: int, until: int | None = None) -> list[StoredRow]:
        """Stored events after a position (up to `until`), in position order."""

    def stored_at(self, positions: Sequence[int]) -> list[StoredRow]:
        """The stored events at these positions (those that exist)."""

    def stored_of(self, originators: Sequence[UUID]) -> list[StoredRow]:
        """Every stored event of these records, in position order."""

    def digest_rows(self, after: int, limit: int, until: int | None = None) -> list[DigestRow]:
        """Stored events after a position (up to `until`) as the verifier's hot loop reads them:
        the position, the digest's input before the state (topic, originator hex and version,
        each followed by a newline, as `chain.digest` joins them), and the state."""

    def head(self) -> tuple[int, bytes]:
        """The last ledger entry's position and hash; (0, GENESIS) when the ledger is empty."""

    def seals(self, after: int, limit: int) -> list[Seal]:
        """Seals whose first position is after `after`, in order (none if the store has no seal
        table: it was never sealed)."""

    def seals_covering(self, first: int, last: int) -> list[Seal]:
        """The seals that cover any position from `first` to `last`, in order."""

    def seal_before(self, position: int) -> Seal | None:
        """The last seal that begins before `position`."""

    def heads(self) -> tuple[int, int]:
        """The store's highest position and the highest position a seal covers (0 if none)."""

    def append(
        self, expected: int, entries: Sequence[Entry], checkpoints: Sequence[Checkpoint]
    ) -> bool:
        """Append entries and checkpoints in one transaction, if the ledger's head is still at
        `expected` (another follower may have appended first: then nothing is written)."""

    def entries(self, after: int, limit: int, until: int | None = None) -> list[Entry]:
        """Ledger entries after a position (up to `until`), in order."""

    def chain_rows(self, after: int, limit: int, until: int | None = None) -> list[ChainRow]:
        """Ledger entries after a position (up to `until`) as the verifier's hot loop reads
        them."""

    def ledger_digests(
        self, after: int, limit: int, until: int | None = None
    ) -> list[tuple[int, bytes]]:
        """(position, digest of the stored event) of ledger entries after a position (up to
        `until`), in order."""

    def location(self) -> StoreLocation | None:
        """How another process opens this store to read it (for verifying in parallel); None
        if it cannot."""

    def checkpoints(self, after: int = 0) -> list[Checkpoint]:
        """Every stored checkpoint after position `after`, oldest first (a follower that
        publishes asks for those after the last it published: what it reads grows with what is
        new, not with the ledger)."""

    def last_checkpoint(self) -> Checkpoint | None: ...

    def published(self) -> int:
        """The position of the last checkpoint published to Kafka (0 if none)."""

    def record_published(self, position: int) -> None: ...

    def close(self) -> None: ...


class StoreLocation(Protocol):
    """Where a store is, as a small picklable value: `open()` gives a reader of it in another
    process. The reader creates no tables and no triggers (whatever it finds, it only reads:
    a verifier must not repair what it is checking)."""

    def open(self) -> AuditStore: ...


_NO_END = 2**62


def _entry(row: Sequence[Any]) -> Entry:
    return Entry(
        row[0], row[1], row[2], row[3], row[4], row[5], bytes(row[6]), bytes(row[7]), bytes(row[8])
    )


def _checkpoint(row: Sequence[Any]) -> Checkpoint:
    return Checkpoint(row[0], bytes(row[1]), row[2], row[3], bytes(row[4]))


#: An entry's values in the order of ENTRY_COLUMNS.
_entry_values = attrgetter(*(f.name for f in fields(Entry)))


def _checkpoint_values(c: Checkpoint) -> tuple[Any, ...]:
    return (c.position, c.hash, c.at, c.key_id, c.signature)


# -- SQLite ---------------------------------------------------------------------------------------

_SQLITE_LEDGER_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS audit_ledger (position INTEGER PRIMARY KEY, event_id TEXT NOT"
    " NULL, type TEXT NOT NULL, actor_id TEXT NOT NULL, actor_role TEXT NOT NULL, at TEXT NOT"
    " NULL, digest BLOB NOT NULL, prev_hash BLOB NOT NULL, hash BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit_checkpoints (position INTEGER PRIMARY KEY, hash BLOB NOT"
    " NULL, at TEXT NOT NULL, key_id TEXT NOT NULL, signature BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit_publications (position INTEGER PRIMARY KEY)",
)


def sqlite_triggers(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}"
        f" BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END"
        for op in ("UPDATE", "DELETE")
    ]


@dataclass(frozen=True)
class SQLiteLocation:
    events_db: str
    ledger_db: str

    def open(self) -> SQLiteAuditStore:
        return SQLiteAuditStore(self.events_db, self.ledger_db, prepare=False)


class _SealReads:
    """The seal reads both stores answer alike, each through its own `_seal_rows`."""

    def _seal_rows(self, query: str, params: tuple[int, ...]) -> list[Seal]:
        raise NotImplementedError

    def seals(self, after: int, limit: int) -> list[Seal]:
        return self._seal_rows(_SEALS_AFTER, (after, limit))

    def seals_covering(self, first: int, last: int) -> list[Seal]:
        found = self._seal_rows(_SEALS_COVERING, (first, last))
        return sorted(found, key=lambda seal: seal.first_position)

    def seal_before(self, position: int) -> Seal | None:
        found = self._seal_rows(_SEAL_BEFORE, (position,))
        return found[0] if found else None

    def sealed_head(self) -> int:
        """The highest position a seal covers (0 if none)."""
        last = self.seal_before(_NO_END)
        return last.last_position if last is not None else 0


def _is_locked(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


def _write_ahead(conn: sqlite3.Connection) -> None:
    """Put a new ledger file in WAL mode. The switch does not wait for a busy database as
    statements do, so of processes opening a new file at once all but one would fail: each that
    finds it busy tries again, and the next look finds it switched."""
    for attempt in Retrying(
        retry=retry_if_exception(_is_locked),
        wait=wait_exponential(multiplier=0.01, max=0.5),
        stop=stop_after_delay(30),
        reraise=True,
    ):
        with attempt:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")


class SQLiteAuditStore(_SealReads):
    events_table = SQLITE_EVENTS

    def __init__(
        self, events_db: Path | str, ledger_db: Path | str, *, prepare: bool = True
    ) -> None:
        """`prepare`: create the ledger's tables and the triggers if missing (a reader opened
        only to verify does not)."""
        self.events_db = str(events_db)
        self.ledger_db = str(ledger_db)
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._opening = threading.Lock()
        if not prepare:
            return
        events, ledger = self._connections()
        migrate_sqlite(ledger, migrations("audit", ("ledger", _SQLITE_LEDGER_SCHEMA)))
        # The guards are no schema change: each start puts back any that was dropped.
        events.execute(sealing.SQLITE_SCHEMA)
        events.execute(sealing.INDEX)
        for table in EVENT_TABLES["sqlite"]:
            for statement in sqlite_triggers(table):
                events.execute(statement)
        for table in LEDGER_TABLES:
            for statement in sqlite_triggers(table):
                ledger.execute(statement)

    def _connections(self) -> tuple[sqlite3.Connection, sqlite3.Connection]:
        pair: tuple[sqlite3.Connection, sqlite3.Connection] | None = getattr(
            self._local, "pair", None
        )
        if pair is None:
            # check_same_thread=False only so that close() may close them from another thread:
            # each is used by the thread that opened it.
            events = sqlite3.connect(
                self.events_db, isolation_level=None, timeout=30, check_same_thread=False
            )
            ledger = sqlite3.connect(
                self.ledger_db, isolation_level=None, timeout=30, check_same_thread=False
            )
            _write_ahead(ledger)
            pair = self._local.pair = (events, ledger)
            with self._opening:
                self._opened.extend(pair)
        return pair

    def location(self) -> SQLiteLocation:
        return SQLiteLocation(self.events_db, self.ledger_db)

    def store_head(self) -> int:
        row = self._connections()[0].execute(f"SELECT MAX(rowid) FROM {SQLITE_EVENTS}").fetchone()
        return int(row[0] or 0)

    def _range(self, db: int, query: str, after: int, limit: int, until: int | None) -> list[Any]:
        """The rows `query` reads (on the event store, 0, or the ledger, 1) after the position
        `after` up to `until`, `limit` at most: its three parameters, in that order."""
        bounds = (after, _NO_END if until is None else until, limit)
        return self._connections()[db].execute(query, bounds).fetchall()

    def stored(self, after: int, limit: int, until: int | None = None) -> list[StoredRow]:
        return self._range(
            0,
            "SELECT rowid, topic, originator_id, originator_version, CAST(state AS BLOB)"
            f" FROM {SQLITE_EVENTS} WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?",
            after,
            limit,
            until,
        )

    def digest_rows(self, after: int, limit: int, until: int | None = None) -> list[DigestRow]:
        return self._range(
            0,
            "SELECT rowid, CAST(topic || char(10) || originator_id || char(10)"
            " || originator_version || char(10) AS BLOB), CAST(state AS BLOB)"
            f" FROM {SQLITE_EVENTS} WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?",
            after,
            limit,
            until,
        )

    def stored_at(self, positions: Sequence[int]) -> list[StoredRow]:
        marks = ",".join("?" * len(positions))
        return (
            self._connections()[0]
            .execute(
                "SELECT rowid, topic, originator_id, originator_version, CAST(state AS BLOB)"
                f" FROM {SQLITE_EVENTS} WHERE rowid IN ({marks}) ORDER BY rowid",
                tuple(positions),
            )
            .fetchall()
        )

    def stored_of(self, originators: Sequence[UUID]) -> list[StoredRow]:
        if not originators:
            return []
        marks = ",".join("?" * len(originators))
        rows: list[StoredRow] = (
            self._connections()[0]
            .execute(
                "SELECT rowid, topic, originator_id, originator_version, CAST(state AS BLOB)"
                f" FROM {SQLITE_EVENTS} WHERE originator_id IN ({marks}) ORDER BY rowid",
                tuple(o.hex for o in originators),
            )
            .fetchall()
        )
        return rows

    def _seal_rows(self, query: str, params: tuple[int, ...]) -> list[Seal]:
        try:
            rows = self._connections()[0].execute(query, params).fetchall()
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):
                return []  # never sealed
            raise
        return [seal_of(row) for row in rows]

    def heads(self) -> tuple[int, int]:
        events = self._connections()[0]
        row = events.execute(f"SELECT MAX(rowid) FROM {SQLITE_EVENTS}").fetchone()
        return int(row[0] or 0), self.sealed_head()

    def head(self) -> tuple[int, bytes]:
        row = (
            self._connections()[1]
            .execute("SELECT position, hash FROM audit_ledger ORDER BY position DESC LIMIT 1")
            .fetchone()
        )
        return (0, GENESIS) if row is None else (row[0], bytes(row[1]))

    def append(
        self, expected: int, entries: Sequence[Entry], checkpoints: Sequence[Checkpoint]
    ) -> bool:
        ledger = self._connections()[1]
        ledger.execute("BEGIN IMMEDIATE")  # one appender at a time, across processes
        try:
            row = ledger.execute("SELECT MAX(position) FROM audit_ledger").fetchone()
            if (row[0] or 0) != expected:
                ledger.execute("ROLLBACK")
                return False
            ledger.executemany(
                f"INSERT INTO audit_ledger ({ENTRY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                [_entry_values(e) for e in entries],
            )
            ledger.executemany(
                f"INSERT INTO audit_checkpoints ({CHECKPOINT_COLUMNS}) VALUES (?,?,?,?,?)",
                [_checkpoint_values(c) for c in checkpoints],
            )
            ledger.execute("COMMIT")
        except BaseException:
            ledger.execute("ROLLBACK")
            raise
        return True

    def entries(self, after: int, limit: int, until: int | None = None) -> list[Entry]:
        query = (
            f"SELECT {ENTRY_COLUMNS} FROM audit_ledger WHERE position > ? AND position <= ?"
            " ORDER BY position LIMIT ?"
        )
        return [_entry(r) for r in self._range(1, query, after, limit, until)]

    def chain_rows(self, after: int, limit: int, until: int | None = None) -> list[ChainRow]:
        return self._range(
            1,
            "SELECT position, CAST(position || char(10) || event_id || char(10) || type"
            " || char(10) || actor_id || char(10) || actor_role || char(10) || at AS BLOB),"
            " digest, prev_hash, hash FROM audit_ledger WHERE position > ? AND position <= ?"
            " ORDER BY position LIMIT ?",
            after,
            limit,
            until,
        )

    def ledger_digests(
        self, after: int, limit: int, until: int | None = None
    ) -> list[tuple[int, bytes]]:
        return self._range(
            1,
            "SELECT position, digest FROM audit_ledger WHERE position > ? AND position <= ?"
            " ORDER BY position LIMIT ?",
            after,
            limit,
            until,
        )

    def checkpoints(self, after: int = 0) -> list[Checkpoint]:
        rows = (
            self._connections()[1]
            .execute(
                f"SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE position > ?"
                " ORDER BY position",
                (after,),
            )
            .fetchall()
        )
        return [_checkpoint(r) for r in rows]

    def last_checkpoint(self) -> Checkpoint | None:
        row = (
            self._connections()[1]
            .execute(
                f"SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY position DESC LIMIT 1"
            )
            .fetchone()
        )
        return None if row is None else _checkpoint(row)

    def published(self) -> int:
        row = (
            self._connections()[1]
            .execute("SELECT MAX(position) FROM audit_publications")
            .fetchone()
        )
        return int(row[0] or 0)

    def record_published(self, position: int) -> None:
        self._connections()[1].execute(
            "INSERT OR IGNORE INTO audit_publications (position) VALUES (?)", (position,)
        )

    def close(self) -> None:
        with self._opening:
            for conn in self._opened:
                conn.close()
            self._opened.clear()


# -- PostgreSQL -----------------------------------------------------------------------------------

_POSTGRES_LEDGER_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS audit_ledger (position BIGINT PRIMARY KEY, event_id TEXT NOT"
    " NULL, type TEXT NOT NULL, actor_id TEXT NOT NULL, actor_role TEXT NOT NULL, at TEXT NOT"
    " NULL, digest BYTEA NOT NULL, prev_hash BYTEA NOT NULL, hash BYTEA NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit_checkpoints (position BIGINT PRIMARY KEY, hash BYTEA NOT"
    " NULL, at TEXT NOT NULL, key_id TEXT NOT NULL, signature BYTEA NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit_publications (position BIGINT PRIMARY KEY)",
)
# The message names the table and the operation; the error code is a permission one.
_APPEND_ONLY = (
    "CREATE OR REPLACE FUNCTION itsm_append_only() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP"
    " USING ERRCODE = 'insufficient_privilege'; END $$"
)


def postgres_triggers(table: str) -> list[str]:
    return [
        f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
        " FOR EACH ROW EXECUTE FUNCTION itsm_append_only()",
        f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
        " FOR EACH STATEMENT EXECUTE FUNCTION itsm_append_only()",
    ]


@dataclass(frozen=True)
class PostgresLocation:
    url: str

    def open(self) -> PostgresAuditStore:
        from infra.pg import open_pool

        pool = open_pool(self.url, max_size=1, name="itsm-audit-verify")
        return PostgresAuditStore(pool, url=self.url, prepare=False)


class PostgresAuditStore(_SealReads):
    """The ledger's tables in the service's database. Takes over the pool: close() closes it.
    With the database's `url`, other processes can open it to verify in parallel; `prepare`
    as for SQLite."""

    events_table = POSTGRES_EVENTS

    def __init__(self, pool: Pool, *, url: str | None = None, prepare: bool = True) -> None:
        self._pool = pool
        self._url = url
        if not prepare:
            return
        from infra.pg import schema_change

        with pool.connection() as conn:
            migrate_postgres(conn, migrations("audit", ("ledger", _POSTGRES_LEDGER_SCHEMA)))
            # The guards are no schema change: each start puts back any that was dropped. The
            # events table is locked before the seals' (its triggers first), in the order a
            # sealed write takes them: the other way round, a process starting while another
            # writes would deadlock with it (the writer holding the events, this the seals).
            with schema_change(conn):
                conn.execute(_APPEND_ONLY)
                events, seals = EVENT_TABLES["postgres"]
                for statement in postgres_triggers(events):
                    conn.execute(statement)
                conn.execute(sealing.POSTGRES_SCHEMA)
                conn.execute(sealing.INDEX)
                for table in (seals, *LEDGER_TABLES):
                    for statement in postgres_triggers(table):
                        conn.execute(statement)

    @contextmanager
    def _conn(self) -> Iterator[Any]:
        with self._pool.connection() as conn:
            yield conn

    _STORED = (
        "SELECT notification_id, topic, replace(originator_id::text, '-', ''),"
        f" originator_version, state FROM {POSTGRES_EVENTS}"
    )

    def store_head(self) -> int:
        with self._conn() as conn:
            row = conn.execute(f"SELECT MAX(notification_id) FROM {POSTGRES_EVENTS}").fetchone()
        return int(row[0] or 0)

    def location(self) -> PostgresLocation | None:
        return None if self._url is None else PostgresLocation(self._url)

    def stored(self, after: int, limit: int, until: int | None = None) -> list[StoredRow]:
        with self._conn() as conn:
            rows: list[StoredRow] = conn.execute(
                f"{self._STORED} WHERE notification_id > %s AND notification_id <= %s"
                " ORDER BY notification_id LIMIT %s",
                (after, _NO_END if until is None else until, limit),
            ).fetchall()
        return rows

    def digest_rows(self, after: int, limit: int, until: int | None = None) -> list[DigestRow]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT notification_id, convert_to(topic || E'\\n'"
                " || replace(originator_id::text, '-', '') || E'\\n' || originator_version"
                f" || E'\\n', 'UTF8'), state FROM {POSTGRES_EVENTS}"
                " WHERE notification_id > %s AND notification_id <= %s"
                " ORDER BY notification_id LIMIT %s",
                (after, _NO_END if until is None else until, limit),
            ).fetchall()
        return [(position, bytes(prefix), bytes(state)) for position, prefix, state in rows]

    def stored_at(self, positions: Sequence[int]) -> list[StoredRow]:
        with self._conn() as conn:
            rows: list[StoredRow] = conn.execute(
                f"{self._STORED} WHERE notification_id = ANY(%s) ORDER BY notification_id",
                (list(positions),),
            ).fetchall()
        return rows

    def stored_of(self, originators: Sequence[UUID]) -> list[StoredRow]:
        if not originators:
            return []
        with self._conn() as conn:
            rows: list[StoredRow] = conn.execute(
                f"{self._STORED} WHERE originator_id = ANY(%s) ORDER BY notification_id",
                (list(originators),),
            ).fetchall()
        return rows

    def _seal_rows(self, query: str, params: tuple[int, ...]) -> list[Seal]:
        from psycopg.errors import UndefinedTable

        try:
            with self._conn() as conn:
                rows = conn.execute(query.replace("?", "%s"), params).fetchall()
        except UndefinedTable:
            return []  # never sealed
        return [seal_of(row) for row in rows]

    def heads(self) -> tuple[int, int]:
        return self.store_head(), self.sealed_head()

    def head(self) -> tuple[int, bytes]:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT position, hash FROM audit_ledger ORDER BY position DESC LIMIT 1"
            ).fetchone()
        return (0, GENESIS) if row is None else (row[0], bytes(row[1]))

    def append(
        self, expected: int, entries: Sequence[Entry], checkpoints: Sequence[Checkpoint]
    ) -> bool:
        with self._conn() as conn, conn.transaction():
            # One appender at a time; readers go on reading.
            conn.execute("LOCK TABLE audit_ledger IN SHARE ROW EXCLUSIVE MODE")
            row = conn.execute("SELECT MAX(position) FROM audit_ledger").fetchone()
            if (row[0] or 0) != expected:
                return False
            with conn.cursor() as cursor:
                with cursor.copy(f"COPY audit_ledger ({ENTRY_COLUMNS}) FROM STDIN") as copy:
                    for entry in entries:
                        copy.write_row(_entry_values(entry))
                if checkpoints:
                    cursor.executemany(
                        f"INSERT INTO audit_checkpoints ({CHECKPOINT_COLUMNS})"
                        " VALUES (%s,%s,%s,%s,%s)",
                        [_checkpoint_values(c) for c in checkpoints],
                    )
        return True

    def entries(self, after: int, limit: int, until: int | None = None) -> list[Entry]:
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT {ENTRY_COLUMNS} FROM audit_ledger WHERE position > %s AND position <= %s"
                " ORDER BY position LIMIT %s",
                (after, until if until is not None else 2**62, limit),
            ).fetchall()
        return [_entry(r) for r in rows]

    def chain_rows(self, after: int, limit: int, until: int | None = None) -> list[ChainRow]:
        with self._conn() as conn:
            rows: list[ChainRow] = conn.execute(
                "SELECT position, convert_to(concat_ws(E'\\n', position, event_id, type,"
                " actor_id, actor_role, at), 'UTF8'), digest, prev_hash, hash FROM audit_ledger"
                " WHERE position > %s AND position <= %s ORDER BY position LIMIT %s",
                (after, _NO_END if until is None else until, limit),
            ).fetchall()
        return rows

    def ledger_digests(
        self, after: int, limit: int, until: int | None = None
    ) -> list[tuple[int, bytes]]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT position, digest FROM audit_ledger WHERE position > %s AND position <= %s"
                " ORDER BY position LIMIT %s",
                (after, _NO_END if until is None else until, limit),
            ).fetchall()
        return [(position, bytes(digest)) for position, digest in rows]

    def checkpoints(self, after: int = 0) -> list[Checkpoint]:
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE position > %s"
                " ORDER BY position",
                (after,),
            ).fetchall()
        return [_checkpoint(r) for r in rows]

    def last_checkpoint(self) -> Checkpoint | None:
        with self._conn() as conn:
            row = conn.execute(
                f"SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY position DESC LIMIT 1"
            ).fetchone()
        return None if row is None else _checkpoint(row)

    def published(self) -> int:
        with self._conn() as conn:
            row = conn.execute("SELECT MAX(position) FROM audit_publications").fetchone()
        return int(row[0] or 0)

    def record_published(self, position: int) -> None:
        with self._conn() as conn:
            conn.execute(
                "INSERT INTO audit_publications (position) VALUES (%s) ON CONFLICT DO NOTHING",
                (position,),
            )

    def close(self) -> None:
        self._pool.close()
