"""The console in a real browser: Debian's Chromium, headless, driven by Selenium (issue 22).

An agent works an incident from the queue to resolved; a requester logs one on a phone, sees it
resolved and confirms; a requester who types another's record into the address bar finds
nothing; a form whose CSRF token was taken out is refused. Each main page has no serious or
critical axe-core violation, asks no other host for anything, and is photographed for
docs/console.md (ITSM_CONSOLE_SCREENSHOTS=1 writes the pictures there). The pages are the same
on either store (tests/integration/test_console.py runs both): these run on SQLite.
"""

from __future__ import annotations

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from domain.actors import Role
from service.bootstrap import Services
from tests.browser import (
    axe_violations,
    click,
    describe,
    foreign_requests,
    screenshot,
    wait_for,
    wait_for_all,
    wait_for_text,
)
from tests.conftest import Clock
from tests.console_helpers import PASSWORD, person
from tests.engines.chromium import browser, chromium_engine, phone  # noqa: F401 (fixtures)
from tests.integration.conftest import Api

pytestmark = [
    pytest.mark.usefixtures("directory"),
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),
]


def sign_in(driver: webdriver.Chrome, api: Api, actor_id: str) -> None:
    driver.get(f"{api.base_url}/")
    wait_for(driver, "#actor_id").send_keys(actor_id)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    click(driver, "form[action='/console/sign-in'] button[type='submit']")
    wait_for(driver, "form[action='/console/sign-out']")


def accessible(driver: webdriver.Chrome, api: Api, page: str) -> None:
    """No serious or critical axe-core violation; nothing asked of another host; photographed."""
    serious = axe_violations(driver)
    assert not serious, f"{page}: {describe(serious)}"
    assert foreign_requests(driver, api.base_url) == []
    screenshot(driver, page)


def log_incident(driver: webdriver.Chrome, title: str, *, staff: bool) -> str:
    """Log an incident through the form; its number, from the page it leads to."""
    click(driver, "a[href='/console/incidents/new']")
    wait_for(driver, "#log-title").send_keys(title)
    driver.find_element(By.ID, "log-description").send_keys("Layar hitam sejak pagi.")
    Select(driver.find_element(By.ID, "log-service")).select_by_value("kiosks-gates")
    Select(driver.find_element(By.ID, "log-impact")).select_by_value("medium")
    Select(driver.find_element(By.ID, "log-urgency")).select_by_value("high")
    if staff:
        driver.find_element(By.ID, "log-caller").send_keys("budi.santoso")
        driver.find_element(By.ID, "log-assignment_group").send_keys("kiosk-team")
    click(driver, "form[action='/console/incidents/new'] button[type='submit']")
    return wait_for(driver, "h1 .ref").text


def test_an_agent_works_an_incident_from_the_queue_to_resolved(
    api: Api,
    services: Services,
    browser: webdriver.Chrome,  # noqa: F811 (the fixture)
) -> None:
    person(services, "siti.rahma", [Role.AGENT])
    browser.get(f"{api.base_url}/console/sign-in")
    wait_for(browser, "#actor_id")
    accessible(browser, api, "sign-in")
    sign_in(browser, api, "siti.rahma")

    click(browser, "a[href='/console/incidents/new']")
    wait_for(browser, "#log-title")
    accessible(browser, api, "new-incident")
    browser.back()
    ref = log_incident(browser, "Gerbang RFID lantai 1 berbunyi terus", staff=True)
    assert ref.startswith("INC-")

    click(browser, "a[href='/console/queue']")
    wait_for_text(browser, "table", ref)
    accessible(browser, api, "queue")
    click(browser, f"a[href='/console/incidents/{ref}']")

    click(browser, "form[action$='/start-work'] button[type='submit']")
    wait_for_text(browser, ".done", "Pekerjaan dimulai.")
    accessible(browser, api, "incident")
    resolve = wait_for(browser, "form[action$='/resolve']")
    assert resolve.find_element(By.XPATH, "..").tag_name == "details"
    Select(browser.find_element(By.ID, "resolve-code")).select_by_value("fixed")
    browser.find_element(By.ID, "resolve-notes").send_keys("Sensor gerbang dibersihkan.")
    click(browser, "form[action$='/resolve'] button[type='submit']")
    wait_for_text(browser, ".done", "Insiden diselesaikan.")
    assert "Selesai" in browser.find_element(By.CSS_SELECTOR, ".details").text
    assert "Sensor gerbang dibersihkan." in browser.find_element(By.CSS_SELECTOR, ".timeline").text


def test_a_requester_on_a_phone_logs_an_incident_sees_it_resolved_and_confirms(
    api: Api,
    services: Services,
    phone: webdriver.Chrome,  # noqa: F811 (the fixture)
) -> None:
    person(services, "budi.santoso", [Role.REQUESTER], organisation="perpus-kota-serang")
    sign_in(phone, api, "budi.santoso")
    ref = log_incident(phone, "Kartu anggota tidak terbaca di kios", staff=False)
    wide = phone.execute_script("return document.documentElement.scrollWidth > innerWidth")
    assert wide is False, "the page is wider than the phone"

    agent = api.client("siti.rahma", Role.AGENT, all_organisations=True)
    for step, body in (
        ("assign", {"group": "kiosk-team"}),
        ("start-work", None),
        ("resolve", {"code": "fixed", "notes": "Kartu dicetak ulang."}),
    ):
        answer = agent.post(f"/api/v1/incidents/{ref}/{step}", json=body)
        assert answer.status_code == 200, answer.text

    phone.refresh()
    wait_for_text(phone, ".details", "Selesai")
    assert "Kartu dicetak ulang." in phone.find_element(By.CSS_SELECTOR, ".timeline").text
    accessible(phone, api, "requester-resolved")
    click(phone, "form[action$='/confirm'] button[type='submit']")
    wait_for_text(phone, ".done", "penyelesaian dikonfirmasi")
    assert "Ditutup" in phone.find_element(By.CSS_SELECTOR, ".details").text


def test_a_requester_cannot_open_anothers_record_by_its_address(
    api: Api,
    services: Services,
    browser: webdriver.Chrome,  # noqa: F811 (the fixture)
) -> None:
    person(services, "rina.anggota", [Role.REQUESTER])
    agent = api.client("siti.rahma", Role.AGENT)
    body = {
        "title": "Kios lantai 2 mati",
        "service": "kiosks-gates",
        "caller": "budi.santoso",
        "impact": "low",
        "urgency": "low",
    }
    ref = agent.post("/api/v1/incidents", json=body).json()["ref"]

    sign_in(browser, api, "rina.anggota")
    browser.get(f"{api.base_url}/console/incidents/{ref}")
    assert wait_for(browser, "h1").text == "Tidak ditemukan"
    assert "Kios lantai 2 mati" not in browser.page_source
    accessible(browser, api, "not-found")


def test_a_form_posted_without_its_csrf_token_is_refused(
    api: Api,
    services: Services,
    browser: webdriver.Chrome,  # noqa: F811 (the fixture)
) -> None:
    person(services, "siti.rahma", [Role.AGENT])
    sign_in(browser, api, "siti.rahma")
    click(browser, "a[href='/console/incidents/new']")
    wait_for(browser, "#log-title").send_keys("Tanpa token")
    browser.execute_script(
        "document.querySelector(\"form[action='/console/incidents/new'] input[name='csrf']\")"
        ".remove()"
    )
    browser.find_element(By.ID, "log-description").send_keys("x")
    Select(browser.find_element(By.ID, "log-service")).select_by_value("kiosks-gates")
    Select(browser.find_element(By.ID, "log-impact")).select_by_value("low")
    Select(browser.find_element(By.ID, "log-urgency")).select_by_value("low")
    browser.find_element(By.ID, "log-caller").send_keys("budi.santoso")
    click(browser, "form[action='/console/incidents/new'] button[type='submit']")
    wait_for_text(browser, "h1", "Formulir ditolak")  # the next page's heading, once it is there
    listed = api.client("siti.rahma", Role.AGENT).get("/api/v1/incidents").json()["items"]
    assert [i for i in listed if i["title"] == "Tanpa token"] == []


def test_a_service_manager_reads_the_dashboards_charts(
    api: Api,
    services: Services,
    clock: Clock,
    browser: webdriver.Chrome,  # noqa: F811 (the fixture)
) -> None:
    person(services, "dewi.lestari", [Role.SERVICE_MANAGER])
    agent = api.client("siti.rahma", Role.AGENT)
    for n, service in enumerate(("kiosks-gates", "kiosks-gates", "catalogue-search")):
        body = {
            "title": f"Gangguan {n}",
            "service": service,
            "caller": "budi.santoso",
            "impact": "medium",
            "urgency": "medium",
            "assignment_group": "kiosk-team",
        }
        assert agent.post("/api/v1/incidents", json=body).status_code == 201
    clock.advance(days=1)

    sign_in(browser, api, "dewi.lestari")
    click(browser, "a[href='/console/dashboard']")
    charts = wait_for_all(browser, ".charts img")
    assert len(charts) == 4
    drawn = browser.execute_script(
        "return Array.from(document.querySelectorAll('.charts img')).map(i => i.naturalWidth)"
    )
    assert all(width > 0 for width in drawn), drawn
    accessible(browser, api, "dashboard")


def test_the_articles_that_may_answer_it_appear_as_a_title_is_typed(
    api: Api,
    services: Services,
    browser: webdriver.Chrome,  # noqa: F811 (the fixture)
) -> None:
    person(services, "budi.santoso", [Role.REQUESTER])
    author, reviewer = api.client("siti.rahma", Role.AGENT), api.client("andi.wijaya", Role.AGENT)
    article = {
        "title": "Kios menelan kartu anggota",
        "body": "Nyalakan ulang kios dari panel belakang kiri.",
        "service": "kiosks-gates",
        "keywords": ["kios", "kartu anggota"],
    }
    ref = author.post("/api/v1/knowledge-articles", json=article).json()["ref"]
    author.post(f"/api/v1/knowledge-articles/{ref}/submit-for-review")
    assert reviewer.post(f"/api/v1/knowledge-articles/{ref}/publish").status_code == 200

    sign_in(browser, api, "budi.santoso")
    click(browser, "a[href='/console/incidents/new']")
    wait_for(browser, "#log-title").send_keys("Kartu anggota tertelan kios")
    suggestion = wait_for_text(browser, "#suggestions", "Kios menelan kartu anggota")
    assert (
        suggestion.find_element(By.CSS_SELECTOR, "a")
        .get_attribute("href")
        .endswith(f"/console/knowledge/{ref}")
    )
    accessible(browser, api, "suggestions")


def test_an_agent_reads_the_problems_and_starts_an_investigation(
    api: Api,
    services: Services,
    browser: webdriver.Chrome,  # noqa: F811 (the fixture)
) -> None:
    person(services, "siti.rahma", [Role.AGENT])
    logged = api.client("siti.rahma", Role.AGENT).post(
        "/api/v1/problems",
        json={"title": "Gerbang RFID sering berbunyi palsu", "service": "kiosks-gates"},
    )
    assert logged.status_code == 201, logged.text
    ref = logged.json()["ref"]

    sign_in(browser, api, "siti.rahma")
    click(browser, "a[href='/console/problems']")
    wait_for_text(browser, "table", ref)
    accessible(browser, api, "problems")
    click(browser, f"a[href='/console/problems/{ref}']")
    click(browser, "form[action$='/start-investigation'] button[type='submit']")
    wait_for_text(browser, ".done", "Penyelidikan dimulai.")
    accessible(browser, api, "problem")
