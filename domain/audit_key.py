"""The record of the keys that sign the audit ledger's checkpoints (docs/audit.md, "The signing
key").

A rotation is a fact in the record like any other: `AuditKey.Rotated` carries the new public key
(PEM) and its key id, who rotated and when. The first rotation first introduces the key in use
until then (`AuditKey.Introduced`), so the record names every key that ever signed. The ledger
follower signs a checkpoint at the rotation's own position with the key in use until then, and
from there on signs with the new one: an auditor holding only the first public key trusts each
next key because a checkpoint under a key already trusted covers its introduction.

The domain holds the keys as text: making, parsing and checking them is the audit layer's.
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import Field

from domain.actors import Role
from domain.aggregate import Aggregate, applies
from domain.context import Context
from domain.errors import InvalidRule, NotPermitted
from domain.events import DomainEvent
from domain.record_numbers import named_id

AUDIT_KEY_ID = named_id("audit-key", "the audit signing key")

#: A public key as PEM text (an Ed25519 key's is 113 characters).
PublicKeyPem = Field(min_length=1, max_length=2000, pattern=r"^-----BEGIN PUBLIC KEY-----\n")
#: A key id: the first 16 hex digits of the SHA-256 of the raw public key (audit/keys.py).
KeyId = Field(pattern=r"^[0-9a-f]{16}$")


class AuditKeyEvent(DomainEvent):
    """A key that signs checkpoints from here on."""

    public_key: str = PublicKeyPem
    key_id: str = KeyId


class Introduced(AuditKeyEvent):
    """The key that signed the checkpoints so far, recorded at the first rotation."""

    type_name: ClassVar[str] = "AuditKey.Introduced"


class Rotated(AuditKeyEvent):
    """The checkpoints after this event's own are signed with this key, not `previous_key_id`."""

    type_name: ClassVar[str] = "AuditKey.Rotated"

    previous_key_id: str = KeyId


class AuditKey(Aggregate, events=AuditKeyEvent):
    """There is one; its history is the succession of signing keys."""

    KIND: ClassVar[str] = "audit key"
    ID: ClassVar[UUID] = AUDIT_KEY_ID

    key_id: str
    used: frozenset[str] = frozenset()

    @classmethod
    def introduce(cls, ctx: Context, public_key: str, key_id: str) -> AuditKey:
        _admin_only(ctx)
        return cls._begin(ctx, AUDIT_KEY_ID, Introduced, public_key=public_key, key_id=key_id)

    def rotate(self, ctx: Context, public_key: str, key_id: str) -> None:
        _admin_only(ctx)
        if key_id in self.used:
            raise InvalidRule(f"key {key_id} has signed before: a rotation needs a new key")
        self._record(
            Rotated(
                **self._envelope(ctx),
                public_key=public_key,
                key_id=key_id,
                previous_key_id=self.key_id,
            )
        )

    @applies(Introduced, Rotated)
    def _in_use(self, event: AuditKeyEvent) -> None:
        self.key_id = event.key_id
        self.used = self.used | {event.key_id}


def _admin_only(ctx: Context) -> None:
    if ctx.actor.role is not Role.ADMIN:
        raise NotPermitted("only an admin rotates the audit signing key")
