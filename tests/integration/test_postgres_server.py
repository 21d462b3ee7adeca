"""The local PostgreSQL server the project starts itself: up, status, down, restart, and the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from cli.main import main
from infra import postgres_server
from infra.postgres_server import (
    PostgresServer,
    PostgresServerError,
    PostgresUnavailable,
    ensure_binaries,
    find_bin_dir,
    free_port,
)
from tests.engines import postgres as test_engine


def test_up_status_down_and_restart_keep_the_data_and_the_port(postgres_data_dir: str) -> None:
    server = PostgresServer(postgres_data_dir)
    assert not server.status().running

    url = server.up()
    port = server.port
    assert url == f"postgresql://itsm@127.0.0.1:{port}/itsm"
    status = server.status()
    assert status.running
    assert status.port == port
    assert status.pid is not None
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (note TEXT)")
        conn.execute("INSERT INTO kept VALUES ('written before the restart')")
        assert conn.execute("SHOW fsync").fetchone() == ("on",)  # the durable configuration
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
    assert server.up() == url  # already running: the same server, untouched

    with pytest.raises(PostgresServerError, match="already runs on port"):
        PostgresServer(postgres_data_dir, port=free_port()).up()

    assert server.down() is True
    assert not server.status().running
    assert server.down() is False
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)

    again = PostgresServer(postgres_data_dir)  # as another process would, from the directory
    assert again.up() == url
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT note FROM kept").fetchall() == [("written before the restart",)]
    again.down()


def test_the_cli_starts_reports_and_stops_the_server(postgres_data_dir: str) -> None:
    cli = CliRunner()
    data_dir = ["--data-dir", postgres_data_dir]
    port = free_port()

    up = cli.invoke(main, ["postgres", "up", *data_dir, "--port", str(port)])
    assert up.exit_code == 0, up.output
    url = f"postgresql://itsm@127.0.0.1:{port}/itsm"
    assert up.stdout.strip() == url  # only the URL on stdout, for $(itsm postgres up)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_database(), current_user").fetchone() == (
            "itsm",
            "itsm",
        )

    status = cli.invoke(main, ["postgres", "status", *data_dir])
    assert status.exit_code == 0
    assert url in status.output

    down = cli.invoke(main, ["postgres", "down", *data_dir])
    assert down.exit_code == 0, down.output
    stopped = cli.invoke(main, ["postgres", "status", *data_dir])
    assert stopped.exit_code == 1
    assert "not running" in stopped.output


def test_a_directory_holding_something_else_is_refused(postgres_data_dir: str) -> None:
    (Path(postgres_data_dir) / "notes.txt").write_text("not a database")
    with pytest.raises(PostgresServerError, match="neither empty nor a PostgreSQL data directory"):
        PostgresServer(postgres_data_dir).up()


def test_the_newest_installed_version_is_chosen(tmp_path: Path) -> None:
    for version in ("9.6", "13", "15", "not-a-version"):
        bin_dir = tmp_path / version / "bin"
        bin_dir.mkdir(parents=True)
        for program in ("initdb", "pg_ctl", "postgres"):
            (bin_dir / program).touch()
    (tmp_path / "16" / "bin").mkdir(parents=True)  # incomplete: no programs
    assert find_bin_dir(tmp_path) == tmp_path / "15" / "bin"
    assert find_bin_dir(tmp_path / "absent") is None


def test_missing_binaries_say_how_to_install_them_when_we_may_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres_server.os, "geteuid", lambda: 1000)
    with pytest.raises(PostgresUnavailable, match="apt-get install postgresql"):
        ensure_binaries(tmp_path)


def test_the_tests_own_server_flushes_nothing_to_disk(postgres_database_url: str) -> None:
    """Every test starts a service on it: its start-up does not wait for disk flushes."""
    if os.environ.get("ITSM_TEST_DATABASE_URL") or test_engine._docker_answers():
        pytest.skip("the tests' server is not the one they start themselves")
    with psycopg.connect(postgres_database_url, autocommit=True) as conn:
        assert conn.execute("SHOW fsync").fetchone() == ("off",)
        assert conn.execute("SHOW full_page_writes").fetchone() == ("off",)
