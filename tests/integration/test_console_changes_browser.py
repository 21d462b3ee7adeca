"""The console's change pages in a real browser (issue 22): a CAB member votes. They sign in, open
the changes awaiting their vote, open the change, approve it with a reason and see their vote in
its timeline. The change calendar (week and month, with a blackout and a conflict), the awaiting
list and the change's page have no serious or critical axe-core violation, ask no other host for
anything, and are photographed for docs/console.md (ITSM_CONSOLE_SCREENSHOTS=1). On SQLite: the
pages are the same on either store (tests/integration/test_console_changes.py runs both)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from console.i18n import JAKARTA
from domain.actors import Role
from service.bootstrap import Services
from tests.browser import click, wait_for, wait_for_text
from tests.conftest import T0
from tests.console_helpers import person
from tests.engines.chromium import browser, chromium_engine  # noqa: F401 (fixtures)
from tests.integration.conftest import Api
from tests.integration.test_console_browser import accessible, sign_in
from tests.integration.test_console_changes import (
    booked_with_a_conflict_and_a_blackout,
    change_before_the_cab,
)

pytestmark = [
    pytest.mark.usefixtures("directory"),
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),
]


def test_a_cab_member_votes(
    api: Api,
    services: Services,
    browser: webdriver.Chrome,  # noqa: F811 (the fixture)
) -> None:
    person(services, "ahmad", [Role.CAB_MEMBER])
    booked_with_a_conflict_and_a_blackout(api, services)
    ref = change_before_the_cab(api, "Ganti server OPAC cabang Serang")["ref"]

    sign_in(browser, api, "ahmad")
    click(browser, "nav a[href='/console/changes/awaiting']")
    wait_for_text(browser, "table", ref)
    accessible(browser, api, "changes-awaiting")

    click(browser, f"a[href='/console/changes/{ref}']")
    wait_for(browser, "#approve-comment").send_keys("Risiko kecil; jendela malam hari.")
    accessible(browser, api, "change")
    click(browser, "form[action$='/approve'] button[type='submit']")
    wait_for_text(browser, ".done", "Persetujuan Anda dicatat.")
    timeline = browser.find_element(By.CSS_SELECTOR, ".timeline").text
    assert "ahmad" in timeline
    assert "Disetujui" in timeline
    assert "Risiko kecil; jendela malam hari." in timeline
    assert "1 dari 2 persetujuan" in browser.find_element(By.CSS_SELECTOR, ".details").text
    assert browser.find_elements(By.CSS_SELECTOR, "form[action$='/approve']") == []
    accessible(browser, api, "change-approved")

    click(browser, "nav a[href='/console/changes/awaiting']")
    assert ref not in wait_for(browser, "main").text

    day = (T0 + timedelta(days=2)).astimezone(JAKARTA).date().isoformat()
    browser.get(f"{api.base_url}/console/changes/calendar?view=week&start={day}")
    wait_for_text(browser, ".calendar", "Pameran buku Banten")
    assert browser.find_elements(By.CSS_SELECTOR, "li.change.conflict")
    assert "Bentrok" in browser.find_element(By.CSS_SELECTOR, "li.change.conflict").text
    accessible(browser, api, "change-calendar-week")
    click(browser, "a[href^='/console/changes/calendar?view=month']")
    wait_for_text(browser, "h1", "Maret 2026")
    accessible(browser, api, "change-calendar-month")

    browser.set_window_size(390, 844)  # a phone: the days in one column, nothing wider
    browser.get(f"{api.base_url}/console/changes/calendar?view=week&start={day}")
    wait_for(browser, ".calendar")
    wide = browser.execute_script("return document.documentElement.scrollWidth > innerWidth")
    assert wide is False, "the calendar is wider than the phone"
