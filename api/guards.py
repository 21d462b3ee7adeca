"""What stands between hostile input and the service: request size and request rate.

- `BodyLimit` (ASGI middleware) refuses a body larger than the configured size with 413, from
  its Content-Length before a byte of it is read, or, for a body sent in chunks, as soon as the
  bytes read pass the limit; a Content-Length that is no length gets 400. Nothing of a refused
  request reaches a route. A request the HTTP server itself cannot parse (uvicorn refuses a
  malformed Content-Length before the app sees it) is answered as a problem too, by the server's
  protocol (`HTTP_PROTOCOL`).
- `RateLimiter` allows each key (a client address, a bearer token) a number of requests in a
  moving window (the `limits` library's moving-window strategy, in this process's memory) and
  answers 429 with Retry-After past it; api/gate.py applies them. With several API processes each
  keeps its own count: the limit is per process, which the docs say.
"""

from __future__ import annotations

import math
import time
from typing import NoReturn

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.problem_details import ApiProblem, problem

#: What a multipart upload holds besides its file: the boundaries, the parts' headers and the
#: form's other fields (api/attachments.py).
FORM_FRAMING = 64 * 1024
#: The last path segment of the routes that take uploads: their bodies may be as large as a file.
UPLOADS = "/attachments"


class BodyLimit:
    """`upload_bytes`: the limit of an upload (a POST to .../attachments), a file's and its
    form's; every other request has `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int, upload_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes or max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        if scope["method"] == "POST" and scope["path"].endswith(UPLOADS):
            limit = self.upload_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():  # bytes: ASCII digits only
                    await _answer(send, 400, "bad-request", "Content-Length must be a length")
                    return
                if len(value) > 19 or int(value) > limit:
                    await self._refuse(send, limit)
                    return
                await self.app(scope, receive, send)  # the server stops at the declared length
                return
        # No declared length (chunked): read the body here, up to the limit, and hand it on.
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await self._refuse(send, limit)
                return
            if not message.get("more_body", False):
                break
        whole: list[Message] = [{"type": "http.request", "body": bytes(body), "more_body": False}]

        async def replay() -> Message:
            return whole.pop() if whole else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, limit: int) -> None:
        detail = f"a request body may hold at most {limit} bytes"
        await _answer(send, 413, "request-too-large", detail)


async def _answer(send: Send, status: int, code: str, detail: str) -> None:
    answer = problem(status, code, detail)
    answer.headers["connection"] = "close"
    await answer({"type": "http"}, _nothing, send)


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


class ProblemHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol, answering a request it cannot parse with a problem (400)
    instead of its plain text, so that every answer of the service is problem+json."""

    def send_400_response(self, msg: str) -> None:
        body = bytes(problem(400, "bad-request", f"{msg} (its framing, e.g. Content-Length)").body)
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        head += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        head += [
            b"content-type: application/problem+json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()


#: What `uvicorn` is told to speak HTTP/1.1 with (its `http` setting).
HTTP_PROTOCOL = "api.guards:ProblemHttpProtocol"


class RateLimiter:
    """So many requests per key (a client address, a token's digest) in a moving window."""

    def __init__(self, rate: str, what: str) -> None:
        self.items = parse_many(rate) if rate else []
        #: What is counted, as a refusal names it: "requests from this token".
        self.what = what
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, key: str) -> None:
        """Count one request of `key`; ApiProblem 429 when it is over a limit."""
        for item in self.items:
            if not self._limiter.hit(item, key):
                self._refuse(item, key)

    def check_room(self, key: str) -> None:
        """ApiProblem 429 when `key` has no room left for one more, counting nothing: for what
        is counted only once its outcome is known (`count`)."""
        for item in self.items:
            if not self._limiter.test(item, key):
                self._refuse(item, key)

    def count(self, key: str) -> None:
        for item in self.items:
            self._limiter.hit(item, key)

    def _refuse(self, item: RateLimitItem, key: str) -> NoReturn:
        reset_at = self._limiter.get_window_stats(item, key).reset_time
        wait = max(1, math.ceil(reset_at - time.time()))
        raise ApiProblem(
            429,
            "rate-limited",
            f"more than {item} {self.what}; try again in {wait} s",
            {"Retry-After": str(wait)},
        )
