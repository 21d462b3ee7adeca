"""Inbound mail: what became of each message the helpdesk mailbox received, as a record of its
own (issue 19: each message applied once, nothing received lost).

    (new) -> applied | ignored | dead-lettered
    dead-lettered -> replayed -> applied | ignored | dead-lettered      (an admin's replay)
    any -> redelivered (the same message again, at another UID): state unchanged

A message's record id derives from its Message-ID (`inbound_mail_id`), and it is written in the
same atomic write as the change the message made (the incident it logged, the comment it added),
so a reader that crashed between the two, or a second reader, or the same message delivered
again at another UID, finds the record and writes nothing twice. Its first event is the outcome
itself; there is no "received" step that a crash could leave dangling.

The record holds the words people wrote only in the outcome's subject; its events are the
staff's (domain/visibility.py), and it is no organisation's: admins and auditors read the list.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID, uuid5

from pydantic import BaseModel, Field

from domain.aggregate import LifecycleAggregate, applies
from domain.context import Context
from domain.errors import NothingChanged
from domain.events import DomainEvent
from domain.fields import Reason

_NAMESPACE = UUID("0f6b3f0e-7d51-4c1e-a5a8-2a8f6d1c9b47")

#: A UIDVALIDITY or a UID: a non-zero 32-bit unsigned number (RFC 3501, 2.3.1.1).
Uid = Annotated[int, Field(ge=1, le=2**32 - 1)]
MessageId = Annotated[str, Field(min_length=3, max_length=300)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


def inbound_mail_id(message_id: str) -> UUID:
    """The one record of a message, by its Message-ID: a second delivery collides with it."""
    return uuid5(_NAMESPACE, message_id)


class MailState(StrEnum):
    APPLIED = "applied"
    IGNORED = "ignored"
    DEAD = "dead"  # on the dead-letter list, its bytes kept, until replayed
    REPLAYING = "replaying"  # only within the write that replays it


class Action(StrEnum):
    """What an applied message did to the record it named (or made)."""

    LOGGED = "logged"  # a new incident
    COMMENTED = "commented"  # a public comment on an incident
    REOPENED = "reopened"  # a resolved incident reopened (the reply asked, within the window)
    RESPONDED = "responded"  # a service request's requester answered the question asked


class MailAlreadyReceived(NothingChanged):
    """This message is recorded already, at this place in the mailbox (or replayed already)."""

    code = "mail-already-received"


class MailNotReplayable(NothingChanged):
    """Only a dead letter whose bytes were kept whole is replayed."""

    code = "mail-not-replayable"


class Received(BaseModel):
    """What every outcome says of the message: which one, where it lay, who sent it."""

    message_id: MessageId
    #: Where the mailbox held it (None: replayed from the kept bytes).
    uidvalidity: Uid | None = None
    uid: Uid | None = None
    #: The From address (None: the message had no usable one).
    sender: str | None = Field(default=None, max_length=254)
    subject: str = Field(default="", max_length=200)


class InboundMailEvent(DomainEvent):
    """A fact in an inbound message's history."""


class Applied(Received, InboundMailEvent):
    type_name: ClassVar[str] = "InboundMail.Applied"
    action: Action
    record_id: UUID
    record_ref: str = Field(min_length=1, max_length=40)
    #: The actor the message acted as: a person of the directory, or `mail:<address>`.
    acted_as: str = Field(min_length=1, max_length=200)


class Ignored(Received, InboundMailEvent):
    """Not applied, on purpose: a mail loop (an auto-reply, a bounce, our own mail back)."""

    type_name: ClassVar[str] = "InboundMail.Ignored"
    reason: str = Reason


class DeadLettered(Received, InboundMailEvent):
    """Not applied: it could not be (why in `reason`). Its bytes are kept by their hash."""

    type_name: ClassVar[str] = "InboundMail.DeadLettered"
    reason: str = Reason
    sha256: Sha256
    size: int = Field(ge=0, le=2**40)
    #: The bytes kept are the header alone (the message was too large to fetch whole; the
    #: mailbox keeps it): it cannot be replayed.
    partial: bool = False


class Replayed(InboundMailEvent):
    """An admin had a dead letter's kept bytes read and applied again; the outcome follows in
    the same write."""

    type_name: ClassVar[str] = "InboundMail.Replayed"
    sha256: Sha256


class Redelivered(InboundMailEvent):
    """The same message (by Message-ID) again, at another place in the mailbox: a resend, a
    copy, or the mailbox renumbered (a new UIDVALIDITY). Nothing more is applied."""

    type_name: ClassVar[str] = "InboundMail.Redelivered"
    uidvalidity: Uid
    uid: Uid


_OUTCOMES: dict[type[InboundMailEvent], MailState] = {
    Applied: MailState.APPLIED,
    Ignored: MailState.IGNORED,
    DeadLettered: MailState.DEAD,
    Replayed: MailState.REPLAYING,
}


def transition(state: MailState | None, event: InboundMailEvent) -> MailState:
    settled = _OUTCOMES.get(type(event))
    if settled is not None:
        return settled
    assert state is not None, "an inbound message's history starts with its outcome"
    return state  # Redelivered


Outcome = Applied | Ignored | DeadLettered


class InboundMail(
    LifecycleAggregate[MailState],
    events=InboundMailEvent,
    transition=transition,
    noun="inbound mail",
):
    KIND: ClassVar[str] = "inbound_mail"

    state: MailState
    message_id: str
    #: Every (UIDVALIDITY, UID) it was read at.
    locations: frozenset[tuple[int, int]]
    #: The hash of its kept bytes, once dead-lettered, and whether they are its header alone.
    sha256: str | None
    partial: bool

    def settle(
        self, ctx: Context, outcome: type[Outcome], received: Received, **fields: object
    ) -> None:
        """Record what became of the message: on a new record (its first event), or within a
        replay. A record settled already is a message received already."""
        if self.version and self.state is not MailState.REPLAYING:
            raise MailAlreadyReceived(f"{received.message_id} is {self.state} already")
        self._record(outcome(**self._envelope(ctx), **dict(received), **fields))

    def seen_at(self, ctx: Context, *, uidvalidity: int | None, uid: int | None) -> None:
        """The message is read again: recorded as redelivered if at a place not seen before;
        MailAlreadyReceived either way (nothing is applied twice)."""
        if uidvalidity is not None and uid is not None and (uidvalidity, uid) not in self.locations:
            self._record(Redelivered(**self._envelope(ctx), uidvalidity=uidvalidity, uid=uid))
            return
        raise MailAlreadyReceived(f"{self.message_id} is {self.state} already")

    def require_replayable(self) -> None:
        if self.state is not MailState.DEAD or self.sha256 is None:
            raise MailNotReplayable(f"{self.message_id} is {self.state}, not a dead letter")
        if self.partial:
            raise MailNotReplayable(
                f"only the header of {self.message_id} was kept (too large); the mailbox holds it"
            )

    def replay(self, ctx: Context) -> str:
        """Take a dead letter off the list to apply its kept bytes again; the hash of those."""
        self.require_replayable()
        assert self.sha256 is not None
        self._record(Replayed(**self._envelope(ctx), sha256=self.sha256))
        return self.sha256

    @applies(Applied, Ignored, DeadLettered)
    def _settled(self, e: Applied | Ignored | DeadLettered) -> None:
        if e.originator_version == 1:
            self.message_id = e.message_id
            self.locations = frozenset()
            self.sha256 = None
            self.partial = False
        if e.uidvalidity is not None and e.uid is not None:
            self.locations = self.locations | {(e.uidvalidity, e.uid)}
        if isinstance(e, DeadLettered):
            self.sha256, self.partial = e.sha256, e.partial

    @applies(Redelivered)
    def _redelivered(self, e: Redelivered) -> None:
        self.locations = self.locations | {(e.uidvalidity, e.uid)}

    @applies(Replayed)
    def _replayed(self, e: Replayed) -> None:
        pass  # the lifecycle state is all a decision needs
