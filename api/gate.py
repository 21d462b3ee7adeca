"""The gate in front of every /api/ route: who is calling, and whether they may call now, decided
before a byte of the request body is read.

FastAPI decodes a JSON body before any dependency runs, so a check made in a dependency comes
after the work it should spare (a caller with no token and a malformed body got 422, not 401),
and a throttle that runs after the token check lets a flood of bad tokens reach the token store.
The gate is a pure ASGI middleware, and decides in this order:

1. the client address may make `ITSM_ADDRESS_RATE_LIMIT` requests, counted before its token is
   looked at (429 past it);
2. an address with `ITSM_ADDRESS_FAILURE_LIMIT` failed authentications in the window is refused
   (429) without its token being looked at: telling a good token from a bad one is the lookup
   the limit is there to spare;
3. the bearer token is authenticated: 401 with the WWW-Authenticate challenge when it is missing
   or refused, and a refusal counts against the address. A single sign-on token whose key is not
   at hand is verified in a worker thread, as fetching the issuer's key set may take seconds;
4. the token may make `ITSM_RATE_LIMIT` requests (429 past it).

The identity is left on the request scope (`scope["state"]["identity"]`, and its actor as
`scope["state"]["actor"]`, which the access log reads); each route's dependency
(api/deps.py `Authorised`) checks its role. Routes outside /api/ (health, metrics, the
documentation, problem codes) are open to all.

The client address is the socket peer. Behind a reverse proxy, name the proxy in
ITSM_TRUSTED_PROXIES: uvicorn then takes the address from its X-Forwarded-For (`proxy_options`).
"""

from __future__ import annotations

import hashlib
from typing import Any

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi.security.utils import get_authorization_scheme_param
from starlette.types import ASGIApp, Receive, Scope, Send

from api.guards import RateLimiter
from api.problem_details import ApiProblem, problem
from domain.actors import Identity
from infra.settings import Settings
from infra.tokens import TokenRejected
from service.bootstrap import Services

GUARDED = "/api/"
CHALLENGE = {"WWW-Authenticate": "Bearer"}
INVALID_TOKEN_CHALLENGE = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
#: Single sign-on verifications that may wait on the issuer at once, each in a worker thread;
#: the rest wait their turn without holding a thread (the server's pool serves other work too).
KEY_FETCHING_THREADS = 4


class Gate:
    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services
        settings = services.settings
        self.per_address = RateLimiter(settings.address_rate_limit, "requests from this address")
        self.failures = RateLimiter(
            settings.address_failure_limit, "failed authentications from this address"
        )
        self.per_token = RateLimiter(settings.rate_limit, "requests from this token")
        self.key_fetching = CapacityLimiter(KEY_FETCHING_THREADS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(GUARDED):
            await self.app(scope, receive, send)
            return
        try:
            identity = await self._admit(scope)
        except ApiProblem as refused:
            answer = problem(refused.status, refused.code, refused.detail, headers=refused.headers)
            await answer(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["identity"] = identity
        state["actor"] = identity.actor
        await self.app(scope, receive, send)

    async def _admit(self, scope: Scope) -> Identity:
        address = client_address(scope)
        self.per_address.check(address)
        self.failures.check_room(address)
        bearer = bearer_token(scope)
        if bearer is None:
            raise ApiProblem(
                401, "unauthenticated", "send Authorization: Bearer <token>", CHALLENGE
            )
        try:
            identity = await self._authenticate(bearer)
        except TokenRejected as rejected:
            self.failures.count(address)
            raise ApiProblem(
                401, "unauthenticated", str(rejected), INVALID_TOKEN_CHALLENGE
            ) from None
        # The token itself never becomes a key held in memory.
        self.per_token.check(hashlib.blake2b(bearer.encode(), digest_size=16).hexdigest())
        return identity

    async def _authenticate(self, bearer: str) -> Identity:
        services = self.services
        oidc = services.oidc
        if oidc is not None and oidc.looks_like_jwt(bearer) and not oidc.keys_at_hand(bearer):
            # The issuer's key set must be fetched (up to 10 s): not on the event loop, which
            # serves every other request meanwhile.
            return await anyio.to_thread.run_sync(
                services.authenticate, bearer, limiter=self.key_fetching
            )
        return services.authenticate(bearer)


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def bearer_token(scope: Scope) -> str | None:
    """The credentials of the `Authorization: Bearer` header, read as FastAPI's HTTPBearer reads
    them; None when there are none."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, credentials = get_authorization_scheme_param(value.decode("latin-1"))
            return credentials if scheme.lower() == "bearer" and credentials else None
    return None


def proxy_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn finds the client's address (`itsm serve`): the socket peer, unless the peer is
    a trusted proxy, whose X-Forwarded-For then names it (the nearest address it does not trust).
    Left to itself uvicorn would trust 127.0.0.1's X-Forwarded-For."""
    if not settings.trusted_proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": settings.trusted_proxies}
