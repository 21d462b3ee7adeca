"""The content-addressed store of attachments' bytes, behind one interface (`BlobStore`).

A blob is named by the SHA-256 of its bytes, the hash its record's event names
(domain/attachments.py): the same bytes are stored once, whatever records hold them, and a blob
cannot be changed without changing its name. The bytes are written before the event that names
them (application/attachments.py), so an event never names bytes the store lacks; a crash between
leaves a blob no event names, which costs space and nothing else.

- `DirectoryBlobStore` (embedded mode): a file per blob under `<data_dir>/attachments/ab/cd/<hash>`,
  written whole under a temporary name, fsynced, then renamed into place (and the directory
  fsynced), so a reader finds the whole blob or none.
- `PostgresBlobStore` (at scale): a table of blobs in the service's database, so every API process
  reads what any of them stored.

An S3-compatible object store may come later behind the same methods (put under the hash, get,
delete, has; and for the sweep, `held` and `delete_if_older`); nothing outside this module would
change.

A blob no event names (a crash between the bytes and the event, a refused command) is found and
deleted by `itsm attachments sweep` (processes/attachment_sweep.py), only once it is older than a
grace period: each blob keeps when it was last stored (`HeldBlob.stored_at`: the file's mtime, the
row's `stored_at`), and storing the same bytes again renews it, so an upload in flight, whose event
is not written yet, is never swept, even when its bytes were an old orphan's.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from infra.pg import Pool

if TYPE_CHECKING:
    from infra.settings import Settings

_HASH = re.compile(r"^[0-9a-f]{64}$")


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _checked(sha256: str) -> str:
    """A blob's name, refused unless it is a hash (it becomes a path, and a key)."""
    if not _HASH.match(sha256):
        raise ValueError(f"not a SHA-256 in hex: {sha256!r}")
    return sha256


#: What a directory store's file is named while it is written, and while the sweep deletes it:
#: either left behind by a crash is a partial blob, swept like an unnamed one.
INCOMING, SWEEPING = ".incoming-", ".sweeping-"


@dataclass(frozen=True, slots=True)
class HeldBlob:
    """A blob the store holds: its name (the SHA-256; a partial one's, its file's name), its
    size, and when it was last stored (UTC)."""

    name: str
    size: int
    stored_at: datetime
    #: A write a crash cut short (a directory store's temporary file): no hash names it.
    partial: bool = False


class BlobStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store the bytes (once: storing them again changes nothing); their SHA-256."""
        ...

    def get(self, sha256: str) -> bytes | None:
        """The bytes of that hash, or None if the store holds none (never stored, or deleted)."""
        ...

    def delete(self, sha256: str) -> None:
        """Delete the bytes of that hash, if held (a file removed for privacy)."""
        ...

    def has(self, sha256: str) -> bool: ...

    def held(self) -> Iterator[HeldBlob]:
        """Every blob held (and partial one left), in no particular order."""
        ...

    def delete_if_older(self, blob: HeldBlob, before: datetime) -> bool:
        """Delete the blob if it was last stored before `before` (asked again as it is deleted:
        bytes stored again meanwhile stay); whether it was deleted."""
        ...


class DirectoryBlobStore:
    """Blobs as files in a directory: the embedded mode's store."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        name = _checked(sha256)
        return self.root / name[:2] / name[2:4] / name

    def put(self, data: bytes) -> str:
        sha256 = sha256_of(data)
        target = self.path(sha256)
        if target.exists():
            try:
                os.utime(target)  # stored again: its grace before a sweep starts again
                return sha256
            except FileNotFoundError:
                pass  # swept just now: written again below
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=INCOMING)
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_directory(target.parent)
        return sha256

    def get(self, sha256: str) -> bytes | None:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, sha256: str) -> None:
        target = self.path(sha256)
        target.unlink(missing_ok=True)
        _fsync_directory(target.parent)

    def has(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def held(self) -> Iterator[HeldBlob]:
        for file in self.root.glob("??/??/*"):
            name = file.name
            partial = name.startswith((INCOMING, SWEEPING))
            if not partial and not _HASH.match(name):
                continue  # not the store's
            try:
                stat = file.stat()
            except FileNotFoundError:
                continue  # deleted (or renamed into place) as the directory was read
            stored_at = datetime.fromtimestamp(stat.st_mtime, UTC)
            yield HeldBlob(name, stat.st_size, stored_at, partial)

    def delete_if_older(self, blob: HeldBlob, before: datetime) -> bool:
        """Moved aside first (atomically), then its time read again: a `put` of the same bytes
        either renewed the time before the move (the blob is put back) or finds no blob after it
        (and writes it again)."""
        if blob.partial:
            found = list(self.root.glob(f"??/??/{glob_escaped(blob.name)}"))
            if not found:
                return False
            path = found[0]
        else:
            path = self.path(blob.name)
        aside = path.with_name(SWEEPING + path.name.removeprefix(SWEEPING))
        try:
            os.replace(path, aside)
        except FileNotFoundError:
            return False
        if datetime.fromtimestamp(aside.stat().st_mtime, UTC) >= before:
            os.replace(aside, path)  # stored again meanwhile: it stays
            return False
        aside.unlink()
        _fsync_directory(path.parent)
        return True


def glob_escaped(name: str) -> str:
    """A file name as a glob pattern matching it alone."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def _fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in `directory` durable (the entry, not only the file)."""
    if not directory.exists():
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


SCHEMA = """
CREATE TABLE IF NOT EXISTS attachment_blobs (
    sha256 TEXT PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size BIGINT NOT NULL,
    bytes BYTEA NOT NULL
);
-- when the bytes were last stored, for the sweep's grace (rows stored before it: from now)
ALTER TABLE attachment_blobs ADD COLUMN IF NOT EXISTS stored_at TIMESTAMPTZ NOT NULL DEFAULT now()
"""


class PostgresBlobStore:
    """Blobs as rows of a table in the service's PostgreSQL database: the store at scale."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        with pool.connection() as conn:
            conn.execute(SCHEMA)

    def put(self, data: bytes) -> str:
        sha256 = sha256_of(data)
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO attachment_blobs (sha256, size, bytes) VALUES (%s, %s, %s)"
                " ON CONFLICT (sha256) DO UPDATE SET stored_at = now()",  # its grace anew
                (sha256, len(data), data),
            )
        return sha256

    def get(self, sha256: str) -> bytes | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT bytes FROM attachment_blobs WHERE sha256 = %s", (_checked(sha256),)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def delete(self, sha256: str) -> None:
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM attachment_blobs WHERE sha256 = %s", (_checked(sha256),))

    def has(self, sha256: str) -> bool:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT 1 FROM attachment_blobs WHERE sha256 = %s", (_checked(sha256),)
            ).fetchone()
        return row is not None

    def held(self) -> Iterator[HeldBlob]:
        """Read in pages by hash (a cursor on the table would hold a connection throughout)."""
        after = ""
        while True:
            with self.pool.connection() as conn:
                rows = conn.execute(
                    "SELECT sha256, size, stored_at FROM attachment_blobs WHERE sha256 > %s"
                    " ORDER BY sha256 LIMIT %s",
                    (after, HELD_PAGE),
                ).fetchall()
            for sha256, size, stored_at in rows:
                yield HeldBlob(sha256, size, stored_at.astimezone(UTC))
            if len(rows) < HELD_PAGE:
                return
            after = rows[-1][0]

    def delete_if_older(self, blob: HeldBlob, before: datetime) -> bool:
        """One statement: a `put` of the same bytes either renewed the row first (it stays) or
        comes after (and inserts it again)."""
        with self.pool.connection() as conn:
            deleted = conn.execute(
                "DELETE FROM attachment_blobs WHERE sha256 = %s AND stored_at < %s",
                (_checked(blob.name), before),
            ).rowcount
        return deleted == 1

    def close(self) -> None:
        self.pool.close()


#: How many blobs' names `PostgresBlobStore.held` reads at a time.
HELD_PAGE = 1_000


def open_blob_store(settings: Settings) -> BlobStore:
    """The store the settings name: PostgreSQL's table when the service runs on PostgreSQL, else
    the directory (`attachments_dir`, by default `attachments/` in the data directory)."""
    if settings.database_url is not None:
        from infra.pg import open_pool

        return PostgresBlobStore(open_pool(settings.database_url, max_size=4, name="itsm-blobs"))
    return DirectoryBlobStore(settings.attachments_directory())
