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

An S3-compatible object store may come later behind the same four methods (put under the hash,
get, delete, has); nothing outside this module would change.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
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
            return sha256
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
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
)
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
                " ON CONFLICT (sha256) DO NOTHING",
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

    def close(self) -> None:
        self.pool.close()


def open_blob_store(settings: Settings) -> BlobStore:
    """The store the settings name: PostgreSQL's table when the service runs on PostgreSQL, else
    the directory (`attachments_dir`, by default `attachments/` in the data directory)."""
    if settings.database_url is not None:
        from infra.pg import open_pool

        return PostgresBlobStore(open_pool(settings.database_url, max_size=4, name="itsm-blobs"))
    return DirectoryBlobStore(settings.attachments_directory())
