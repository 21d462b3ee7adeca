"""A real browser for the tests: Debian's headless Chromium, driven by Selenium through Debian's
chromedriver, and axe-core for the accessibility checks.

Chromium and its driver are Debian's `chromium` and `chromium-driver` packages (installed when
missing and we are root, as the PostgreSQL engine installs `postgresql`). Selenium is handed the
driver's path, so it never runs Selenium Manager (which would try to download a driver). Without
a browser the browser tests are skipped, except under CI=true, where they fail: CI must never
pass by not looking at the console.

Every test gets a driver of its own (the `browser` and `phone` fixtures): its own chromedriver on
a free port, its own Chromium with a fresh profile in a temporary directory, quit at the end. So
xdist's workers never share one, and no test sees another's cookies or storage.

axe-core: no package on PyPI ships a recent axe.min.js for Selenium on Python 3.11
(axe-selenium-python 2.1.6 has axe 3.1.1 and its 3.0 needs Python 3.12; axe-core-python has
4.4.3, from 2022). So the engine takes the file from axe-core's own package on the npm
registry, at a pinned version whose tarball and script must match pinned SHA-256 digests, and
keeps it in a cache directory: fetched once a machine, never from a CDN while a page is tested.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import NoReturn

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from infra.postgres_server import apt_install

#: Where Debian's packages put the browser (a wrapper script) and its driver.
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PACKAGES = ("chromium", "chromium-driver")

AXE_VERSION = "4.14.1"
AXE_TARBALL = f"https://registry.npmjs.org/axe-core/-/axe-core-{AXE_VERSION}.tgz"
AXE_TARBALL_SHA256 = "e6b0ce02b84d892e2e33e403485e7f3d6c29e2be6df65daf44d89ba564139745"
AXE_SCRIPT_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"

#: The window of a desk agent's screen, and of a phone (CSS pixels).
DESKTOP = (1280, 900)
PHONE = (390, 844)
PHONE_PIXEL_RATIO = 2
LANGUAGE = "id"

_LOCK = Path(tempfile.gettempdir()) / "itsm-test-chromium-install.lock"


class ChromiumUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Chromium:
    """The browser, its driver and the axe-core script the tests inject."""

    browser: Path
    driver: Path
    axe: Path


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"no browser for the tests under CI: {reason}")
    pytest.skip(f"no browser for the tests: {reason}")


def _installed() -> bool:
    return CHROMIUM.exists() and CHROMEDRIVER.exists()


@contextmanager
def _install_lock() -> Iterator[None]:
    """One xdist worker installs or fetches at a time; the others wait, then find it done."""
    with _LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_chromium() -> tuple[Path, Path]:
    """Chromium and chromedriver; installs Debian's `chromium` and `chromium-driver` first when
    either is missing and this process is root."""
    if _installed():
        return CHROMIUM, CHROMEDRIVER
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ChromiumUnavailable(
            f"Chromium is not installed (no {CHROMIUM} or {CHROMEDRIVER}); install Debian's"
            f" packages as root: apt-get install {' '.join(PACKAGES)}"
        )
    with _install_lock():
        # Another engine's install (PostgreSQL, SoftHSM2, Dovecot) may hold dpkg's lock.
        for attempt in range(1, 7):
            if _installed():
                break
            failed = apt_install(*PACKAGES)
            if failed is None:
                break
            if "lock" not in failed.lower() or attempt == 6:
                raise ChromiumUnavailable(failed)
            time.sleep(10)
    if not _installed():
        raise ChromiumUnavailable(
            f"installed {' '.join(PACKAGES)}, yet found no {CHROMIUM} or {CHROMEDRIVER}"
        )
    return CHROMIUM, CHROMEDRIVER


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "itsm-tests"


def ensure_axe_core() -> Path:
    """axe.min.js of axe-core AXE_VERSION, from the cache, else from the npm registry."""
    script = cache_dir() / f"axe-core-{AXE_VERSION}" / "axe.min.js"
    if _digest(script) == AXE_SCRIPT_SHA256:
        return script
    with _install_lock():
        if _digest(script) != AXE_SCRIPT_SHA256:
            _fetch_axe_core(script)
    return script


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def _fetch_axe_core(script: Path) -> None:
    try:
        answer = httpx.get(AXE_TARBALL, timeout=60, follow_redirects=True)
        answer.raise_for_status()
    except httpx.HTTPError as error:
        raise ChromiumUnavailable(f"could not fetch axe-core {AXE_VERSION}: {error}") from error
    tarball = answer.content
    if hashlib.sha256(tarball).hexdigest() != AXE_TARBALL_SHA256:
        raise ChromiumUnavailable(f"axe-core {AXE_VERSION}'s tarball is not the pinned one")
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile("package/axe.min.js")
        if member is None:
            raise ChromiumUnavailable(f"axe-core {AXE_VERSION}'s tarball has no axe.min.js")
        content = member.read()
    if hashlib.sha256(content).hexdigest() != AXE_SCRIPT_SHA256:
        raise ChromiumUnavailable(f"axe-core {AXE_VERSION}'s axe.min.js is not the pinned one")
    script.parent.mkdir(parents=True, exist_ok=True)
    partial = script.with_suffix(".partial")
    partial.write_bytes(content)
    partial.replace(script)


@cache
def axe_core_script() -> str:
    """The text of the pinned axe.min.js, checked against its digest (read once a process)."""
    try:
        script = ensure_axe_core()
    except ChromiumUnavailable as error:
        _unavailable(str(error))
    return script.read_text(encoding="utf-8")


def chromium_or_stop() -> Chromium:
    """The engine, or the test stops: skipped, or failed under CI=true."""
    try:
        browser, driver = ensure_chromium()
        return Chromium(browser, driver, ensure_axe_core())
    except ChromiumUnavailable as error:
        _unavailable(str(error))


def options(
    engine: Chromium, profile: Path, size: tuple[int, int], *, phone: bool = False
) -> webdriver.ChromeOptions:
    chosen = webdriver.ChromeOptions()
    chosen.binary_location = str(engine.browser)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the tests run as root, where Chromium's sandbox refuses to start
        "--disable-dev-shm-usage",  # a container's /dev/shm is small
        f"--window-size={size[0]},{size[1]}",
        f"--lang={LANGUAGE}",
        f"--user-data-dir={profile}",
        "--hide-scrollbars",  # screenshots the same on every machine
    ):
        chosen.add_argument(argument)
    chosen.add_experimental_option("prefs", {"intl.accept_languages": f"{LANGUAGE},en"})
    if phone:
        # The page is laid out as on a phone: its viewport meta tag counts, touch events fire.
        chosen.add_experimental_option(
            "mobileEmulation",
            {
                "deviceMetrics": {
                    "width": size[0],
                    "height": size[1],
                    "pixelRatio": PHONE_PIXEL_RATIO,
                    "mobile": True,
                    "touch": True,
                }
            },
        )
    # Every request the page makes, read back by tests.browser.requested_urls.
    chosen.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return chosen


_START_TIMES: list[float] = []


@contextmanager
def started(
    engine: Chromium, size: tuple[int, int], *, phone: bool = False
) -> Iterator[webdriver.Chrome]:
    """A driver and its browser on a fresh profile, quit and removed at the end."""
    profile = Path(tempfile.mkdtemp(prefix="itsm-test-chromium-"))
    try:
        began = time.perf_counter()
        driver = webdriver.Chrome(
            service=Service(str(engine.driver)),
            options=options(engine, profile, size, phone=phone),
        )
        _START_TIMES.append(time.perf_counter() - began)
        if len(_START_TIMES) == 1:
            print(f"chromium: the first driver started in {_START_TIMES[0]:.2f} s", file=sys.stderr)
        try:
            if not phone:
                _fit_viewport(driver, size)
            driver.set_script_timeout(60)  # axe over a large page, on a busy machine
            yield driver
        finally:
            driver.quit()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _fit_viewport(driver: webdriver.Chrome, size: tuple[int, int]) -> None:
    """Make the page's viewport, not the window, `size`: headless Chromium still keeps room
    for a toolbar it does not draw (143 px of a 900 px window's height)."""
    inner_width, inner_height = driver.execute_script("return [innerWidth, innerHeight]")
    if (inner_width, inner_height) != size:
        window = driver.get_window_size()
        driver.set_window_size(
            window["width"] + size[0] - inner_width, window["height"] + size[1] - inner_height
        )


def download_to(driver: webdriver.Chrome, directory: Path) -> None:
    """Let the page download files, into `directory` (headless Chromium refuses downloads until
    told where they go). Through the DevTools protocol, on this driver's browser only."""
    directory.mkdir(parents=True, exist_ok=True)
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(directory)}
    )


def downloaded(directory: Path, timeout: float = 30.0) -> Path:
    """The one file downloaded into `directory`, once complete (Chromium writes a
    `.crdownload` and renames it when done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = [f for f in directory.iterdir() if not f.name.endswith(".crdownload")]
        if files and not any(directory.glob("*.crdownload")):
            if len(files) != 1:
                raise AssertionError(f"expected one download, found {sorted(files)}")
            return files[0]
        time.sleep(0.1)
    raise AssertionError(f"nothing was downloaded into {directory} within {timeout} s")


def start_times() -> list[float]:
    """How long each driver of this process took to start, in seconds."""
    return list(_START_TIMES)


@pytest.fixture(scope="session")
def chromium_engine() -> Chromium:
    return chromium_or_stop()


@pytest.fixture
def browser(chromium_engine: Chromium) -> Iterator[webdriver.Chrome]:
    """Headless Chromium with a 1280x900 viewport, Indonesian first."""
    with started(chromium_engine, DESKTOP) as driver:
        yield driver


@pytest.fixture
def phone(chromium_engine: Chromium) -> Iterator[webdriver.Chrome]:
    """Headless Chromium laid out as a 390x844 phone (touch, viewport meta honoured)."""
    with started(chromium_engine, PHONE, phone=True) as driver:
        yield driver
