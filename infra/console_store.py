"""What the web console keeps beside the record: local passwords and sign-in sessions
(docs/console.md, "Signing in").

Neither is a record of the service: a password is a secret the person may change, a session a
ticket that sign-out must end at once. So they live in tables of their own, the only ones besides
the key store (infra/subject_keys.py) that rows are deleted from: a SQLite file `console.db`
beside the event store, or two tables of the service's PostgreSQL database.

- A password is kept as scrypt's digest (`hashlib.scrypt`, n=2^14, r=8, p=1, a random salt); a
  new one replaces the old.
- A session is known by the SHA-256 of its random id (the cookie holds the id; a copy of the table
  signs no one in). It names the person, the role they act in, its CSRF token and when it ends.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from infra.pg import Pool, open_pool, schema_change

SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_BYTES = 2**14, 8, 1, 32
#: A digest to check against when the person has no password: the same work either way, so
#: the answer's time does not say whether the name is known.
_DECOY = f"scrypt${base64.b64encode(bytes(16)).decode()}${base64.b64encode(bytes(32)).decode()}"


def digest(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(16)
    derived = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_BYTES
    )
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(derived).decode()}"


def matches(password: str, stored: str) -> bool:
    _, salt, _ = stored.split("$")
    return hmac.compare_digest(digest(password, base64.b64decode(salt)), stored)


def _hashed(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    """A signed-in browser: who, acting in which role, its CSRF token, until when."""

    id: str
    actor_id: str
    role: str
    csrf: str
    expires_at: datetime


class ConsoleStore(Protocol):
    def set_password(self, actor_id: str, password: str, at: datetime) -> None: ...

    def check_password(self, actor_id: str, password: str) -> bool: ...

    def open_session(self, actor_id: str, role: str, at: datetime, ttl: timedelta) -> Session: ...

    def session(self, session_id: str, at: datetime) -> Session | None: ...

    def close_session(self, session_id: str) -> None: ...

    def close(self) -> None: ...


class _Store:
    """The store's logic over one DB-API connection per call; the dialects differ in placeholders
    and how a row is replaced."""

    mark = "?"

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self.mark)

    def set_password(self, actor_id: str, password: str, at: datetime) -> None:
        self._replace_password(actor_id, digest(password), at)

    def _replace_password(self, actor_id: str, stored: str, at: datetime) -> None:
        raise NotImplementedError

    def check_password(self, actor_id: str, password: str) -> bool:
        rows = self._run(
            self._sql("SELECT digest FROM console_passwords WHERE actor_id = ?"), (actor_id,)
        )
        if not rows:
            matches(password, _DECOY)
            return False
        return matches(password, rows[0][0])

    def open_session(self, actor_id: str, role: str, at: datetime, ttl: timedelta) -> Session:
        made = Session(
            secrets.token_urlsafe(32), actor_id, role, secrets.token_urlsafe(32), at + ttl
        )
        self._run(self._sql("DELETE FROM console_sessions WHERE expires_at < ?"), (at.isoformat(),))
        self._run(
            self._sql("INSERT INTO console_sessions VALUES (?, ?, ?, ?, ?)"),
            (_hashed(made.id), actor_id, role, made.csrf, made.expires_at.isoformat()),
        )
        return made

    def session(self, session_id: str, at: datetime) -> Session | None:
        rows = self._run(
            self._sql("SELECT actor_id, role, csrf, expires_at FROM console_sessions WHERE id = ?"),
            (_hashed(session_id),),
        )
        if not rows:
            return None
        actor_id, role, csrf, expires = rows[0]
        ends = datetime.fromisoformat(str(expires))
        if ends <= at:
            return None
        return Session(session_id, actor_id, role, csrf, ends)

    def close_session(self, session_id: str) -> None:
        self._run(self._sql("DELETE FROM console_sessions WHERE id = ?"), (_hashed(session_id),))


_TABLES = (
    "CREATE TABLE IF NOT EXISTS console_passwords"
    " (actor_id TEXT PRIMARY KEY, digest TEXT NOT NULL, set_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS console_sessions (id TEXT PRIMARY KEY, actor_id TEXT NOT NULL,"
    " role TEXT NOT NULL, csrf TEXT NOT NULL, expires_at TEXT NOT NULL)",
)


class SQLiteConsoleStore(_Store):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA secure_delete = ON")
        self._db.execute("PRAGMA journal_mode = WAL")
        for sql in _TABLES:
            self._db.execute(sql)

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _replace_password(self, actor_id: str, stored: str, at: datetime) -> None:
        self._run(
            "INSERT OR REPLACE INTO console_passwords VALUES (?, ?, ?)",
            (actor_id, stored, at.isoformat()),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()


class PostgresConsoleStore(_Store):
    mark = "%s"

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        with pool.connection() as conn, schema_change(conn):
            for sql in _TABLES:
                conn.execute(sql)

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._pool.connection() as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def _replace_password(self, actor_id: str, stored: str, at: datetime) -> None:
        self._run(
            "INSERT INTO console_passwords VALUES (%s, %s, %s) ON CONFLICT (actor_id)"
            " DO UPDATE SET digest = EXCLUDED.digest, set_at = EXCLUDED.set_at",
            (actor_id, stored, at.isoformat()),
        )

    def close(self) -> None:
        self._pool.close()


def open_console_store(database_url: str | None, data_dir: Path) -> ConsoleStore:
    if database_url is None:
        return SQLiteConsoleStore(data_dir / "console.db")
    return PostgresConsoleStore(open_pool(database_url, max_size=4, name="itsm-console"))
