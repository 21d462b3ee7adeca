"""`itsm serve --workers N` hands its workers to uvicorn's supervisor, which pings each and kills
one that does not answer in time. A worker still importing the service on a loaded host cannot
answer; with uvicorn's own 5 s, such workers were killed and started again for minutes (seen:
`Child process [...] died` every 5 s while the other worker served alone)."""

from __future__ import annotations

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
    for name in ("ITSM_DATA_DIR", "PROMETHEUS_MULTIPROC_DIR", *env):
        monkeypatch.delenv(name, raising=False)  # serve sets some; the monkeypatch restores them
    for name, value in env.items():
        monkeypatch.setenv(name, value)
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
