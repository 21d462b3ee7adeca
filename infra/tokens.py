"""Bearer tokens for the API: issued once, stored only as a SHA-256 digest, with an expiry.

A token reads `itsm_<id>_<secret>`. The id finds the record; the secret (256 random bits) is
checked against its digest in constant time. A fast digest is right here: the secret is random,
not a password, so there is nothing to brute-force.

`TokenStore` is what callers use; where the records live is each subclass's. The service keeps
them in the event store, as records the audit ledger chains and signs (application/api_tokens.py,
issue 18). The table stores here are where tokens lived before: rows in `api_tokens` and
`api_token_revocations` (a SQLite file, or PostgreSQL), only ever inserted. The service no longer
authenticates from them: it reads them once, at the first start with the record, to import their
tokens (docs/security.md, "Tokens in the record").

Verified tokens are cached for `cache_seconds` so that a request costs no database read: a
revocation made by this process applies at once, one made by another process within that time.
Expiry is checked on every request against the time the request is served at.
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
from datetime import datetime, timedelta
from pathlib import Path

from domain.actors import Actor, Identity, Role
from infra.migrations import Migration, add_column, migrate_postgres, migrate_sqlite, migrations
from infra.pg import Pool

PREFIX = "itsm"
#: The columns api_tokens was created with; %s is the engine's binary type.
_COLUMNS = (
    "token_id TEXT PRIMARY KEY, secret_sha256 %s NOT NULL, actor_id TEXT NOT NULL,"
    " role TEXT NOT NULL, issued_at TEXT NOT NULL, issued_by TEXT NOT NULL"
)
_REVOCATIONS = (
    "token_id TEXT PRIMARY KEY, revoked_at TEXT NOT NULL, revoked_by TEXT NOT NULL,"
    " reason TEXT NOT NULL"
)


def _migrations(binary: str) -> tuple[str, tuple[Migration, ...]]:
    """How api_tokens came to be (infra/migrations.py). Columns added later are NULL in older
    rows: no expiry, no organisation."""
    return migrations(
        "tokens",
        ("api tokens", [f"CREATE TABLE IF NOT EXISTS api_tokens ({_COLUMNS % binary})"]),
        ("expiry", add_column("api_tokens", "expires_at", "TEXT")),
        ("revocations", [f"CREATE TABLE IF NOT EXISTS api_token_revocations ({_REVOCATIONS})"]),
        ("organisation", add_column("api_tokens", "organisation", "TEXT")),
        (
            "all organisations",
            add_column("api_tokens", "all_organisations", "INTEGER NOT NULL DEFAULT 0"),
        ),
    )


_SELECT = (
    "SELECT t.token_id, t.secret_sha256, t.actor_id, t.role, t.issued_at, t.issued_by,"
    " t.expires_at, t.organisation, t.all_organisations, r.revoked_at, r.revoked_by, r.reason"
    " FROM api_tokens t LEFT JOIN api_token_revocations r ON r.token_id = t.token_id"
)
#: The lifetime of a token when none is given.
DEFAULT_LIFETIME = timedelta(days=90)


@dataclass(frozen=True)
class TokenRecord:
    """What is stored of a token: never the token itself."""

    token_id: str
    secret_sha256: bytes
    identity: Identity
    issued_at: datetime
    issued_by: str
    expires_at: datetime | None
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revocation_reason: str | None = None

    def row(self) -> tuple[object, ...]:
        who = self.identity
        return (
            self.token_id,
            self.secret_sha256,
            who.actor.id,
            who.actor.role.value,
            self.issued_at.isoformat(),
            self.issued_by,
            None if self.expires_at is None else self.expires_at.isoformat(),
            who.organisation,
            int(who.all_organisations),
        )

    @classmethod
    def of(cls, row: tuple[object, ...]) -> TokenRecord:
        token_id, digest, actor_id, role, issued_at, issued_by = row[:6]
        expires_at, organisation, all_organisations, revoked_at, revoked_by, reason = row[6:12]
        return cls(
            token_id=str(token_id),
            secret_sha256=bytes(digest),  # type: ignore[call-overload]
            identity=Identity(
                Actor(id=str(actor_id), role=Role(str(role))),
                organisation=None if organisation is None else str(organisation),
                all_organisations=bool(all_organisations),
            ),
            issued_at=datetime.fromisoformat(str(issued_at)),
            issued_by=str(issued_by),
            expires_at=None if expires_at is None else datetime.fromisoformat(str(expires_at)),
            revoked_at=None if revoked_at is None else datetime.fromisoformat(str(revoked_at)),
            revoked_by=None if revoked_by is None else str(revoked_by),
            revocation_reason=None if reason is None else str(reason),
        )


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once, never stored
    token_id: str
    actor: Actor
    expires_at: datetime | None = None


class TokenRejected(Exception):
    """A bearer token that names no one, or no longer: why, in words for the caller."""


class TokenStore(ABC):
    """Issues, verifies and revokes tokens; where the records live is up to each subclass."""

    def __init__(self, *, cache_seconds: float = 10.0) -> None:
        self.cache_seconds = cache_seconds
        #: token -> (cached until, monotonic; the record)
        self._verified: dict[str, tuple[float, TokenRecord]] = {}

    @abstractmethod
    def _insert(self, record: TokenRecord) -> None:
        """Keep a newly issued token's record."""

    @abstractmethod
    def _revoke(self, token_id: str, *, at: datetime, revoked_by: str, reason: str) -> bool:
        """Record a revocation; False if the token was already revoked. Unknown ids raise
        KeyError."""

    @abstractmethod
    def _records(self, token_id: str | None) -> list[TokenRecord]:
        """The record of one token id (or of all, when None), with its revocation if any."""

    @abstractmethod
    def close(self) -> None: ...

    def issue(
        self,
        actor: Actor,
        *,
        at: datetime,
        issued_by: str,
        lifetime: timedelta | None = DEFAULT_LIFETIME,
        organisation: str | None = None,
        all_organisations: bool = False,
    ) -> IssuedToken:
        """A new token for `actor`, valid from `at` for `lifetime` (None: until revoked)."""
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        expires_at = None if lifetime is None else at + lifetime
        identity = Identity(actor, organisation=organisation, all_organisations=all_organisations)
        record = TokenRecord(token_id, _digest(secret), identity, at, issued_by, expires_at)
        self._insert(record)
        return IssuedToken(f"{PREFIX}_{token_id}_{secret}", token_id, actor, expires_at)

    def revoke(self, token_id: str, *, at: datetime, revoked_by: str, reason: str) -> bool:
        """Revoke a token from now on; False if it was revoked already. Unknown ids raise."""
        done = self._revoke(token_id, at=at, revoked_by=revoked_by, reason=reason)
        self._verified = {t: v for t, v in self._verified.items() if v[1].token_id != token_id}
        return done

    def records(self) -> list[TokenRecord]:
        """Every token issued, oldest first, with its expiry and revocation."""
        return sorted(self._records(None), key=lambda r: r.issued_at)

    def verify(self, token: str, *, at: datetime) -> Identity:
        """Whom a token speaks for at time `at`; TokenRejected says why it does not."""
        cached = self._verified.get(token)
        if cached is not None and cached[0] > time.monotonic():
            record = cached[1]
        else:
            record = self._lookup(token)
            if len(self._verified) >= 10_000:
                self._verified.clear()
            self._verified[token] = (time.monotonic() + self.cache_seconds, record)
        if record.revoked_at is not None:
            raise TokenRejected("the token was revoked")
        if record.expires_at is not None and at >= record.expires_at:
            raise TokenRejected("the token has expired")
        return record.identity

    def _lookup(self, token: str) -> TokenRecord:
        prefix, _, rest = token.partition("_")
        token_id, _, secret = rest.partition("_")
        if prefix != PREFIX or not token_id or not secret:
            raise TokenRejected("not a token of this service")
        found = self._records(token_id)
        if not found or not hmac.compare_digest(found[0].secret_sha256, _digest(secret)):
            raise TokenRejected("unknown token")
        return found[0]


class SQLiteTokenStore(TokenStore):
    def __init__(self, path: Path | str, *, cache_seconds: float = 10.0) -> None:
        super().__init__(cache_seconds=cache_seconds)
        self.path = str(path)
        self._local = threading.local()
        migrate_sqlite(self._conn(), _migrations("BLOB"))

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
        return conn

    def _insert(self, record: TokenRecord) -> None:
        self._conn().execute(
            "INSERT INTO api_tokens (token_id, secret_sha256, actor_id, role, issued_at,"
            " issued_by, expires_at, organisation, all_organisations)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            record.row(),
        )

    def _revoke(self, token_id: str, *, at: datetime, revoked_by: str, reason: str) -> bool:
        if not self._records(token_id):
            raise KeyError(f"no token {token_id}")
        done = self._conn().execute(
            "INSERT INTO api_token_revocations VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (token_id, at.isoformat(), revoked_by, reason),
        )
        return done.rowcount == 1

    def _records(self, token_id: str | None) -> list[TokenRecord]:
        if token_id is None:
            rows = self._conn().execute(_SELECT).fetchall()
        else:
            rows = self._conn().execute(_SELECT + " WHERE t.token_id = ?", (token_id,)).fetchall()
        return [TokenRecord.of(row) for row in rows]

    def close(self) -> None:
        """Close this thread's connection (other threads' close when they end)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class PostgresTokenStore(TokenStore):
    """Tokens in PostgreSQL, shared by every API process. Takes over the pool: close() closes it."""

    def __init__(self, pool: Pool, *, cache_seconds: float = 10.0) -> None:
        super().__init__(cache_seconds=cache_seconds)
        self._pool = pool
        with pool.connection() as conn:
            migrate_postgres(conn, _migrations("BYTEA"))

    def _insert(self, record: TokenRecord) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO api_tokens (token_id, secret_sha256, actor_id, role, issued_at,"
                " issued_by, expires_at, organisation, all_organisations)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                record.row(),
            )

    def _revoke(self, token_id: str, *, at: datetime, revoked_by: str, reason: str) -> bool:
        if not self._records(token_id):
            raise KeyError(f"no token {token_id}")
        with self._pool.connection() as conn:
            done = conn.execute(
                "INSERT INTO api_token_revocations VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (token_id, at.isoformat(), revoked_by, reason),
            )
            return done.rowcount == 1

    def _records(self, token_id: str | None) -> list[TokenRecord]:
        with self._pool.connection() as conn:
            if token_id is None:
                rows = conn.execute(_SELECT).fetchall()
            else:
                rows = conn.execute(_SELECT + " WHERE t.token_id = %s", (token_id,)).fetchall()
        return [TokenRecord.of(tuple(row)) for row in rows]

    def close(self) -> None:
        self._pool.close()


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()
