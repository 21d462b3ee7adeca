"""The witnessing interval is short by default (a checkpoint every 1,000 events or 60 s,
whichever comes first), the witnesses are a comma-separated list of http(s) URLs, and the CA
file their certificates are checked with is a bounded path, unset by default."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from infra.settings import MAX_PATH, Settings


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


def test_the_witness_ca_file_is_unset_by_default_and_an_empty_one_is_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().audit_witness_ca_file is None
    monkeypatch.setenv("ITSM_AUDIT_WITNESS_CA_FILE", "")
    assert Settings().audit_witness_ca_file is None
    monkeypatch.setenv("ITSM_AUDIT_WITNESS_CA_FILE", "/etc/itsm/auditor-ca.pem")
    assert Settings().audit_witness_ca_file == Path("/etc/itsm/auditor-ca.pem")


def test_a_witness_ca_file_path_longer_than_path_max_is_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ITSM_AUDIT_WITNESS_CA_FILE", "/" + "a" * MAX_PATH)
    with pytest.raises(ValidationError, match="at most 4096"):
        Settings()
