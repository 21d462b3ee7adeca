"""Two `itsm serve` processes over one PostgreSQL (as behind a load balancer), each with its own
group commit (issue 23, "Many processes"): actions sent to both at once on one incident lose no
update, and an Idempotency-Key sent to both creates one incident."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from domain.actors import Role
from service.bootstrap import build
from tests.conftest import service_settings
from tests.directory_helpers import hold
from tests.integration.conftest import free_port

ITSM = Path(sys.executable).parent / "itsm"
COMMENTS = 12


def environment(database_url: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("ITSM_") and name != "PROMETHEUS_MULTIPROC_DIR"
    }
    return {**env, "ITSM_DATABASE_URL": database_url, "ITSM_SLA_WATCH_INTERVAL": "0"}


@contextmanager
def serving(data_dir: Path, database_url: str, log: Path) -> Iterator[str]:
    """One `itsm serve` process on the shared database; its base URL once it is ready."""
    port = free_port()
    command = [ITSM, "serve", "--data-dir", data_dir, "--port", str(port)]
    with log.open("wb") as stderr:
        server = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=stderr, env=environment(database_url)
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                if httpx.get(f"{base_url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield base_url
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def two_processes(
    tmp_path: Path, postgres_service_databases: Callable[[], str]
) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two API processes on one database (and one machine's key files), and an agent's client
    of each."""
    url = postgres_service_databases()
    data_dir = tmp_path / "var"
    services = build(service_settings(data_dir, url))
    try:
        hold(services)  # the directory: kiosk-team, budi.santoso and the rest
    finally:
        services.close()
    token = subprocess.run(
        [
            *(ITSM, "tokens", "create", "--data-dir", data_dir),
            *("--actor", "siti.rahma", "--role", Role.AGENT.value),
        ],
        env=environment(url),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    with ExitStack() as stack:
        clients = [
            stack.enter_context(
                httpx.Client(
                    base_url=stack.enter_context(
                        serving(data_dir, url, tmp_path / f"serve-{n}.log")
                    ),
                    headers=headers,
                    timeout=30,
                )
            )
            for n in (1, 2)
        ]
        yield clients[0], clients[1]


def test_two_processes_on_one_database_lose_no_update_and_keep_idempotency(
    two_processes: tuple[httpx.Client, httpx.Client],
) -> None:
    first, second = two_processes
    body = {
        "title": "Gerbang RFID di Serang berbunyi terus",
        "service": "kiosks-gates",
        "caller": "budi.santoso",
        "impact": "medium",
        "urgency": "high",
        "assignment_group": "kiosk-team",
    }

    # Given an incident logged through the first process
    logged = first.post("/api/v1/incidents", json=body)
    assert logged.status_code == 201, logged.text
    ref = logged.json()["id"]

    # When both processes take comments on it at once
    def comment(n: int) -> int:
        client = first if n % 2 else second
        answer = client.post(f"/api/v1/incidents/{ref}/add-comment", json={"text": f"catatan {n}"})
        return answer.status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(comment, range(2 * COMMENTS)))

    # Then every one was recorded, on consecutive versions (none lost to the other's write)
    assert set(statuses) <= {200, 202}, statuses
    history = second.get(f"/api/v1/incidents/{ref}/history")
    assert history.status_code == 200, history.text
    events = history.json()["events"]
    said = [e for e in events if e["type"] == "Incident.CommentAdded"]
    assert len(said) == 2 * COMMENTS
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))

    # And a create retried with one Idempotency-Key through both processes, even at once,
    # makes one incident, which each retry answers with
    key = {"Idempotency-Key": "gerbang-serang-1"}

    def create(n: int) -> httpx.Response:
        return (first if n % 2 else second).post("/api/v1/incidents", json=body, headers=key)

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(create, range(6)))
    assert {a.status_code for a in answers} <= {200, 201}, [a.text for a in answers]
    assert len({a.json()["number"] for a in answers}) == 1
    listed = first.get("/api/v1/incidents", params={"limit": 50}).json()["items"]
    assert len(listed) == 2  # the first incident and the one the key made
