"""Signing in to the console with single sign-on, against a real Keycloak (tests/engines/
keycloak.py), over HTTP on SQLite and PostgreSQL (docs/console.md, "Signing in").

Following the redirects and posting Keycloak's own login form ends signed in to the console as
the person the token names, in the role it names, and the directory has them from the token; a
state that is not the browser's, an answer of "denied" from the issuer, a person with no role of
this service and an exchange without this sign-in's PKCE verifier are each refused with words.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from console.sso import FLOW_COOKIE, Flow
from infra.oidc_client import Attempt
from infra.settings import Settings
from projections import directory as views
from service.bootstrap import build
from tests.conftest import Clock
from tests.console_helpers import Visit, text
from tests.engines.keycloak import AUDIENCE, CLIENT_ID, PASSWORDS, Keycloak, keycloak  # noqa: F401
from tests.integration.conftest import Api, free_port, serving

FORM_ACTION = re.compile(r'<form[^>]*\baction="([^"]+)"')


@pytest.fixture
def sso_api(
    make_settings: Callable[[], Settings],
    clock: Clock,
    keycloak: Keycloak,  # noqa: F811 (the fixture)
) -> Iterator[Api]:
    """The service, with the console signing people in at the test realm, served at the address
    its redirect URI names."""
    yield from serve_with_sso(make_settings, clock, keycloak)


def serve_with_sso(
    make_settings: Callable[[], Settings],
    clock: Clock,
    keycloak: Keycloak,  # noqa: F811
) -> Iterator[Api]:
    port = free_port()
    sso = {
        "oidc_issuer": keycloak.issuer,
        "oidc_audience": AUDIENCE,
        "oidc_jwks_url": keycloak.jwks_url,
        "oidc_client_id": CLIENT_ID,
        "public_url": f"http://127.0.0.1:{port}",
    }
    services = build(make_settings().model_copy(update=sso), clock=clock)
    services.start()
    try:
        with serving(services, port=port) as api:
            yield api
    finally:
        services.close()


class AtTheIssuer:
    """A browser's visit to Keycloak's pages: its Secure cookies kept by hand (see Visit)."""

    def __init__(self) -> None:
        self.http = httpx.Client(timeout=30, follow_redirects=False)
        self.cookies: dict[str, str] = {}

    def close(self) -> None:
        self.http.close()

    def _kept(self, response: httpx.Response) -> httpx.Response:
        for header in response.headers.get_list("set-cookie"):
            name, _, value = header.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value
        return response

    def _headers(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}

    def sign_in(self, authorization_url: str, user: str) -> str:
        """Sign in on the issuer's login page; the address it sends the browser back to."""
        page = self._kept(self.http.get(authorization_url, headers=self._headers()))
        assert page.status_code == 200, page.text[:500]
        found = FORM_ACTION.search(page.text)
        assert found, "Keycloak's login page has no form"
        answer = self._kept(
            self.http.post(
                html.unescape(found.group(1)),
                data={"username": user, "password": PASSWORDS[user]},
                headers=self._headers(),
            )
        )
        assert answer.status_code == 302, answer.text[:500]
        return answer.headers["location"]


@pytest.fixture
def issuer() -> Iterator[AtTheIssuer]:
    made = AtTheIssuer()
    yield made
    made.close()


def started(api: Api, next: str = "/console/") -> tuple[Visit, str]:
    """A browser that asked to sign in with SSO; where the console sent it."""
    visit = Visit(api.base_url)
    api.clients.append(visit.http)
    answer = visit.get(f"/console/sign-in/sso?{urlencode({'next': next})}", follow=False)
    assert answer.status_code == 303
    return visit, answer.headers["location"]


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_signing_in_at_the_issuer_opens_a_console_session_in_the_role_the_token_names(
    sso_api: Api, issuer: AtTheIssuer
) -> None:
    api = sso_api
    visit = Visit(api.base_url)
    api.clients.append(visit.http)
    page = visit.get("/console/sign-in")
    assert "Masuk dengan SSO" in text(page)
    assert 'href="/console/sign-in/sso?next=/console/"' in page.text

    visit, location = started(api, "/console/queue")
    asked = parse_qs(urlsplit(location).query)
    assert location.startswith(f"{api.services.settings.oidc_issuer}/protocol/openid-connect/auth")
    assert asked["code_challenge_method"] == ["S256"]
    assert asked["client_id"] == [CLIENT_ID]
    assert asked["redirect_uri"] == [f"{api.base_url}/console/sign-in/callback"]
    assert FLOW_COOKIE in visit.cookies

    back = issuer.sign_in(location, "siti.rahma")
    assert back.startswith(f"{api.base_url}/console/sign-in/callback?")
    landed = visit.get(local(back), follow=False)
    assert (landed.status_code, landed.headers["location"]) == (303, "/console/queue")
    session_cookie = next(
        h for h in landed.headers.get_list("set-cookie") if h.startswith("itsm_session=")
    )
    assert "HttpOnly" in session_cookie
    assert "Secure" in session_cookie
    queue = visit.get("/console/queue")
    assert queue.status_code == 200
    assert "Siti Rahma" in text(queue)
    assert "Petugas layanan" in text(queue)  # role.agent
    siti = views.person(api.services.views, "siti.rahma")
    assert siti is not None
    assert (siti["roles"], siti["organisation"], siti["email"]) == (
        ["agent"],
        "dpk-banten",
        "siti.rahma@dpk-banten.example",
    )
    # the attempt is spent: its answer a second time finds no attempt to finish
    again = visit.get(local(back), follow=False)
    assert again.status_code == 400


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_answer_that_is_not_this_browsers_or_says_denied_is_refused_in_words(
    sso_api: Api, issuer: AtTheIssuer
) -> None:
    api = sso_api
    visit, location = started(api)
    back = urlsplit(issuer.sign_in(location, "siti.rahma"))
    query = parse_qs(back.query)
    tampered = {**{k: v[0] for k, v in query.items()}, "state": query["state"][0] + "x"}
    refused = visit.get(f"{back.path}?{urlencode(tampered)}", follow=False)
    assert refused.status_code == 400
    assert "bukan untuk proses masuk yang dimulai di peramban ini" in text(refused)
    assert "itsm_session=" not in refused.headers.get("set-cookie", "")

    visit, location = started(api)
    state = parse_qs(urlsplit(location).query)["state"][0]
    denied = visit.get(
        f"/console/sign-in/callback?{urlencode({'error': 'access_denied', 'state': state})}",
        follow=False,
    )
    assert denied.status_code == 401
    assert "dibatalkan atau ditolak" in text(denied)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_person_the_issuer_gives_no_role_of_this_service_is_refused_in_words(
    sso_api: Api, issuer: AtTheIssuer
) -> None:
    api = sso_api
    visit, location = started(api)
    back = issuer.sign_in(location, "tamu.luar")
    refused = visit.get(local(back), follow=False)
    assert refused.status_code == 401
    assert "tidak memiliki peran di layanan ini" in text(refused)
    assert "itsm_session" not in visit.cookies
    assert views.person(api.services.views, "tamu.luar") is None


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_code_is_exchanged_only_with_its_own_sign_ins_pkce_verifier(
    sso_api: Api, issuer: AtTheIssuer
) -> None:
    api = sso_api
    first, location = started(api)
    other, _ = started(api)
    back = issuer.sign_in(location, "siti.rahma")
    kept = other.cookies[FLOW_COOKIE]
    # replayed with another sign-in's cookie, as it is: not that browser's state
    replayed = other.get(local(back), follow=False)
    assert replayed.status_code == 400
    # with another sign-in's cookie made to carry this one's state: the issuer is sent the other
    # sign-in's verifier, and refuses to exchange the code for it
    mine = Flow.of(first.cookies[FLOW_COOKIE], now=time.time())
    theirs = Flow.of(kept, now=time.time())
    assert mine is not None
    assert theirs is not None
    forged = Flow(
        Attempt(mine.attempt.state, mine.attempt.nonce, theirs.attempt.verifier),
        theirs.next,
        theirs.started,
    )
    other.cookies[FLOW_COOKIE] = forged.cookie()
    exchanged = other.get(local(back), follow=False)
    assert exchanged.status_code == 401
    assert "tidak mengonfirmasi proses masuk ini" in text(exchanged)
    assert "itsm_session" not in other.cookies


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_sign_in_page_offers_sso_only_when_a_client_is_set(api: Api) -> None:
    visit = Visit(api.base_url)
    api.clients.append(visit.http)
    assert "Masuk dengan SSO" not in text(visit.get("/console/sign-in"))
    assert visit.get("/console/sign-in/sso", follow=False).status_code == 404
