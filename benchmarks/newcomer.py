"""A newcomer's path, as README.md writes it, timed: from `make serve` to signed in and an
incident logged in the browser (issue 22: "under two minutes, following README").

    .venv/bin/python -m benchmarks.newcomer [--clone] [--out F]

It does what the README says, in a fresh data directory: `make serve` (`itsm serve`, text log
lines), `itsm seed`, `itsm console password siti.rahma` (the password typed twice), then, in
Debian's Chromium (headless, tests/engines/chromium.py), opens http://127.0.0.1:PORT/, signs in
as siti.rahma, follows *Laporkan insiden*, fills the form as README's incident says and sends
it, until the incident's own page shows its number. With `--clone` it first clones this
repository and runs `make env` there (with this machine's uv cache: a first install on a new
machine downloads the packages besides), and runs everything from that clone.

What it measures is the machine's share: how long each step keeps a person waiting. What it
counts is the person's share: the commands typed, the fields filled, the characters typed and
the clicks. A person's own time (reading, typing, deciding) is not measured here: the figure a
newcomer sees is the machine's time plus theirs. A step that answers anything but what README
says it does stops the run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from benchmarks._report import Report, say
from tests.browser import click, wait_for
from tests.engines.chromium import chromium_or_stop, started

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "kata-sandi-pertama"
#: What README's incident says (its API example), typed into the console's form.
INCIDENT = {
    "log-title": "Self-check kiosk 3 at Serang is offline",
    "log-description": "Layar kiosk hitam sejak pagi.",
    "log-caller": "budi.santoso",
    "log-assignment_group": "kiosk-team",
}
CHOSEN = {"log-service": "kiosks-gates", "log-impact": "medium", "log-urgency": "high"}


@dataclass
class Tally:
    """The person's share: what they type and click."""

    commands: int = 0
    fields: int = 0
    characters: int = 0
    clicks: int = 0
    steps: list[tuple[str, float]] = field(default_factory=list)

    def typed(self, text: str) -> str:
        self.fields += 1
        self.characters += len(text)
        return text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _timed(tally: Tally, name: str, began: float) -> None:
    took = time.perf_counter() - began
    tally.steps.append((name, took))
    say(f"{name}: {took:.2f} s")


@contextmanager
def _served(root: Path, data_dir: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """`make serve`, as README starts it (the Makefile's own command, on a free port)."""
    env = {**os.environ, "ITSM_LOG_FORMAT": "text", "ITSM_DATA_DIR": str(data_dir)}
    server = subprocess.Popen(
        [str(root / ".venv/bin/itsm"), "serve", "--port", str(port)],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


def _ready(port: int, server: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"itsm serve exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("itsm serve was not ready in time")


def _run(tally: Tally, root: Path, data_dir: Path, args: list[str], typed: str = "") -> None:
    tally.commands += 1
    env = {**os.environ, "ITSM_DATA_DIR": str(data_dir)}
    ran = subprocess.run(
        [str(root / ".venv/bin/itsm"), *args],
        cwd=root,
        env=env,
        input=typed.encode(),
        capture_output=True,
        check=False,
        timeout=300,
    )
    if ran.returncode != 0:
        raise SystemExit(f"itsm {' '.join(args)} failed: {ran.stderr.decode()[-500:]}")


def newcomer(root: Path, tally: Tally) -> str:
    """The README's path in `root`; the number of the incident logged."""
    data_dir = Path(tempfile.mkdtemp(prefix="itsm-newcomer-"))
    port = _free_port()
    engine = chromium_or_stop()
    try:
        began = time.perf_counter()
        tally.commands += 1  # make serve
        with _served(root, data_dir, port) as server:
            _ready(port, server)
            _timed(tally, "make serve: ready", began)
            began = time.perf_counter()
            _run(tally, root, data_dir, ["seed"])
            _timed(tally, "itsm seed", began)
            began = time.perf_counter()
            tally.typed(PASSWORD)
            tally.typed(PASSWORD)
            _run(
                tally,
                root,
                data_dir,
                ["console", "password", "siti.rahma"],
                f"{PASSWORD}\n{PASSWORD}\n",
            )
            _timed(tally, "itsm console password", began)
            with started(engine, (1280, 900)) as browser:
                began = time.perf_counter()
                browser.get(f"http://127.0.0.1:{port}/")
                wait_for(browser, "#actor_id").send_keys(tally.typed("siti.rahma"))
                browser.find_element(By.ID, "password").send_keys(tally.typed(PASSWORD))
                tally.clicks += 1
                click(browser, "form[action='/console/sign-in'] button[type='submit']")
                wait_for(browser, "form[action='/console/sign-out']")
                _timed(tally, "browser: signed in (the page, the sign-in, the queue)", began)
                began = time.perf_counter()
                tally.clicks += 1
                click(browser, "a[href='/console/incidents/new']")
                for name, text in INCIDENT.items():
                    wait_for(browser, f"#{name}").send_keys(tally.typed(text))
                for name, value in CHOSEN.items():
                    tally.fields += 1
                    tally.clicks += 1
                    Select(browser.find_element(By.ID, name)).select_by_value(value)
                tally.clicks += 1
                click(browser, "form[action='/console/incidents/new'] button[type='submit']")
                number = wait_for(browser, "h1 .ref").text
                _timed(tally, "browser: the form, sent, and the incident's page", began)
                if not number.startswith("INC-"):
                    raise SystemExit(f"the incident's page shows {number!r}, not its number")
                return number
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clone", action="store_true", help="clone and `make env` first")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report = Report(args.out)
    tally = Tally()
    root = ROOT
    clone_dir = None
    try:
        if args.clone:
            clone_dir = Path(tempfile.mkdtemp(prefix="itsm-newcomer-clone-"))
            began = time.perf_counter()
            subprocess.run(["git", "clone", "-q", str(ROOT), str(clone_dir)], check=True)
            tally.commands += 1
            subprocess.run(["make", "env"], cwd=clone_dir, check=True, capture_output=True)
            _timed(tally, "git clone and make env (uv cache warm)", began)
            root = clone_dir
        number = newcomer(root, tally)
    finally:
        if clone_dir is not None:
            shutil.rmtree(clone_dir, ignore_errors=True)
    machine = sum(took for _, took in tally.steps)
    for name, took in tally.steps:
        report.emit("newcomer_step", step=name, seconds=round(took, 2))
    report.emit(
        "newcomer",
        incident=number,
        machine_seconds=round(machine, 2),
        commands=tally.commands,
        fields=tally.fields,
        characters=tally.characters,
        clicks=tally.clicks,
    )
    table = Table(title="A newcomer's path (README): the machine's share")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    for name, took in tally.steps:
        table.add_row(name, f"{took:.2f}")
    table.add_row("all the machine's waiting", f"{machine:.2f}")
    Console(file=sys.stderr).print(table)
    say(
        f"the person's share: {tally.commands} commands, {tally.fields} fields"
        f" ({tally.characters} characters), {tally.clicks} clicks; incident {number}"
    )
    report.close()


if __name__ == "__main__":
    main()
