"""How a backup is taken and put back: the copy of each kind of thing the service stores, the
manifest that says what a complete backup holds, and the checks a restore makes first.

A backup is a directory:

    manifest.json            written last: a backup without it did not finish, and is refused
    files/<name>             each part, as named in the manifest

and, where its keys are kept apart from its data (`itsm backup --secrets DIR`: the keys that seal
events and sign checkpoints, and the webhooks' secrets, are what a database backup must not
hold, docs/audit.md), a second directory of the same shape holding those parts (its manifest
the same, written last too).

Kinds of part:
- `sqlite`: a SQLite database, copied with SQLite's online backup API from inside one read
  transaction, so the copy is the database at one moment while writers go on (in WAL mode they
  are not blocked, and the copy never restarts); page-stepped, with progress.
- `file`: one file (a key), copied whole.
- `tree`: a directory of files (attachments, webhook secrets), each copied whole; names that
  start with a dot are files being written or removed (`.incoming-`, a key's temporary name)
  and are left out.
- `pg_dump`: a PostgreSQL database as `pg_dump --format=custom` writes it, from one exported
  snapshot, so that the position recorded beside it is that snapshot's.

What the service stores, and in which order it must be copied, is service/backup.py's.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg

from infra.pg import PostgresAddress
from infra.postgres_server import find_bin_dir

FORMAT = "itsm-backup/1"
MANIFEST = "manifest.json"
FILES = "files"

Kind = Literal["sqlite", "file", "tree", "pg_dump"]

#: Progress of a backup or a restore: what is being copied (or checked), bytes done, bytes in all.
Progress = Callable[[str, int, int], None]

#: Pages copied per step of SQLite's backup (4 MiB at 4 KiB pages): small enough to report
#: progress and to be throttled, large enough that the steps cost nothing beside the copy.
PAGES_PER_STEP = 1024

_CHUNK = 1 << 20


class BackupRefused(Exception):
    """A backup that cannot be taken as asked (its destination is not empty, a source is
    missing, a tool is not installed)."""


class RestoreRefused(Exception):
    """A backup that must not be restored (incomplete, altered, for another backend) or a
    target that must not be overwritten."""


@dataclass(frozen=True)
class Entry:
    """One file of a backup, as its manifest lists it."""

    #: The part it belongs to (events.db, attachments, ...).
    part: str
    kind: Kind
    #: Its path under the backup's `files/`.
    name: str
    bytes: int
    sha256: str
    #: Kept apart from the data, in the secrets directory (`itsm backup --secrets`).
    apart: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "kind": self.kind,
            "name": self.name,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "apart": self.apart,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        name = str(data["name"])
        if name.startswith("/") or ".." in Path(name).parts:
            raise RestoreRefused(f"the manifest names a file outside the backup: {name!r}")
        kind = data["kind"]
        if kind not in ("sqlite", "file", "tree", "pg_dump"):
            raise RestoreRefused(f"the manifest names an unknown kind of part: {kind!r}")
        return cls(
            part=str(data["part"]),
            kind=kind,
            name=name,
            bytes=int(data["bytes"]),
            sha256=str(data["sha256"]),
            apart=bool(data.get("apart", False)),
        )


@dataclass
class Manifest:
    """What a complete backup holds, and the moment it restores to."""

    backend: Literal["sqlite", "postgres"]
    #: The event store's last position in the backup: the point it restores to.
    position: int
    started_at: datetime
    finished_at: datetime
    service_version: str
    #: The parts in the order they were copied, each with why it comes there.
    order: list[dict[str, str]] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(entry.bytes for entry in self.entries)

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "backend": self.backend,
            "event_store_position": self.position,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "service_version": self.service_version,
            "bytes": self.total_bytes,
            "order": self.order,
            "files": [entry.as_json() for entry in self.entries],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        if data.get("format") != FORMAT:
            raise RestoreRefused(f"not a backup of this service ({FORMAT}): {data.get('format')!r}")
        backend = data["backend"]
        if backend not in ("sqlite", "postgres"):
            raise RestoreRefused(f"a backup of an unknown backend: {backend!r}")
        return cls(
            backend=backend,
            position=int(data["event_store_position"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            finished_at=datetime.fromisoformat(data["finished_at"]),
            service_version=str(data["service_version"]),
            order=list(data.get("order", [])),
            entries=[Entry.from_json(entry) for entry in data["files"]],
        )

    def write(self, backup: Path) -> None:
        """The manifest into the backup, last and atomically: until it is there, the backup is
        incomplete."""
        write_atomically(
            backup / MANIFEST, orjson.dumps(self.as_json(), option=orjson.OPT_INDENT_2)
        )

    @classmethod
    def read(cls, backup: Path) -> Manifest:
        path = backup / MANIFEST
        if not path.is_file():
            raise RestoreRefused(
                f"{backup} holds no {MANIFEST}: the backup did not finish (or this is not a"
                " backup); restore an earlier, complete one"
            )
        try:
            data = orjson.loads(path.read_bytes())
            return cls.from_json(data)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise RestoreRefused(f"{path} is not a readable manifest: {error}") from None


# -- files ----------------------------------------------------------------------------------------


def write_atomically(path: Path, body: bytes) -> None:
    """`body` at `path`, whole or not at all: written beside it, synced, renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as file:
        file.write(body)
        file.flush()
        os.fsync(file.fileno())
    os.replace(name, path)
    sync_directory(path.parent)


def sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def digest(path: Path, progress: Callable[[int], None] | None = None) -> str:
    """The file's SHA-256 in hex (`progress` told the bytes read so far)."""
    sha = hashlib.sha256()
    done = 0
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            sha.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done)
    return sha.hexdigest()


def copy_file(source: Path, target: Path, progress: Callable[[int], None] | None = None) -> str:
    """Copy a file whole, synced; its SHA-256 as copied."""
    target.parent.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256()
    done = 0
    with source.open("rb") as reading, target.open("wb") as writing:
        while chunk := reading.read(_CHUNK):
            sha.update(chunk)
            writing.write(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done)
        writing.flush()
        os.fsync(writing.fileno())
    shutil.copymode(source, target)
    return sha.hexdigest()


def tree_files(root: Path) -> Iterator[Path]:
    """The files under `root` a backup holds, sorted: not those whose name starts with a dot
    (a file being written under a temporary name, or being swept)."""
    if not root.is_dir():
        return
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(directory) / name


def is_empty_place(path: Path) -> bool:
    """Nothing there, or an empty directory."""
    if not path.exists():
        return True
    return path.is_dir() and not any(path.iterdir())


def remove_place(path: Path) -> None:
    """Remove a file (with its SQLite companions) or a directory tree, if there."""
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    for suffix in SQLITE_COMPANIONS:
        Path(f"{path}{suffix}").unlink(missing_ok=True)


#: The files SQLite keeps beside a database while it is open (a restored database must have none
#: from before: a stale write-ahead log would be replayed onto it).
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


# -- SQLite ---------------------------------------------------------------------------------------


def sqlite_size(path: Path) -> int:
    """The bytes a backup of this database copies (its pages, the write-ahead log's included)."""
    with closing_sqlite(path) as conn:
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    return pages * size


@contextmanager
def closing_sqlite(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        yield conn
    finally:
        conn.close()


def backup_sqlite(
    source: Path,
    target: Path,
    progress: Callable[[int], None] | None = None,
    *,
    pages_per_step: int = PAGES_PER_STEP,
    read: Callable[[sqlite3.Connection], Any] | None = None,
) -> Any:
    """Copy the SQLite database `source` to `target` (which must not exist) as it stands at one
    moment, while other connections and processes go on writing to it.

    The copy runs inside one read transaction on the source: in WAL mode a reader holds its
    snapshot for as long as its transaction lasts, and the backup API, reading through that
    connection, copies that snapshot, whatever is committed meanwhile (it would restart after
    every commit otherwise, and on a busy store might never finish). The log cannot be
    checkpointed past the snapshot while the copy runs: it grows by what is written meanwhile.

    `read`, if given, is run in the same transaction before the copy (the event store's head,
    say) and its answer returned."""
    if target.exists():
        raise BackupRefused(f"{target} exists already")
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(source, isolation_level=None, timeout=30)
    try:
        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_schema").fetchone()  # takes the snapshot
        answer = read(src) if read is not None else None
        page_size = int(src.execute("PRAGMA page_size").fetchone()[0])
        dst = sqlite3.connect(target, isolation_level=None)
        try:

            def step(_status: int, remaining: int, total: int) -> None:
                if progress is not None:
                    progress((total - remaining) * page_size)

            src.backup(dst, pages=max(pages_per_step, 1), progress=step)
            dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            dst.close()
        src.execute("COMMIT")
    finally:
        src.close()
    for suffix in SQLITE_COMPANIONS:  # closed last, the copy's log is checkpointed and gone
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    with target.open("rb") as file:
        os.fsync(file.fileno())
    return answer


class Pace:
    """Keeps a copy at or under `rate` bytes a second (None: as fast as it goes), so that a
    backup leaves the disk to the service: `itsm backup --max-rate`."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._began = time.monotonic()
        self._done = 0

    def add(self, count: int) -> None:
        self._done += count
        if self.rate:
            ahead = self._done / self.rate - (time.monotonic() - self._began)
            if ahead > 0:
                time.sleep(ahead)


# -- PostgreSQL -----------------------------------------------------------------------------------


def pg_program(name: str) -> str:
    """A PostgreSQL client program: the newest Debian-installed version's (which reads dumps of
    every older server), else the one on PATH."""
    bin_dir = find_bin_dir()
    if bin_dir is not None and (bin_dir / name).is_file():
        return str(bin_dir / name)
    found = shutil.which(name)
    if found is None:
        raise BackupRefused(f"{name} is not installed: install PostgreSQL's client programs")
    return found


def pg_env(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password (it would show in the process list) and an environment that
    gives the password (PGPASSWORD) to a client program."""
    address = PostgresAddress.parse(url)
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    bare = urlunsplit(parts._replace(netloc=f"{parts.username}@{netloc}"))
    env = dict(os.environ)
    if address.password:
        env["PGPASSWORD"] = address.password
    return bare, env


def pg_dump(
    url: str,
    target: Path,
    position_sql: str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Dump the database at `url` into `target` (custom format) from one snapshot, exported by
    a transaction of ours that stays open while pg_dump runs; `position_sql` is read in that
    same snapshot, and its answer (the event store's head) returned: the dump holds exactly the
    events up to it. The dump comes through this process (`progress` told its bytes so far),
    so that it can be paced as a SQLite copy is."""
    if target.exists():
        raise BackupRefused(f"{target} exists already")
    target.parent.mkdir(parents=True, exist_ok=True)
    bare, env = pg_env(url)
    said: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()
        assert snapshot is not None
        head = conn.execute(position_sql).fetchone()
        command = [
            pg_program("pg_dump"),
            "--format=custom",
            f"--snapshot={snapshot[0]}",
            f"--dbname={bare}",
        ]
        with subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        ) as dump:
            assert dump.stdout is not None
            assert dump.stderr is not None
            errors = dump.stderr
            reader = threading.Thread(
                target=lambda: said.extend(errors.read().decode(errors="replace").splitlines()),
                daemon=True,
            )
            reader.start()
            done = 0
            with target.open("wb") as file:
                while chunk := dump.stdout.read(_CHUNK):
                    file.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done)
                file.flush()
                os.fsync(file.fileno())
            reader.join()
        if dump.returncode != 0:
            raise BackupRefused(f"pg_dump failed ({dump.returncode}): {' '.join(said)}")
    return int(head[0] or 0) if head else 0


def pg_size(url: str) -> int:
    """The database's size on disk: what its dump's progress is measured against (the dump,
    compressed and without indexes, comes out smaller)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0


def pg_relations(url: str) -> int:
    """How many tables, views and sequences the database holds outside PostgreSQL's own schemas."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND n.nspname NOT IN"
            " ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
            " AND n.nspname NOT LIKE 'pg_temp%'"
        ).fetchone()
    return int(row[0]) if row else 0


def pg_empty_schema(url: str) -> None:
    """Drop everything the service keeps in the database (its schema `public`), and make the
    schema again, empty: what `itsm restore --force` does to a database that is not empty."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def pg_restore(url: str, dump: Path, progress: Callable[[int, int], None] | None = None) -> None:
    """Load a custom-format dump into the (empty) database at `url`, in one transaction: a
    failure leaves it as it was. `progress(objects made, objects)` as it goes: the dump's table
    of contents counts its tables, their data, indexes, constraints and triggers."""
    bare, env = pg_env(url)
    program = pg_program("pg_restore")
    listed = subprocess.run(
        [program, "--list", str(dump)], check=False, capture_output=True, text=True
    )
    objects = sum(1 for line in listed.stdout.splitlines() if line and not line.startswith(";"))
    command = [
        program,
        "--verbose",
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        f"--dbname={bare}",
        str(dump),
    ]
    said: list[str] = []
    done = 0
    with subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as loading:
        assert loading.stderr is not None
        for line in loading.stderr:
            said.append(line.rstrip())
            if _MADE.search(line):
                done += 1
                if progress is not None:
                    progress(min(done, objects), max(objects, 1))
    if loading.returncode != 0:
        failed = [line for line in said if "error" in line.lower()] or said[-5:]
        raise RestoreRefused(f"pg_restore failed ({loading.returncode}): {' '.join(failed)}")
    if progress is not None:
        progress(1, 1)


#: What pg_restore --verbose says as it makes each object of the dump's table of contents.
_MADE = re.compile(r"pg_restore: (creating|processing data for|executing) ")


def now() -> datetime:
    return datetime.now(UTC)
