"""Signing in to the console with the office's single sign-on (docs/console.md, "Signing in").

- `/console/sign-in/sso?next=`: a fresh state, nonce and PKCE code verifier, kept in a
  short-lived HttpOnly, Secure, SameSite=Lax cookie sent only to the sign-in pages; the browser
  goes on to the issuer's authorization endpoint with the state, nonce and S256 challenge;
- `/console/sign-in/callback?code=&state=`: the state compared (constant time) with the cookie's,
  the code exchanged with the verifier at the token endpoint, the access token verified as the API
  verifies one (issuer, audience, expiry, a role and organisation of this service: infra/oidc.py),
  the ID token's nonce compared with the cookie's; the directory takes what the token says
  (as on the API's path), and the console opens a session in the role the token names.

Every failure answers a page in words (denied at the issuer, a state that is not this browser's,
an exchange refused, a token refused): 400 or 401, 502 when the issuer cannot be reached. Offered
only when single sign-on is set up with a client id (ITSM_OIDC_CLIENT_ID).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from api.deps import services_of
from console import auth
from console.render import render
from infra.oidc_client import Attempt, RelyingParty, SignOnFailed
from infra.tokens import TokenRejected
from projections import directory
from service.bootstrap import Services

router = APIRouter(prefix="/console", include_in_schema=False)
log = logging.getLogger(__name__)

#: The sign-in attempt's cookie, sent only to the sign-in pages, for ten minutes.
FLOW_COOKIE = "itsm_sso"
FLOW_PATH = "/console/sign-in"
FLOW_SECONDS = 600
#: The longest cookie value read (the three secrets and a `next` of 500 characters fit).
FLOW_MAX = 2_000

#: The pages a failed sign-in answers (error.html's `problem.<name>` and its detail).
PROBLEMS = (
    "sso-unreachable",
    "sso-state",
    "sso-denied",
    "sso-exchange",
    "sso-refused",
    "sso-directory",
)

Next = Annotated[str | None, Query(max_length=500)]
Said = Annotated[str | None, Query(max_length=2_000)]


@dataclass(frozen=True)
class Flow:
    """A sign-in attempt as its cookie keeps it."""

    attempt: Attempt
    next: str
    started: float

    def cookie(self) -> str:
        a = self.attempt
        value = {"s": a.state, "n": a.nonce, "v": a.verifier, "x": self.next, "t": self.started}
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    @classmethod
    def of(cls, cookie: str | None, now: float) -> Flow | None:
        """The attempt a cookie keeps, or None: no cookie, not one of ours, or too old."""
        if not cookie or len(cookie) > FLOW_MAX:
            return None
        try:
            value = json.loads(base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4)))
            attempt = Attempt(str(value["s"]), str(value["n"]), str(value["v"]))
            flow = cls(attempt, auth.safe_next(str(value["x"])), float(value["t"]))
        except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
            return None
        return flow if 0 <= now - flow.started <= FLOW_SECONDS else None


def relying_party(request: Request) -> RelyingParty | None:
    """The console's relying party, when single sign-on is set up for it (one per app: it keeps
    the issuer's endpoints once fetched)."""
    services = services_of(request)
    settings = services.settings.sign_on()
    if services.oidc is None or settings is None:
        return None
    made: RelyingParty | None = getattr(request.app.state, "relying_party", None)
    if made is None:
        made = request.app.state.relying_party = RelyingParty(settings)
    return made


def offered(request: Request) -> bool:
    """Whether the sign-in page offers single sign-on."""
    services = services_of(request)
    return services.oidc is not None and services.settings.oidc_client_id is not None


def refused(request: Request, problem: str, status: int) -> Response:
    """A page saying why signing in did not happen; the attempt's cookie is spent."""
    page = render(request, "error.html", None, status=status, problem=problem)
    page.delete_cookie(FLOW_COOKIE, path=FLOW_PATH, secure=True, httponly=True, samesite="lax")
    return page


@router.get("/sign-in/sso")
async def sign_in_with_sso(request: Request, next: Next = None) -> Response:
    party = relying_party(request)
    if party is None:
        return render(request, "error.html", None, status=404, problem="not-found")
    flow = Flow(Attempt.new(), auth.safe_next(next), time.time())
    try:
        url = await run_in_threadpool(party.authorization_url, flow.attempt)
    except SignOnFailed as error:
        log.warning("single sign-on cannot start: %s", error)
        return refused(request, "sso-unreachable", 502)
    done = RedirectResponse(url, status_code=303)
    done.set_cookie(
        FLOW_COOKIE,
        flow.cookie(),
        max_age=FLOW_SECONDS,
        path=FLOW_PATH,
        httponly=True,
        secure=True,
        samesite="lax",
    )
    return done


@router.get("/sign-in/callback")
async def sign_in_callback(
    request: Request,
    code: Said = None,
    state: Annotated[str | None, Query(max_length=200)] = None,
    error: Annotated[str | None, Query(max_length=100)] = None,
    error_description: Annotated[str | None, Query(max_length=500)] = None,
    error_uri: Annotated[str | None, Query(max_length=500)] = None,
    session_state: Annotated[str | None, Query(max_length=200)] = None,
    iss: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    services = services_of(request)
    party = relying_party(request)
    if party is None or services.oidc is None:
        return render(request, "error.html", None, status=404, problem="not-found")
    flow = Flow.of(request.cookies.get(FLOW_COOKIE), time.time())
    if flow is None or state is None:
        return refused(request, "sso-state", 400)
    if not hmac.compare_digest(state.encode(), flow.attempt.state.encode()):
        return refused(request, "sso-state", 400)
    if error is not None or not code:
        log.info("the issuer did not sign the person in: %s %s", error, error_description)
        return refused(request, "sso-denied", 401)
    if iss is not None and iss != party.settings.issuer:  # RFC 9207: the answer's issuer
        return refused(request, "sso-state", 400)
    verifier = services.oidc
    try:
        tokens = await run_in_threadpool(party.exchange, code, flow.attempt.verifier)
    except SignOnFailed as failure:
        log.warning("single sign-on: %s", failure)
        return refused(request, "sso-exchange", 401)
    try:
        # verifying tells the directory what the token says of the person, as on the API's path
        identity = await run_in_threadpool(verifier.verify, tokens.access_token)
        if tokens.id_token is None:
            raise TokenRejected("the issuer gave no ID token")
        nonce = await run_in_threadpool(
            verifier.id_token_nonce, tokens.id_token, party.settings.client_id
        )
        if nonce is None or not hmac.compare_digest(nonce.encode(), flow.attempt.nonce.encode()):
            raise TokenRejected("the ID token's nonce is not this sign-in's")
    except TokenRejected as rejection:
        log.info("single sign-on token refused: %s", rejection)
        return refused(request, "sso-refused", 401)
    role = identity.actor.role
    if role not in auth.CONSOLE_ROLES:
        return refused(request, "sso-refused", 401)
    actor_id = identity.actor.id
    if not await run_in_threadpool(_in_directory, services, actor_id, role.value):
        return refused(request, "sso-directory", 401)
    store = auth.store_of(request)
    session = await run_in_threadpool(
        store.open_session, actor_id, role.value, services.clock(), auth.SESSION_TTL
    )
    done = RedirectResponse(flow.next, status_code=303)
    auth.set_cookie(done, auth.SESSION_COOKIE, session.id, int(auth.SESSION_TTL.total_seconds()))
    done.delete_cookie(FLOW_COOKIE, path=FLOW_PATH, secure=True, httponly=True, samesite="lax")
    done.delete_cookie(auth.CSRF_COOKIE, path="/")
    return done


def _in_directory(services: Services, actor_id: str, role: str) -> bool:
    """Whether the directory shows the person, active, in this role, waiting for the sync the
    token set off (and the view after it) at most the read-your-writes timeout."""
    timeout = services.settings.read_your_writes_timeout
    deadline = time.monotonic() + timeout
    settled = getattr(services.oidc.on_login if services.oidc else None, "settled", None)
    if callable(settled):
        try:
            settled(timeout)
        except TimeoutError:
            return False
    while True:
        person = directory.person(services.views, actor_id)
        if person is not None and person["active"] and role in (person.get("roles") or []):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
