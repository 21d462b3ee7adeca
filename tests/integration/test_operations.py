"""Operations: the documentation pages work without the internet, /metrics is the whole
service's under several workers, and every request leaves one structured access-log line."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

from tests.integration.conftest import Api


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
