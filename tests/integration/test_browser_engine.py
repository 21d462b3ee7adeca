"""The browser test engine itself (tests/engines/chromium.py, tests/browser.py), on a page the
service already serves: /docs, Swagger UI over the service's own assets (api/docs_assets.py).
A real headless Chromium opens it from a live server, waits for it to render, finds that it
asked no other host for anything, runs axe-core over it and takes its screenshot. And the
engine's rule: a missing browser skips the browser tests, but fails them under CI=true."""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from selenium import webdriver

from tests.browser import (
    axe_version,
    axe_violations,
    describe,
    foreign_requests,
    screenshot,
    wait_for,
    wait_for_all,
)
from tests.engines import chromium
from tests.engines.chromium import (  # noqa: F401 (the fixtures)
    AXE_VERSION,
    browser,
    chromium_engine,
    phone,
)
from tests.integration.conftest import Api, free_port


# /docs is the routes' page, the same on either store: one backend is enough to drive it.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_api_docs_render_in_chromium_from_the_service_alone(
    api: Api,
    browser: webdriver.Chrome,  # noqa: F811 (the fixture)
) -> None:
    began = time.perf_counter()
    browser.get(f"{api.base_url}/docs")

    heading = wait_for(browser, ".swagger-ui .info .title")
    wait_for_all(browser, ".swagger-ui .opblock")  # the operations, read from /openapi.json

    assert "ITSM — DPK Provinsi Banten" in heading.text
    assert browser.execute_script("return [innerWidth, innerHeight]") == list(chromium.DESKTOP)
    assert browser.title == "ITSM — DPK Provinsi Banten - Swagger UI"
    assert foreign_requests(browser, api.base_url) == []

    # Swagger UI is a third party's page: the figure is recorded, not held to zero (the
    # console's own pages are).
    serious = axe_violations(browser)
    assert isinstance(serious, list)
    assert axe_version(browser) == AXE_VERSION
    print(f"axe {AXE_VERSION} on /docs: {len(serious)} serious or critical\n{describe(serious)}")

    shot = screenshot(browser, "api-docs")
    assert shot.read_bytes().startswith(b"\x89PNG")
    print(f"/docs smoke test: {time.perf_counter() - began:.2f} s after the driver started")


def test_the_phone_fixture_lays_a_page_out_at_a_phones_width(
    phone: webdriver.Chrome,  # noqa: F811 (the fixture)
) -> None:
    page = "<meta name='viewport' content='width=device-width'><p>Halo</p>"
    phone.get(f"data:text/html,{quote(page)}")
    wait_for(phone, "p")

    width, height, touch = phone.execute_script(
        "return [innerWidth, innerHeight, navigator.maxTouchPoints]"
    )
    assert (width, height) == chromium.PHONE
    assert touch > 0


def test_a_request_to_another_host_is_seen_even_when_it_fails(
    browser: webdriver.Chrome,  # noqa: F811 (the fixture)
) -> None:
    # localhost is another host than 127.0.0.1 to the page, and nothing listens on the port:
    # the request goes nowhere, yet it was made.
    elsewhere = f"http://localhost:{free_port()}/logo.png"
    browser.get(f"data:text/html,<img src='{elsewhere}' alt=''>")
    wait_for_all(browser, "img")

    assert foreign_requests(browser, "http://127.0.0.1:9") == [elsewhere]


# -- the engine's rule: no browser is a skip, but a failure under CI -----------------------------


@pytest.fixture
def no_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chromium, "CHROMIUM", tmp_path / "absent" / "chromium")
    monkeypatch.setattr(chromium, "CHROMEDRIVER", tmp_path / "absent" / "chromedriver")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # not root: may not install


def test_a_missing_chromium_says_how_to_install_it(no_chromium: None) -> None:
    with pytest.raises(chromium.ChromiumUnavailable, match="apt-get install chromium"):
        chromium.ensure_chromium()


def test_a_missing_chromium_fails_the_browser_tests_under_ci(
    no_chromium: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="under CI"):
        chromium.chromium_or_stop()


def test_a_missing_chromium_skips_the_browser_tests_elsewhere(
    no_chromium: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        chromium.chromium_or_stop()
