"""Legal holds (ISO/IEC 20000-1 7.5.3: retention and disposition controlled): a record that a
matter (a dispute, an inquiry, an audit finding under appeal) may need is held, and nothing of it
is destroyed while any hold stands.

Records are never deleted; what could be destroyed is a document version's file at its
disposition (`Document.VersionDisposed`, destroyed) and an attachment's bytes removed for privacy.
Both are refused with 409 `under-legal-hold` while the record is held, naming the matters.

A hold is placed on one record (by its number: INC-000123, REQ-, PRB-, CHG-, DOC-, ...) for a
matter, with the reason, by a service manager or an admin; it is released for that matter with
the reason. One record may be held for several matters at once; it is free once every matter is
released. Each record's holds are one aggregate, keyed by the record's id, so the destructive
commands read them in the same session that decides.
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import Field

from domain.actors import Role
from domain.aggregate import Aggregate, applies
from domain.command_base import Command
from domain.context import Context
from domain.errors import NothingChanged, NotPermitted, RecordNotFound, UnderLegalHold
from domain.events import DomainEvent
from domain.examples import example
from domain.fields import Reason
from domain.record_numbers import RecordKind, named_id
from domain.session import Session

#: Who places and releases holds.
KEEPERS = frozenset({Role.SERVICE_MANAGER, Role.ADMIN})
#: A held record, by its number.
HELD_PATTERN = r"^(INC|REQ|PRB|CHG|KB|IMP|AUD|NC|DOC)-\d{6}$"
HeldRef = Field(pattern=HELD_PATTERN, max_length=10, examples=["DOC-000003"])
Matter = Field(min_length=1, max_length=200, examples=["Sengketa kontrak kios 2026"])


def hold_id(record_id: UUID) -> UUID:
    return named_id("legal-hold", str(record_id))


class HoldEvent(DomainEvent):
    record_id: UUID
    record_ref: str = HeldRef
    matter: str = Matter
    reason: str = Reason


class HoldPlaced(HoldEvent):
    type_name: ClassVar[str] = "LegalHold.Placed"


class HoldReleased(HoldEvent):
    type_name: ClassVar[str] = "LegalHold.Released"


class LegalHold(Aggregate, events=HoldEvent):
    """One record's holds: the matters it is held for."""

    KIND: ClassVar[str] = "legal hold"

    record_ref: str
    matters: frozenset[str]

    @classmethod
    def first(
        cls, ctx: Context, record_id: UUID, record_ref: str, matter: str, reason: str
    ) -> LegalHold:
        return cls._begin(
            ctx,
            hold_id(record_id),
            HoldPlaced,
            record_id=record_id,
            record_ref=record_ref,
            matter=matter,
            reason=reason,
        )

    def place(self, ctx: Context, record_id: UUID, matter: str, reason: str) -> None:
        if matter in self.matters:
            raise NothingChanged(f"{self.record_ref} is already held for {matter!r}")
        self._record(HoldPlaced(**self._held(ctx, record_id, matter, reason)))

    def release(self, ctx: Context, record_id: UUID, matter: str, reason: str) -> None:
        if matter not in self.matters:
            raise NothingChanged(f"{self.record_ref} is not held for {matter!r}")
        self._record(HoldReleased(**self._held(ctx, record_id, matter, reason)))

    def _held(self, ctx: Context, record_id: UUID, matter: str, reason: str) -> dict[str, object]:
        return {
            **self._envelope(ctx),
            "record_id": record_id,
            "record_ref": self.record_ref,
            "matter": matter,
            "reason": reason,
        }

    @applies(HoldPlaced)
    def _placed(self, e: HoldPlaced) -> None:
        self.record_ref = e.record_ref
        self.matters = getattr(self, "matters", frozenset()) | {e.matter}

    @applies(HoldReleased)
    def _released(self, e: HoldReleased) -> None:
        self.matters = self.matters - {e.matter}


def check_not_held(session: Session, record_id: UUID, what: str) -> None:
    """Refuse `what` (a destruction) while the record is held for any matter."""
    hold = session.find(LegalHold, hold_id(record_id))
    if hold is not None and hold.matters:
        matters = ", ".join(sorted(hold.matters))
        raise UnderLegalHold(f"{hold.record_ref} is under legal hold ({matters}): {what} waits")


def check_person_not_held(session: Session, actor_id: str, what: str) -> None:
    """Refuse `what` (erasing a person's data) while a record of theirs (one they called in, asked
    for or own) is held for any matter: what they said there may be the evidence."""
    for record_id in session.under_legal_hold():
        found = session.find_any(record_id)
        if found is not None and found.owned_by == actor_id:
            check_not_held(session, record_id, what)


def _held_record(session: Session, ref: str) -> UUID:
    """The id of the record `ref` numbers, once it exists and the caller reaches it."""
    prefix = ref.split("-", maxsplit=1)[0]
    if prefix == "INC":
        record_id = session.find_incident(ref)
    else:
        record_id = session.find_numbered(RecordKind(prefix), ref)
    found = session.find_any(record_id)
    if found is None:
        raise RecordNotFound(f"no record {ref}", record_id)
    session.get(type(found), record_id, ref)  # out of the caller's reach: as if missing
    return record_id


class LegalHoldCommand(Command):
    record: str = HeldRef
    matter: str = Matter
    reason: str = Reason

    def _checked(self, session: Session, ctx: Context) -> UUID:
        if ctx.actor.role not in KEEPERS:
            raise NotPermitted("legal holds are placed and released by a service manager")
        return _held_record(session, self.record)


class PlaceLegalHold(LegalHoldCommand):
    model_config = example(
        {
            "record": "DOC-000003",
            "matter": "Sengketa kontrak pemeliharaan kios 2026",
            "reason": "Diminta Biro Hukum Pemprov Banten",
        }
    )

    def decide(self, session: Session, ctx: Context) -> UUID:
        record_id = self._checked(session, ctx)
        hold = session.find(LegalHold, hold_id(record_id))
        if hold is None:
            hold = LegalHold.first(ctx, record_id, self.record, self.matter, self.reason)
            session.add(hold)
        else:
            hold.place(ctx, record_id, self.matter, self.reason)
        return hold.id


class ReleaseLegalHold(LegalHoldCommand):
    model_config = example(
        {
            "record": "DOC-000003",
            "matter": "Sengketa kontrak pemeliharaan kios 2026",
            "reason": "Perkara selesai",
        }
    )

    def decide(self, session: Session, ctx: Context) -> UUID:
        record_id = self._checked(session, ctx)
        hold = session.find(LegalHold, hold_id(record_id))
        if hold is None:
            raise NothingChanged(f"{self.record} is not held")
        hold.release(ctx, record_id, self.matter, self.reason)
        return hold.id
