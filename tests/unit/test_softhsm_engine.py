"""The SoftHSM2 test engine: without the token the PKCS#11 tests skip, except under CI=true,
where they fail (CI must never pass by not testing the signer production uses)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engines import softhsm


@pytest.fixture
def no_softhsm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(softhsm, "MODULE", tmp_path / "absent" / "libsofthsm2.so")
    monkeypatch.setattr(softhsm.os, "geteuid", lambda: 1000)  # not root: may not install


def test_a_missing_softhsm_says_how_to_install_it(no_softhsm: None) -> None:
    with pytest.raises(softhsm.SoftHsmUnavailable, match="apt-get install softhsm2"):
        softhsm.ensure_softhsm()


def test_a_missing_softhsm_fails_under_ci_and_skips_elsewhere(
    no_softhsm: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="under CI"):
        softhsm._no_token("absent")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        softhsm._no_token("absent")
