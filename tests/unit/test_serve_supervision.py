"""`itsm serve --workers N` hands its workers to uvicorn's supervisor, which pings each and kills
one that does not answer in time. A worker still importing the service on a loaded host cannot
answer; with uvicorn's own 5 s, such workers were killed and started again for minutes (seen:
`Child process [...] died` every 5 s while the other worker served alone)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner

from cli.main import main


def served_with(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str, **env: str
) -> dict[str, Any]:
    """The options `itsm serve` would start uvicorn with (uvicorn itself is not started)."""
    handed: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: handed.update(options))
    # serve sets some of these in this process's environment: setting each first makes the
    # monkeypatch restore it afterwards (a delenv of an unset name records nothing to undo, and
    # a leaked PROMETHEUS_MULTIPROC_DIR turns the next tests' metrics multiprocess).
    for name in ("ITSM_DATA_DIR", "PROMETHEUS_MULTIPROC_DIR", *env):
        monkeypatch.setenv(name, env.get(name, ""))
        if name not in env:
            monkeypatch.delenv(name)
    result = CliRunner().invoke(main, ["serve", "--data-dir", str(tmp_path / "var"), *args])
    assert result.exit_code == 0, result.output
    return handed


def test_workers_get_a_minute_to_answer_their_supervisor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    handed = served_with(monkeypatch, tmp_path, "--workers", "2")
    assert handed["workers"] == 2
    assert handed["timeout_worker_healthcheck"] == 60


def test_the_health_check_timeout_is_a_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    handed = served_with(
        monkeypatch, tmp_path, "--workers", "3", ITSM_WORKER_HEALTHCHECK_TIMEOUT="240"
    )
    assert handed["timeout_worker_healthcheck"] == 240


def test_serving_here_leaves_this_process_s_environment_as_it_was(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    before = dict(os.environ)
    with monkeypatch.context() as patched:
        served_with(patched, tmp_path, "--workers", "2")
    assert dict(os.environ) == before
