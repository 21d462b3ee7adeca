"""The rules of a backup (service/backup.py, infra/backup.py): the order its parts are copied in
(what follows the event store before it, what the store's events need after it), a SQLite copy
that is one moment of a database being written, a manifest that must be there and must match,
and a pace that keeps the copy under its rate."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.backup import _rate
from infra.backup import (
    FILES,
    MANIFEST,
    BackupRefused,
    Entry,
    Manifest,
    Pace,
    RestoreRefused,
    backup_sqlite,
    now,
)
from infra.settings import Settings
from service.backup import backup, parts, verify

EMBEDDED = Settings(data_dir=Path("/srv/itsm"))
AT_SCALE = Settings(data_dir=Path("/srv/itsm"), database_url="postgresql://itsm:s3cret@db/itsm")


def order(settings: Settings) -> list[str]:
    return [part.name for part in parts(settings)]


def test_what_follows_the_store_is_copied_before_it_and_what_it_needs_after_it() -> None:
    names = order(EMBEDDED)
    store = names.index("events.db")
    for follower in ("views.db", "audit.db", "circulation.db"):
        assert names.index(follower) < store, follower
    for needed in (
        "subject-keys.db",
        "audit-seal.key",
        "audit-signing-key.pem",
        "audit-keys",
        "attachments",
        "webhooks",
    ):
        assert names.index(needed) > store, needed


def test_on_postgresql_one_dump_holds_the_store_and_the_files_keep_the_order_around_it() -> None:
    names = order(AT_SCALE)
    dump = names.index("database.dump")
    assert names.index("circulation.db") < dump
    for needed in ("audit-seal.key", "audit-signing-key.pem", "audit-keys", "webhooks"):
        assert names.index(needed) > dump, needed
    # in the database, so in the dump: the views, the ledger, the keys, the attachments
    assert not {"views.db", "audit.db", "events.db", "subject-keys.db", "attachments"} & set(names)


def test_the_keys_a_database_backup_must_not_hold_are_the_secret_parts() -> None:
    secret = {part.name for part in parts(EMBEDDED) if part.secret}
    assert secret == {"audit-signing-key.pem", "audit-keys", "audit-seal.key", "webhooks"}
    assert secret == {part.name for part in parts(AT_SCALE) if part.secret}


def test_a_key_store_kept_apart_from_postgresql_is_backed_up_after_the_dump(tmp_path: Path) -> None:
    settings = AT_SCALE.model_copy(update={"subject_keys": str(tmp_path / "keys.db")})
    names = order(settings)
    assert names.index("subject-keys.db") > names.index("database.dump")


def test_a_key_store_in_another_database_is_refused_rather_than_left_out(tmp_path: Path) -> None:
    elsewhere = EMBEDDED.model_copy(
        update={"data_dir": tmp_path, "subject_keys": "postgresql://itsm:x@keys/itsm"}
    )
    with pytest.raises(BackupRefused, match="database of its own"):
        backup(elsewhere, tmp_path / "backup")
    assert not (tmp_path / "backup").exists()


def test_a_backup_is_readable_by_its_own_user_alone(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    sqlite3.connect(data_dir / "events.db").execute("CREATE TABLE stored_events (x)")
    settings = EMBEDDED.model_copy(update={"data_dir": data_dir})
    backup(settings, tmp_path / "backup", secrets=tmp_path / "keys")
    assert (tmp_path / "backup").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700


def test_a_signing_key_held_by_an_hsm_is_no_file_to_back_up(tmp_path: Path) -> None:
    settings = EMBEDDED.model_copy(update={"audit_pkcs11_module": tmp_path / "softhsm2.so"})
    assert "audit-signing-key.pem" not in order(settings)


# -- the SQLite copy ------------------------------------------------------------------------------


def test_a_sqlite_copy_is_the_database_at_one_moment_while_another_connection_writes(
    tmp_path: Path,
) -> None:
    source = tmp_path / "events.db"
    setup = sqlite3.connect(source, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE events (body BLOB)")
    setup.execute("CREATE TABLE heads (head INTEGER)")
    setup.execute("BEGIN")
    for _ in range(2_000):
        setup.execute("INSERT INTO events VALUES (randomblob(1000))")
    setup.execute("COMMIT")
    setup.close()
    stop, written = threading.Event(), [0]

    def write() -> None:
        conn = sqlite3.connect(source, isolation_level=None, timeout=30)
        while not stop.is_set():
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO events VALUES (randomblob(1000))")
            conn.execute("INSERT INTO heads SELECT max(rowid) FROM events")
            conn.execute("COMMIT")
            written[0] += 1
        conn.close()

    writer = threading.Thread(target=write)
    writer.start()
    steps: list[int] = []
    try:
        while written[0] < 10:
            threading.Event().wait(0.005)
        head = backup_sqlite(
            source,
            tmp_path / "copy.db",
            steps.append,
            pages_per_step=8,
            read=lambda conn: conn.execute("SELECT max(rowid) FROM events").fetchone()[0],
        )
    finally:
        stop.set()
        writer.join()
    assert not Path(f"{tmp_path / 'copy.db'}-wal").exists()  # one file, whole
    copy = sqlite3.connect(tmp_path / "copy.db")
    count, last = copy.execute("SELECT count(*), max(rowid) FROM events").fetchone()
    heads = copy.execute("SELECT count(*), max(head) FROM heads").fetchone()
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert count == last == head  # every row up to the head read in its transaction, no more
    assert heads == (head - 2_000, head)  # the two tables at the same moment
    assert written[0] > heads[0]  # the writer went on after the copy's moment
    assert steps == sorted(steps), "the copy never restarted"
    assert len(steps) > 10


def test_a_sqlite_copy_never_overwrites(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "a.db").close()
    (tmp_path / "b.db").write_bytes(b"kept")
    with pytest.raises(BackupRefused, match="exists already"):
        backup_sqlite(tmp_path / "a.db", tmp_path / "b.db")
    assert (tmp_path / "b.db").read_bytes() == b"kept"


# -- the manifest ---------------------------------------------------------------------------------


def backup_of(tmp_path: Path, body: bytes = b"the record") -> Path:
    from infra.backup import digest

    (tmp_path / FILES).mkdir(parents=True)
    (tmp_path / FILES / "events.db").write_bytes(body)
    entry = Entry("events.db", "sqlite", "events.db", len(body), "")
    entry = Entry(
        entry.part, entry.kind, entry.name, entry.bytes, digest(tmp_path / FILES / "events.db")
    )
    Manifest("sqlite", 7, now(), now(), "0.1.0", [], [entry]).write(tmp_path)
    return tmp_path


def test_a_manifest_reads_back_as_written(tmp_path: Path) -> None:
    manifest = verify(backup_of(tmp_path))
    assert (manifest.backend, manifest.position, manifest.total_bytes) == ("sqlite", 7, 10)


def test_a_backup_without_its_manifest_did_not_finish(tmp_path: Path) -> None:
    (backup_of(tmp_path) / MANIFEST).unlink()
    with pytest.raises(RestoreRefused, match="did not finish"):
        verify(tmp_path)


@given(st.integers(min_value=0, max_value=9), st.integers(min_value=1, max_value=255))
def test_any_changed_byte_is_refused_naming_the_file(at: int, flip: int) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        path = backup_of(Path(scratch)) / FILES / "events.db"
        body = bytearray(path.read_bytes())
        body[at] ^= flip
        path.write_bytes(bytes(body))
        with pytest.raises(RestoreRefused, match=r"events\.db does not match its SHA-256"):
            verify(Path(scratch))


def test_a_shorter_or_missing_file_is_refused(tmp_path: Path) -> None:
    path = backup_of(tmp_path) / FILES / "events.db"
    path.write_bytes(b"the rec")
    with pytest.raises(RestoreRefused, match="7 bytes, the manifest says 10"):
        verify(tmp_path)
    path.unlink()
    with pytest.raises(RestoreRefused, match=r"lacks events\.db"):
        verify(tmp_path)


@pytest.mark.parametrize("name", ["/etc/passwd", "../../etc/passwd", "a/../../b"])
def test_a_manifest_naming_a_file_outside_the_backup_is_refused(name: str) -> None:
    entry = {"part": "x", "kind": "file", "name": name, "bytes": 1, "sha256": "0" * 64}
    with pytest.raises(RestoreRefused, match="outside the backup"):
        Entry.from_json(entry)


def test_a_manifest_of_another_format_is_refused(tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text('{"format": "something-else/1"}')
    with pytest.raises(RestoreRefused, match="not a backup of this service"):
        verify(tmp_path)


# -- pace and rate --------------------------------------------------------------------------------


def test_a_paced_copy_waits_until_its_bytes_fit_its_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    slept: list[float] = []
    monkeypatch.setattr("infra.backup.time.monotonic", lambda: clock[0])
    monkeypatch.setattr("infra.backup.time.sleep", slept.append)
    pace = Pace(1_000.0)
    pace.add(500)
    clock[0] += 0.1
    pace.add(500)
    assert slept == [0.5, pytest.approx(0.9)]
    Pace(None).add(10**9)  # no rate: never waits
    assert len(slept) == 2


@pytest.mark.parametrize(
    ("given_rate", "bytes_a_second"),
    [
        ("20M", 20 << 20),
        ("512k", 512 << 10),
        ("1G", 1 << 30),
        ("1000", 1000),
        ("1.5m", 1.5 * (1 << 20)),
    ],
)
def test_a_rate_is_bytes_a_second_with_a_unit(given_rate: str, bytes_a_second: float) -> None:
    assert _rate(None, None, given_rate) == bytes_a_second  # type: ignore[arg-type]


@pytest.mark.parametrize("given_rate", ["fast", "0", "-1M", "20 MB/s"])
def test_a_rate_that_is_no_rate_is_refused(given_rate: str) -> None:
    import click

    with pytest.raises(click.BadParameter):
        _rate(None, None, given_rate)  # type: ignore[arg-type]
