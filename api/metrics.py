"""GET /metrics in Prometheus's text format.

- `itsm_http_requests_total` and `itsm_http_request_duration_seconds`, by method, route template
  and status class ("2xx", "3xx", "4xx", "5xx"): command counts and latencies (commands are the
  POST routes). The class, not the code: every status a client can provoke would otherwise be a
  series of its own (each with a dozen buckets), per route and per process.
- `itsm_store_position`: the head of the event store.
- `itsm_projection_lag_events{projection}`: events in the store a projection has not folded (in
  Kafka mode: up to the last event the relay publishes; bookkeeping after it never reaches them).
- `itsm_relay_lag_events`: events in the store not yet acknowledged by Kafka (present once a
  relay has published from this store).
- `itsm_follower_stuck{follower,event,reason}`: 1 while a follower of the store in this process
  (projections, audit-ledger, sla-watch) is stopped at a stored event it cannot decode, else 0;
  `itsm_follower_stuck_position{follower,reason}`: that event's global position (0: not stopped,
  or not known); `itsm_follower_failing_seconds{follower}`: how long its step has failed every
  time it was retried with backoff (0: the last step succeeded).
- `itsm_projection_skipped_events` (Kafka mode): messages on the events topic that the projections
  passed over because they cannot decode them, so the views lack them (each counted once,
  whichever process consumed: read from the view store; 0 once the views are rebuilt).

Lags are read when Prometheus scrapes, so they cost nothing between scrapes. Requests are timed
by a small ASGI middleware that reads the route template FastAPI leaves in the scope.

With several workers (`itsm serve --workers N`), each is a process of its own: `serve` then sets
PROMETHEUS_MULTIPROC_DIR to a fresh directory, every worker's counters and histograms live in
files there, and /metrics adds up all the workers' (prometheus_client's multiprocess mode), so
whichever worker Prometheus reaches answers for the whole service. A Gauge added here needs a
`multiprocess_mode` (e.g. "livesum", or "max" for a value every worker sees alike).
"""

from __future__ import annotations

import atexit
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from processes.relay import last_published_position
from service.bootstrap import Services

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: The route label of a request that no API route matched.
UNMATCHED = "unmatched"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LagCollector(Collector):
    def __init__(self, services: Services, relay_position: Callable[[], int | None]) -> None:
        self.services = services
        self.relay_position = relay_position

    def collect(self) -> Iterator[Metric]:
        head = self.services.desk.recorder.max_notification_id() or 0
        yield GaugeMetricFamily(
            "itsm_store_position", "The last global position in the event store", value=head
        )
        lag = GaugeMetricFamily(
            "itsm_projection_lag_events",
            "Events in the store that a projection has not folded yet",
            labels=["projection"],
        )
        reachable = head
        if self.services.kafka is not None:
            # Fed from the topic, the views never see the bookkeeping events the relay keeps
            # off it (a number, an idempotency key): those at the store's end are no lag.
            reachable = last_published_position(self.services.desk.recorder, head)
        for name, position in sorted(self.services.views.positions().items()):
            lag.add_metric([name], max(reachable - position, 0))
        yield lag
        yield from stuck_metrics(self.services)
        if self.services.kafka is not None:
            yield GaugeMetricFamily(
                "itsm_projection_skipped_events",
                "Messages on the events topic the projections passed over as undecodable",
                value=self.services.views.skipped_count(),
            )
        published = self.relay_position()
        if published is not None:
            yield GaugeMetricFamily(
                "itsm_relay_lag_events",
                "Events in the store not yet acknowledged by Kafka",
                value=max(head - published, 0),
            )


def stuck_metrics(services: Services) -> Iterator[Metric]:
    stuck = GaugeMetricFamily(
        "itsm_follower_stuck",
        "1 while a follower is stopped at a stored event it cannot decode",
        labels=["follower", "event", "reason"],
    )
    position = GaugeMetricFamily(
        "itsm_follower_stuck_position",
        "The global position of the stored event a follower is stopped at (0: none)",
        labels=["follower", "reason"],
    )
    for name, error in services.stuck().items():
        if error is None:
            stuck.add_metric([name, "", ""], 0)
            position.add_metric([name, ""], 0)
        else:
            stuck.add_metric([name, error.event, error.reason], 1)
            position.add_metric([name, error.reason], error.position or 0)
    yield stuck
    yield position
    failing = GaugeMetricFamily(
        "itsm_follower_failing_seconds",
        "How long a follower's step has failed every time it was retried (0: its last succeeded)",
        labels=["follower"],
    )
    for name, follower in services.followers().items():
        now_failing = follower.failing()
        failing.add_metric([name], 0 if now_failing is None else now_failing.seconds())
    yield failing


class RequestMetrics:
    """Pure ASGI middleware: count and time every HTTP request by its route template."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry | None) -> None:
        self.app = app
        labels = ["method", "route", "status"]
        self.requests = Counter(
            "itsm_http_requests", "HTTP requests answered", labels, registry=registry
        )
        self.latency = Histogram(
            "itsm_http_request_duration_seconds",
            "Time from request to the start of the response",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            labels = (scope["method"], route_template(scope), status_class(status))
            self.requests.labels(*labels).inc()
            self.latency.labels(*labels).observe(time.perf_counter() - started)


def status_class(status: int) -> str:
    """The status label: "2xx" for 200 to 299, and so on."""
    return f"{status // 100}xx"


def route_template(scope: Scope) -> str:
    """The matched route's path template, with the prefixes of the routers it is included in.

    FastAPI leaves the matched route in the scope, but its path is relative to its own router;
    the prefix is the leading segments of the request path that the template does not cover.
    """
    template: str | None = getattr(scope.get("route"), "path", None)
    if not template:
        return UNMATCHED
    path: str = scope["path"]
    extra = path.count("/") - template.count("/")
    return "/".join(path.split("/")[: extra + 1]) + template if extra > 0 else template


def relay_position_reader(services: Services) -> Callable[[], int | None]:
    """How far a relay has published this store, or None when no relay ever has."""
    from processes.relay import TRACKING_NAME

    tracking: Any = None

    def read() -> int | None:
        nonlocal tracking
        if tracking is None:
            tracking = services.desk.factory.tracking_recorder()
        position: int | None = tracking.max_tracking_id(TRACKING_NAME)
        return position

    return read


def multiprocess_directory() -> str | None:
    """Where the workers' metric files are, when this process is one of several workers."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def install(app: FastAPI, services: Services) -> None:
    registry = CollectorRegistry()
    registry.register(LagCollector(services, relay_position_reader(services)))
    if (directory := multiprocess_directory()) is None:
        app.add_middleware(RequestMetrics, registry=registry)
    else:
        # The request metrics write to this process's files and are read from every worker's;
        # registering them as well would count this worker's twice.
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        app.add_middleware(RequestMetrics, registry=None)
        # A worker that stops takes its live gauges with it (its counters still count).
        atexit.register(multiprocess.mark_process_dead, os.getpid(), directory)

    @app.get(
        "/metrics",
        tags=["meta"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {
                "description": "The Prometheus text exposition format",
                "content": {CONTENT_TYPE: {"schema": {"type": "string"}}},
            }
        },
    )
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE)
