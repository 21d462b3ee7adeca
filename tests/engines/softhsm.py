"""A real PKCS#11 token for the tests: Debian's SoftHSM2, one throwaway token per session.

The module is Debian's `softhsm2` package (installed when missing and we are root, as the
PostgreSQL engine installs `postgresql`); the token lives in a temporary directory that
SOFTHSM2_CONF points at, initialised with `softhsm2-util --init-token --free`. Without SoftHSM2
the PKCS#11 tests are skipped, except under CI=true, where they fail: CI must never pass by not
testing the signer that production uses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from infra.postgres_server import apt_install

#: Where Debian's package puts the module (the path is the same on every architecture).
MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
TOKEN = "itsm-tests"
PIN = "2468"
SO_PIN = "13579"


class SoftHsmUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class SoftHsm:
    """A token on SoftHSM2: its module, label and user PIN."""

    module: Path
    token: str
    pin: str


def _no_token(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"no SoftHSM2 for the tests under CI: {reason}")
    pytest.skip(f"no SoftHSM2 for the tests: {reason}")


def ensure_softhsm() -> Path:
    """The SoftHSM2 module; installs Debian's `softhsm2` package first when it is missing and
    this process is root."""
    if MODULE.exists() and shutil.which("softhsm2-util"):
        return MODULE
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SoftHsmUnavailable(
            f"SoftHSM2 is not installed (no {MODULE}); install Debian's package as root:"
            " apt-get install softhsm2"
        )
    failed = apt_install("softhsm2")
    if failed is not None:
        raise SoftHsmUnavailable(failed)
    if not MODULE.exists():
        raise SoftHsmUnavailable(f"installed softhsm2, yet found no {MODULE}")
    return MODULE


@pytest.fixture(scope="session")
def softhsm() -> Iterator[SoftHsm]:
    """A fresh SoftHSM2 token for this session, in a directory of its own."""
    try:
        module = ensure_softhsm()
    except SoftHsmUnavailable as error:
        _no_token(str(error))
    directory = Path(tempfile.mkdtemp(prefix="itsm-test-softhsm-"))
    (directory / "tokens").mkdir()
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {directory / 'tokens'}\n"
        "objectstore.backend = file\nlog.level = ERROR\n"
    )
    before = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)  # read by the module when it is loaded
    try:
        subprocess.run(
            [
                "softhsm2-util",
                "--init-token",
                "--free",
                "--label",
                TOKEN,
                "--pin",
                PIN,
                "--so-pin",
                SO_PIN,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        yield SoftHsm(module, TOKEN, PIN)
    finally:
        if before is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = before
        shutil.rmtree(directory, ignore_errors=True)
