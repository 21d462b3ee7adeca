"""What a browser test does with its driver (tests/engines/chromium.py starts it): wait for the
page, check it with axe-core, take its screenshot, list the requests it made.

Waiting is Selenium's WebDriverWait on expected conditions, never a sleep: a test waits as long
as the page needs and no longer, up to its timeout.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from selenium.webdriver import Chrome
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.wait import WebDriverWait

from tests.engines.chromium import axe_core_script

#: The screenshots docs/console.md shows, written only when this is "1".
SCREENSHOTS_ENV = "ITSM_CONSOLE_SCREENSHOTS"
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "console"

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")

# axe.run is asynchronous: Selenium hands the script a callback as its last argument.
_RUN_AXE = """
const [context, options, done] = arguments;
axe.run(context || document, options).then(
  (results) => done({violations: results.violations}),
  (error) => done({error: String(error)}),
);
"""


# -- waiting -------------------------------------------------------------------------------------


def wait_for(driver: WebDriver, css: str, timeout: float = 10) -> WebElement:
    """The first element matching `css` once it is visible."""
    found: WebElement = WebDriverWait(driver, timeout).until(
        ec.visibility_of_element_located(("css selector", css)),
        f"no visible {css!r} within {timeout} s",
    )
    return found


def wait_for_all(driver: WebDriver, css: str, timeout: float = 10) -> list[WebElement]:
    """Every element matching `css` once at least one is present."""
    found: list[WebElement] = WebDriverWait(driver, timeout).until(
        ec.presence_of_all_elements_located(("css selector", css)),
        f"no {css!r} within {timeout} s",
    )
    return found


def wait_for_text(driver: WebDriver, css: str, text: str, timeout: float = 10) -> WebElement:
    """The element matching `css` once its text contains `text`."""
    WebDriverWait(driver, timeout).until(
        ec.text_to_be_present_in_element(("css selector", css), text),
        f"{css!r} did not come to say {text!r} within {timeout} s",
    )
    return driver.find_element("css selector", css)


def wait_until_gone(driver: WebDriver, css: str, timeout: float = 10) -> None:
    """Until no element matching `css` is visible (a spinner, a dialog closed)."""
    WebDriverWait(driver, timeout).until(
        ec.invisibility_of_element_located(("css selector", css)),
        f"{css!r} still visible after {timeout} s",
    )


def click(driver: WebDriver, css: str, timeout: float = 10) -> WebElement:
    """Click the element matching `css` once it is visible and enabled."""
    element: WebElement = WebDriverWait(driver, timeout).until(
        ec.element_to_be_clickable(("css selector", css)),
        f"{css!r} not clickable within {timeout} s",
    )
    element.click()
    return element


# -- accessibility -------------------------------------------------------------------------------


def axe_violations(
    driver: WebDriver,
    impacts: Sequence[str] = ("serious", "critical"),
    *,
    context: str | None = None,
    rules: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """axe-core's violations of these impacts on the page as it is now (the top document; a
    CSS selector narrows it to `context`). Each is axe's own object: id, impact, help, helpUrl,
    and the nodes with their targets."""
    driver.execute_script(axe_core_script())
    options: dict[str, Any] = {"resultTypes": ["violations"]}
    if rules is not None:
        options["rules"] = rules
    answer: dict[str, Any] = driver.execute_async_script(_RUN_AXE, context, options)
    if "error" in answer:
        raise RuntimeError(f"axe.run failed: {answer['error']}")
    violations: list[dict[str, Any]] = answer["violations"]
    return [v for v in violations if v.get("impact") in impacts]


def axe_version(driver: WebDriver) -> str:
    """The version of axe-core on the page (after axe_violations injected it)."""
    version: str = driver.execute_script("return window.axe && window.axe.version")
    return version


def describe(violations: Sequence[dict[str, Any]]) -> str:
    """A line per violation, for an assertion's message."""
    return "\n".join(
        f"{v['impact']}: {v['id']} ({v['help']}) at "
        + ", ".join(json.dumps(node["target"]) for node in v["nodes"][:5])
        + (f" and {len(v['nodes']) - 5} more" if len(v["nodes"]) > 5 else "")
        for v in violations
    )


# -- screenshots ---------------------------------------------------------------------------------


def screenshot(driver: WebDriver, name: str) -> Path:
    """The page as it is now, as a PNG: docs/console/NAME.png when ITSM_CONSOLE_SCREENSHOTS=1
    (the run that updates the docs' pictures), else a temporary file, so that an ordinary run
    rewrites no docs."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"a screenshot's name is lower-case letters, digits and '-': {name!r}")
    if os.environ.get(SCREENSHOTS_ENV) == "1":
        directory = DOCS_SCREENSHOTS
    else:
        directory = Path(tempfile.gettempdir()) / "itsm-test-screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    if not driver.save_screenshot(str(path)):
        raise RuntimeError(f"the browser took no screenshot for {path}")
    return path


# -- network -------------------------------------------------------------------------------------


_NETWORK_SCHEMES = ("http:", "https:", "ws:", "wss:")


def requested_urls(driver: Chrome) -> list[str]:
    """Every URL the browser asked a host for since the last call (the driver's performance
    log, which tests/engines/chromium.py turns on): the page, its scripts, styles, images,
    fonts, fetches and sockets, also those that failed. The browser's own pages (chrome:, its
    new tab at start-up) and data: and blob: URLs go to no host and are left out."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            params = message["params"]
            url: str = params["request"]["url"] if "request" in params else params["url"]
            if url.startswith(_NETWORK_SCHEMES):
                urls.append(url)
    return urls


def foreign_requests(driver: Chrome, base_url: str) -> list[str]:
    """The URLs requested since the last call that are not under `base_url`."""
    prefix = base_url.rstrip("/") + "/"
    return [url for url in requested_urls(driver) if not url.startswith(prefix)]
