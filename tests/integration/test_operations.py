"""Operations: the documentation pages work without the internet, /metrics is the whole
service's under several workers, and every request leaves one structured access-log line."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from domain.actors import Role
from infra.logs import JsonFormatter, TextFormatter, correlation
from tests.console_helpers import Visit
from tests.integration.conftest import Api, free_port
from tests.integration.test_api import new_incident
from tests.integration.test_metrics import samples


class References(HTMLParser):
    """Every URL a page makes the browser load: script sources, stylesheets and icons."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and (name == "src" or (tag == "link" and name == "href")):
                self.urls.append(value)


@pytest.mark.parametrize(
    ("page", "kinds"),
    [("/docs", {"javascript", "css"}), ("/redoc", {"javascript"})],
)
def test_the_documentation_pages_load_nothing_from_another_host(
    api: Api, page: str, kinds: set[str]
) -> None:
    with api.client() as client:
        html = client.get(page)
        assert html.status_code == 200
        # No URL anywhere in the page (scripts, styles, fonts, icons, inline code) leaves the
        # service: an office's internal server has no internet.
        assert not re.search(r"(https?:)?//[\w.-]+\.\w", html.text), html.text
        references = References()
        references.feed(html.text)
        assert references.urls
        served = set()
        for url in references.urls:
            assert not urlsplit(url).netloc, url
            asset = client.get(urljoin(api.base_url + page, url))
            assert asset.status_code == 200, url
            served.add(asset.headers["content-type"].split(";")[0])
    expected = {"javascript": "text/javascript", "css": "text/css"}
    assert {expected[kind] for kind in kinds} <= served, served


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The access log's lines as JSON, formatted as `itsm serve` writes them by default."""
    formatter = JsonFormatter()
    return [
        json.loads(formatter.format(record))
        for record in caplog.records
        if record.name == "itsm.access"
    ]


@pytest.mark.usefixtures("directory")
def test_each_request_writes_one_json_access_line_with_actor_route_and_correlation_id(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    correlation = "5f0c2f64-2a3c-4c70-9d0b-6d4c6f3f2a11"
    with api.client("siti.rahma", Role.AGENT) as client:
        incident = new_incident(client)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="itsm.access"):
            answer = client.get(
                f"/api/v1/incidents/{incident['id']}", headers={"X-Correlation-ID": correlation}
            )

    assert answer.status_code == 200
    assert answer.headers["X-Correlation-ID"] == correlation
    [line] = access_lines(caplog)
    assert line["logger"] == "itsm.access"
    assert line["level"] == "INFO"
    assert datetime.fromisoformat(line["time"]).tzinfo is not None
    assert line["correlation_id"] == correlation
    assert line["actor"] == "siti.rahma"
    assert line["role"] == "agent"
    assert line["method"] == "GET"
    assert line["route"] == "/api/v1/incidents/{ref}"
    assert line["path"] == f"/api/v1/incidents/{incident['id']}"
    assert line["status"] == 200
    assert 0 < line["duration_ms"] < 30_000
    assert line["message"].startswith("GET /api/v1/incidents/{ref} 200 ")


def test_a_request_without_a_correlation_id_gets_one_that_its_events_and_log_line_share(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    with api.client() as client, caplog.at_level(logging.INFO, logger="itsm.access"):
        created = client.post(
            "/api/v1/incidents",
            json={
                "title": "t",
                "service": "helpdesk",
                "caller": "c",
                "impact": "low",
                "urgency": "low",
            },
        )
        anonymous = httpx.get(f"{api.base_url}/api/v1/queues")
        history = client.get(f"/api/v1/incidents/{created.json()['id']}/history").json()

    create_line, anonymous_line, _ = access_lines(caplog)
    given = created.headers["X-Correlation-ID"]
    assert create_line["correlation_id"] == given == history["events"][0]["correlation_id"]
    assert create_line["status"] == 201
    assert anonymous_line["status"] == 401
    assert "actor" not in anonymous_line
    assert anonymous_line["correlation_id"] == anonymous.headers["X-Correlation-ID"] != given


def test_every_line_written_during_a_request_carries_its_correlation_id() -> None:
    record = logging.LogRecord("itsm.test", logging.WARNING, __file__, 1, "%s", ("x",), None)
    with correlation("c-1"):
        inside_json = json.loads(JsonFormatter().format(record))
        inside_text = TextFormatter().format(record)
    outside = json.loads(JsonFormatter().format(record))
    assert inside_json["correlation_id"] == "c-1"
    assert inside_json["message"] == "x"
    assert inside_text.endswith("WARNING itsm.test: x [c-1]")
    assert "correlation_id" not in outside


@dataclass
class Served:
    base_url: str
    data_dir: Path
    log: Path


@contextmanager
def itsm_serve(tmp_path: Path, *options: str) -> Iterator[Served]:
    """`itsm serve` as an operator starts it, on a free loopback port and a new data directory;
    stopped with SIGINT (as Ctrl-C) at the end, its stderr left in `log`."""
    port = free_port()
    data_dir = tmp_path / "data"
    log = tmp_path / "serve.log"
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("ITSM_") and name != "PROMETHEUS_MULTIPROC_DIR"
    }
    environment["ITSM_SLA_WATCH_INTERVAL"] = "0"
    itsm = Path(sys.executable).parent / "itsm"
    command = [itsm, "serve", "--data-dir", data_dir, "--port", str(port), *options]
    with log.open("wb") as stderr:
        server = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=stderr, env=environment
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
        yield Served(base_url, data_dir, log)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def workers_that_answered(served: Served) -> set[str]:
    """The pids of the worker processes that counted a request (one file of counters each)."""
    return {path.stem.rsplit("_", 1)[1] for path in (served.data_dir / "metrics").glob("counter_*")}


def requests_to_queues(found: dict[tuple[str, Any], float], name: str) -> float:
    """The GET /api/v1/queues requests a scrape counts, whatever their status (a request that
    a middleware answers before routing is labelled `unmatched`; the test sends no other)."""
    return sum(
        value
        for (sample, labels), value in found.items()
        if sample == name
        and dict(labels)["method"] == "GET"
        and dict(labels)["route"] in {"/api/v1/queues", "unmatched"}
    )


def test_metrics_count_the_requests_of_every_worker(tmp_path: Path) -> None:
    sent = 0
    with itsm_serve(tmp_path, "--workers", "2") as served:

        def unauthenticated(_: int) -> int:
            # A new connection each: a connection stays with the worker that accepted it.
            return httpx.get(f"{served.base_url}/api/v1/queues", timeout=30).status_code

        # Until both workers have answered some (the kernel picks which accepts each; on a
        # loaded machine the second worker may take a while to start accepting at all).
        deadline = time.monotonic() + 120
        with ThreadPoolExecutor(4) as pool:
            while sent < 20 or (
                len(workers_that_answered(served)) < 2 and time.monotonic() < deadline
            ):
                # (429 if a throttle by client address steps in: counted all the same)
                assert set(pool.map(unauthenticated, range(20))) <= {401, 429}
                sent += 20
        assert len(workers_that_answered(served)) == 2
        scrapes = [samples(httpx.get(f"{served.base_url}/metrics").text) for _ in range(6)]
    log_lines = served.log.read_text().splitlines()

    for found in scrapes:  # whichever worker answered the scrape
        assert requests_to_queues(found, "itsm_http_requests_total") == sent
        assert requests_to_queues(found, "itsm_http_request_duration_seconds_count") == sent
        assert found[("itsm_store_position", ())] >= 0
    # and each request wrote one JSON line with its own correlation id; uvicorn's plain
    # access log is off
    lines = [json.loads(line) for line in log_lines if line.startswith("{")]
    access = [
        line
        for line in lines
        if line["logger"] == "itsm.access" and line["path"] == "/api/v1/queues"
    ]
    assert len(access) == sent
    assert len({line["correlation_id"] for line in access}) == sent
    assert not any('"GET /api/v1/queues HTTP/1.1"' in line for line in log_lines)
    # and no worker was killed by its supervisor for starting slowly (test_serve_supervision)
    assert not [line for line in log_lines if "Child process" in line and "died" in line]


def test_a_single_worker_serves_its_own_metrics_without_files(tmp_path: Path) -> None:
    with itsm_serve(tmp_path, "--workers", "1") as served:
        for _ in range(3):
            httpx.get(f"{served.base_url}/api/v1/queues")
        found = samples(httpx.get(f"{served.base_url}/metrics").text)
    assert requests_to_queues(found, "itsm_http_requests_total") == 3
    assert not (served.data_dir / "metrics").exists()


ROOT = Path(__file__).resolve().parents[2]


#: The password the tutorial's reader chooses for siti.rahma.
TUTORIAL_PASSWORD = "kios-serang-2026"


def readme_tutorial() -> str:
    """The shell blocks of the README's tutorial, in order."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Your first incident", 1)[1].split("\n## ", 1)[0]
    return "\n".join(re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL))


def test_the_readme_tutorial_runs_as_written_to_a_closed_incident(tmp_path: Path) -> None:
    with itsm_serve(tmp_path) as served:
        port = served.base_url.rsplit(":", 1)[1]
        script = readme_tutorial().replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        environment = {
            name: value for name, value in os.environ.items() if not name.startswith("ITSM_")
        }
        environment["ITSM_DATA_DIR"] = str(served.data_dir)  # where `serve` keeps its tokens
        ran = subprocess.run(
            # Every curl of the tutorial must succeed: an HTTP error fails the script.
            ["bash", "-euo", "pipefail", "-c", f'curl() {{ command curl -f "$@"; }}\n{script}'],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            # what a newcomer types at `itsm console password`'s two prompts
            input=f"{TUTORIAL_PASSWORD}\n{TUTORIAL_PASSWORD}\n",
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        # and the browser part: siti.rahma signs in to the console with that password
        console = Visit(served.base_url)
        try:
            signed = console.sign_in("siti.rahma", TUTORIAL_PASSWORD)
            assert signed.url.path == "/console/queue", signed.url
        finally:
            console.close()
        # the seed's one line of summary, then the answers (JSON)
        seeded, _, answered = ran.stdout.partition("\n")
        assert seeded.startswith("seeded "), ran.stdout
        answers = [json.loads(line) for line in answered.replace("}{", "}\n{").splitlines()]
    states = [answer["state"] for answer in answers if "state" in answer]
    assert states == ["assigned", "in_progress", "resolved", "closed"]
    assert answers[-1]["closure"]["basis"] == "confirmed_by_caller"
    assert answers[-1]["closure"]["by"] == {"id": "budi.santoso", "role": "requester"}


def test_the_readme_says_what_make_test_needs() -> None:
    readme = (ROOT / "README.md").read_text()
    for needed in ("Java 17", "Maven", "PostgreSQL", "root", "minutes on 2 cores"):
        assert needed in readme.split("## Your first incident", 1)[0], needed


def test_a_request_no_route_matched_is_logged_by_its_path(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="itsm.access"):
        httpx.get(f"{api.base_url}/no/such/page")
    [line] = access_lines(caplog)
    assert line["status"] == 404
    assert line["route"] == "unmatched"
    assert line["message"].startswith("GET /no/such/page 404 ")
