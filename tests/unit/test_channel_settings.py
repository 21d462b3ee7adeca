"""The channels' settings: e-mail is off until a relay is named, then needs a sender; AUTH comes
with both a username and a password and is refused in the clear unless asked for, at start-up,
without the password showing in the error; webhooks wait 10 s by default."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from infra.mail_out import SmtpSettings
from infra.settings import Settings

SENDER = "Layanan TIK DPK Banten <layanan@dpk-banten.example>"


def test_e_mail_is_off_without_a_host_and_an_empty_host_is_no_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().smtp() is None
    monkeypatch.setenv("ITSM_SMTP_HOST", "")
    assert Settings().smtp() is None


def test_each_smtp_setting_reaches_the_sender_and_the_defaults_are_587_with_starttls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ITSM_SMTP_HOST", "smtp.banten.go.id")
    monkeypatch.setenv("ITSM_SMTP_FROM", SENDER)
    assert Settings().smtp() == SmtpSettings(host="smtp.banten.go.id", from_address=SENDER)
    given = {
        "PORT": "465",
        "SECURITY": "tls",
        "USERNAME": "layanan",
        "PASSWORD": "rahasia-relay",
        "CA_FILE": "/etc/itsm/relay-ca.pem",
        "TIMEOUT": "12.5",
        "HELO": "itsm.dpk-banten.example",
    }
    for name, value in given.items():
        monkeypatch.setenv(f"ITSM_SMTP_{name}", value)

    assert Settings().smtp() == SmtpSettings(
        host="smtp.banten.go.id",
        from_address=SENDER,
        port=465,
        security="tls",
        username="layanan",
        password=SecretStr("rahasia-relay"),
        timeout=12.5,
        ca_file=Path("/etc/itsm/relay-ca.pem"),
        helo="itsm.dpk-banten.example",
    )
    assert Settings().smtp().sender_address == "layanan@dpk-banten.example"  # type: ignore[union-attr]
    assert "rahasia-relay" not in repr(Settings().smtp())


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ({}, "needs a sender"),
        ({"smtp_from": "Layanan TIK"}, "incomplete e-mail address"),
        ({"smtp_from": "a@x.example, b@x.example"}, "not one e-mail address"),
        ({"smtp_username": "layanan"}, "both a username and a password"),
        (
            {"smtp_security": "none", "smtp_username": "layanan", "smtp_password": "rahasia"},
            "in the clear",
        ),
        ({"smtp_security": "ssl"}, "starttls"),
        ({"smtp_port": 0}, "greater than or equal to 1"),
        ({"smtp_timeout": 0}, "greater than 0"),
    ],
)
def test_an_incomplete_or_unsafe_smtp_setting_is_refused_at_start_up_without_its_values(
    given: dict[str, object], why: str
) -> None:
    settings = {"smtp_host": "smtp.banten.go.id", "smtp_from": SENDER} | given
    if given == {}:
        del settings["smtp_from"]
    with pytest.raises(ValidationError, match=why) as refused:
        Settings(**settings)  # type: ignore[arg-type]
    assert "rahasia" not in str(refused.value)


def test_auth_in_the_clear_is_taken_only_when_asked_for() -> None:
    settings = Settings(
        smtp_host="127.0.0.1",
        smtp_port=25,
        smtp_from=SENDER,
        smtp_security="none",
        smtp_username="layanan",
        smtp_password=SecretStr("rahasia"),
        smtp_allow_plaintext_auth=True,
    ).smtp()
    assert settings is not None
    assert settings.authenticates


def test_webhooks_wait_10_seconds_and_verify_with_the_system_cas_by_default() -> None:
    settings = Settings()
    assert settings.webhook_timeout == 10.0
    assert settings.webhook_ca_file is None
