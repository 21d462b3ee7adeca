"""The access log: one line a request (logger `itsm.access`), written once the answer is sent,
with its method, route template, path, status, duration, the actor (once authenticated) and the
correlation id. Pure ASGI and outermost, so it times the whole request and costs a dictionary
and a log call; the format is infra/logs.py's.

The correlation id is the request's valid X-Correlation-ID or a new one, set for everything the
request runs (infra.logs.correlation): the command context takes it from there
(api/deps.py), so the events a request causes carry the id of its log line. The answer names it
in X-Correlation-ID, for a caller to quote.
"""

from __future__ import annotations

import logging
import time
from uuid import UUID, uuid4

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import UNMATCHED, route_template
from infra.logs import CORRELATION_ID, correlation

log = logging.getLogger("itsm.access")

HEADER = b"x-correlation-id"


def correlation_id_of(scope: Scope) -> str:
    """The request's X-Correlation-ID if it is a UUID's text (the documented pattern the routes
    hold it to), else a new one: a malformed header is refused with 422 by the route, and its log
    line still needs an id."""
    for name, value in scope["headers"]:
        if name == HEADER:
            given = value.decode("latin-1")
            if CORRELATION_ID.fullmatch(given):
                return str(UUID(given))
            break
    return str(uuid4())


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        correlation_id = correlation_id_of(scope)
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (HEADER, correlation_id.encode()),
                ]
            await send(message)

        with correlation(correlation_id):
            try:
                await self.app(scope, receive, sending)
            finally:
                if log.isEnabledFor(logging.INFO):
                    self.write(scope, status, time.perf_counter() - started, correlation_id)

    @staticmethod
    def write(scope: Scope, status: int, seconds: float, correlation_id: str) -> None:
        actor = (scope.get("state") or {}).get("actor")
        route = route_template(scope)
        log.info(
            "%s %s %d %.1f ms",
            scope["method"],
            # A request no API route matched (static files, the OpenAPI document, a 404) is
            # named by its path.
            scope["path"] if route == UNMATCHED else route,
            status,
            seconds * 1000,
            extra={
                "actor": getattr(actor, "id", None),
                "role": str(actor.role) if actor is not None else None,
                "method": scope["method"],
                "route": route,
                "path": scope["path"],
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "correlation_id": correlation_id,
            },
        )
