"""The auditor's pages in a real browser (issue 22): "an auditor downloads an evidence pack and it
verifies". Chromium (headless, tests/engines/chromium.py) reads the chain's state, draws a
sample, opens a sampled record as it stood at the period's end, and downloads the evidence pack
into a directory of the test's; the project's own verifier (`itsm audit verify-pack`, run as an
auditor runs it, with the public key they hold) then passes it. Each page has no serious axe-core
violation, asks no other host for anything, and is photographed for docs/console.md. SQLite only:
tests/integration/test_console_audit.py runs the same pages on both stores over HTTP.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from console.audit import local_text
from domain.actors import Role
from service.bootstrap import Services
from tests.browser import click, wait_for, wait_for_text
from tests.conftest import T0, Clock
from tests.console_helpers import person
from tests.engines.chromium import (  # noqa: F401 (fixtures)
    browser,
    chromium_engine,
    download_to,
    downloaded,
)
from tests.integration.conftest import Api
from tests.integration.test_api import new_incident
from tests.integration.test_console_browser import accessible, sign_in

pytestmark = [
    pytest.mark.usefixtures("directory"),
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),
]

ITSM = Path(sys.executable).parent / "itsm"


def typed(driver: webdriver.Chrome, selector: str, value: str) -> None:
    """A value into an input the way its picker would leave it (a datetime-local input's typed
    segments depend on the browser's locale)."""
    field = wait_for(driver, selector)
    driver.execute_script("arguments[0].value = arguments[1]", field, value)


def test_an_auditor_downloads_an_evidence_pack_and_it_verifies(
    api: Api,
    services: Services,
    clock: Clock,
    tmp_path: Path,
    browser: webdriver.Chrome,  # noqa: F811 (the fixture)
) -> None:
    agent = api.client()
    refs = []
    for n in range(4):
        refs.append(new_incident(agent, title=f"Kios {n} mati")["ref"])
        clock.advance(hours=1)
    assert services.audit is not None
    services.audit.ledger.checkpoint_now()
    person(services, "auditor.bsn", [Role.AUDITOR])
    downloads = tmp_path / "downloads"
    download_to(browser, downloads)

    sign_in(browser, api, "auditor.bsn")
    click(browser, "header nav a[href='/console/audit']")
    wait_for_text(browser, ".chain-ok", "Rantai terverifikasi")
    accessible(browser, api, "audit-chain")

    click(browser, ".audit-nav a[href='/console/audit/sample']")
    typed(browser, "#sample-since", local_text(T0))
    typed(browser, "#sample-until", local_text(T0 + timedelta(hours=4)))
    browser.find_element(By.ID, "sample-seed").send_keys("2026")
    n = browser.find_element(By.ID, "sample-n")
    n.clear()
    n.send_keys("2")
    click(browser, "form[action='/console/audit/sample'] button[type='submit']")
    wait_for_text(browser, "#drawn", "2026")
    drawn = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#drawn ~ .table a")]
    assert len(drawn) == 2
    assert set(drawn) <= set(refs)
    browser.execute_script("document.getElementById('drawn').scrollIntoView()")
    accessible(browser, api, "audit-sample")

    click(browser, f"#drawn ~ .table a[href*='ref={drawn[0]}']")
    wait_for_text(browser, "h1 .ref", drawn[0])
    assert "Incident.Logged" in browser.find_element(By.CSS_SELECTOR, ".timeline").text
    assert browser.find_elements(By.CSS_SELECTOR, "main form[method='post']") == []  # read-only
    accessible(browser, api, "audit-record")

    browser.back()
    click(browser, "form.pack button[type='submit']")
    pack = downloaded(downloads)
    assert pack.name.startswith("evidence-")
    assert pack.suffix == ".zip"

    key = tmp_path / "itsm-audit.pem"  # the key the auditor holds, as the service gives it
    key.write_bytes(api.client("auditor.bsn", Role.AUDITOR).get("/api/v1/audit/public-key").content)
    checked = subprocess.run(
        [str(ITSM), "audit", "verify-pack", str(pack), "--public-key", str(key)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = orjson.loads(checked.stdout)
    assert report["ok"] is True
    assert report["auditor_key"] is True
    assert report["records"] == 2  # the sample's records, whole
