"""Webhooks out: POST a notification to a receiver (the office's chat bot, a WhatsApp gateway),
signed as the Standard Webhooks specification says, so the receiver can tell it came from us,
unaltered, and recently.

The signature is the `standardwebhooks` package's, the specification's reference implementation:
HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<body>" with the destination's secret, sent as
`webhook-signature: v1,<base64>` beside `webhook-id` and `webhook-timestamp`. The id stays the
same on every attempt at one notification (a receiver drops what it has seen); the timestamp is
the attempt's own (receivers refuse one more than five minutes off their clock).

A 2xx answer is a delivery. Anything else is a `DeliveryFailed` (infra/delivery.py), permanent
when trying again cannot help (410 Gone: the receiver asks us to stop; most other 4xx: the
request itself is wrong for that receiver; a redirect, which is never followed: the registered
URL is not where the receiver is) and transient otherwise (5xx, 408, 409, 425, 429, timeouts,
connection failures), with the wait a 429 or 503 asked for in Retry-After.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import secrets
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from infra.delivery import DeliveryFailed, bounded

if TYPE_CHECKING:
    # httpx is imported where a sender is made, not with this module: on import, httpx loads
    # its command line (rich, pygments) whenever those happen to be installed, as they are
    # beside the development tools, and the image test (tests/unit/test_image.py) would then
    # count them among the service's libraries, which the image does not install.
    import httpx

USER_AGENT = "itsm-notifier/1 (Layanan TIK DPK Provinsi Banten)"
#: The longest receiver URL taken (browsers' and proxies' common limit).
MAX_URL = 2000
#: How much of a receiver's answer is kept: the record shows what it said, not all it said.
MAX_ANSWER = 500
_READ_AT_MOST = 4 * MAX_ANSWER  # bytes: enough for MAX_ANSWER characters of UTF-8
#: The longest wait a Retry-After is taken for: a receiver cannot hold a destination for longer
#: (the notifier's pausing rules take over).
MAX_RETRY_AFTER = 86_400.0
#: 4xx answers that say "not now" rather than "never": Request Timeout, Conflict, Too Early,
#: Too Many Requests.
TRANSIENT_4XX = frozenset({408, 409, 425, 429})
#: A webhook-id: printable ASCII without spaces (it goes into a header and into what is signed).
_WEBHOOK_ID = re.compile(r"[!-~]{1,255}")


def new_secret() -> str:
    """A fresh secret for a destination: "whsec_" and 32 random bytes in base64, the form the
    specification gives and its libraries (the receiver's, too) read."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def check_url(url: str) -> str:
    """The URL, if a webhook may be sent to it: http(s), a host, no credentials in it (they
    would be kept and shown with the registration; the signature is what authenticates), no
    fragment, at most MAX_URL characters. Else ValueError saying what is wrong."""
    if len(url) > MAX_URL:
        raise ValueError(f"a webhook URL has at most {MAX_URL} characters")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ValueError("a webhook URL has no spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError as error:  # an unclosed [IPv6], a host name that changes under NFKC
        raise ValueError(f"a webhook URL that cannot be read ({error})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"a webhook URL is http:// or https://, not {parts.scheme or 'none'}")
    if "@" in parts.netloc:
        raise ValueError("a webhook URL carries no user name or password")
    if not parts.hostname:
        raise ValueError("a webhook URL names a host")
    try:
        port = parts.port  # raises ValueError for a port that is no port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError("the webhook URL's port is not a number from 1 to 65535")
    if parts.fragment or url.endswith("#"):
        raise ValueError("a webhook URL has no #fragment (it is never sent)")
    return url


@dataclass(frozen=True)
class WebhookReceipt:
    """The receiver took the notification: its status and the start of its answer."""

    status: int
    body: str


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After (RFC 9110 10.2.3) in seconds from `now`: delay-seconds or an HTTP-date, at
    least 0 and at most MAX_RETRY_AFTER; None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        seconds = float(text[:12])  # more digits are beyond MAX_RETRY_AFTER anyway
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def judge(
    status: int,
    body: str = "",
    *,
    retry_after: str | None = None,
    location: str | None = None,
    now: datetime | None = None,
) -> WebhookReceipt:
    """The receipt for a 2xx answer; DeliveryFailed for any other, permanent or transient."""
    said = bounded(body, 200)
    if 200 <= status < 300:
        return WebhookReceipt(status=status, body=bounded(body, MAX_ANSWER))
    try:
        phrase = f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        phrase = str(status)
    answered = f"the receiver answered {phrase}" + (f": {said}" if said else "")
    if 300 <= status < 400:
        where = f" to {bounded(location, 200)}" if location else ""
        raise DeliveryFailed(
            f"the receiver answered {phrase}, a redirect{where}: redirects are not followed,"
            " register the URL the receiver is at",
            permanent=True,
        )
    if status == 410:
        raise DeliveryFailed(f"{answered} (it asks for no more deliveries)", permanent=True)
    if 400 <= status < 500 and status not in TRANSIENT_4XX:
        raise DeliveryFailed(answered, permanent=True)
    wait = None
    if status in (429, 503):
        wait = retry_after_seconds(retry_after, now or datetime.now(UTC))
    raise DeliveryFailed(answered, permanent=False, retry_after=wait)


def _unreachable(error: Exception, timeout: float) -> DeliveryFailed:
    import httpx

    if isinstance(error, httpx.TimeoutException):
        return DeliveryFailed(f"no answer within {timeout:g} s ({type(error).__name__})", False)
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, ssl.SSLError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        why = f"the receiver's TLS certificate is not trusted ({cause.verify_message})"
    elif isinstance(cause, ssl.SSLError):
        why = f"TLS failed ({cause.reason or cause})"
    elif isinstance(error, httpx.ConnectError):
        why = f"cannot connect ({error or 'connection failed'})"
    else:
        why = f"{type(error).__name__}: {error}"
    return DeliveryFailed(why, permanent=False)


def sign(keys: Sequence[str], webhook_id: str, timestamp: datetime, payload: bytes) -> str:
    """The `webhook-signature` header's value: a signature with each secret, space-separated
    (the specification's form for several), so a receiver holding any of them verifies it."""
    if not keys:
        raise ValueError("no secret to sign with")
    return " ".join(Webhook(key).sign(webhook_id, timestamp, payload) for key in keys)


class WebhookSender:
    """POSTs signed notifications over one httpx client (connections kept per receiver). A
    context manager; safe to use from several threads, as httpx's client is."""

    def __init__(self, timeout: float = 10.0, ca_file: Path | None = None) -> None:
        import httpx

        self.timeout = timeout
        # Verified always: against the CA file when given, else the system's CAs.
        context = ssl.create_default_context(cafile=ca_file)
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            verify=context,
            trust_env=False,  # no proxy or CA from the environment: the settings say where
            headers={"user-agent": USER_AGENT},
        )

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def send(
        self,
        url: str,
        secret: str | Sequence[str],
        webhook_id: str,
        timestamp: datetime,
        payload: bytes,
    ) -> WebhookReceipt:
        """POST `payload` (JSON) to `url`, signed with the destination's `secret` (or with each of
        its secrets, newest first, while one is rotated out: `sign`). Raises DeliveryFailed;
        ValueError for a webhook id or timestamp the caller got wrong."""
        import httpx

        if not _WEBHOOK_ID.fullmatch(webhook_id):
            raise ValueError("a webhook id is 1 to 255 printable ASCII characters, no spaces")
        if timestamp.tzinfo is None:
            raise ValueError("the webhook timestamp needs a time zone")
        try:
            target = check_url(url)
        except ValueError as error:
            raise DeliveryFailed(f"the destination's URL is refused: {error}", True) from error
        try:
            keys = [secret] if isinstance(secret, str) else secret
            signature = sign(keys, webhook_id, timestamp, payload)
        except (ValueError, TypeError, binascii.Error, EmptyWebhookSecretError) as error:
            raise DeliveryFailed(
                "the destination's secret is no Standard Webhooks secret (whsec_ and base64)",
                permanent=True,
            ) from error
        headers = {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(math.floor(timestamp.timestamp())),
            "webhook-signature": signature,
        }
        try:
            with self._client.stream("POST", target, content=payload, headers=headers) as answer:
                body = _start_of(answer)
        except httpx.HTTPError as error:
            raise _unreachable(error, self.timeout) from error
        except httpx.InvalidURL as error:
            raise DeliveryFailed(f"the destination's URL is refused: {error}", True) from error
        return judge(
            answer.status_code,
            body,
            retry_after=answer.headers.get("retry-after"),
            location=answer.headers.get("location"),
            now=datetime.now(UTC),
        )


def _start_of(answer: httpx.Response) -> str:
    """The first MAX_ANSWER characters of the answer, reading no more than needed for them."""
    read = bytearray()
    for chunk in answer.iter_bytes():
        read += chunk
        if len(read) >= _READ_AT_MOST:
            break
    return bytes(read[:_READ_AT_MOST]).decode("utf-8", "replace")[:MAX_ANSWER]
