"""How the channels classify what went wrong, over every answer they can get: a webhook succeeds
on exactly the 2xx answers and fails on every other with a DeliveryFailed (nothing else is ever
raised), permanent exactly where trying again cannot help; an SMTP reply is permanent exactly
when it is 5xx; reasons are one bounded line; Retry-After is read in both its forms and bounded."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from infra.delivery import MAX_REASON, DeliveryFailed, bounded
from infra.mail_out import refusal
from infra.webhooks_out import (
    MAX_RETRY_AFTER,
    TRANSIENT_4XX,
    check_url,
    judge,
    new_secret,
    retry_after_seconds,
)

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def outcome(status: int, **given: str) -> DeliveryFailed | None:
    try:
        judge(status, **given)  # type: ignore[arg-type]
    except DeliveryFailed as failed:
        return failed
    return None


@given(status=st.integers(min_value=-1000, max_value=10_000), body=st.text(max_size=2000))
def test_a_webhook_succeeds_on_exactly_the_2xx_answers_and_fails_on_all_else(
    status: int, body: str
) -> None:
    failed = outcome(status, body=body)

    assert (failed is None) == (200 <= status < 300)
    if failed is not None:
        assert str(status) in failed.reason
        assert len(failed.reason) <= MAX_REASON


@given(status=st.integers(min_value=100, max_value=599))
def test_a_webhook_failure_is_permanent_for_redirects_410_and_4xx_but_those_that_say_not_now(
    status: int,
) -> None:
    failed = outcome(status)

    if 200 <= status < 300:
        assert failed is None
        return
    assert failed is not None
    permanent = 300 <= status < 400 or (400 <= status < 500 and status not in TRANSIENT_4XX)
    assert failed.permanent is permanent


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        *((status, True) for status in (301, 302, 400, 401, 404, 410)),
        *((status, False) for status in (408, 409, 425, 429, 500, 503)),
    ],
)
def test_the_statuses_people_meet_are_classified_as_documented(
    status: int, permanent: bool
) -> None:
    failed = outcome(status)
    assert failed is not None
    assert failed.permanent is permanent


@given(status=st.integers(min_value=100, max_value=599), value=st.text(max_size=100))
def test_only_429_and_503_carry_a_wait_and_any_retry_after_is_read_without_error(
    status: int, value: str
) -> None:
    failed = outcome(status, retry_after=value)

    if failed is not None and status not in (429, 503):
        assert failed.retry_after is None
    if failed is not None and failed.retry_after is not None:
        assert 0 <= failed.retry_after <= MAX_RETRY_AFTER


def test_retry_after_is_seconds_or_an_http_date_and_never_negative_or_beyond_a_day() -> None:
    in_two_minutes = format_datetime(NOW + timedelta(minutes=2), usegmt=True)
    an_hour_ago = format_datetime(NOW - timedelta(hours=1), usegmt=True)

    assert retry_after_seconds("120", NOW) == 120.0
    assert retry_after_seconds(" 0 ", NOW) == 0.0
    assert retry_after_seconds(in_two_minutes, NOW) == 120.0
    assert retry_after_seconds(an_hour_ago, NOW) == 0.0
    assert retry_after_seconds("9" * 40, NOW) == MAX_RETRY_AFTER
    assert retry_after_seconds("soon", NOW) is None
    assert retry_after_seconds("-5", NOW) is None
    assert retry_after_seconds(None, NOW) is None


@given(code=st.integers(min_value=0, max_value=999), text=st.text(max_size=3000) | st.binary())
def test_an_smtp_reply_is_permanent_exactly_when_it_is_5xx(code: int, text: str | bytes) -> None:
    failed = refusal("RCPT TO <budi@perpus.example>", code, text)

    assert failed.permanent is (500 <= code < 600)
    assert failed.reason.startswith(f"RCPT TO <budi@perpus.example>: {code}")
    assert len(failed.reason) <= MAX_REASON


@given(text=st.text(max_size=5000))
def test_a_reason_is_one_line_of_at_most_500_characters(text: str) -> None:
    reason = DeliveryFailed(text, permanent=False).reason

    assert len(reason) <= MAX_REASON
    assert "\n" not in reason
    assert "\r" not in reason
    assert reason == bounded(text)
    if len(" ".join(text.split())) <= MAX_REASON:
        assert reason == " ".join(text.split())


@given(url=st.text(max_size=300))
@example(url="http://[::1/hooks")
@example(url="https://hooks\uff0eexample@evil.example/")
def test_check_url_takes_or_refuses_any_text_with_a_value_error(url: str) -> None:
    try:
        taken = check_url(url)
    except ValueError as refused:
        reason = str(refused)
        assert reason.startswith(("a webhook URL", "the webhook URL"))
        return
    assert taken == url
    assert url.lower().startswith(("http://", "https://"))
    assert "@" not in url.split("/")[2]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "https://hooks.dpk-banten.example/itsm?channel=helpdesk",
        "https://[::1]:8443/wa",
    ],
)
def test_plain_http_and_https_urls_are_taken(url: str) -> None:
    assert check_url(url) == url


def test_a_new_secret_is_whsec_and_32_random_bytes_in_base64() -> None:
    first, second = new_secret(), new_secret()

    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 32
    assert first != second
