"""`itsm attachments sweep` on both blob stores (the directory on SQLite, PostgreSQL's table on
PostgreSQL), with real orphans: bytes written to the store without their event (the crash the
store's order allows), a file removed for privacy whose bytes stayed, and (on the directory) a
write cut short. Only those older than the grace period are listed, only with --delete deleted;
a blob a file on a record names is never touched, however old, and one stored again is kept."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from click.testing import CliRunner, Result

from application.attachments import received
from application.kinds import INCIDENT
from application.pipeline import Submission
from cli.main import main
from domain.attachments import RemoveAttachment
from infra.blobs import INCOMING, DirectoryBlobStore, PostgresBlobStore
from infra.settings import Settings
from service.bootstrap import Services, build
from tests.conftest import context
from tests.integration.test_projections import log

KEPT = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(300)
REMOVED = b"%PDF-1.7\n" + b"kartu anggota 3602-0001\n" * 20
ORPHAN = b"kiosk-3: RFID timeout\n" * 40
FRESH_ORPHAN = b"gate-1: reader offline\n" * 30
TWO_DAYS = timedelta(days=2)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def itsm(settings: Settings, *args: str) -> Result:
    env = {"ITSM_DATABASE_URL": settings.database_url} if settings.database_url else {}
    return CliRunner().invoke(
        main,
        ["attachments", "sweep", "--data-dir", str(settings.data_dir), *args],
        env=env,
        catch_exceptions=False,
    )


def age(services: Services, sha256: str, by: timedelta) -> None:
    """Make a blob look stored `by` ago, as a day passing would (the store's own time of it)."""
    store = services.blobs
    if isinstance(store, PostgresBlobStore):
        with store.pool.connection() as conn:
            conn.execute(
                "UPDATE attachment_blobs SET stored_at = stored_at - %s WHERE sha256 = %s",
                (by, sha256),
            )
        return
    assert isinstance(store, DirectoryBlobStore)
    path = store.path(sha256)
    when = path.stat().st_mtime - by.total_seconds()
    os.utime(path, (when, when))


def listed(result: Result) -> dict[str, str]:
    """The blobs a sweep listed: name -> why."""
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()]
    return {row[-1]: row[0] for row in rows}


@pytest.fixture
def record(services: Services) -> UUID:
    """An incident with a file on it and a file removed from it (its bytes left behind, as a
    crash between the removal and the deletion leaves them), and two blobs no event names (the
    crash between the bytes and the event), one of them a day old."""
    incident: UUID = log(services, 1)
    kept = received(services.blobs, "screen.png", KEPT, limit=1 << 20)
    gone = received(services.blobs, "card.pdf", REMOVED, limit=1 << 20)
    for command in (kept, gone):
        services.desk.execute(Submission(context(), command, INCIDENT, ref=incident))
    removal = RemoveAttachment(attachment_id=gone.attachment_id, reason="a member's card")
    services.desk.execute(Submission(context(), removal, INCIDENT, ref=incident))
    services.blobs.put(ORPHAN)
    services.blobs.put(FRESH_ORPHAN)
    for data in (KEPT, REMOVED, ORPHAN):
        age(services, sha(data), TWO_DAYS)
    return incident


def test_the_sweep_lists_old_blobs_no_file_needs_and_deletes_them_only_when_asked(
    services: Services, settings: Settings, record: UUID
) -> None:
    store = services.blobs

    # Without --delete: the day-old orphan and the removed file's bytes, listed, not deleted
    found = itsm(settings)
    assert listed(found) == {sha(ORPHAN): "unnamed", sha(REMOVED): "removed"}
    assert "2 blobs no file needs" in found.stderr
    assert "1 named by files on records; 1 more too recent" in found.stderr
    assert all(store.has(sha(data)) for data in (KEPT, REMOVED, ORPHAN, FRESH_ORPHAN))

    # A shorter grace finds the fresh orphan too (once it is older than that)
    age(services, sha(FRESH_ORPHAN), timedelta(hours=2))
    assert sha(FRESH_ORPHAN) in listed(itsm(settings, "--grace", "1h"))

    # With --delete: the strays go; the file on the record and the fresh orphan stay
    swept = itsm(settings, "--delete")
    assert listed(swept) == {sha(ORPHAN): "unnamed", sha(REMOVED): "removed"}
    assert "deleted 2 of 2" in swept.stderr
    assert not store.has(sha(ORPHAN))
    assert not store.has(sha(REMOVED))
    assert store.get(sha(KEPT)) == KEPT  # two days old, and named: never a stray
    assert store.has(sha(FRESH_ORPHAN))
    assert listed(itsm(settings)) == {}


def test_bytes_stored_again_start_their_grace_again_and_are_not_swept(
    services: Services, settings: Settings, record: UUID
) -> None:
    # Given an old orphan, surveyed as a stray
    store = services.blobs
    [stray] = [b for b in store.held() if b.name == sha(ORPHAN)]
    cutoff = datetime.now(UTC) - timedelta(days=1)
    assert stray.stored_at < cutoff

    # When the same bytes are uploaded again (their event not yet written) before the deletion
    store.put(ORPHAN)

    # Then the deletion leaves them: the upload's event will name them
    assert store.delete_if_older(stray, cutoff) is False
    assert store.get(sha(ORPHAN)) == ORPHAN
    assert sha(ORPHAN) not in listed(itsm(settings))
    # and without the upload, the stray goes
    age(services, sha(ORPHAN), TWO_DAYS)
    assert store.delete_if_older(stray, cutoff) is True
    assert store.delete_if_older(stray, cutoff) is False  # gone already
    assert not store.has(sha(ORPHAN))


def test_content_removed_then_attached_again_is_needed_again(
    services: Services, settings: Settings, record: UUID
) -> None:
    again = received(services.blobs, "card.pdf", REMOVED, limit=1 << 20)
    other: UUID = log(services, 2)
    services.desk.execute(Submission(context(), again, INCIDENT, ref=other))
    age(services, sha(REMOVED), TWO_DAYS)

    assert listed(itsm(settings, "--delete")) == {sha(ORPHAN): "unnamed"}
    assert services.blobs.get(sha(REMOVED)) == REMOVED


def test_a_write_cut_short_is_swept_from_the_directory_store(tmp_path: Path) -> None:
    """The directory store's own leftover (PostgreSQL stores a blob in one INSERT)."""
    settings = Settings(data_dir=tmp_path / "var", audit_follow=False)
    services = build(settings)
    try:
        store = services.blobs
        assert isinstance(store, DirectoryBlobStore)
        named = store.put(ORPHAN)
        partial = store.path(named).parent / f"{INCOMING}cut-short"
        partial.write_bytes(ORPHAN[:100])
        when = (datetime.now(UTC) - TWO_DAYS).timestamp()
        os.utime(partial, (when, when))
        (store.root / "ab" / "cd").mkdir(parents=True)
        (store.root / "ab" / "cd" / "notes.txt").write_text("not the store's")

        assert listed(itsm(settings)) == {partial.name: "partial"}  # the orphan: too recent
        itsm(settings, "--delete")
        assert not partial.exists()
        assert (store.root / "ab" / "cd" / "notes.txt").exists()
        assert [(b.name, b.partial) for b in store.held()] == [(named, False)]
    finally:
        services.close()


@pytest.mark.parametrize("grace", ["0m", "30s", "1y", "-1d", "3651d"])
def test_a_grace_outside_one_minute_to_ten_years_is_refused(tmp_path: Path, grace: str) -> None:
    result = CliRunner().invoke(
        main, ["attachments", "sweep", "--data-dir", str(tmp_path), "--grace", grace]
    )
    assert result.exit_code == 2, result.output
    assert "--grace" in result.output
