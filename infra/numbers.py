"""Where incident numbers come from when several processes log incidents at once.

On SQLite, a number is claimed by inserting a row into an AUTOINCREMENT table; on PostgreSQL, it
is the next value of a sequence. Either way the database hands each process distinct, increasing
numbers with no lock held across a command. The claim is only a proposal: the event store's
uniqueness of (number log, version) is the arbiter, so if claims were ever lost (the SQLite file
is not fsynced on every claim), a reused number collides in the store and the service skips past
the numbers already recorded there.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from infra.locks import InterProcessLock
from infra.pg import Pool, schema_change


class SQLiteNumberSource:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._local = threading.local()
        self._lock = InterProcessLock(f"{self.path}.lock")
        self._conn().execute(
            "CREATE TABLE IF NOT EXISTS claimed_numbers (number INTEGER PRIMARY KEY AUTOINCREMENT)"
        )

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            self._local.conn = conn
        return conn

    def claim(self) -> int:
        with self._lock:
            cursor = self._conn().execute("INSERT INTO claimed_numbers DEFAULT VALUES")
        number = cursor.lastrowid
        assert number is not None
        return number

    def skip_past(self, number: int) -> None:
        """Make every later claim greater than `number`."""
        self._conn().execute("INSERT OR IGNORE INTO claimed_numbers (number) VALUES (?)", (number,))


class PostgresNumberSource:
    """Numbers from a PostgreSQL sequence: distinct across processes, never handed out twice,
    and with no lock held (a number claimed by a command that then fails is simply not used).
    Takes over the pool: close() closes it."""

    SEQUENCE = "incident_number_claims"

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        with pool.connection() as conn, schema_change(conn):
            conn.execute(f"CREATE SEQUENCE IF NOT EXISTS {self.SEQUENCE} AS BIGINT")

    def claim(self) -> int:
        with self._pool.connection() as conn:
            row = conn.execute(f"SELECT nextval('{self.SEQUENCE}')").fetchone()
        assert row is not None
        number: int = row[0]
        return number

    def skip_past(self, number: int) -> None:
        """Make every later claim greater than `number`. The sequence is advanced by claiming
        the numbers in between rather than set, so that it never moves back under a concurrent
        claim (a set value can be overtaken between reading and setting it)."""
        with self._pool.connection() as conn:
            conn.execute(
                f"SELECT count(nextval('{self.SEQUENCE}')) FROM generate_series(1, %s - ("
                f"SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END"
                f" FROM {self.SEQUENCE}))",
                (number,),
            )

    def close(self) -> None:
        self._pool.close()
