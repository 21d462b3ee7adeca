"""The ITSM_IMAP_* settings (infra/settings.py) and the ImapSettings they give (docs/mail-in.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from infra.mail_in import ImapSettings
from infra.settings import Settings


def test_e_mail_in_is_off_without_a_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ITSM_IMAP_HOST", "")
    assert Settings().imap() is None


def test_the_environment_gives_the_mailbox(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "ITSM_IMAP_HOST": "mail.dpk-banten.example",
        "ITSM_IMAP_PORT": "143",
        "ITSM_IMAP_SECURITY": "starttls",
        "ITSM_IMAP_USERNAME": "layanan",
        "ITSM_IMAP_PASSWORD": "rahasia-kotak-surat",
        "ITSM_IMAP_FOLDER": "Helpdesk",
        "ITSM_IMAP_CA_FILE": "/etc/itsm/office-ca.pem",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.imap() == ImapSettings(
        host="mail.dpk-banten.example",
        port=143,
        security="starttls",
        username="layanan",
        password="rahasia-kotak-surat",
        folder="Helpdesk",
        ca_file=Path("/etc/itsm/office-ca.pem"),
    )
    assert "rahasia" not in repr(settings)
    assert "rahasia" not in repr(settings.imap())


def test_imaps_with_the_systems_cas_is_the_default() -> None:
    imap = Settings(imap_host="mail.example", imap_username="u", imap_password="p").imap()
    assert imap is not None
    assert (imap.port, imap.security, imap.ca_file, imap.folder) == (993, "tls", None, "INBOX")


def test_a_host_needs_a_login() -> None:
    with pytest.raises(ValidationError, match="ITSM_IMAP_USERNAME and ITSM_IMAP_PASSWORD"):
        Settings(imap_host="mail.example", imap_username="u")


def test_imap_without_tls_only_on_loopback() -> None:
    with pytest.raises(ValidationError, match="loopback"):
        Settings(
            imap_host="mail.example", imap_username="u", imap_password="p", imap_security="none"
        )
    local = Settings(
        imap_host="127.0.0.1", imap_username="u", imap_password="p", imap_security="none"
    )
    assert local.imap() is not None
    with pytest.raises(ValueError, match="loopback"):
        ImapSettings(host="10.0.0.5", username="u", password="p", security="none")
