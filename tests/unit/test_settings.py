"""Settings from the environment: durations are seconds or ISO 8601, as the README says, and
anything else is refused at start-up with a message that says what to give instead."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from infra.oidc import OidcSettings
from infra.settings import Settings

DURATIONS = [
    "ITSM_REOPEN_WINDOW",
    "ITSM_AUDIT_CHECKPOINT_INTERVAL",
    "ITSM_CIRCULATION_OFFLINE_THRESHOLD",
    "ITSM_CIRCULATION_FAILURE_WINDOW",
    "ITSM_CIRCULATION_STABLE_FOR",
]


@pytest.mark.parametrize("variable", DURATIONS)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20", timedelta(seconds=20)),
        ("0.5", timedelta(milliseconds=500)),
        ("PT20S", timedelta(seconds=20)),
        ("P5D", timedelta(days=5)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("pt1m", timedelta(minutes=1)),
    ],
)
def test_a_duration_in_the_environment_is_seconds_or_iso_8601(
    monkeypatch: pytest.MonkeyPatch, variable: str, text: str, expected: timedelta
) -> None:
    monkeypatch.setenv(variable, text)
    settings = Settings()
    assert getattr(settings, variable.removeprefix("ITSM_").lower()) == expected


@pytest.mark.parametrize("text", ["soon", "1 day", "-5", "", "5d", "P", "PT", "00:00:20"])
def test_anything_else_is_refused_saying_what_to_give(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("ITSM_REOPEN_WINDOW", text)
    with pytest.raises(ValidationError, match=r"give seconds \(e\.g\. 20\) or ISO 8601"):
        Settings()


@given(st.integers(min_value=0, max_value=10**9))
def test_any_whole_number_of_seconds_is_that_many_seconds(seconds: int) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("ITSM_REOPEN_WINDOW", str(seconds))
        assert Settings().reopen_window == timedelta(seconds=seconds)


def test_the_sqlite_files_live_in_the_data_directory_and_are_no_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # ITSM_EVENTS_DB would be a setting if the files were fields: it moves nothing.
    monkeypatch.setenv("ITSM_EVENTS_DB", "/elsewhere/events.db")
    settings = Settings(data_dir=tmp_path)
    named = [settings.events_db, settings.views_db, settings.audit_db, settings.auth_db]
    assert named == [tmp_path / f"{name}.db" for name in ("events", "views", "audit", "auth")]
    assert settings.circulation_db == tmp_path / "circulation.db"
    assert "events_db" not in Settings.model_fields


def test_single_sign_on_takes_each_of_its_settings_and_is_off_without_an_issuer() -> None:
    sso = Settings(
        oidc_issuer="https://sso.banten.go.id",
        oidc_audience="itsm",
        oidc_jwks_url="https://sso.banten.go.id/keys",
        oidc_actor_claim="sub",
        oidc_role_claim="role",
        oidc_organisation_claim="org",
    )

    assert sso.oidc() == OidcSettings(
        "https://sso.banten.go.id",
        "itsm",
        "https://sso.banten.go.id/keys",
        actor_claim="sub",
        role_claim="role",
        organisation_claim="org",
    )
    assert Settings().oidc() is None
