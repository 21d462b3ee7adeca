"""Two API processes over one PostgreSQL, as two machines behind a load balancer (issue 23,
docs/operations.md "Many processes"): each `itsm serve` has its own writer and group commit and
its own views' follower; between them stand only the database's locks.

- no lost update: notes sent to both at once are all in the record, and two actions sent to
  both against the same version end one applied and one refused 412;
- idempotency holds across them: the same Idempotency-Key sent to both makes one incident, and
  both answer with it;
- what one wrote, the other reads (its follower catches up from the shared store).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from application.seed import seed
from domain.actors import Actor, Role
from infra.settings import Settings
from service.bootstrap import build
from tests.integration.conftest import free_port

INCIDENT = {
    "title": "Gerbang RFID cabang Cilegon macet",
    "service": "kiosks-gates",
    "caller": "budi.santoso",
    "impact": "medium",
    "urgency": "high",
    "assignment_group": "kiosk-team",
}
NOTES = 16


@pytest.fixture
def two_servers(postgres_database_url: str, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """Two `itsm serve` processes on one PostgreSQL database (the seed loaded), and an agent's
    token: (first base URL, second base URL, token)."""
    settings = Settings(data_dir=tmp_path, database_url=postgres_database_url)
    services = build(settings)
    try:
        seed(services.desk)
        token = services.tokens.issue(
            Actor(id="siti.rahma", role=Role.AGENT), at=services.clock(), issued_by="tests"
        ).token
    finally:
        services.close()
    environment = {**os.environ, "ITSM_SLA_WATCH_INTERVAL": "0", "ITSM_RATE_LIMIT": ""}
    ports = [free_port(), free_port()]
    serve = [sys.executable, "-m", "cli.main", "serve", "--data-dir", str(tmp_path)]
    serve += ["--database-url", postgres_database_url, "--no-access-log"]
    servers = [
        subprocess.Popen(
            [*serve, "--port", str(port)],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for port in ports
    ]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url, server in zip(urls, servers, strict=True):
            _ready(url, server)
        yield urls[0], urls[1], token
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)


def _ready(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} was not ready")


def _client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _read(client: httpx.Client, path: str) -> dict[str, Any]:
    """A read that may come before the other process's follower: asked again for a while."""
    deadline = time.monotonic() + 10
    while True:
        answer = client.get(path)
        if answer.status_code == 200 or time.monotonic() > deadline:
            assert answer.status_code == 200, answer.text
            body: dict[str, Any] = answer.json()
            return body
        time.sleep(0.05)


def test_two_processes_lose_no_update_and_keep_one_idempotency(
    two_servers: tuple[str, str, str],
) -> None:
    first_url, second_url, token = two_servers
    with _client(first_url, token) as first, _client(second_url, token) as second:
        # the same key, sent to both at once: one incident, both answer with it
        key = {"Idempotency-Key": "kiosk-cilegon-1"}
        start = threading.Barrier(2)

        def send(client: httpx.Client) -> httpx.Response:
            start.wait()
            return client.post("/api/v1/incidents", json=INCIDENT, headers=key)

        with ThreadPoolExecutor(2) as pool:
            made = list(pool.map(send, (first, second)))
        assert sorted(a.status_code for a in made) in ([201, 201], [201, 200]), [
            a.text for a in made
        ]
        ids = {a.json()["id"] for a in made}
        assert len(ids) == 1
        (incident,) = ids
        listed = _read(second, "/api/v1/incidents?limit=50")["items"]
        assert [i["id"] for i in listed if i["title"] == INCIDENT["title"]] == [incident]

        # what the first wrote, the second reads
        ref = _read(second, f"/api/v1/incidents/{incident}")["ref"]

        # notes sent to both at once: every one is in the record
        def note(n: int) -> int:
            client = (first, second)[n % 2]
            said = client.post(
                f"/api/v1/incidents/{incident}/add-work-note", json={"text": f"catatan {n}"}
            )
            return said.status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(note, range(NOTES)))
        assert set(statuses) <= {200, 202}, statuses
        history = _read(first, f"/api/v1/incidents/{ref}/history")["events"]
        noted = sorted(e["data"]["text"] for e in history if e["type"] == "Incident.WorkNoteAdded")
        assert noted == sorted(f"catatan {n}" for n in range(NOTES))
        # on consecutive versions: none written over by the other process's write
        assert [e["version"] for e in history] == list(range(1, len(history) + 1))

        # one version, two actions at once: one applied, the other refused as stale
        version = _read(first, f"/api/v1/incidents/{incident}")["version"]
        deadline = time.monotonic() + 10
        while _read(second, f"/api/v1/incidents/{incident}")["version"] != version:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        race = threading.Barrier(2)

        def start_work(client: httpx.Client) -> int:
            race.wait()
            answer = client.post(
                f"/api/v1/incidents/{incident}/add-work-note",
                json={"text": "balapan"},
                headers={"If-Match": f'"{version}"'},
            )
            return answer.status_code

        with ThreadPoolExecutor(2) as pool:
            raced = sorted(pool.map(start_work, (first, second)))
        assert raced in ([200, 412], [202, 412]), raced
        history = _read(second, f"/api/v1/incidents/{ref}/history")["events"]
        assert sum(1 for e in history if e["data"].get("text") == "balapan") == 1
