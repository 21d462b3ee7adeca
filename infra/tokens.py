"""Bearer tokens for the API: issued once, stored only as a SHA-256 digest.

A token reads `itsm_<id>_<secret>`. The id finds the record; the secret (256 random bits) is
checked against its digest in constant time. A fast digest is right here: the secret is random,
not a password, so there is nothing to brute-force. Records are only ever inserted: in a SQLite
file by default, in PostgreSQL at scale, where every API process shares them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from domain.actors import Actor, Role
from infra.pg import Pool, schema_change

PREFIX = "itsm"
#: The columns of api_tokens; %s is the engine's binary type.
_COLUMNS = (
    "token_id TEXT PRIMARY KEY, secret_sha256 %s NOT NULL, actor_id TEXT NOT NULL,"
    " role TEXT NOT NULL, issued_at TEXT NOT NULL, issued_by TEXT NOT NULL"
)
#: (token id, secret digest, actor id, role, issued at, issued by)
TokenRecord = tuple[str, bytes, str, str, str, str]


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once, never stored
    token_id: str
    actor: Actor


class TokenStore(ABC):
    """Issues and verifies tokens; where the records live is up to each subclass."""

    def __init__(self, *, cache_seconds: float = 30.0) -> None:
        #: Verified tokens, so that a request costs no database read; bounded staleness.
        self.cache_seconds = cache_seconds
        self._verified: dict[str, tuple[float, Actor]] = {}

    @abstractmethod
    def _insert(self, record: TokenRecord) -> None: ...

    @abstractmethod
    def _find(self, token_id: str) -> tuple[bytes, str, str] | None:
        """(secret digest, actor id, role) of a token id, if it was issued."""

    @abstractmethod
    def close(self) -> None: ...

    def issue(self, actor: Actor, *, at: datetime, issued_by: str) -> IssuedToken:
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        self._insert(
            (token_id, _digest(secret), actor.id, actor.role.value, at.isoformat(), issued_by)
        )
        return IssuedToken(f"{PREFIX}_{token_id}_{secret}", token_id, actor)

    def verify(self, token: str) -> Actor | None:
        """The actor a token speaks for, or None if it is not a valid token."""
        cached = self._verified.get(token)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        actor = self._lookup(token)
        if actor is not None:
            if len(self._verified) >= 10_000:
                self._verified.clear()
            self._verified[token] = (time.monotonic() + self.cache_seconds, actor)
        return actor

    def _lookup(self, token: str) -> Actor | None:
        prefix, _, rest = token.partition("_")
        token_id, _, secret = rest.partition("_")
        if prefix != PREFIX or not token_id or not secret:
            return None
        row = self._find(token_id)
        if row is None or not hmac.compare_digest(row[0], _digest(secret)):
            return None
        return Actor(id=row[1], role=Role(row[2]))


class SQLiteTokenStore(TokenStore):
    def __init__(self, path: Path | str, *, cache_seconds: float = 30.0) -> None:
        super().__init__(cache_seconds=cache_seconds)
        self.path = str(path)
        self._local = threading.local()
        self._conn().execute(f"CREATE TABLE IF NOT EXISTS api_tokens ({_COLUMNS % 'BLOB'})")

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn = conn
        return conn

    def _insert(self, record: TokenRecord) -> None:
        self._conn().execute("INSERT INTO api_tokens VALUES (?, ?, ?, ?, ?, ?)", record)

    def _find(self, token_id: str) -> tuple[bytes, str, str] | None:
        row: tuple[bytes, str, str] | None = (
            self._conn()
            .execute(
                "SELECT secret_sha256, actor_id, role FROM api_tokens WHERE token_id = ?",
                (token_id,),
            )
            .fetchone()
        )
        return row

    def close(self) -> None:
        """Close this thread's connection (other threads' close when they end)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class PostgresTokenStore(TokenStore):
    """Tokens in PostgreSQL, shared by every API process. Takes over the pool: close() closes it."""

    def __init__(self, pool: Pool, *, cache_seconds: float = 30.0) -> None:
        super().__init__(cache_seconds=cache_seconds)
        self._pool = pool
        with pool.connection() as conn, schema_change(conn):
            conn.execute(f"CREATE TABLE IF NOT EXISTS api_tokens ({_COLUMNS % 'BYTEA'})")

    def _insert(self, record: TokenRecord) -> None:
        with self._pool.connection() as conn:
            conn.execute("INSERT INTO api_tokens VALUES (%s, %s, %s, %s, %s, %s)", record)

    def _find(self, token_id: str) -> tuple[bytes, str, str] | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT secret_sha256, actor_id, role FROM api_tokens WHERE token_id = %s",
                (token_id,),
            ).fetchone()
        return None if row is None else (bytes(row[0]), row[1], row[2])

    def close(self) -> None:
        self._pool.close()


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()
