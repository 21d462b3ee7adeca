"""Operations: the documentation pages work without the internet, /metrics is the whole
service's under several workers, and every request leaves one structured access-log line."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from domain.actors import Role
from infra.logs import JsonFormatter, TextFormatter, correlation
from tests.integration.conftest import Api
from tests.integration.test_api import new_incident


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
            json={"title": "t", "service": "s", "caller": "c", "impact": "low", "urgency": "low"},
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
