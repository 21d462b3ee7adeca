"""Where incident numbers come from when several processes log incidents at once.

A number is claimed by inserting a row into an AUTOINCREMENT table: the database hands each
process distinct, increasing numbers with no lock held across a command. The claim is only a
proposal: the event store's uniqueness of (number log, version) is the arbiter, so if claims were
ever lost (this file is not fsynced on every claim), a reused number collides in the store and the
service skips past the numbers already recorded there.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from infra.locks import InterProcessLock


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
