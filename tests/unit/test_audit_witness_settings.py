"""The witnessing interval is short by default (a checkpoint every 1,000 events or 60 s,
whichever comes first), and the witnesses are a comma-separated list of http(s) URLs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from infra.settings import Settings


def test_a_checkpoint_is_due_every_1000_events_or_60_seconds_by_default() -> None:
    settings = Settings()
    assert settings.audit_checkpoint_every == 1_000
    assert settings.audit_checkpoint_interval == timedelta(seconds=60)


def test_the_witness_urls_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().witness_urls() == []
    monkeypatch.setenv(
        "ITSM_AUDIT_WITNESS_URLS", "http://auditor-a:8787, https://witness.example/b"
    )
    assert Settings().witness_urls() == ["http://auditor-a:8787", "https://witness.example/b"]


@pytest.mark.parametrize("given", ["auditor-a:8787", "http://a:1,,http://b:2", "ftp://a"])
def test_a_witness_url_that_is_not_http_is_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    monkeypatch.setenv("ITSM_AUDIT_WITNESS_URLS", given)
    with pytest.raises(ValidationError):
        Settings()
