"""A real webhook receiver for the tests: an HTTP server on 127.0.0.1 (the standard library's
ThreadingHTTPServer, in a thread) that checks each delivery's signature the way a receiver does,
with the `standardwebhooks` library's `Webhook(secret).verify`, records what came, and answers
what the test asks: 204 by default, or a queue of answers to give next (any status, a
Retry-After, a Location, a delay longer than the sender waits).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

HOST = "127.0.0.1"
#: The largest body taken; more is answered 413 unread.
MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Delivery:
    """One POST as it arrived, and whether its signature verified (else why not)."""

    path: str
    #: Header names in lower case.
    headers: dict[str, str]
    payload: bytes
    verified: bool
    refusal: str | None

    @property
    def webhook_id(self) -> str | None:
        return self.headers.get("webhook-id")

    @property
    def timestamp(self) -> str | None:
        return self.headers.get("webhook-timestamp")

    @property
    def signature(self) -> str | None:
        return self.headers.get("webhook-signature")


@dataclass(frozen=True)
class Answer:
    status: int = 204
    retry_after: str | None = None
    location: str | None = None
    #: Seconds to wait before answering (a sender with a shorter timeout gives up first).
    delay: float = 0.0
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class WebhookReceiver:
    """Receives webhooks signed with `secret` at `url` (any path on the server is taken)."""

    def __init__(self, secret: str, default: Answer | None = None) -> None:
        self.secret = secret
        self.default = default or Answer()
        self._changed = threading.Condition()
        self._deliveries: list[Delivery] = []
        self._answers: deque[Answer] = deque()
        self._server = ThreadingHTTPServer((HOST, 0), _handler_for(self))
        self._server.daemon_threads = True  # a delayed answer never holds up the end of a test
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/hooks/itsm"

    def start(self) -> WebhookReceiver:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- the receiver's own check ---------------------------------------------------------------

    def check(self, payload: bytes, headers: dict[str, str]) -> str | None:
        """Why this delivery is refused, or None when its signature verifies (and its
        timestamp is within the library's five minutes)."""
        try:
            Webhook(self.secret).verify(payload, headers, json_parse=False)
        except WebhookVerificationError as error:
            return str(error) or "verification failed"
        return None

    # -- what it answers and what it received ---------------------------------------------------

    def answer_next(self, *answers: Answer) -> None:
        with self._changed:
            self._answers.extend(answers)

    @property
    def deliveries(self) -> list[Delivery]:
        with self._changed:
            return list(self._deliveries)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._deliveries) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"the receiver got {len(self._deliveries)} deliveries within"
                        f" {timeout} s, not {count}"
                    )
                self._changed.wait(left)
            return list(self._deliveries)

    def _take(self, delivery: Delivery) -> Answer:
        with self._changed:
            self._deliveries.append(delivery)
            self._changed.notify_all()
            return self._answers.popleft() if self._answers else self.default


def _handler_for(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            if not ipaddress.ip_address(self.client_address[0]).is_loopback:
                self._reply(Answer(status=403))
                return
            length = self.headers.get("content-length", "")
            if not length.isdigit() or int(length) > MAX_BODY:
                self.close_connection = True
                self._reply(Answer(status=413 if length.isdigit() else 411))
                return
            payload = self.rfile.read(int(length))
            if len(payload) < int(length):
                # the sender went away mid-body (a notifier killed while sending): nothing was
                # delivered, as a real receiver sees it; its signature would not verify on part
                # of the body, and the notifier sends it again
                self.close_connection = True
                return
            headers = {name.lower(): value for name, value in self.headers.items()}
            refusal = receiver.check(payload, headers)
            answer = receiver._take(Delivery(self.path, headers, payload, refusal is None, refusal))
            if answer.delay:
                time.sleep(answer.delay)
            self._reply(answer)

        def do_GET(self) -> None:
            self._reply(Answer(status=405, headers={"allow": "POST"}))

        def _reply(self, answer: Answer) -> None:
            try:
                self.send_response(answer.status)
                if answer.retry_after is not None:
                    self.send_header("retry-after", answer.retry_after)
                if answer.location is not None:
                    self.send_header("location", answer.location)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the sender gave up waiting: nothing to tell

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test reads the deliveries, not a log

    return Handler


@pytest.fixture
def webhook_receivers() -> Iterator[Callable[..., WebhookReceiver]]:
    """Starts webhook receivers for this test (`WebhookReceiver(secret, default)`), all
    stopped when it ends."""
    started: list[WebhookReceiver] = []

    def start(secret: str, default: Answer | None = None) -> WebhookReceiver:
        receiver = WebhookReceiver(secret, default).start()
        started.append(receiver)
        return receiver

    try:
        yield start
    finally:
        for receiver in started:
            receiver.stop()
