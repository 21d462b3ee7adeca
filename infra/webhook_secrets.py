"""The secrets webhook endpoints are signed with, kept in files beside the service and never in the
store: `<directory>/<code>.secret` (mode 0600), and during a rotation the secret before it as
`<code>.secret.previous`. The record (domain/webhook_endpoint.py) holds only each secret's
fingerprint, so a database dump or a Kafka reader learns nothing to forge a webhook with.

A file is written whole under a temporary name and renamed into place (fsync'd, then the directory
too), so a reader finds the old secret or the new one, never half of one. The application writes
it *before* the event that records its fingerprint: a crash in between leaves a file no record
names (the next registration of that code replaces it), never a record whose secret is lost.

Rotation keeps the secret before as `.previous` until the next rotation: the Standard Webhooks
specification lets one `webhook-signature` header carry several signatures (space-separated), and
receivers accept a message if any of them verifies, so the notifier signs with both
(`infra.webhooks_out.sign`) while the receivers are moved over to the new one.

`lock()` serialises the make-write-record steps of registrations and rotations across the threads
and processes of this host (an flock on `<directory>/.lock`): two at once would otherwise leave a
file holding the secret of the one whose event the store refused. With PostgreSQL and several
hosts, the directory is shared by all of them (or copied to each after every change): see
docs/notifications.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from domain.directory import CODE_PATTERN
from infra.webhooks_out import new_secret

_CODE = re.compile(CODE_PATTERN)
SUFFIX = ".secret"
PREVIOUS = ".secret.previous"


class WebhookSecrets:
    """The secrets of every endpoint, in one directory (created, mode 0700, on first write)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    # -- paths ------------------------------------------------------------------------------------

    def path(self, code: str) -> Path:
        """The file of an endpoint's secret."""
        return self.directory / f"{_checked(code)}{SUFFIX}"

    def previous_path(self, code: str) -> Path:
        return self.directory / f"{_checked(code)}{PREVIOUS}"

    # -- reads ------------------------------------------------------------------------------------

    def get(self, code: str) -> str | None:
        """The endpoint's secret, or None if no file holds one."""
        return _read(self.path(code))

    def previous(self, code: str) -> str | None:
        """The secret before the last rotation, while receivers are moved over; else None."""
        return _read(self.previous_path(code))

    def signing(self, code: str) -> list[str]:
        """The secrets to sign the endpoint's webhooks with: the current one, then the one
        before the last rotation if it is kept. Empty if there is none."""
        return [s for s in (self.get(code), self.previous(code)) if s is not None]

    # -- writes -----------------------------------------------------------------------------------

    def create(self, code: str) -> str:
        """A fresh secret for a newly registered endpoint, kept (replacing a file no record
        names, as a crash before the registration's event leaves one), with no previous one."""
        secret = new_secret()
        _write(self.path(code), secret)
        _remove(self.previous_path(code))
        return secret

    def rotate(self, code: str) -> str:
        """A fresh secret for the endpoint; the one it replaces is kept as `.previous` (the one
        before that is dropped)."""
        current = self.get(code)
        if current is not None:
            _write(self.previous_path(code), current)
        secret = new_secret()
        _write(self.path(code), secret)
        return secret

    def restore(self, code: str, current: str | None, previous: str | None) -> None:
        """Put the files back as they were (`get` and `previous` before a write): what the
        application does when the store refuses the event that would have recorded it."""
        for path, secret in ((self.path(code), current), (self.previous_path(code), previous)):
            if secret is None:
                _remove(path)
            else:
                _write(path, secret)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Held while a secret is made, written and its event recorded (see the module's doc).
        An flock on a fresh open file: it excludes this process's other threads too."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the flock


def _checked(code: str) -> str:
    """The code, checked again here: it names a file, so it must not name another directory."""
    if not _CODE.fullmatch(code):
        raise ValueError(f"{code!r} is not an endpoint code")
    return code


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip() or None
    except FileNotFoundError:
        return None


def _write(path: Path, secret: str) -> None:
    """`secret` in `path`, mode 0600, atomically: a temporary file renamed over it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(secret + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise
    _sync_directory(path.parent)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    """The rename (or unlink) itself made durable: fsync of the directory."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
