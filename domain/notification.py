"""Notifications (ISO/IEC 20000-1 8.6.1: users are kept informed): who was told what, when, and
whether it reached them, as a record the auditors read like any other.

    decided -> attempt started -> sent
                              \\-> attempt failed -> (retry at) attempt started ...
                                                 \\-> dead-lettered -> requeued -> attempt ...
    decided (due later) -> withdrawn (what it told of no longer stands when it falls due)

A notification is decided once per (event, recipient, channel): its id derives from those
(`notification_id`), so a notifier that decides again after a crash, or a second notifier, finds
it decided and writes nothing. What it says (subject, text, HTML, or a webhook's payload) is in
the decision, as rendered then; the Message-ID (e-mail) or webhook-id derives from the id, so a
re-send after a crash carries the same one and receivers can drop the repeat.

An attempt is recorded as started before anything is sent, and its outcome after: an attempt that
started and never ended (the sender died between) is known, so the next one says it is a re-send
(`AttemptStarted.resend`). A send can never be both certain and exactly once; it can be
recognisable, and counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar
from uuid import UUID, uuid5

from pydantic import AwareDatetime, Field

from domain.aggregate import LifecycleAggregate, applies
from domain.commands import ActionCommand, by_action
from domain.context import Context
from domain.directory import person_id
from domain.errors import NothingChanged
from domain.events import DomainEvent
from domain.examples import example
from domain.fields import Reason
from domain.organisations import OrganisationCode
from domain.session import Session

_NAMESPACE = UUID("5b0d7c55-61d4-4f4e-9d0c-6a1f0b2d1e19")


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class DeliveryState(StrEnum):
    PENDING = "pending"  # decided, or requeued: waiting for its first (next) attempt
    SENDING = "sending"  # an attempt started, its outcome not yet recorded
    RETRYING = "retrying"  # an attempt failed; the next is due at `retry_at`
    SENT = "sent"
    DEAD = "dead"  # given up: on the dead-letter list until requeued
    WITHDRAWN = "withdrawn"  # due later, and no longer true when due: never sent


def notification_id(record_id: UUID, version: int, recipient: str, channel: Channel) -> UUID:
    """The one id of the notification of a record's event (by its version) to a recipient on a
    channel: deciding it twice collides in the store."""
    return uuid5(_NAMESPACE, f"{record_id}\n{version}\n{recipient}\n{channel.value}")


Text = Annotated[str, Field(max_length=60_000)]
Answer = Annotated[str, Field(min_length=1, max_length=1_000)]


class NotificationEvent(DomainEvent):
    """A fact in a notification's history."""


class Decided(NotificationEvent):
    type_name: ClassVar[str] = "Notification.Decided"
    #: The rule that decided it (domain/notification_rules.py), e.g. `incident.resolved`.
    topic: str = Field(min_length=1, max_length=60)
    channel: Channel
    #: Whom: a person's actor id, or a webhook endpoint's code.
    recipient: str = Field(min_length=1, max_length=200)
    #: Where: the e-mail address or the webhook's URL, as it was when decided.
    address: str = Field(min_length=1, max_length=2_000)
    language: str = Field(pattern=r"^(id|en)$")
    #: The event it tells of: its record, the record's version, the event's stored type.
    record_id: UUID
    record_version: int = Field(ge=1)
    record_ref: str | None = Field(default=None, max_length=40)
    event_type: str = Field(min_length=1, max_length=100)
    organisation: str = OrganisationCode
    #: What it says: e-mail's subject, text and HTML; a webhook's JSON payload (as text).
    subject: str = Field(min_length=1, max_length=500)
    text: Text
    html: Text | None = None
    #: The Message-ID (e-mail, with its angle brackets) or webhook-id: the same on every send.
    message_id: str = Field(min_length=1, max_length=300)
    #: Whether the recipient could not have muted it (what the standard needs them told).
    mandatory: bool
    #: Not before this moment (a reminder before a change window opens); None: at once.
    not_before: AwareDatetime | None = None

    #: An e-mail's address and what it said are the recipient's: sealed under their key, and
    #: erased with it (docs/privacy.md). A webhook's URL and payload are the office's.
    personal: ClassVar[tuple[str, ...]] = ("address", "text", "html")

    @classmethod
    def data_subject(cls, fields: Mapping[str, Any]) -> UUID | None:
        if fields.get("channel") != Channel.EMAIL:
            return None
        return person_id(str(fields["recipient"]))


class AttemptStarted(NotificationEvent):
    type_name: ClassVar[str] = "Notification.AttemptStarted"
    attempt: int = Field(ge=1, le=1_000)
    #: An attempt before this one started and recorded no outcome: it may have been delivered,
    #: so this one may be a repeat (with the same Message-ID / webhook-id).
    resend: bool = False


class Sent(NotificationEvent):
    type_name: ClassVar[str] = "Notification.Sent"
    attempt: int = Field(ge=1, le=1_000)
    #: The receiving server's answer: the SMTP reply to DATA (its queue id), or the webhook
    #: receiver's status and the start of its body.
    answer: Answer


class AttemptFailed(NotificationEvent):
    type_name: ClassVar[str] = "Notification.AttemptFailed"
    attempt: int = Field(ge=1, le=1_000)
    reason: Answer
    #: The receiver refused for good (a 5xx SMTP reply, a 410): no retry.
    permanent: bool
    #: When the next attempt is due; None: no more attempts (dead-lettered with this event).
    retry_at: AwareDatetime | None = None


class DeadLettered(NotificationEvent):
    type_name: ClassVar[str] = "Notification.DeadLettered"
    reason: Answer


class Requeued(NotificationEvent):
    """Taken off the dead-letter list to be tried again (an admin's replay)."""

    type_name: ClassVar[str] = "Notification.Requeued"
    reason: str = Reason


class Withdrawn(NotificationEvent):
    """A notification due later (a reminder before a change's window) that no longer stands when
    it falls due (the window was moved, the change cancelled): not sent, and why."""

    type_name: ClassVar[str] = "Notification.Withdrawn"
    reason: Answer


def transition(state: DeliveryState | None, event: NotificationEvent) -> DeliveryState:
    match event:
        case Decided() | Requeued():
            return DeliveryState.PENDING
        case AttemptStarted():
            return DeliveryState.SENDING
        case Sent():
            return DeliveryState.SENT
        case AttemptFailed(retry_at=None):
            return state or DeliveryState.SENDING  # its DeadLettered follows
        case AttemptFailed():
            return DeliveryState.RETRYING
        case DeadLettered():
            return DeliveryState.DEAD
        case Withdrawn():
            return DeliveryState.WITHDRAWN
    assert state is not None, "a notification's history starts with Notification.Decided"
    return state


class Notification(
    LifecycleAggregate[DeliveryState],
    events=NotificationEvent,
    transition=transition,
    noun="notification",
):
    KIND: ClassVar[str] = "notification"

    state: DeliveryState
    attempts: int
    channel: Channel

    @classmethod
    def decide(cls, ctx: Context, *, id: UUID, **fields: object) -> Notification:
        return cls._begin(ctx, id, Decided, **fields)

    def start_attempt(self, ctx: Context) -> int:
        """The number of the attempt now starting (recorded before anything is sent)."""
        self._require(
            "start_attempt", DeliveryState.PENDING, DeliveryState.RETRYING, DeliveryState.SENDING
        )
        attempt = self.attempts + 1
        resend = self.state is DeliveryState.SENDING
        self._record(AttemptStarted(**self._envelope(ctx), attempt=attempt, resend=resend))
        return attempt

    def record_sent(self, ctx: Context, *, attempt: int, answer: str) -> None:
        self._require("record_sent", DeliveryState.SENDING)
        self._record(Sent(**self._envelope(ctx), attempt=attempt, answer=answer))

    def record_failure(
        self,
        ctx: Context,
        *,
        attempt: int,
        reason: str,
        permanent: bool,
        retry_at: datetime | None,
    ) -> None:
        """A failed attempt; with no retry (permanent, or the last one allowed) it is also
        dead-lettered, with the same reason."""
        self._require("record_failure", DeliveryState.SENDING)
        if permanent:
            retry_at = None
        self._record(
            AttemptFailed(
                **self._envelope(ctx),
                attempt=attempt,
                reason=reason,
                permanent=permanent,
                retry_at=retry_at,
            )
        )
        if retry_at is None:
            self._record(DeadLettered(**self._envelope(ctx), reason=reason))

    def withdraw(self, ctx: Context, *, reason: str) -> None:
        """Not to be sent after all: only before an attempt at it has started (one that has may
        have reached its receiver)."""
        self._require("withdraw", DeliveryState.PENDING, DeliveryState.RETRYING)
        self._record(Withdrawn(**self._envelope(ctx), reason=reason))

    def requeue(self, ctx: Context, *, reason: str) -> None:
        if self.state is not DeliveryState.DEAD:
            raise NothingChanged(f"the notification is {self.state}, not on the dead-letter list")
        self._record(Requeued(**self._envelope(ctx), reason=reason))

    @applies(Decided)
    def _decided(self, e: Decided) -> None:
        self.attempts = 0
        self.channel = e.channel
        self.organisation = e.organisation

    @applies(AttemptStarted)
    def _attempt_started(self, e: AttemptStarted) -> None:
        self.attempts = e.attempt

    @applies(Sent, AttemptFailed, DeadLettered, Requeued, Withdrawn)
    def _outcome(self, e: NotificationEvent) -> None:
        pass  # the lifecycle state is all the decisions need


# -- commands ---------------------------------------------------------------------------------


class NotificationCommand(ActionCommand):
    """An action on one notification: the dispatcher's, and an admin's requeue."""

    def decide(self, session: Session, ctx: Context, record_id: UUID) -> UUID:
        self.call_action(session.get(Notification, record_id), ctx)
        return record_id


class StartAttempt(NotificationCommand):
    model_config = example({})

    action = "start-attempt"
    summary = "Record that an attempt to deliver starts (before anything is sent)"


class RecordSent(NotificationCommand):
    model_config = example({"attempt": 1, "answer": "250 2.0.0 Ok: queued as 4XYZ"})

    action = "record-sent"
    summary = "Record that the receiving server accepted the notification"
    attempt: int = Field(ge=1, le=1_000)
    answer: Answer


class RecordFailure(NotificationCommand):
    model_config = example(
        {"attempt": 1, "reason": "451 4.3.0 try again later", "permanent": False}
    )

    action = "record-failure"
    summary = "Record a failed attempt, and when the next is due (none: dead-lettered)"
    attempt: int = Field(ge=1, le=1_000)
    reason: Answer
    permanent: bool
    retry_at: AwareDatetime | None = None


class RequeueNotification(NotificationCommand):
    model_config = example({"reason": "The relay is fixed; send again"})

    action = "requeue"
    summary = "Take a notification off the dead-letter list to be tried again"
    reason: str = Reason


class WithdrawNotification(NotificationCommand):
    model_config = example({"reason": "the change's window was moved"})

    action = "withdraw"
    summary = "Withdraw a notification due later that no longer stands (before any attempt)"
    reason: Answer


NOTIFICATION_COMMANDS = by_action(
    StartAttempt, RecordSent, RecordFailure, RequeueNotification, WithdrawNotification
)
