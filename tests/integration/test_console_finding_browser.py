"""The console's newer pages in a real browser (issue 22): an agent searches from the header,
filters the incident list and keeps the filter; a change manager assesses a change (its CAB one
name a line, each aspect a group) and schedules it (a date and time picked in the browser); a
service manager asks a what-if and reads it beside the record. Each page has no serious or
critical axe-core violation, asks no other host for anything, and is photographed for
docs/console.md (ITSM_CONSOLE_SCREENSHOTS=1). On SQLite: the pages are the same on either store
(tests/integration/test_console_lists.py, test_console_change_forms.py and
test_console_whatif.py run both)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import Select, WebDriverWait

from application.seed import seed
from benchmarks.whatif import synthesise
from console.i18n import JAKARTA
from domain.actors import Role
from service.bootstrap import Services
from tests.browser import click, wait_for, wait_for_text
from tests.conftest import T0
from tests.console_helpers import person
from tests.engines.chromium import browser, chromium_engine  # noqa: F401 (fixtures)
from tests.integration.conftest import Api
from tests.integration.test_changes_api import authorised_change
from tests.integration.test_console_browser import accessible, sign_in
from tests.integration.test_console_change_forms import raised

pytestmark = [
    pytest.mark.usefixtures("directory"),
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),
]


def test_an_agent_searches_filters_and_keeps_the_filter(
    api: Api,
    services: Services,
    browser: webdriver.Chrome,  # noqa: F811 (the fixture)
) -> None:
    person(services, "siti.rahma", [Role.AGENT])
    agent = api.client("siti.rahma", Role.AGENT)
    priorities = []
    for title, rating in (
        ("Gerbang RFID cabang Cilegon macet", "high"),
        ("Kiosk mandiri lambat mencetak struk", "low"),
    ):
        body = {
            "title": title,
            "service": "kiosks-gates",
            "caller": "budi.santoso",
            "impact": rating,
            "urgency": rating,
        }
        made = agent.post("/api/v1/incidents", json=body)
        assert made.status_code == 201
        priorities.append(made.json()["priority"])
    assert priorities[0] != priorities[1]

    sign_in(browser, api, "siti.rahma")
    wait_for(browser, "#top-search").send_keys("struk")
    click(browser, "header form[role='search'] button[type='submit']")
    found = wait_for_text(browser, "ol.hits", "Kiosk mandiri lambat mencetak struk")
    assert found.find_element(By.CSS_SELECTOR, "mark").text.lower() == "struk"
    accessible(browser, api, "search")

    click(browser, "nav a[href='/console/incidents']")
    wait_for_text(browser, "table", "Gerbang RFID")
    Select(browser.find_element(By.ID, "f-priority")).select_by_value(str(priorities[0]))
    before = browser.find_element(By.CSS_SELECTOR, "table tbody")
    click(browser, "form.filters button[type='submit']")
    WebDriverWait(browser, 10).until(staleness_of(before))  # the filtered page, not the last
    listed = wait_for(browser, "table tbody").text
    assert "Gerbang RFID" in listed
    assert "struk" not in listed
    click(browser, "details.save-filter summary")
    wait_for(browser, "#save-name").send_keys("Gawat semua cabang")
    click(browser, "form[action='/console/filters'] button[type='submit']")
    wait_for_text(browser, ".done", "Filter disimpan.")
    wait_for_text(browser, "nav.saved-filters", "Gawat semua cabang")
    accessible(browser, api, "incident-list")


def test_a_change_manager_assesses_and_schedules_a_change(
    api: Api,
    services: Services,
    browser: webdriver.Chrome,  # noqa: F811 (the fixture)
) -> None:
    person(services, "rina.wati", [Role.CHANGE_MANAGER])
    ref = raised(api)
    sign_in(browser, api, "rina.wati")
    browser.get(f"{api.base_url}/console/changes/{ref}")
    Select(wait_for(browser, "#assess-risk")).select_by_value("medium")
    browser.find_element(By.ID, "assess-impact").send_keys("Jaringan lantai 2 mati sebentar")
    browser.find_element(By.ID, "assess-cab").send_keys("ahmad\nyusuf\nlina")
    browser.find_element(By.ID, "assess-quorum").send_keys("2")
    for aspect, level in (("continuity", "low"), ("availability", "medium"), ("security", "none")):
        Select(browser.find_element(By.ID, f"assess-{aspect}-level")).select_by_value(level)
    accessible(browser, api, "change-assess")
    click(browser, "form[action$='/assess'] button[type='submit']")
    wait_for_text(browser, ".done", "Penilaian dicatat")

    seed(services.desk)  # the configuration items of a change to schedule
    booked = authorised_change(api, ["srv-inlislite-01"], "Patch server INLISLite")["ref"]
    browser.get(f"{api.base_url}/console/changes/{booked}")
    start = (T0 + timedelta(days=3)).astimezone(JAKARTA)
    for name, at in (("start", start), ("end", start + timedelta(hours=2))):
        field = wait_for(browser, f"#schedule-{name}")
        # a date and time picked as the browser's own control sends it: Jakarta's wall clock
        browser.execute_script("arguments[0].value = arguments[1]", field, f"{at:%Y-%m-%dT%H:%M}")
    accessible(browser, api, "change-schedule")
    click(browser, "form[action$='/schedule'] button[type='submit']")
    wait_for_text(browser, ".done", "Jendela waktu perubahan dijadwalkan.")
    window = api.client("rina.wati", Role.CHANGE_MANAGER).get(f"/api/v1/changes/{booked}")
    assert window.json()["window"]["start"].startswith(f"{start:%Y-%m-%dT%H:%M}") or (
        window.json()["window"]["start"]
        == (T0 + timedelta(days=3)).replace(second=0, microsecond=0).isoformat()
    )


def test_a_service_manager_asks_a_whatif(
    api: Api,
    services: Services,
    browser: webdriver.Chrome,  # noqa: F811 (the fixture)
) -> None:
    synthesise(services.desk, 120, seed=5)
    person(services, "dewi.lestari", [Role.SERVICE_MANAGER])
    sign_in(browser, api, "dewi.lestari")
    click(browser, "nav a[href='/console/whatif']")
    for name, value in (("from", "2026-01-01"), ("to", "2026-12-31")):
        field = wait_for(browser, f"#whatif-{name}")
        browser.execute_script("arguments[0].value = arguments[1]", field, value)
    browser.find_element(By.ID, "whatif-p2").send_keys("2")
    browser.find_element(By.ID, "whatif-p3").send_keys("3")
    accessible(browser, api, "whatif-ask")
    click(browser, "form.whatif-ask button[type='submit']")
    summary = wait_for_text(browser, "#whatif-summary + p", "tiket berubah hasil", timeout=60)
    assert "dari terpenuhi menjadi terlewati" in summary.text
    assert not summary.text.startswith("0 dari")  # tighter targets: some tickets now missed
    drawn = browser.execute_script("return document.querySelector('figure.chart img').naturalWidth")
    assert drawn > 0
    accessible(browser, api, "whatif-result")
