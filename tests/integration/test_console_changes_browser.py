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

from application.seed import seed
from console.i18n import JAKARTA
from domain.actors import Role
from service.bootstrap import Services
from tests.browser import click, wait_for, wait_for_text
from tests.conftest import T0
from tests.console_helpers import person
from tests.engines.chromium import browser, chromium_engine  # noqa: F401 (fixtures)
from tests.integration.conftest import Api
from tests.integration.test_changes_api import WINDOW, authorised_change
from tests.integration.test_console_browser import accessible, sign_in
from tests.integration.test_console_changes import change_before_the_cab

pytestmark = [
    pytest.mark.usefixtures("directory"),
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),
]


def booked_with_a_conflict_and_a_blackout(api: Api, services: Services) -> None:
    """Two changes booked in one window on items that depend on each other (the second booked
    despite the clash, by a change manager), and a blackout over the same hours."""
    seed(services.desk)
    manager = api.client("rina.wati", Role.CHANGE_MANAGER)
    first = authorised_change(api, ["srv-inlislite-01"], "Patch server INLISLite")
    second = authorised_change(api, ["app-inlislite"], "Upgrade INLISLite ke 3.2")
    for change, extra in (
        (first, {}),
        (second, {"override_reason": "vendor hanya datang hari itu"}),
    ):
        booked = manager.post(
            f"/api/v1/changes/{change['ref']}/schedule",
            json={"start": WINDOW[0], "end": WINDOW[1], **extra},
        )
        assert booked.status_code == 200, booked.text
    blackout = api.client("dewi.lestari", Role.SERVICE_MANAGER).post(
        "/api/v1/changes/blackouts",
        json={
            "code": "book-fair-2026",
            "title": "Pameran buku Banten",
            "start": WINDOW[0],
            "end": WINDOW[1],
            "configuration_items": ["svc-opac"],
            "reason": "acara publik",
        },
    )
    assert blackout.status_code == 201, blackout.text


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
