"""OAuth2/OIDC access tokens (JWT) from the office's single sign-on, mapped to the actor model.

A JWT is accepted when its signature verifies against a key of the configured issuer's key set
(JWKS, fetched by PyJWT and kept by key id; a key rotated in at the issuer is fetched when a
token names it), it names the configured issuer and audience, and it has not expired. Its claims
then give the same Identity a service token gives: who (the actor claim, else `sub`), their
role (the first role of this service the role claim names) and their organisation.

What else the token says of its holder (name, e-mail address, locale, every role of this service
it names) is their `Profile`, handed to `on_login` when set: the directory keeps itself in step
with it (application/directory_sync.py). A failure there is logged and the token still verifies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import jwt
from jwt import PyJWK, PyJWKClient
from pydantic import ValidationError

from domain.actors import Actor, Identity, Role
from domain.organisations import ORGANISATION_CODES
from infra.tokens import TokenRejected

#: Roles a token from outside may carry: never the service's own.
GRANTABLE = frozenset(Role) - {Role.SYSTEM}
#: Signing keys kept once fetched, as PyJWT's own key cache keeps them: no expiry (a token the
#: issuer signed keeps verifying while the issuer cannot be reached), the oldest out past this.
MAX_KEYS = 16


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Profile:
    """What a verified access token says of its holder, as the directory keeps it; None: the
    token does not say."""

    actor_id: str
    name: str | None
    email: str | None
    #: "id" or "en", from the `locale` claim ("id-ID", "en-GB"...); None for any other.
    language: str | None
    organisation: str | None
    roles: tuple[str, ...]


def language_of(locale: object) -> str | None:
    """The directory's language for an OIDC `locale` (BCP 47: "id", "id-ID", "en-US"); "in" is
    the old code for Indonesian."""
    if not isinstance(locale, str):
        return None
    primary = locale.replace("_", "-").split("-", 1)[0].lower()
    return {"id": "id", "in": "id", "en": "en"}.get(primary)


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    audience: str
    #: The issuer's key set; by default the issuer's `/.well-known/jwks.json`.
    jwks_url: str | None = None
    algorithms: tuple[str, ...] = ("RS256", "ES256", "EdDSA")
    actor_claim: str = "preferred_username"
    role_claim: str = "itsm_role"
    organisation_claim: str = "itsm_organisation"
    #: Seconds of clock difference tolerated between the issuer and this service.
    leeway: float = 30.0


class OidcVerifier:
    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        url = settings.jwks_url or settings.issuer.rstrip("/") + "/.well-known/jwks.json"
        # PyJWT fetches the key set (at most once at a time, and an unknown key id refetches
        # only after a cooldown); the keys it found are kept here, by key id, where
        # `keys_at_hand` can see them without a fetch.
        self._client = PyJWKClient(url, lifespan=300, timeout=10)
        self._keys: dict[str, PyJWK] = {}
        #: Told the profile of each token verified (never holds one up: it must return fast).
        self.on_login: Callable[[Profile], None] | None = None

    @staticmethod
    def looks_like_jwt(bearer: str) -> bool:
        return bearer.count(".") == 2

    def keys_at_hand(self, bearer: str) -> bool:
        """Whether `verify` decides without fetching the issuer's key set (which may take
        seconds): the token names a key already fetched, or its header cannot be read at all."""
        try:
            kid = jwt.get_unverified_header(bearer).get("kid")
        except jwt.InvalidTokenError:
            return True
        return kid is None or kid in self._keys

    def _key(self, kid: str | None) -> PyJWK:
        if kid is None:  # the key set is looked up by key id only
            raise jwt.PyJWKClientError("the token names no key (kid)")
        key = self._keys.get(kid)
        if key is None:
            key = self._client.get_signing_key(kid)
            if len(self._keys) >= MAX_KEYS:  # a key rotated out long ago goes first
                del self._keys[next(iter(self._keys))]
            self._keys[kid] = key
        return key

    def verify(self, bearer: str) -> Identity:
        """The identity the access token speaks for; TokenRejected says why it does not.
        Unless `keys_at_hand`, this may wait seconds on the issuer: call it off the event loop."""
        s = self.settings
        try:
            key = self._key(jwt.get_unverified_header(bearer).get("kid"))
            claims = jwt.decode(
                bearer,
                key.key,
                algorithms=list(s.algorithms),
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("the access token has expired") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected("the access token is from another issuer") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected("the access token is for another audience") from None
        except jwt.InvalidSignatureError:
            raise TokenRejected("the access token's signature does not verify") from None
        except jwt.PyJWKClientError as error:
            raise TokenRejected(f"no key of the issuer verifies the token: {error}") from None
        except jwt.InvalidTokenError as error:
            raise TokenRejected(f"not a valid access token: {error}") from None
        identity = self._identity(claims)
        if self.on_login is not None:
            try:
                self.on_login(self._profile(claims, identity))
            except Exception:  # the directory's business, never the request's
                log.warning(
                    "keeping the directory in step with single sign-on failed", exc_info=True
                )
        return identity

    def id_token_nonce(self, id_token: str, client_id: str) -> str | None:
        """The nonce of an ID token from the same issuer (signed by a key of its key set, for
        this client, not expired), which the console's sign-in compares with the one it sent;
        TokenRejected says why the ID token is not one. Like `verify`, may wait on the issuer."""
        s = self.settings
        try:
            key = self._key(jwt.get_unverified_header(id_token).get("kid"))
            claims = jwt.decode(
                id_token,
                key.key,
                algorithms=list(s.algorithms),
                audience=client_id,
                issuer=s.issuer,
                leeway=s.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWKClientError as error:
            raise TokenRejected(f"no key of the issuer verifies the ID token: {error}") from None
        except jwt.InvalidTokenError as error:
            raise TokenRejected(f"not a valid ID token: {error}") from None
        nonce = claims.get("nonce")
        return nonce if isinstance(nonce, str) else None

    def _profile(self, claims: dict[str, object], identity: Identity) -> Profile:
        def text(name: str) -> str | None:
            value = claims.get(name)
            return value if isinstance(value, str) and value.strip() else None

        named = claims.get(self.settings.role_claim)
        roles = named if isinstance(named, list) else [named]
        return Profile(
            actor_id=identity.actor.id,
            name=text("name"),
            email=text("email"),
            language=language_of(claims.get("locale")),
            organisation=identity.organisation,
            roles=tuple(sorted({r for r in roles if isinstance(r, str) and r in GRANTABLE})),
        )

    def _identity(self, claims: dict[str, object]) -> Identity:
        s = self.settings
        actor_id = claims.get(s.actor_claim) or claims["sub"]
        named = claims.get(s.role_claim)
        roles = named if isinstance(named, list) else [named]
        role = next((Role(r) for r in roles if isinstance(r, str) and r in GRANTABLE), None)
        if role is None:
            raise TokenRejected(
                f"the access token's {s.role_claim!r} names no role of this service"
            )
        organisation = claims.get(s.organisation_claim)
        if organisation is not None and (
            not isinstance(organisation, str) or organisation not in ORGANISATION_CODES
        ):
            # A caller of an organisation the service does not keep would reach no record, and
            # what they logged would be counted in no organisation's report.
            raise TokenRejected(
                f"the access token's {s.organisation_claim!r} names no organisation of this service"
            )
        try:  # a name of 1 to 200 characters, with no control character
            actor = Actor.model_validate({"id": actor_id, "role": role}, strict=True)
        except ValidationError:
            raise TokenRejected(
                f"the access token's {s.actor_claim!r} is not a usable name"
            ) from None
        return Identity(actor, organisation=organisation)
