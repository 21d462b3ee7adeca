"""Point-in-time recovery on PostgreSQL, as docs/operations.md tells an operator to do it: WAL
archiving on, a base backup (`pg_basebackup`), incidents before and after a moment, the server
lost; a new cluster from the base backup replays the archive to that moment, and the service on it
holds every incident before the moment and none after, and verifies (ledger, seals, views = a
rebuild). The steps are PostgreSQL's own; the test proves the page's procedure is right for this
service (the keys, the views and the ledger recover with the events)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from domain.errors import IncidentNotFound
from infra.postgres_server import (
    OS_USER,
    SUPERUSER,
    PostgresServer,
    PostgresUnavailable,
    ensure_binaries,
)
from infra.settings import Settings
from service.bootstrap import build
from tests.conftest import Clock
from tests.integration.test_backup_restore import verified
from tests.integration.test_projections import log

pytestmark = pytest.mark.slow


@pytest.fixture
def place() -> Iterator[Path]:
    """A directory the server's OS user may enter, for two clusters and a WAL archive."""
    try:
        ensure_binaries()
    except PostgresUnavailable as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"no PostgreSQL for the tests under CI: {error}")
        pytest.skip(f"no PostgreSQL for the tests: {error}")
    directory = Path(tempfile.mkdtemp(prefix="itsm-test-pitr-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        for cluster in ("primary", "recovered"):
            if (directory / cluster / "PG_VERSION").exists():
                PostgresServer(directory / cluster).down()
        shutil.rmtree(directory, ignore_errors=True)


def give(path: Path) -> None:
    """The path, and all under it, to the server's OS user (when we are root)."""
    if os.geteuid() != 0:
        return
    user = pwd.getpwnam(OS_USER)
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.chown(Path(root) / name, user.pw_uid, user.pw_gid)
    os.chown(path, user.pw_uid, user.pw_gid)


def append(path: Path, text: str) -> None:
    with path.open("a") as file:
        file.write(text)


def superuser(server: PostgresServer) -> str:
    return f"postgresql://{SUPERUSER}@127.0.0.1:{server.port}/postgres"


def archiving(place: Path) -> tuple[PostgresServer, Path]:
    """A cluster that archives its WAL (into the archive directory returned) and lets
    pg_basebackup connect."""
    primary = PostgresServer(place / "primary")
    primary.up()
    archive = place / "archive"
    archive.mkdir()
    give(archive)
    conf = primary.data_dir / "postgresql.conf"
    append(conf, f"\narchive_mode = on\narchive_command = 'cp %p {archive}/%f'\n")
    append(primary.data_dir / "pg_hba.conf", "host replication all 127.0.0.1/32 trust\n")
    primary.down()
    primary.up()  # archive_mode takes a restart
    return primary, archive


def base_backup(server: PostgresServer, target: Path) -> None:
    subprocess.run(
        [
            str(ensure_binaries() / "pg_basebackup"),
            f"--dbname=host=127.0.0.1 port={server.port} user={SUPERUSER}",
            f"--pgdata={target}",
            "--wal-method=stream",
            "--checkpoint=fast",
        ],
        check=True,
        capture_output=True,
    )


def now_on(server: PostgresServer) -> datetime:
    with psycopg.connect(superuser(server), autocommit=True) as conn:
        row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    moment: datetime = row[0]
    return moment


def archive_what_is_written(server: PostgresServer, archive: Path) -> None:
    """Close the current WAL segment and wait until the archive holds it."""
    with psycopg.connect(superuser(server), autocommit=True) as conn:
        row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
    assert row is not None
    deadline = time.monotonic() + 60
    while not (archive / row[0]).exists():
        assert time.monotonic() < deadline, f"{row[0]} was never archived"
        time.sleep(0.1)


def recover(base: Path, archive: Path, moment: datetime, recovered: Path) -> PostgresServer:
    """A cluster from the base backup, replaying the archive to `moment`, open for writing."""
    shutil.move(base, recovered)
    for left in recovered.glob(".s.PGSQL.*"):  # the primary's socket lock, copied as a file
        left.unlink()
    append(
        recovered / "postgresql.auto.conf",
        f"restore_command = 'cp {archive}/%f %p'\n"
        f"recovery_target_time = '{moment.isoformat()}'\n"
        "recovery_target_action = 'promote'\n",
    )
    (recovered / "recovery.signal").touch()
    recovered.chmod(0o700)
    give(recovered)
    server = PostgresServer(recovered)
    server.up()
    deadline = time.monotonic() + 120
    while True:  # it accepts readers while it replays; writers once it reached the moment
        with psycopg.connect(superuser(server), autocommit=True) as conn:
            replaying = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        if replaying == (False,):
            return server
        assert time.monotonic() < deadline, (recovered / "server.log").read_text()[-3000:]
        time.sleep(0.2)


def test_a_base_backup_and_the_wal_archive_recover_the_service_to_a_moment(
    place: Path, clock: Clock, tmp_path: Path
) -> None:
    primary, archive = archiving(place)
    settings = Settings(data_dir=tmp_path / "var", database_url=primary.url)
    with closing(build(settings, clock=clock)) as services:
        services.start()
        before = [log(services, n) for n in range(3)]
        base_backup(primary, place / "base")
        during = [log(services, n) for n in range(3, 6)]  # after the base backup, before the moment
        services.runner.catch_up()
        assert services.audit is not None
        services.audit.ledger.catch_up()
        moment = now_on(primary)
        time.sleep(0.5)
        after = [log(services, n) for n in range(6, 9)]
        services.runner.catch_up()
        archive_what_is_written(primary, archive)  # the segment holding `after`, archived
    primary.down()  # the disk is lost

    server = recover(place / "base", archive, moment, place / "recovered")
    # it stopped at the moment, with the later incidents' commits in the archive
    assert "recovery stopping before commit" in (server.data_dir / "server.log").read_text()
    restored = Settings(data_dir=tmp_path / "var", database_url=server.url)
    with closing(build(restored, clock=clock)) as services:
        services.start()
        services.runner.catch_up()
        for incident in [*before, *during]:
            assert services.desk.history(incident), incident
        for incident in after:
            with pytest.raises(IncidentNotFound):
                services.desk.history(incident)
    verified(restored)
