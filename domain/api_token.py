"""The record of an API bearer token: who it speaks for, from when to when, and its revocation.

Everything that decides access is in the same audited record as the tickets (docs/security.md,
"Tokens in the record"): a token's issue and its revocation are events, chained and signed by
the audit ledger like any other, so a DBA who raises an agent to admin, adds a token or deletes
a revocation has to alter the record, and `itsm audit verify` says where. Each token is one
record whose id is derived from the token id (`token_record_id`), so authenticating a token is
one read of one record's events.

An event holds the SHA-256 of the token's secret (hex), never the secret. A token's holder,
role and organisations are fixed when it is issued: changing them is revoking the token and
issuing another, two facts in the record.

Tokens issued before the record held them (in the tables api_tokens / api_token_revocations)
are brought in once, by the service, as `ApiToken.Imported`: what the table said, including a
revocation, with the time and issuer the table gave. Lifecycle:

    Issued / Imported -> valid --(Revoked)--> revoked     (expiry is read against the clock)
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal
from uuid import UUID, uuid5

from pydantic import AwareDatetime, Field

from domain.actors import Actor, Identity, Role
from domain.aggregate import Aggregate, applies
from domain.context import Context
from domain.errors import InvalidRule, NotPermitted
from domain.events import DomainEvent
from domain.fields import Name, OptionalName, Reason

_NAMESPACE = UUID("5d0c4c3e-8a4f-4d55-9c55-2f3b0f1a7e21")

#: A token id as the token carries it (`itsm_<id>_<secret>`): no underscore, no control
#: character. The service makes 16 hex digits; tokens of the first releases may hold others.
TokenId = Field(min_length=1, max_length=64, pattern=r"^[^_\x00-\x1f\x7f\s]+$")
#: The SHA-256 of the token's secret, in lower-case hex.
SecretDigest = Field(pattern=r"^[0-9a-f]{64}$")

#: The roles that decide on tokens: an admin, or the service itself (importing).
ISSUERS = frozenset({Role.ADMIN, Role.SYSTEM})


def token_record_id(token_id: str) -> UUID:
    """The record of a token, found from the token id alone (case kept: ids are compared
    exactly)."""
    return uuid5(_NAMESPACE, f"api-token\n{token_id}")


class ApiTokenEvent(DomainEvent):
    token_id: str = TokenId


class Granted(ApiTokenEvent):
    """What a token grants: whom it speaks for, where, until when (the fields an issue and an
    import share)."""

    secret_sha256: str = SecretDigest
    holder: Actor
    organisation: str | None = OptionalName
    all_organisations: bool = False
    #: None: valid until revoked.
    expires_at: AwareDatetime | None = None


class Issued(Granted):
    """An admin issued a token (the envelope's actor and timestamp say who and when)."""

    type_name: ClassVar[str] = "ApiToken.Issued"


class Imported(Granted):
    """A token from the table api_tokens, brought into the record by the service: the time and
    issuer are the table's, as is the revocation, if the table had one."""

    type_name: ClassVar[str] = "ApiToken.Imported"

    source: Literal["imported from api_tokens"] = "imported from api_tokens"
    issued_at: AwareDatetime
    issued_by: str = Name
    revoked_at: AwareDatetime | None = None
    revoked_by: str | None = OptionalName
    revocation_reason: str | None = Field(default=None, max_length=2_000)


class Revoked(ApiTokenEvent):
    """The token speaks for no one from now on."""

    type_name: ClassVar[str] = "ApiToken.Revoked"

    reason: str = Reason


class ApiToken(Aggregate, events=ApiTokenEvent):
    """One bearer token: whom it speaks for, and whether it still does."""

    KIND: ClassVar[str] = "API token"

    token_id: str
    secret_sha256: str
    identity: Identity
    issued_at: datetime
    issued_by: str
    expires_at: datetime | None
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    @classmethod
    def issue(
        cls,
        ctx: Context,
        token_id: str,
        secret_sha256: str,
        holder: Identity,
        expires_at: datetime | None,
    ) -> ApiToken:
        _issuer_only(ctx, "issues tokens")
        _speaks_for_someone(holder)
        if expires_at is not None and expires_at <= ctx.at:
            raise InvalidRule("a token must be valid for some time after it is issued")
        return cls._begin(
            ctx,
            token_record_id(token_id),
            Issued,
            token_id=token_id,
            secret_sha256=secret_sha256,
            expires_at=expires_at,
            **_grant(holder),
        )

    @classmethod
    def import_row(
        cls,
        ctx: Context,
        token_id: str,
        secret_sha256: str,
        holder: Identity,
        *,
        issued_at: datetime,
        issued_by: str,
        expires_at: datetime | None,
        revoked: tuple[datetime, str, str] | None,
    ) -> ApiToken:
        """A row of api_tokens (and its revocation: when, by whom, why), recorded as it was."""
        if ctx.actor.role is not Role.SYSTEM:
            raise NotPermitted("only the service imports tokens from the old tables")
        revoked_at, revoked_by, reason = revoked if revoked is not None else (None, None, None)
        return cls._begin(
            ctx,
            token_record_id(token_id),
            Imported,
            token_id=token_id,
            secret_sha256=secret_sha256,
            expires_at=expires_at,
            issued_at=issued_at,
            issued_by=issued_by,
            revoked_at=revoked_at,
            revoked_by=revoked_by,
            revocation_reason=reason,
            **_grant(holder),
        )

    def revoke(self, ctx: Context, reason: str) -> bool:
        """Revoke from now on; False (and nothing recorded) if it was revoked already."""
        _issuer_only(ctx, "revokes tokens")
        if self.revoked_at is not None:
            return False
        self._record(Revoked(**self._envelope(ctx), token_id=self.token_id, reason=reason))
        return True

    @applies(Issued, Imported)
    def _granted(self, event: Granted) -> None:
        self.token_id = event.token_id
        self.secret_sha256 = event.secret_sha256
        self.identity = Identity(
            event.holder,
            organisation=event.organisation,
            all_organisations=event.all_organisations,
        )
        self.expires_at = event.expires_at
        if isinstance(event, Imported):
            self.issued_at, self.issued_by = event.issued_at, event.issued_by
            self.revoked_at, self.revoked_by = event.revoked_at, event.revoked_by
        else:
            self.issued_at, self.issued_by = event.timestamp, event.actor.id

    @applies(Revoked)
    def _revoked(self, event: Revoked) -> None:
        self.revoked_at = event.timestamp
        self.revoked_by = event.actor.id


def _grant(holder: Identity) -> dict[str, object]:
    return {
        "holder": holder.actor,
        "organisation": holder.organisation,
        "all_organisations": holder.all_organisations,
    }


def _issuer_only(ctx: Context, what: str) -> None:
    if ctx.actor.role not in ISSUERS:
        raise NotPermitted(f"only an admin {what}")


def _speaks_for_someone(holder: Identity) -> None:
    if holder.actor.role is Role.SYSTEM:
        raise NotPermitted("a token never speaks for the service itself")


# -- the one import of the old token tables ----------------------------------------------------

#: The record that says the old token tables were read, once, into the record.
TABLES_IMPORT_ID = uuid5(_NAMESPACE, "api-token tables import")


class TablesImported(DomainEvent):
    """The service read api_tokens once, and imported these tokens (`ApiToken.Imported`, in the
    same write); from here on nothing is read from those tables, so a row added to them later
    grants nothing."""

    type_name: ClassVar[str] = "ApiToken.TablesImported"

    token_ids: list[str] = Field(default_factory=list, max_length=1_000_000)


class TokenTablesImport(Aggregate, events=TablesImported):
    """There is one, written once, by the service."""

    KIND: ClassVar[str] = "token tables import"

    token_ids: tuple[str, ...] = ()

    @classmethod
    def record(cls, ctx: Context, token_ids: list[str]) -> TokenTablesImport:
        if ctx.actor.role is not Role.SYSTEM:
            raise NotPermitted("only the service imports tokens from the old tables")
        return cls._begin(ctx, TABLES_IMPORT_ID, TablesImported, token_ids=token_ids)

    @applies(TablesImported)
    def _imported(self, event: TablesImported) -> None:
        self.token_ids = tuple(event.token_ids)
