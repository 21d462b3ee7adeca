"""The gate in front of every /api/ route: a client address is throttled before its token is
looked at, failed authentications from one address are throttled harder, and the caller is
authenticated before a byte of the body is read. Other addresses, and the open routes (health,
metrics, the documentation), are not held up by one address's flood."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import Message, Receive, Scope, Send

from api.app import create_app
from api.gate import Gate, proxy_options
from domain.actors import Actor, Identity, Role
from infra.settings import Settings
from service.bootstrap import Services, build
from tests.conftest import Clock

INCIDENTS = "/api/v1/incidents"
OTHER_ADDRESS = "127.0.0.2"  # loopback too, but another peer address for the server


@pytest.fixture
def backend() -> str:
    return "sqlite"  # what is checked here does not depend on the backend


class Served:
    """The app served as `itsm serve` serves it (the same proxy options), with a count of the
    token store's lookups."""

    def __init__(self, services: Services, url: str) -> None:
        self.services = services
        self.url = url
        self.lookups = 0
        verify = services.tokens.verify

        def counted(token: str, *, at: Any) -> Identity:
            self.lookups += 1
            return verify(token, at=at)

        services.tokens.verify = counted  # type: ignore[method-assign]

    def token(self, actor: str = "siti.rahma", role: Role = Role.AGENT) -> str:
        tokens = self.services.tokens
        return tokens.issue(
            Actor(id=actor, role=role), at=self.services.clock(), issued_by="t"
        ).token

    def client(self, token: str | None = None, *, address: str = "127.0.0.1") -> httpx.Client:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        transport = httpx.HTTPTransport(local_address=address)
        return httpx.Client(base_url=self.url, headers=headers, transport=transport, timeout=30)


@contextmanager
def serving(services: Services, wrap: Callable[[Any], Any] = lambda app: app) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        wrap(create_app(services)),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        **proxy_options(services.settings),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def serve(make_settings: Callable[[], Settings], clock: Clock) -> Iterator[Callable[..., Served]]:
    """Serve the API on fresh settings changed by the given values."""
    opened: list[Any] = []

    def start(wrap: Callable[[Any], Any] = lambda app: app, **changes: Any) -> Served:
        services = build(make_settings().model_copy(update=changes), clock=clock)
        services.start()
        context = serving(services, wrap)
        opened.append((services, context))
        return Served(services, context.__enter__())

    yield start
    for services, context in reversed(opened):
        context.__exit__(None, None, None)
        services.close()


def test_no_token_and_a_malformed_body_gets_401_not_422(serve: Callable[..., Served]) -> None:
    api = serve()
    malformed = {"content": b'{"title": ', "headers": {"Content-Type": "application/json"}}
    with api.client() as anonymous, api.client("itsm_0011_forged") as forged:
        missing = anonymous.post(INCIDENTS, **malformed)
        assert missing.status_code == 401, missing.text
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        assert missing.headers["Content-Type"] == "application/problem+json"
        assert missing.json()["code"] == "unauthenticated"
        wrong = forged.post(INCIDENTS, **malformed)
        assert wrong.status_code == 401, wrong.text
        assert wrong.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    with api.client(api.token()) as agent:  # a caller who may: now the body is read
        assert agent.post(INCIDENTS, **malformed).status_code == 422


def test_a_flood_of_bad_tokens_is_throttled_before_the_token_store_is_asked(
    serve: Callable[..., Served],
) -> None:
    api = serve(address_failure_limit="5/minute")
    good = api.token()
    with api.client() as flooder:
        answers = [
            flooder.get(INCIDENTS, headers={"Authorization": f"Bearer itsm_{n:04}_bad"})
            for n in range(30)
        ]
    assert [a.status_code for a in answers] == [401] * 5 + [429] * 25
    assert api.lookups == 5  # the other 25 never reached the token store
    refused = answers[-1]
    assert refused.json()["code"] == "rate-limited"
    assert "failed authentications from this address" in refused.json()["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60

    with api.client(good, address=OTHER_ADDRESS) as elsewhere:
        assert elsewhere.get(INCIDENTS).status_code == 200
    # The flooding address is refused whatever token it sends, until its window moves on: telling
    # a good token from a bad one is the lookup the limit is there to spare.
    with api.client(good) as same_address:
        assert same_address.get(INCIDENTS).status_code == 429
    assert api.lookups == 6


def test_an_address_past_its_rate_gets_429_before_its_token_is_looked_at(
    serve: Callable[..., Served],
) -> None:
    api = serve(address_rate_limit="8/minute", rate_limit="")
    with api.client(api.token("siti.rahma")) as one, api.client(api.token("agus")) as two:
        answers = [c.get(INCIDENTS).status_code for _ in range(5) for c in (one, two)]
        assert answers == [200] * 8 + [429] * 2
        refused = one.get(INCIDENTS)
    assert refused.json()["code"] == "rate-limited"
    assert "requests from this address" in refused.json()["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert api.lookups == 8
    with api.client(api.token(), address=OTHER_ADDRESS) as elsewhere:
        assert elsewhere.get(INCIDENTS).status_code == 200


def test_health_metrics_and_the_documentation_stay_open_to_a_throttled_address(
    serve: Callable[..., Served],
) -> None:
    api = serve(address_rate_limit="2/minute")
    with api.client() as anonymous:
        for _ in range(3):
            anonymous.get(INCIDENTS)
        assert anonymous.get(INCIDENTS).status_code == 429
        for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"):
            assert anonymous.get(path).status_code == 200, path
        assert anonymous.get("/problems/rate-limited").status_code == 200


def test_by_default_the_client_address_is_the_socket_peer_whatever_x_forwarded_for_says(
    serve: Callable[..., Served],
) -> None:
    api = serve(address_failure_limit="3/minute")
    with api.client() as flooder:
        answers = [
            flooder.get(
                INCIDENTS,
                headers={"Authorization": "Bearer itsm_00_bad", "X-Forwarded-For": f"10.0.0.{n}"},
            ).status_code
            for n in range(6)
        ]
    assert answers == [401] * 3 + [429] * 3


def test_behind_a_trusted_proxy_x_forwarded_for_names_the_client(
    serve: Callable[..., Served],
) -> None:
    api = serve(address_failure_limit="3/minute", trusted_proxies="127.0.0.1")
    good = api.token()

    def via_proxy(client_address: str, token: str) -> int:
        with api.client(token) as proxy:  # the proxy appends the address it was reached from
            forwarded = {"X-Forwarded-For": f"198.51.100.77, {client_address}"}
            return proxy.get(INCIDENTS, headers=forwarded).status_code

    assert [via_proxy("203.0.113.9", "itsm_00_bad") for _ in range(5)] == [401] * 3 + [429] * 2
    assert via_proxy("203.0.113.10", good) == 200  # another client behind the same proxy
    assert via_proxy("203.0.113.9", good) == 429
    # A peer that is not a trusted proxy names itself, whatever it forwards.
    with api.client(good, address=OTHER_ADDRESS) as untrusted:
        for n in range(4):
            bad = {"Authorization": "Bearer itsm_00_bad", "X-Forwarded-For": f"10.0.0.{n}"}
            untrusted.get(INCIDENTS, headers=bad)
        assert untrusted.get(INCIDENTS).status_code == 429


def test_the_authenticated_actor_is_left_on_the_request_scope_for_the_access_log(
    serve: Callable[..., Served],
) -> None:
    seen: list[object] = []

    def outermost(app: Any) -> Any:
        async def logging(scope: Scope, receive: Receive, send: Send) -> None:
            await app(scope, receive, send)
            if scope["type"] == "http":
                seen.append(scope.get("state", {}).get("actor"))

        return logging

    api = serve(wrap=outermost)
    with api.client(api.token("siti.rahma", Role.RESOLVER)) as resolver, api.client() as nobody:
        assert resolver.get(INCIDENTS).status_code == 200
        assert nobody.get(INCIDENTS).status_code == 401
    assert seen == [Actor(id="siti.rahma", role=Role.RESOLVER), None]


ADDRESSES = ("192.0.2.1", "192.0.2.2", "2001:db8::7")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    failures_allowed=st.integers(min_value=1, max_value=4),
    requests=st.lists(
        st.tuples(st.sampled_from(ADDRESSES), st.sampled_from(["good", "bad", "none"])),
        max_size=40,
    ),
)
def test_the_token_store_is_asked_only_while_an_address_has_failures_to_spare(
    services: Services, failures_allowed: int, requests: list[tuple[str, str]]
) -> None:
    """Against a model: an address that has used its failures is refused whatever it sends, with
    no lookup, and no other address is affected; a missing token costs no lookup and no failure."""
    services.settings = services.settings.model_copy(
        update={
            "address_failure_limit": f"{failures_allowed}/minute",
            "address_rate_limit": "",
            "rate_limit": "",
        }
    )
    lookups = 0
    authenticate = services.authenticate

    def counted(bearer: str) -> Identity:
        nonlocal lookups
        lookups += 1
        return authenticate(bearer)

    services.authenticate = counted  # type: ignore[method-assign]
    good = services.tokens.issue(
        Actor(id="siti.rahma", role=Role.AGENT), at=services.clock(), issued_by="t"
    ).token
    sent = {"good": f"Bearer {good}", "bad": "Bearer itsm_00_bad", "none": None}
    gate = Gate(answer_200, services)

    failed = dict.fromkeys(ADDRESSES, 0)
    for address, sends in requests:
        looked_up = lookups
        if failed[address] >= failures_allowed:
            expected = 429
        elif sends == "none":
            expected = 401
        else:
            expected = 200 if sends == "good" else 401
            failed[address] += sends == "bad"
            looked_up += 1
        assert asyncio.run(status_of(gate, address, sent[sends])) == expected, (address, sends)
        assert lookups == looked_up


async def answer_200(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def status_of(app: Any, address: str, authorization: str | None) -> int:
    headers = [] if authorization is None else [(b"authorization", authorization.encode())]
    scope = {
        "type": "http",
        "method": "GET",
        "path": INCIDENTS,
        "headers": headers,
        "client": (address, 50123),
    }
    statuses: list[int] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    return statuses[0]
