"""Signing in to the console with single sign-on in a real browser (Chromium, tests/engines/
chromium.py) at a real Keycloak (tests/engines/keycloak.py), on SQLite: the sign-in page's
"Masuk dengan SSO", Keycloak's own login page, and the console signed in as that person; the
console's pages have no serious or critical axe-core violation."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from infra.settings import Settings
from tests.browser import click, foreign_requests, wait_for
from tests.conftest import Clock
from tests.engines.chromium import browser, chromium_engine  # noqa: F401 (fixtures)
from tests.engines.keycloak import PASSWORDS, Keycloak, keycloak  # noqa: F401 (fixtures)
from tests.integration.conftest import Api
from tests.integration.test_console_browser import accessible
from tests.integration.test_console_sso import serve_with_sso

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture
def sso_api(
    make_settings: Callable[[], Settings],
    clock: Clock,
    keycloak: Keycloak,  # noqa: F811 (the fixture)
) -> Iterator[Api]:
    yield from serve_with_sso(make_settings, clock, keycloak)


def test_a_person_signs_in_at_the_offices_sso_and_lands_in_the_console(
    sso_api: Api,
    keycloak: Keycloak,  # noqa: F811 (the fixture)
    browser: webdriver.Chrome,  # noqa: F811 (the fixture)
) -> None:
    api = sso_api
    browser.get(f"{api.base_url}/console/queue")
    wait_for(browser, "a.sso")
    accessible(browser, api, "sign-in-sso")
    click(browser, "a.sso")
    wait_for(browser, "#username").send_keys("siti.rahma")
    browser.find_element(By.ID, "password").send_keys(PASSWORDS["siti.rahma"])
    click(browser, "#kc-login")
    wait_for(browser, "form[action='/console/sign-out']")
    assert browser.current_url == f"{api.base_url}/console/queue"
    assert browser.find_element(By.CSS_SELECTOR, ".person").text == "Siti Rahma"
    # on the way, the browser asked the console and the issuer, and no one else
    elsewhere = foreign_requests(browser, api.base_url)
    assert [url for url in elsewhere if not url.startswith(f"{keycloak.base_url}/")] == []
    accessible(browser, api, "sso-signed-in")
