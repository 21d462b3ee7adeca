"""Crypto-shredding: each person's own data is stored sealed under a key of theirs, kept apart
from the event store, so that destroying the key erases the data wherever its stored bytes went
(the store, the Kafka topic, evidence packs, backups of the store) while every event stays, the
ledger still verifies, and the store is never changed (docs/privacy.md).

An event type names its personal fields (`DomainEvent.personal`) and whose they are
(`data_subject`). As an event is stored, each such field's JSON value becomes

    {"sealed": "<base64 of nonce + AES-256-GCM ciphertext>", "for": "<subject id>"}

bound to its type, field and subject (the associated data). As it is read, the value comes back;
once the key is destroyed it reads as empty, or as SHREDDED where the field cannot be empty. A
field stored in the clear (before sealing, or by a mapper without keys) of a subject since erased
reads the same way, so every reader sees one answer.

The keys: a table of (subject, key) and a table of the subjects erased, in a SQLite file of their
own beside the event store (embedded mode, `secure_delete` on, so a deleted key's bytes are
overwritten) or in the service's PostgreSQL database (`VACUUM FULL` after a deletion, so no dead
row keeps it). What a key store cannot reach: copies of itself (backups, PostgreSQL's WAL) keep a
key until they age out; docs/privacy.md says how long.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.events import SHREDDED, DomainEvent
from infra.pg import Pool, open_pool, schema_change

KEY_BYTES = 32
NONCE_BYTES = 12


class Erased(Enum):
    """The answer for a subject whose key is destroyed."""

    ERASED = "erased"


ERASED = Erased.ERASED
#: A subject's key, ERASED, or None for a subject that never had one.
Lookup = bytes | Erased | None


class KeyMissing(ValueError):
    """A sealed value whose subject the key store has never heard of: the store was restored
    without its key store, or another store's events were copied in."""


class Unopenable(ValueError):
    """A sealed value its subject's key does not open: moved from another field, or altered."""


class SubjectErased(Exception):
    """Personal data of an erased subject was about to be stored (sealed under no key)."""


class SubjectKeys(Protocol):
    def key(self, subject: UUID, *, create: bool = False) -> Lookup:
        """The subject's key (made and kept first if `create` and there is none yet)."""
        ...

    def erase(self, subject: UUID, at: datetime) -> bool:
        """Destroy the subject's key for good and remember that it was; False if it already was."""
        ...

    def close(self) -> None: ...


# -- sealing --------------------------------------------------------------------------------------


class Sealer:
    """Seals an event's personal fields as it is stored, and opens them as it is read."""

    def __init__(self, keys: SubjectKeys) -> None:
        self.keys = keys

    def seal(self, cls: type[DomainEvent], state: bytes) -> bytes:
        """A stored state (the event's JSON) with its personal fields sealed."""
        fields = orjson.loads(state)
        present = [name for name in cls.personal if _plain(fields.get(name))]
        subject = cls.data_subject(fields) if present else None
        if subject is None:
            return state
        key = self.keys.key(subject, create=True)
        if not isinstance(key, bytes):
            raise SubjectErased(f"{cls.type_name}: its subject {subject}'s data is erased")
        aead = AESGCM(key)
        for name in present:
            nonce = os.urandom(NONCE_BYTES)
            sealed = aead.encrypt(nonce, orjson.dumps(fields[name]), _bound(cls, name, subject))
            text = base64.b64encode(nonce + sealed).decode()
            fields[name] = {"sealed": text, "for": str(subject)}
        return orjson.dumps(fields)

    def unseal(self, cls: type[DomainEvent], fields: dict[str, Any]) -> dict[str, Any]:
        """An event's fields (stored JSON, parsed) with its personal fields opened, in place."""
        present = [name for name in cls.personal if fields.get(name) is not None]
        if not present:
            return fields
        subject = cls.data_subject(fields)
        if subject is None:
            return fields
        key = self.keys.key(subject)
        if key is ERASED:
            for name in present:
                fields[name] = _erased(cls, name)
            return fields
        for name in present:
            value = fields[name]
            if _plain(value):
                continue  # stored before sealing: its subject's key came later, or never
            if key is None:
                raise KeyMissing(
                    f"{cls.type_name}.{name} is sealed for {subject}, whom the key store does not"
                    " know: was the event store restored without its key store?"
                )
            assert isinstance(key, bytes)
            blob = base64.b64decode(value["sealed"])
            try:
                opened = AESGCM(key).decrypt(
                    blob[:NONCE_BYTES], blob[NONCE_BYTES:], _bound(cls, name, subject)
                )
            except InvalidTag:
                raise Unopenable(
                    f"{cls.type_name}.{name} does not open with {subject}'s key: not sealed for"
                    " this field of this type, or changed since"
                ) from None
            fields[name] = orjson.loads(opened)
        return fields

    def unseal_state(self, cls: type[DomainEvent], state: bytes) -> bytes:
        """A stored state with its personal fields opened (the mapper's way in)."""
        return orjson.dumps(self.unseal(cls, orjson.loads(state)))


def _plain(value: Any) -> bool:
    """A field's value as the event has it: anything but a sealed object (and not empty)."""
    return value is not None and not (isinstance(value, dict) and "sealed" in value)


def _bound(cls: type[DomainEvent], name: str, subject: UUID) -> bytes:
    """What a sealed value is bound to: it opens as this field of this type for this subject."""
    return f"{cls.type_name}\n{name}\n{subject}".encode()


def _erased(cls: type[DomainEvent], name: str) -> Any:
    """What an erased field reads as: empty where it may be, SHREDDED where it must hold text."""
    return None if not cls.model_fields[name].is_required() else SHREDDED


# -- the key stores -------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat()


class SQLiteSubjectKeys:
    """The keys in a SQLite file of their own (embedded mode): deletable, unlike the event store,
    and with `secure_delete` so a destroyed key's bytes are overwritten in the file. The default
    rollback journal (not WAL) holds a page only for the length of its transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA secure_delete = ON")
        self._db.execute("PRAGMA journal_mode = DELETE")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS subject_keys
                (subject TEXT PRIMARY KEY, key BLOB NOT NULL, made_at TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS erased_subjects
                (subject TEXT PRIMARY KEY, erased_at TEXT NOT NULL);
            """
        )

    def key(self, subject: UUID, *, create: bool = False) -> Lookup:
        with self._lock:
            found = self._lookup(str(subject))
            if found is None and create:
                self._db.execute(
                    "INSERT OR IGNORE INTO subject_keys VALUES (?, ?, ?)",
                    (str(subject), os.urandom(KEY_BYTES), _now()),
                )
                found = self._lookup(str(subject))
            return found

    def _lookup(self, subject: str) -> Lookup:
        erased, key = self._db.execute(
            "SELECT (SELECT 1 FROM erased_subjects WHERE subject = ?),"
            " (SELECT key FROM subject_keys WHERE subject = ?)",
            (subject, subject),
        ).fetchone()
        if erased:
            return ERASED
        return bytes(key) if key is not None else None

    def erase(self, subject: UUID, at: datetime) -> bool:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM subject_keys WHERE subject = ?", (str(subject),))
                added = self._db.execute(
                    "INSERT OR IGNORE INTO erased_subjects VALUES (?, ?)",
                    (str(subject), at.isoformat()),
                ).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return bool(added)

    def close(self) -> None:
        with self._lock:
            self._db.close()


class PostgresSubjectKeys:
    """The keys in the service's PostgreSQL database, in tables the service may delete from (the
    events table refuses it). After a key is deleted, `VACUUM FULL` rewrites the (small) table so
    no dead row keeps the key's bytes."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        with pool.connection() as conn, schema_change(conn):
            conn.execute(
                "CREATE TABLE IF NOT EXISTS subject_keys"
                " (subject UUID PRIMARY KEY, key BYTEA NOT NULL, made_at TIMESTAMPTZ NOT NULL)"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS erased_subjects"
                " (subject UUID PRIMARY KEY, erased_at TIMESTAMPTZ NOT NULL)"
            )

    @contextmanager
    def _conn(self) -> Iterator[Any]:
        with self._pool.connection() as conn:
            yield conn

    def key(self, subject: UUID, *, create: bool = False) -> Lookup:
        with self._conn() as conn:
            found = self._lookup(conn, subject)
            if found is None and create:
                conn.execute(
                    "INSERT INTO subject_keys VALUES (%s, %s, now()) ON CONFLICT DO NOTHING",
                    (subject, os.urandom(KEY_BYTES)),
                )
                found = self._lookup(conn, subject)
            return found

    @staticmethod
    def _lookup(conn: Any, subject: UUID) -> Lookup:
        row = conn.execute(
            "SELECT (SELECT true FROM erased_subjects WHERE subject = %s),"
            " (SELECT key FROM subject_keys WHERE subject = %s)",
            (subject, subject),
        ).fetchone()
        if row[0]:
            return ERASED
        return bytes(row[1]) if row[1] is not None else None

    def erase(self, subject: UUID, at: datetime) -> bool:
        with self._conn() as conn:
            with conn.transaction():
                conn.execute("DELETE FROM subject_keys WHERE subject = %s", (subject,))
                added = conn.execute(
                    "INSERT INTO erased_subjects VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (subject, at),
                ).rowcount
            conn.execute("VACUUM FULL subject_keys")  # outside the transaction, as it must be
            return bool(added)

    def close(self) -> None:
        self._pool.close()


def open_subject_keys(place: str) -> SubjectKeys:
    """The key store at `place`: a PostgreSQL URL, or a SQLite file (Settings.subject_keys_at)."""
    if place.startswith(("postgresql://", "postgres://")):
        return PostgresSubjectKeys(open_pool(place, max_size=2, name="itsm-subject-keys"))
    return SQLiteSubjectKeys(Path(place))
