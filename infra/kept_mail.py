"""The bytes of mail that could not be applied, kept by their SHA-256 under the data directory
(`<data_dir>/mail/dead/<sha256>.eml`), so that nothing received is lost and a dead letter can be
replayed after the mailbox has long moved on.

Content-addressed: the same bytes are one file, whoever keeps them and however often, and a
file's name proves its content (`read` checks it). A file is written to a temporary name, synced,
renamed into place and its directory synced, before the event that names its hash is written:
a crash leaves either no file (and no event) or a whole file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

_HASH = re.compile(r"[0-9a-f]{64}")


class KeptMailMissing(LookupError):
    """No kept bytes by that hash (or the file no longer matches its name)."""


class KeptMail:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, sha256: str) -> Path:
        if not _HASH.fullmatch(sha256):
            raise ValueError("a SHA-256 is 64 lower-case hexadecimal digits")
        return self.directory / f"{sha256}.eml"

    def keep(self, raw: bytes) -> str:
        """Keep the bytes (durably) and return their SHA-256."""
        digest = hashlib.sha256(raw).hexdigest()
        target = self.path(digest)
        if target.exists() and target.stat().st_size == len(raw):
            return digest
        self.directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".keep-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(raw)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return digest

    def read(self, sha256: str) -> bytes:
        try:
            raw = self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise KeptMailMissing(f"no kept message {sha256}") from None
        if hashlib.sha256(raw).hexdigest() != sha256:
            raise KeptMailMissing(f"the kept message {sha256} no longer matches its hash")
        return raw
