"""`itsm backup` and `itsm restore`: what the service stores, the order it is copied in, and why
that order restores to a consistent point (docs/operations.md).

The event store is the record; everything else either follows it (the views, the audit ledger,
the circulation pipeline's state) or is needed to read it (the keys people's data is sealed
under, the seal and signing keys, the attachments its events name by hash). Each part is copied
at its own moment, so the order decides what the restored set can disagree on:

- what follows the store is copied BEFORE it: a follower restored behind the store catches up at
  the next start (each keeps its position), one restored ahead of it would hold what the store
  does not (a ledger entry for an event the store lacks fails verification);
- what the store's events need is copied AFTER it: a key, a secret or an attachment's bytes is
  made before the event that needs it, so whatever the copied store names, the later copy holds.

On PostgreSQL the database is one `pg_dump` snapshot, consistent within itself; the parts outside
it keep the same rule around it. A restore checks every file's digest before it writes anything,
and destroys again the keys of every person whose erasure the restored store records.
"""

from __future__ import annotations

import importlib.metadata
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from uuid import UUID

import orjson
import psycopg

from audit.keys import DEFAULT_FILE as SIGNING_KEY_FILE
from audit.seals import DEFAULT_FILE as SEAL_KEY_FILE
from audit.signers import ROTATED_DIR
from audit.store import POSTGRES_EVENTS, SQLITE_EVENTS
from domain.directory import PersonErased
from infra.backup import (
    FILES,
    BackupRefused,
    Entry,
    Kind,
    Manifest,
    Pace,
    Progress,
    RestoreRefused,
    backup_sqlite,
    copy_file,
    digest,
    is_empty_place,
    now,
    pg_dump,
    pg_empty_schema,
    pg_relations,
    pg_restore,
    pg_size,
    remove_place,
    sqlite_size,
    sync_directory,
    tree_files,
)
from infra.settings import Settings
from infra.subject_keys import open_subject_keys

#: The name of the PostgreSQL dump in a backup.
DATABASE_DUMP = "database.dump"


@dataclass(frozen=True)
class Part:
    """Something the service stores, as a backup holds it."""

    name: str
    kind: Kind
    #: Where it is for a service of these settings (the backup's source, the restore's target).
    place: Callable[[Settings], Path]
    #: Why it is copied where it is in the order.
    why: str
    #: A secret the database's backups must not hold beside it (docs/audit.md, "Where the key
    #: lives"): kept apart with `itsm backup --secrets DIR`.
    secret: bool = False


FOLLOWS = "follows the store: copied before it, so it is never ahead (it catches up at start)"
NEEDED = "made before the events that need it: copied after the store, so it covers them all"
APART = "holds nothing the store refers to: its moment does not matter"


def _events(s: Settings) -> Path:
    return s.events_db


def _subject_keys(s: Settings) -> Path:
    return Path(s.subject_keys_at)


def _seal_key(s: Settings) -> Path:
    return s.audit_seal_key_file or s.data_dir / SEAL_KEY_FILE


def _signing_key(s: Settings) -> Path:
    return s.audit_signing_key_file or s.data_dir / SIGNING_KEY_FILE


def _unused(_: Settings) -> Path:  # the database itself: no path
    return Path()


def parts(settings: Settings) -> list[Part]:
    """What a backup of this service holds, in the order it is copied."""
    embedded = settings.database_url is None
    keys_apart = not settings.subject_keys_at.startswith(("postgresql://", "postgres://"))
    plan: list[Part] = []
    if embedded:
        plan += [
            Part("views.db", "sqlite", lambda s: s.views_db, FOLLOWS),
            Part("audit.db", "sqlite", lambda s: s.audit_db, FOLLOWS + "; never ahead: verified"),
        ]
    plan.append(
        Part(
            "circulation.db",
            "sqlite",
            lambda s: s.circulation_db,
            FOLLOWS + "; a message applied again finds its plan outcome by idempotency key",
        )
    )
    if embedded:
        plan += [
            Part("console.db", "sqlite", lambda s: s.data_dir / "console.db", APART),
            Part("auth.db", "sqlite", lambda s: s.auth_db, APART + " (old token tables)"),
            Part("events.db", "sqlite", _events, "the record: the point the backup restores to"),
        ]
    else:
        plan.append(
            Part(
                DATABASE_DUMP,
                "pg_dump",
                _unused,
                "the record with its views, ledger, keys and attachments, in one snapshot",
            )
        )
    if keys_apart:
        plan.append(
            Part(
                "subject-keys.db",
                "sqlite",
                _subject_keys,
                NEEDED + "; erasures the store records are applied again at restore",
            )
        )
    if settings.audit_pkcs11_module is None and settings.audit_signing_key is None:
        plan.append(
            Part(SIGNING_KEY_FILE, "file", _signing_key, NEEDED + " (checkpoints)", secret=True)
        )
    plan += [
        Part(
            ROTATED_DIR,
            "tree",
            lambda s: s.data_dir / ROTATED_DIR,
            NEEDED + " (checkpoints)",
            secret=True,
        ),
        Part(SEAL_KEY_FILE, "file", _seal_key, NEEDED + " (seals)", secret=True),
    ]
    if embedded:
        plan.append(Part("attachments", "tree", lambda s: s.attachments_directory(), NEEDED))
    plan += [
        Part("webhooks", "tree", lambda s: s.webhook_secrets_directory(), NEEDED, secret=True),
        Part("whatif", "tree", lambda s: s.data_dir / "whatif", APART + " (what-if results)"),
        Part("mail", "tree", lambda s: s.data_dir / "mail", APART + " (mail kept aside)"),
    ]
    return plan


def service_version() -> str:
    try:
        return importlib.metadata.version("itsm")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# -- backup ---------------------------------------------------------------------------------------


@dataclass
class _Copying:
    """The bytes of the whole backup as they are copied, for its progress."""

    progress: Progress | None
    total: int
    pace: Pace
    done: int = 0

    def part(self, name: str) -> Callable[[int], None]:
        """A progress callback for one part: told its bytes so far, it reports the whole's."""
        base = self.done
        last = 0

        def told(done: int) -> None:
            nonlocal last
            self.pace.add(done - last)
            last = done
            self.done = base + done
            if self.progress is not None:
                self.progress(name, self.done, max(self.total, self.done))

        return told


def backup(
    settings: Settings,
    destination: Path,
    *,
    secrets: Path | None = None,
    progress: Progress | None = None,
    max_rate: float | None = None,
    between: Callable[[str], None] | None = None,
) -> Manifest:
    """Take a consistent online backup of everything the service stores into `destination`
    (which must not exist, or be empty), while the service goes on writing; the secret parts
    into `secrets` instead, if given. `max_rate` keeps the copy under so many bytes a second;
    `between(part)` is called after each part is copied."""
    for place in (destination, secrets):
        if place is not None and not is_empty_place(place):
            raise BackupRefused(f"{place} is not empty: give a new directory for each backup")
    if secrets is not None and secrets.resolve() == destination.resolve():
        raise BackupRefused("keep the secrets apart: give --secrets another directory")
    keys = settings.subject_keys_at
    if keys.startswith(("postgresql://", "postgres://")) and keys != settings.database_url:
        raise BackupRefused(
            "the key store (ITSM_SUBJECT_KEYS) is in a database of its own, which this backup"
            " would not hold: back up the service whose key store it is"
        )
    plan = parts(settings)
    if settings.database_url is None and not settings.events_db.exists():
        raise BackupRefused(f"no event store at {settings.events_db}: nothing to back up")
    started = now()
    data = destination / FILES
    for place in (destination, secrets):  # a backup holds secrets: its operators' alone
        if place is not None:
            place.mkdir(mode=0o700, parents=True, exist_ok=True)
            place.chmod(0o700)
    data.mkdir(exist_ok=True)
    copying = _Copying(progress, _size(settings, plan), Pace(max_rate))
    entries: list[Entry] = []
    position = 0
    for part in plan:
        apart = part.secret and secrets is not None
        files = (secrets or destination) / FILES if apart else data
        copied, head = _copy(settings, part, files, copying.part(part.name))
        entries += [replace(entry, apart=apart) for entry in copied]
        position = head if head is not None else position
        if between is not None:
            between(part.name)
    for place in (destination, secrets):
        if place is not None and (place / FILES).is_dir():
            sync_directory(place / FILES)
    manifest = Manifest(
        backend="sqlite" if settings.database_url is None else "postgres",
        position=position,
        started_at=started,
        finished_at=now(),
        service_version=service_version(),
        order=[{"part": part.name, "kind": part.kind, "why": part.why} for part in plan],
        entries=entries,
    )
    if secrets is not None:
        manifest.write(secrets)
    manifest.write(destination)
    return manifest


def _copy(
    settings: Settings, part: Part, files: Path, told: Callable[[int], None]
) -> tuple[list[Entry], int | None]:
    """Copy one part into `files`: its entries, and the event store's head if it is the store."""
    source = part.place(settings)
    if part.kind == "sqlite":
        if not source.exists():
            return [], None
        reading = _head_sqlite if part.name == "events.db" else None
        answer = backup_sqlite(source, files / part.name, told, read=reading)
        head = int(answer) if reading is not None else None
        return [_entry(part, files, files / part.name)], head
    if part.kind == "pg_dump":
        assert settings.database_url is not None
        head = pg_dump(
            settings.database_url,
            files / part.name,
            f"SELECT max(notification_id) FROM {POSTGRES_EVENTS}",
            told,
        )
        return [_entry(part, files, files / part.name)], head
    if part.kind == "file":
        if not source.is_file():
            return [], None
        copy_file(source, files / part.name, told)
        return [_entry(part, files, files / part.name)], None
    entries, base = [], 0
    for path in tree_files(source):
        name = Path(part.name) / path.relative_to(source)
        copy_file(path, files / name, _after(base, told))
        base += path.stat().st_size
        entries.append(_entry(part, files, files / name))
    return entries, None


def _after(base: int, told: Callable[[int], None]) -> Callable[[int], None]:
    """A file's progress as its tree's: the bytes of the files before it, and its own."""
    return lambda done: told(base + done)


def _head_sqlite(conn: sqlite3.Connection) -> int:
    return int(conn.execute(f"SELECT max(rowid) FROM {SQLITE_EVENTS}").fetchone()[0] or 0)


def _entry(part: Part, files: Path, path: Path) -> Entry:
    return Entry(
        part=part.name,
        kind=part.kind,
        name=str(path.relative_to(files)),
        bytes=path.stat().st_size,
        sha256=digest(path),
    )


def _size(settings: Settings, plan: list[Part]) -> int:
    """The bytes the backup will copy, roughly (SQLite's pages now; the database's size on
    disk for its dump, which comes out smaller)."""
    total = 0
    for part in plan:
        if part.kind == "pg_dump":
            assert settings.database_url is not None
            total += pg_size(settings.database_url)
            continue
        place = part.place(settings)
        if part.kind == "sqlite" and place.exists():
            total += sqlite_size(place)
        elif part.kind == "file" and place.is_file():
            total += place.stat().st_size
        elif part.kind == "tree":
            total += sum(path.stat().st_size for path in tree_files(place))
    return total


# -- restore --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Restored:
    manifest: Manifest
    #: The people whose erasure the restored store records, and whose keys were destroyed again.
    erasures: int
    #: Of them, those whose key the restored key store still held (their erasure came between
    #: the copy of the store and the copy of the keys, or a crash came between its two steps).
    keys_destroyed: int


def verify(
    source: Path, progress: Progress | None = None, *, secrets: Path | None = None
) -> Manifest:
    """The backup's manifest, once every file it lists is there with its size and SHA-256
    (RestoreRefused names the first that is not), the secrets kept apart in `secrets`."""
    manifest = Manifest.read(source)
    if any(entry.apart for entry in manifest.entries):
        if secrets is None:
            raise RestoreRefused(
                "this backup keeps its keys apart (itsm backup --secrets): give their directory"
                " with --secrets"
            )
        if Manifest.read(secrets).as_json() != manifest.as_json():
            raise RestoreRefused(f"{secrets} holds the keys of another backup")
    total, done = manifest.total_bytes, 0
    for entry in manifest.entries:
        path = _file_of(entry, source, secrets)
        if not path.is_file():
            raise RestoreRefused(f"the backup lacks {entry.name}, which its manifest lists")
        if path.stat().st_size != entry.bytes:
            raise RestoreRefused(
                f"{entry.name} is {path.stat().st_size} bytes, the manifest says {entry.bytes}"
            )
        base = done

        def told(n: int, base: int = base, name: str = entry.name) -> None:
            if progress is not None:
                progress(f"checking {name}", base + n, total)

        if digest(path, told) != entry.sha256:
            raise RestoreRefused(f"{entry.name} does not match its SHA-256 in the manifest")
        done += entry.bytes
    return manifest


def _file_of(entry: Entry, source: Path, secrets: Path | None) -> Path:
    return ((secrets or source) if entry.apart else source) / FILES / entry.name


def restore(
    source: Path,
    settings: Settings,
    *,
    secrets: Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> Restored:
    """Put the backup at `source` back for a service of these settings (a fresh data directory,
    an empty database): refused if the backup is incomplete or altered, or (unless `force`) if
    the target holds anything. Then the keys of everyone whose erasure the restored store
    records are destroyed again."""
    manifest = verify(source, progress, secrets=secrets)
    backend = "sqlite" if settings.database_url is None else "postgres"
    if manifest.backend != backend:
        raise RestoreRefused(
            f"a backup of the {manifest.backend} service cannot be restored onto {backend}:"
            f" {'set' if manifest.backend == 'postgres' else 'unset'} ITSM_DATABASE_URL"
        )
    by_name = {part.name: part for part in parts(settings)}
    for entry in manifest.entries:
        if entry.part not in by_name:
            raise RestoreRefused(
                f"the backup holds {entry.part}, which this service's settings keep nowhere"
                " (a key store or signing key configured otherwise?)"
            )
    held = _held(settings, [by_name[name] for name in {e.part for e in manifest.entries}])
    if held and not force:
        raise RestoreRefused(
            "the target is not empty (" + ", ".join(held) + "): restore onto a fresh data"
            " directory and an empty database, or give --force to replace what is there"
        )
    if held:
        _clear(settings, [by_name[name] for name in {e.part for e in manifest.entries}])
    total, base = manifest.total_bytes, 0
    for entry in manifest.entries:
        part = by_name[entry.part]
        stored = _file_of(entry, source, secrets)
        told = _restoring(progress, entry.name, base, total)
        base += entry.bytes
        if part.kind == "pg_dump":
            assert settings.database_url is not None
            pg_restore(settings.database_url, stored, _in_proportion(told, entry.bytes))
            continue
        place = part.place(settings)
        target = place / Path(entry.name).relative_to(part.name) if part.kind == "tree" else place
        copied = target.with_name(f".{target.name}.restoring")
        copy_file(stored, copied, told)
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        copied.replace(target)
        sync_directory(target.parent)
    erasures, destroyed = reapply_erasures(settings)
    return Restored(manifest, erasures, destroyed)


def _restoring(
    progress: Progress | None, name: str, base: int, total: int
) -> Callable[[int], None]:
    """A progress callback for one file put back: told its bytes so far, it reports the
    restore's (a dump's load is told in proportion of the objects it has made)."""

    def told(done: int) -> None:
        if progress is not None:
            progress(f"restoring {name}", base + done, total)

    return told


def _in_proportion(told: Callable[[int], None], size: int) -> Callable[[int, int], None]:
    """A dump's load told as the share of its bytes that its objects made so far are."""
    return lambda done, of: told(size * done // max(of, 1))


def _held(settings: Settings, restored: list[Part]) -> list[str]:
    """What the target already holds that a restore would replace."""
    held = []
    if settings.database_url is None:
        if settings.data_dir.exists() and any(settings.data_dir.glob("*.db")):
            held.append(f"{settings.data_dir} holds databases")
    elif pg_relations(settings.database_url):
        held.append("the database holds tables")
    for part in restored:
        if part.kind != "pg_dump" and not is_empty_place(part.place(settings)):
            held.append(str(part.place(settings)))
    return held


def _clear(settings: Settings, restored: list[Part]) -> None:
    if settings.database_url is not None:
        pg_empty_schema(settings.database_url)
    for part in restored:
        if part.kind != "pg_dump":
            remove_place(part.place(settings))


def erased_subjects(settings: Settings) -> list[tuple[UUID, datetime]]:
    """Everyone whose erasure the event store records, with when (the `Person.Erased` events)."""
    topic = PersonErased.type_name
    rows: list[tuple[object, bytes]]
    if settings.database_url is None:
        conn = sqlite3.connect(settings.events_db)
        try:
            rows = conn.execute(
                f"SELECT originator_id, state FROM {SQLITE_EVENTS} WHERE topic = ?", (topic,)
            ).fetchall()
        finally:
            conn.close()
    else:
        with psycopg.connect(settings.database_url) as pg:
            rows = pg.execute(
                f"SELECT originator_id, state FROM {POSTGRES_EVENTS} WHERE topic = %s", (topic,)
            ).fetchall()
    found = []
    for originator, state in rows:
        subject = originator if isinstance(originator, UUID) else UUID(str(originator))
        at = datetime.fromisoformat(orjson.loads(bytes(state))["timestamp"].replace("Z", "+00:00"))
        found.append((subject, at))
    return found


def reapply_erasures(settings: Settings) -> tuple[int, int]:
    """Destroy again the key of everyone whose erasure the event store records: a key store
    copied a moment before a key was destroyed (or restored from elsewhere) must not bring back
    data the record says is erased. (How many erasures, how many keys it destroyed now.)"""
    subjects = erased_subjects(settings)
    if not subjects:
        return 0, 0
    keys = open_subject_keys(settings.subject_keys_at)
    try:
        destroyed = sum(1 for subject, at in subjects if keys.erase(subject, at))
    finally:
        keys.close()
    return len(subjects), destroyed
