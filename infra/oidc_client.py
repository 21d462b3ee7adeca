"""The console's side of single sign-on: the OAuth 2.0 authorization code flow with PKCE (RFC 7636,
S256) at the office's OIDC issuer, as a browser's relying party (docs/console.md, "Signing in").

The issuer's endpoints come from its discovery document (`<issuer>/.well-known/
openid-configuration`), fetched once and kept. A sign-in starts with a fresh `state` (ties the
issuer's answer to the browser that asked), `nonce` (ties the ID token to this sign-in) and PKCE
code verifier (only its S256 challenge goes to the issuer; the verifier goes with the code to the
token endpoint, so a code caught on its way back is no use without it). What the tokens say is
verified by the API's own verifier (infra/oidc.py), not here.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

#: Where the issuer sends people back, under the service's public address.
CALLBACK_PATH = "/console/sign-in/callback"


class SignOnFailed(Exception):
    """The issuer could not be asked, or refused what it was asked (the reason, in English, for
    the log; people are shown words of the console's)."""


@dataclass(frozen=True)
class ClientSettings:
    issuer: str
    client_id: str
    #: Only for a confidential client; a public client proves itself with PKCE alone.
    client_secret: str | None
    redirect_uri: str
    #: Seconds to wait for the issuer at each request.
    timeout: float = 10.0


@dataclass(frozen=True)
class Attempt:
    """One sign-in's secrets, kept by the browser (an HttpOnly cookie) until the issuer answers."""

    state: str
    nonce: str
    verifier: str

    @classmethod
    def new(cls) -> Attempt:
        # 43 to 128 characters of [A-Za-z0-9-._~] (RFC 7636 4.1): 64 random bytes give 86
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64))


def challenge(verifier: str) -> str:
    """The S256 code challenge of a verifier: BASE64URL(SHA256(verifier)), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Endpoints:
    authorization: str
    token: str


@dataclass(frozen=True)
class Tokens:
    access_token: str
    id_token: str | None


class RelyingParty:
    def __init__(self, settings: ClientSettings, transport: httpx.BaseTransport | None = None):
        self.settings = settings
        self._transport = transport
        self._endpoints: Endpoints | None = None
        self._lock = threading.Lock()

    def _client(self) -> httpx.Client:
        return httpx.Client(
            timeout=self.settings.timeout, transport=self._transport, follow_redirects=False
        )

    def endpoints(self) -> Endpoints:
        """The issuer's authorization and token endpoints, from its discovery document (fetched
        the first time only; a failed fetch is tried again next time)."""
        with self._lock:
            if self._endpoints is None:
                self._endpoints = self._discover()
            return self._endpoints

    def _discover(self) -> Endpoints:
        issuer = self.settings.issuer.rstrip("/")
        url = f"{issuer}/.well-known/openid-configuration"
        try:
            with self._client() as client:
                answer = client.get(url)
            answer.raise_for_status()
            document = answer.json()
        except (httpx.HTTPError, ValueError) as error:
            raise SignOnFailed(f"the issuer's discovery document ({url}): {error}") from None
        if not isinstance(document, dict) or document.get("issuer") != self.settings.issuer:
            raise SignOnFailed(f"{url} describes another issuer than {self.settings.issuer}")
        authorization, token = (
            document.get("authorization_endpoint"),
            document.get("token_endpoint"),
        )
        if not isinstance(authorization, str) or not isinstance(token, str):
            raise SignOnFailed(f"{url} names no authorization or token endpoint")
        return Endpoints(authorization, token)

    def authorization_url(self, attempt: Attempt) -> str:
        """Where to send the browser to sign in at the issuer."""
        s = self.settings
        query = urlencode(
            {
                "response_type": "code",
                "client_id": s.client_id,
                "redirect_uri": s.redirect_uri,
                "scope": "openid profile email",
                "state": attempt.state,
                "nonce": attempt.nonce,
                "code_challenge": challenge(attempt.verifier),
                "code_challenge_method": "S256",
            }
        )
        endpoint = self.endpoints().authorization
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    def exchange(self, code: str, verifier: str) -> Tokens:
        """The tokens the issuer gives for this code and verifier; SignOnFailed if it gives none."""
        s = self.settings
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": s.redirect_uri,
            "client_id": s.client_id,
            "code_verifier": verifier,
        }
        # a confidential client authenticates with HTTP Basic (client_secret_basic)
        auth = httpx.BasicAuth(s.client_id, s.client_secret) if s.client_secret else None
        try:
            with self._client() as client:
                answer = client.post(
                    self.endpoints().token,
                    data=form,
                    auth=auth or httpx.USE_CLIENT_DEFAULT,
                    headers={"Accept": "application/json"},
                )
            body = answer.json()
        except (httpx.HTTPError, ValueError) as error:
            raise SignOnFailed(f"the token endpoint: {error}") from None
        if answer.status_code != 200 or not isinstance(body, dict):
            said = body.get("error") if isinstance(body, dict) else None
            raise SignOnFailed(f"the token endpoint answered {answer.status_code} ({said})")
        access, id_token = body.get("access_token"), body.get("id_token")
        if not isinstance(access, str):
            raise SignOnFailed("the token endpoint gave no access token")
        return Tokens(access, id_token if isinstance(id_token, str) else None)
