"""Backups and SIGKILL, with real processes on SQLite and PostgreSQL (docs/operations.md): a real
`itsm serve` takes incidents over HTTP while `itsm backup` runs; the service is killed mid-backup,
and the backup still completes; a second backup is killed mid-way and its restore is refused (no
manifest); the complete one restores onto a fresh data directory and an empty database, where
`itsm audit verify --views` passes and every incident posted before the backup began is there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from cli.main import main
from infra.backup import FILES
from infra.settings import Settings
from service.bootstrap import build
from tests.conftest import Clock
from tests.integration.conftest import free_port, serving
from tests.integration.test_backup_restore import INCIDENT, env_of, verified

pytestmark = [pytest.mark.empty_database, pytest.mark.slow]

ITSM = str(Path(sys.executable).parent / "itsm")
#: Work goes only to groups the directory holds, and this service's directory is empty.
BODY = {key: value for key, value in INCIDENT.items() if key != "assignment_group"}


def until(condition: Callable[[], bool], seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def started(path: Path) -> bool:
    """Whether a backup into `path` has begun writing its files."""
    files = path / FILES
    return files.is_dir() and any(files.iterdir())


class Poster:
    """Posts incidents to a served `itsm serve` until it dies or is stopped."""

    def __init__(self, base_url: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.refs: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                answer = self.client.post("/api/v1/incidents", json=BODY)
            except httpx.TransportError:
                return  # the service was killed
            assert answer.status_code == 201, answer.text
            self.refs.append(answer.json()["ref"])

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        self.client.close()


def assert_a_killed_backup_is_refused(env: dict[str, str], path: Path, target: Settings) -> None:
    """A backup killed mid-way is refused, whole, at restore: it has no manifest."""
    taking = subprocess.Popen(
        [ITSM, "backup", "--max-rate", "16k", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    until(lambda: started(path))
    assert taking.poll() is None, "killed mid-way, not after it finished"
    taking.send_signal(signal.SIGKILL)
    taking.wait(timeout=30)
    refused = CliRunner().invoke(main, ["restore", str(path)], env=env_of(target))
    assert refused.exit_code == 1
    assert "did not finish" in refused.output


def test_a_service_killed_mid_backup_restores_from_the_last_complete_backup(
    make_settings: Callable[[], Settings], clock: Clock, tmp_path: Path
) -> None:
    source = make_settings()
    port = free_port()
    env = {
        **os.environ,
        **env_of(source),
        "ITSM_PORT": str(port),
        "ITSM_SLA_WATCH_INTERVAL": "0",
        "ITSM_REPORT_SCHEDULE_INTERVAL": "0",
        "ITSM_CMDB_RECONCILE_INTERVAL": "0",
    }
    made = subprocess.run(
        [ITSM, "tokens", "create", "--actor", "siti.rahma", "--role", "agent"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    token = made.stdout.strip().splitlines()[-1]
    with (tmp_path / "serve.log").open("wb") as log:
        serve = subprocess.Popen([ITSM, "serve"], env=env, stdout=log, stderr=log)
    poster: Poster | None = None
    try:

        def ready() -> bool:
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        until(ready)
        poster = Poster(f"http://127.0.0.1:{port}", token)
        until(lambda: len(poster.refs) >= 5)

        # the service is killed while a backup runs: the backup completes all the same
        before = list(poster.refs)
        complete = tmp_path / "complete"
        taking = subprocess.Popen(
            [ITSM, "backup", "--max-rate", "256k", str(complete)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        until(lambda: started(complete))
        assert taking.poll() is None, "the backup is still running when the service dies"
        serve.send_signal(signal.SIGKILL)
        serve.wait(timeout=30)
        output = taking.communicate(timeout=300)[0].decode()
        assert taking.returncode == 0, output
        poster.close()
        assert len(poster.refs) > len(before), "the service took incidents during the backup"

        target = make_settings()
        assert_a_killed_backup_is_refused(env, tmp_path / "killed", target)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait(timeout=30)
        if poster is not None:
            poster.close()

    restored = CliRunner().invoke(main, ["restore", str(complete)], env=env_of(target))
    assert restored.exit_code == 0, restored.output
    with closing(build(target, clock=clock)) as again:
        again.start()
        again.runner.catch_up()
        with serving(again) as api:
            reader = api.client()
            missing = [r for r in before if reader.get(f"/api/v1/incidents/{r}").status_code != 200]
            assert missing == []
    verified(target)
