"""Webhooks out against a real HTTP receiver on loopback (tests/engines/webhook_receiver.py) that
checks each signature with the Standard Webhooks reference library, as a receiver does: a
delivery verifies and carries well-formed headers, a tampered one does not verify, and each answer
that is not 2xx is a DeliveryFailed classified as the specification and HTTP say."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import orjson
import pytest

from infra.delivery import DeliveryFailed
from infra.webhooks_out import USER_AGENT, WebhookSender, check_url, new_secret
from tests.engines import webhook_receiver
from tests.engines.tls import make_tls
from tests.engines.webhook_receiver import Answer, WebhookReceiver

# The engine's fixture, for this module's tests (as the PKCS#11 tests take SoftHSM2's).
webhook_receivers = webhook_receiver.webhook_receivers

PAYLOAD = orjson.dumps(
    {
        "type": "incident.resolved",
        "timestamp": "2026-03-02T08:30:00Z",
        "data": {"number": "INC-000123", "caller": "budi.santoso", "resolved_by": "siti.rahma"},
    }
)
WEBHOOK_ID = "ntf_01HQ7ZK3W8Y2V9N4M6P5R0T1S2"

Receivers = Callable[..., WebhookReceiver]


def deliver(
    sender: WebhookSender,
    receiver: WebhookReceiver,
    payload: bytes = PAYLOAD,
    webhook_id: str = WEBHOOK_ID,
) -> object:
    return sender.send(receiver.url, receiver.secret, webhook_id, datetime.now(UTC), payload)


def failure(sender: WebhookSender, receiver: WebhookReceiver) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as caught:
        deliver(sender, receiver)
    return caught.value


def test_a_delivery_verifies_at_the_receiver_with_well_formed_headers(
    webhook_receivers: Receivers,
) -> None:
    receiver = webhook_receivers(new_secret())
    at = datetime.now(UTC)
    with WebhookSender(timeout=5) as sender:
        receipt = sender.send(receiver.url, receiver.secret, WEBHOOK_ID, at, PAYLOAD)

    [delivery] = receiver.wait_for(1)
    assert receipt.status == 204
    assert delivery.verified, delivery.refusal
    assert delivery.payload == PAYLOAD
    assert delivery.webhook_id == WEBHOOK_ID
    assert delivery.timestamp == str(int(at.timestamp()))
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["user-agent"] == USER_AGENT
    assert delivery.signature is not None
    assert re.fullmatch(r"v1,[A-Za-z0-9+/]+=*", delivery.signature)
    assert len(base64.b64decode(delivery.signature.removeprefix("v1,"))) == 32  # HMAC-SHA256


def test_the_receiver_refuses_a_tampered_body_another_secret_and_a_stale_timestamp(
    webhook_receivers: Receivers,
) -> None:
    """The receiver's check is what the other tests lean on: it must say no when it should."""
    receiver = webhook_receivers(new_secret())
    with WebhookSender(timeout=5) as sender:
        deliver(sender, receiver)
        sender.send(receiver.url, new_secret(), "ntf_other-secret", datetime.now(UTC), PAYLOAD)
        sender.send(
            receiver.url,
            receiver.secret,
            "ntf_stale",
            datetime.now(UTC) - timedelta(minutes=10),
            PAYLOAD,
        )
    genuine, other_secret, stale = receiver.wait_for(3)
    tampered = genuine.payload.replace(b"INC-000123", b"INC-000124")

    assert genuine.verified
    assert receiver.check(tampered, genuine.headers) == "No matching signature found"
    assert not other_secret.verified
    assert other_secret.refusal == "No matching signature found"
    assert not stale.verified
    assert stale.refusal == "Message timestamp too old"


def test_the_same_webhook_id_is_sent_on_every_attempt_with_a_fresh_signature(
    webhook_receivers: Receivers,
) -> None:
    receiver = webhook_receivers(new_secret())
    receiver.answer_next(Answer(status=503))
    with WebhookSender(timeout=5) as sender:
        with pytest.raises(DeliveryFailed):
            deliver(sender, receiver)
        deliver(sender, receiver)

    first, second = receiver.wait_for(2)
    assert first.webhook_id == second.webhook_id == WEBHOOK_ID
    assert first.verified
    assert second.verified


def test_410_gone_is_permanent(webhook_receivers: Receivers) -> None:
    receiver = webhook_receivers(new_secret(), Answer(status=410, body=b"unsubscribed"))
    with WebhookSender(timeout=5) as sender:
        failed = failure(sender, receiver)

    assert failed.permanent
    assert failed.reason == (
        "the receiver answered 410 Gone: unsubscribed (it asks for no more deliveries)"
    )


@pytest.mark.parametrize(("status", "permanent"), [(400, True), (404, True), (500, False)])
def test_a_client_error_is_permanent_and_a_server_error_transient(
    webhook_receivers: Receivers, status: int, permanent: bool
) -> None:
    receiver = webhook_receivers(new_secret(), Answer(status=status, body=b"x" * 5000))
    with WebhookSender(timeout=5) as sender:
        failed = failure(sender, receiver)

    assert failed.permanent is permanent
    assert failed.reason.startswith(f"the receiver answered {status} ")
    assert len(failed.reason) <= 500
    assert failed.retry_after is None


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_a_429_is_transient_with_the_wait_its_retry_after_asks_for(
    webhook_receivers: Receivers, form: str
) -> None:
    later = datetime.now(UTC) + timedelta(seconds=120)
    retry_after = "120" if form == "seconds" else format_datetime(later, usegmt=True)
    receiver = webhook_receivers(new_secret(), Answer(status=429, retry_after=retry_after))
    with WebhookSender(timeout=5) as sender:
        failed = failure(sender, receiver)

    assert not failed.permanent
    assert failed.retry_after is not None
    assert 110 <= failed.retry_after <= 120


def test_a_receiver_slower_than_the_timeout_is_a_transient_failure(
    webhook_receivers: Receivers,
) -> None:
    receiver = webhook_receivers(new_secret(), Answer(delay=3.0))
    with WebhookSender(timeout=0.5) as sender:
        failed = failure(sender, receiver)

    assert not failed.permanent
    assert failed.reason.startswith("no answer within 0.5 s")


def test_a_receiver_that_is_down_is_a_transient_failure(webhook_receivers: Receivers) -> None:
    receiver = webhook_receivers(new_secret())
    receiver.stop()
    with WebhookSender(timeout=5) as sender:
        failed = failure(sender, receiver)

    assert not failed.permanent
    assert failed.reason.startswith("cannot connect")


def test_a_redirect_is_not_followed_and_fails(webhook_receivers: Receivers) -> None:
    receiver = webhook_receivers(new_secret())
    receiver.answer_next(Answer(status=302, location=receiver.url + "/moved"))
    with WebhookSender(timeout=5) as sender:
        failed = failure(sender, receiver)

    assert failed.permanent
    assert "redirects are not followed" in failed.reason
    assert [d.path for d in receiver.deliveries] == ["/hooks/itsm"]


def test_an_https_receiver_is_verified_against_the_ca_file(tmp_path: Path) -> None:
    """The sender checks certificates with the CA file it is given, and never skips the check.
    (A receiver over TLS, made here from the standard library's server with a test CA.)"""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Ok(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args: object) -> None:
            pass

    tls = make_tls(tmp_path / "receiver", "receiver CA")
    server = HTTPServer(("127.0.0.1", 0), Ok)
    server.socket = tls.server_context().wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{server.server_address[1]}/hook"
    try:
        with WebhookSender(timeout=5, ca_file=tls.ca) as sender:
            receipt = sender.send(url, new_secret(), WEBHOOK_ID, datetime.now(UTC), PAYLOAD)
        stranger = make_tls(tmp_path / "stranger", "another CA")
        with (
            WebhookSender(timeout=5, ca_file=stranger.ca) as sender,
            pytest.raises(DeliveryFailed) as caught,
        ):
            sender.send(url, new_secret(), WEBHOOK_ID, datetime.now(UTC), PAYLOAD)
    finally:
        server.shutdown()
        server.server_close()

    assert (receipt.status, receipt.body) == (200, "ok")
    assert not caught.value.permanent
    assert "certificate is not trusted" in caught.value.reason


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://hooks.dpk-banten.example/itsm", "http:// or https://"),
        ("https://bot:rahasia@hooks.dpk-banten.example/itsm", "no user name or password"),
        ("https://hooks.dpk-banten.example:99999/itsm", "port"),
        ("https:///itsm", "names a host"),
    ],
)
def test_a_url_that_is_not_plain_http_is_refused_before_anything_is_sent(
    url: str, why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        check_url(url)
    with WebhookSender(timeout=5) as sender, pytest.raises(DeliveryFailed) as caught:
        sender.send(url, new_secret(), WEBHOOK_ID, datetime.now(UTC), PAYLOAD)
    assert caught.value.permanent
    assert why in caught.value.reason


def test_a_secret_that_is_no_standard_webhooks_secret_fails_permanently(
    webhook_receivers: Receivers,
) -> None:
    receiver = webhook_receivers(new_secret())
    with WebhookSender(timeout=5) as sender, pytest.raises(DeliveryFailed) as caught:
        sender.send(receiver.url, "whsec_", WEBHOOK_ID, datetime.now(UTC), PAYLOAD)

    assert caught.value.permanent
    assert receiver.deliveries == []


def test_the_receiver_answers_only_posts(webhook_receivers: Receivers) -> None:
    receiver = webhook_receivers(new_secret())
    assert httpx.get(receiver.url).status_code == 405
    assert receiver.deliveries == []
