"""Fetching the single sign-on issuer's key set (up to 10 s) holds up no other request: the
fetch runs beside the event loop, which goes on serving."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest

from infra.oidc import OidcSettings, OidcVerifier
from infra.settings import Settings
from service.bootstrap import build
from tests.conftest import Clock
from tests.integration.conftest import Api, serving
from tests.integration.test_security import AUDIENCE, INCIDENTS, ISSUER, KeySet, bearer


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def sso_api(make_settings: Callable[[], Settings], clock: Clock) -> Iterator[Callable[[str], Api]]:
    """Serve the API with single sign-on from the issuer whose key set is at the given URL."""
    opened: list[Any] = []

    def serve(jwks_url: str) -> Api:
        sso = {"oidc_issuer": ISSUER, "oidc_audience": AUDIENCE, "oidc_jwks_url": jwks_url}
        services = build(make_settings().model_copy(update=sso), clock=clock)
        services.start()
        context = serving(services)
        opened.append((services, context))
        return context.__enter__()

    yield serve
    for services, context in reversed(opened):
        context.__exit__(None, None, None)
        services.close()


class SlowIssuer:
    """An issuer's key set that answers only when the test lets it (or after 5 s)."""

    def __init__(self, keyset: KeySet) -> None:
        self.asked = threading.Event()
        self.release = threading.Event()
        self.answering = threading.Event()
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.asked.set()
                issuer.release.wait(timeout=5)
                issuer.answering.set()  # from here the fetch may return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(keyset.jwks)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/certs"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def keyset() -> Iterator[KeySet]:
    served = KeySet()
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture
def slow_issuer(keyset: KeySet) -> Iterator[SlowIssuer]:
    issuer = SlowIssuer(keyset)
    yield issuer
    issuer.release.set()
    issuer.server.shutdown()
    issuer.server.server_close()


def test_other_requests_are_answered_while_the_key_set_is_fetched(
    sso_api: Callable[[str], Api], keyset: KeySet, slow_issuer: SlowIssuer
) -> None:
    api = sso_api(slow_issuer.url)
    sso: list[httpx.Response] = []
    signed_in = threading.Thread(
        target=lambda: sso.append(
            httpx.get(api.base_url + INCIDENTS, headers=bearer(keyset.token()), timeout=30)
        )
    )
    signed_in.start()
    assert slow_issuer.asked.wait(timeout=10), "the key set was never fetched"

    health = httpx.get(api.base_url + "/healthz", timeout=30)
    with api.client() as agent:
        listed = agent.get(INCIDENTS)
    answered_during_the_fetch = not slow_issuer.answering.is_set()
    slow_issuer.release.set()
    signed_in.join(timeout=30)

    assert (health.status_code, listed.status_code) == (200, 200)
    assert answered_during_the_fetch
    assert [answer.status_code for answer in sso] == [200]


def test_the_verifier_knows_when_a_token_needs_no_fetch(keyset: KeySet) -> None:
    verifier = OidcVerifier(OidcSettings(ISSUER, AUDIENCE, jwks_url=keyset.url))
    token = keyset.token()
    assert not verifier.keys_at_hand(token)  # nothing fetched yet
    assert verifier.keys_at_hand("not.a.jwt")  # refused before any fetch
    verifier.verify(token)
    assert keyset.fetches == 1
    assert verifier.keys_at_hand(keyset.token(preferred_username="agus.pratama"))
    rotated = jwt.encode({"sub": "x"}, keyset.key, algorithm="RS256", headers={"kid": "k2"})
    assert not verifier.keys_at_hand(rotated)
