"""Recording a rotation of the audit signing key (domain/audit_key.py) through the desk.

The keys themselves are made and held by the audit layer (audit/signers.py); this records which
key signs from now on, as the admin's decision, in one write. Two admins rotating at once cannot
both succeed: both writes take the record's next version and the store refuses the second.
"""

from __future__ import annotations

from eventsourcing.application import AggregateNotFoundError

from application.desk import ServiceDesk
from audit.chain import Checkpoint
from audit.keys import public_pem
from audit.service import Audit
from audit.signers import Signer
from domain.audit_key import AUDIT_KEY_ID, AuditKey
from domain.context import Context
from domain.errors import InvalidRule


def audit_key(desk: ServiceDesk) -> AuditKey | None:
    """The record of signing keys, or None before the first rotation."""
    try:
        record = desk.repository.get(AUDIT_KEY_ID, projector_func=AuditKey.project)
    except AggregateNotFoundError:
        return None
    assert isinstance(record, AuditKey)
    return record


def record_rotation(
    desk: ServiceDesk, ctx: Context, current: tuple[str, str], new: tuple[str, str]
) -> AuditKey:
    """Record that `new` (public key PEM, key id) signs from now on instead of `current`, which
    the first rotation introduces into the record."""
    record = audit_key(desk)
    if record is None:
        record = AuditKey.introduce(ctx, *current)
    record.rotate(ctx, *new)
    desk.save(record)
    return record


def rotate_key(desk: ServiceDesk, audit: Audit, ctx: Context) -> tuple[Signer, Checkpoint | None]:
    """Make a new key in the service's keyring, record the rotation, and let the ledger chain
    it: the checkpoint at the rotation (returned) is signed with the key in use until then, and
    the ledger signs with the new one from there on."""
    audit.ledger.checkpoint_now()  # settles which key signs now
    current = audit.key
    record = audit_key(desk)
    if record is not None and record.key_id != current.key_id:
        raise InvalidRule(
            f"the record names key {record.key_id} but the ledger signs with {current.key_id}:"
            " this process's keyring lacks the record's key"
        )
    new = audit.keyring.create()
    record_rotation(
        desk,
        ctx,
        (public_pem(current.public_key()).decode(), current.key_id),
        (public_pem(new.public_key()).decode(), new.key_id),
    )
    covering = audit.ledger.checkpoint_now()
    assert audit.key.key_id == new.key_id, "the ledger did not switch to the new key"
    return new, covering
