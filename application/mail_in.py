"""E-mail in, applied: what one received message does to the record, decided and written through
the one command pipeline, exactly once (docs/mail-in.md, "How a message is applied").

- A mail loop (`ParsedMail.loop`) is recorded as ignored, with why; nothing else.
- A reply naming a record (`record_ref`: our Message-ID in its headers, else the subject) from a
  sender who reaches that record acts as that sender:
  - an incident: a public comment with the reply; a resolved one is reopened instead when its
    caller asks (`wants_reopen`) within the reopen window; a closed or cancelled one gets a new
    incident whose description names the old number (a closed record stays closed);
  - a service request awaiting its requester: the requester's answer;
  - anything else (a problem, a change, a request not waiting for an answer): a dead letter.
- A new mail logs an incident (channel email) with the sender as its caller.
- Whatever cannot be applied (unreadable, too large, no sender address, an unknown record or one
  out of the sender's reach, a refused command) is a dead letter: its bytes kept by their hash
  (infra/kept_mail.py) before the event that names the hash, and the reason.

Who a sender is: the directory's active person with that address (projections/directory.py),
acting as a requester, or in their staff role where they have one of the roles that work records
(MAIL_STAFF_ROLES), within their organisation. An address the directory does not know (or knows
twice) is an unknown sender: the actor `mail:<address>` as a requester of the provincial office.
The roles that see every organisation (admins, auditors, service managers) are never granted by
mail: a From header is easily forged, so mail gets only the narrowest reach.

Exactly once: each message has a record of its own (domain/inbound_mail.py), named after its
Message-ID, written in the same atomic write as the change it made. A message received again
(a crash before the reader's position moved, a second reader, another UID) finds its record, and
nothing more is applied: a new place in the mailbox is recorded as a redelivery.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from pydantic import ValidationError

from application.attachments import received
from application.kinds import INBOUND_MAIL
from application.mail_parsing import MAX_SUBJECT, TRUNCATED, ParsedMail, UnreadableMail, parse
from application.pipeline import Submission
from application.session import Session
from domain.actors import Actor, Identity, Role
from domain.attachments import AttachFile, attachable
from domain.commands import AddComment, LogIncident, Reopen
from domain.context import Context
from domain.errors import DomainError
from domain.inbound_mail import (
    Action,
    Applied,
    DeadLettered,
    Ignored,
    InboundMail,
    MailAlreadyReceived,
    Received,
    inbound_mail_id,
)
from domain.incident import Channel, Incident, IncidentState
from domain.organisations import PROVINCE
from domain.priority import Impact, Urgency
from domain.record_numbers import RecordKind
from domain.records import INCIDENT_PREFIX, incident_number_label
from domain.request_commands import RecordResponse
from domain.service_request import ServiceRequest
from infra.blobs import BlobStore
from infra.kept_mail import KeptMail
from projections.directory import person_by_email
from projections.view_store import ViewStore

if TYPE_CHECKING:  # the desk builds on the pipeline: only its type is named here
    from application.desk import ServiceDesk

log = logging.getLogger(__name__)

#: Who records what became of a message (the reader, acting for the service).
MAIL_ACTOR = Actor(id="mail-in", role=Role.SYSTEM)
#: The staff roles a known sender acts in by mail, the first they hold (else as a requester).
MAIL_STAFF_ROLES = (Role.AGENT, Role.RESOLVER, Role.CHANGE_MANAGER, Role.CAB_MEMBER)
#: The actor id of a sender the directory does not know.
UNKNOWN_SENDER = "mail:"
#: The service an incident logged by mail is recorded against, until the desk triages it.
MAIL_SERVICE = "helpdesk"
#: A mail states no impact or urgency: the middle of the matrix (P3), until the desk triages it.
MAIL_IMPACT, MAIL_URGENCY = Impact.MEDIUM, Urgency.MEDIUM
#: The longest reason a reopening records (domain/fields.py Reason); a longer reply is also
#: added whole as a comment.
MAX_REASON = 2_000
#: The first line of an incident logged by a reply to a closed one, in the sender's language.
FOLLOW_UP = {
    "id": "Balasan atas {ref}, yang sudah ditutup:",
    "en": "A reply to {ref}, which is closed:",
}


@dataclass(frozen=True, slots=True)
class Result:
    """What became of one message."""

    mail_id: UUID
    #: applied, ignored, dead, or duplicate (received before: nothing more was applied)
    outcome: str
    action: Action | None = None
    record_ref: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Sender:
    """Whom a message acts as."""

    actor: Actor
    identity: Identity
    language: str
    known: bool


class _Refused(Exception):
    """The message cannot be applied, for this reason (a dead letter)."""


#: A change a message makes, decided on the session as the sender: (action, record id, ref).
Change = Callable[[Session, Context], tuple[Action, UUID, str]]


class MailIn:
    def __init__(
        self,
        desk: ServiceDesk,
        views: ViewStore,
        kept: KeptMail,
        *,
        our_domain: str,
        our_addresses: set[str],
        clock: Callable[[], datetime],
        blobs: BlobStore | None = None,
        max_attachment_bytes: int = 10 << 20,
    ) -> None:
        """`blobs`: where the files a message carries are stored (none: they are not taken)."""
        self.desk = desk
        self.blobs = blobs
        self.max_attachment_bytes = max_attachment_bytes
        self.views = views
        self.kept = kept
        self.our_domain = our_domain
        self.our_addresses = {a.lower() for a in our_addresses}
        self.clock = clock

    # -- entry points -----------------------------------------------------------------------------

    def receive(
        self,
        raw: bytes,
        *,
        uidvalidity: int | None = None,
        uid: int | None = None,
        too_large: bool = False,
    ) -> Result:
        """Read and apply one message as fetched from the mailbox."""
        return self._receive(raw, Place(uidvalidity, uid), too_large=too_large)

    def apply(
        self,
        parsed: ParsedMail,
        raw: bytes,
        *,
        uidvalidity: int | None = None,
        uid: int | None = None,
    ) -> Result:
        """Apply one message already read (`raw`: its bytes, kept if it becomes a dead letter)."""
        return self._apply(parsed, raw, Place(uidvalidity, uid))

    def replay(self, ctx: Context, mail_id: UUID) -> Result:
        """Read a dead letter's kept bytes again and apply them (an admin's replay): the record
        says Replayed, then the new outcome, in one write. Raises NotFound for no such message,
        MailNotReplayable for one that is no dead letter or kept only in part, KeptMailMissing
        without its bytes."""
        mail = self.desk.read(InboundMail, mail_id)
        mail.require_replayable()
        assert mail.sha256 is not None
        raw = self.kept.read(mail.sha256)
        return self._receive(raw, Place(None, None, replay=ctx))

    # -- deciding ---------------------------------------------------------------------------------

    def _receive(self, raw: bytes, place: Place, *, too_large: bool = False) -> Result:
        try:
            parsed = parse(raw, our_domain=self.our_domain, our_addresses=self.our_addresses)
        except UnreadableMail as unreadable:
            received = Received(message_id=missing_id(raw), **place.where())
            return self._dead(received, raw, place, unreadable.reason)
        if too_large:
            reason = "the message is larger than the reader fetches: its header alone is kept"
            return self._dead(self._received(parsed, place), raw, place, reason, partial=True)
        return self._apply(parsed, raw, place)

    def _apply(self, parsed: ParsedMail, raw: bytes, place: Place) -> Result:
        received = self._received(parsed, place)
        if parsed.loop is not None:
            return self._settle(received, place, Ignored, reason=f"a mail loop: {parsed.loop}")
        try:
            sender = self._sender(parsed)
            change = self._change(parsed, sender)
            return self._settle(received, place, Applied, sender=sender, change=change)
        except MailAlreadyReceived as again:
            return Result(inbound_mail_id(received.message_id), "duplicate", reason=str(again))
        except (_Refused, DomainError) as refused:
            return self._dead(received, raw, place, str(refused))
        except ValidationError as invalid:  # the words do not fit a command (too long, empty)
            return self._dead(received, raw, place, _first_error(invalid))

    def _received(self, parsed: ParsedMail, place: Place) -> Received:
        return Received(
            message_id=parsed.message_id,
            sender=parsed.sender,
            subject=parsed.subject,
            **place.where(),
        )

    def _dead(
        self, received: Received, raw: bytes, place: Place, reason: str, *, partial: bool = False
    ) -> Result:
        """Keep the bytes (durably, first), then record the dead letter."""
        sha256 = self.kept.keep(raw)
        try:
            return self._settle(
                received,
                place,
                DeadLettered,
                reason=_bounded(reason),
                sha256=sha256,
                size=len(raw),
                partial=partial,
            )
        except MailAlreadyReceived as again:
            return Result(inbound_mail_id(received.message_id), "duplicate", reason=str(again))

    def _sender(self, parsed: ParsedMail) -> Sender:
        address = parsed.sender
        if address is None:
            raise _Refused("the message names no sender address")
        person = person_by_email(self.views, address)
        if person is None:
            actor_id = UNKNOWN_SENDER + address
            if len(actor_id) > 200:
                raise _Refused("the sender's address is too long to record")
            actor = Actor(id=actor_id, role=Role.REQUESTER)
            return Sender(actor, Identity(actor, PROVINCE), "id", known=False)
        roles = set(person["roles"])
        role = next((r for r in MAIL_STAFF_ROLES if r in roles), Role.REQUESTER)
        actor = Actor(id=person["actor_id"], role=role)
        return Sender(actor, Identity(actor, person["organisation"]), person["language"], True)

    def _change(self, parsed: ParsedMail, sender: Sender) -> Change:
        """What the message does, as its sender, once the session holds the records; and its
        files put on that record."""
        change = self._words(parsed, sender)
        files = self._stored_files(parsed)
        if not files:
            return change

        def with_files(session: Session, ctx: Context) -> tuple[Action, UUID, str]:
            action, record_id, ref = change(session, ctx)
            record = attachable(session, record_id)
            for file in files:
                record.attach_file(ctx, **file.__dict__)
            return action, record_id, ref

        return with_files

    def _stored_files(self, parsed: ParsedMail) -> list[AttachFile]:
        """The message's files that pass the checks, stored (before any event names them); a
        file that does not pass is left out, and the message's words are applied all the same."""
        if self.blobs is None:
            return []
        files = []
        for file in parsed.files:
            try:
                files.append(
                    received(self.blobs, file.name, file.data, limit=self.max_attachment_bytes)
                )
            except DomainError as refused:
                log.info("mail %s: file %r left out: %s", parsed.message_id, file.name, refused)
        return files

    def _words(self, parsed: ParsedMail, sender: Sender) -> Change:
        """What the message's words do, as its sender, once the session holds the records."""
        ref = parsed.record_ref
        text = parsed.trimmed.strip() or parsed.subject
        if ref is None:
            return lambda session, ctx: _log(session, ctx, _title(parsed), text)
        prefix = ref.partition("-")[0]
        if prefix == INCIDENT_PREFIX:
            return lambda session, ctx: _reply_to_incident(session, ctx, ref, parsed, text, sender)
        if prefix == RecordKind.SERVICE_REQUEST.value:
            return lambda session, ctx: _answer_request(session, ctx, ref, text)
        raise _Refused(f"mail to {ref} is not applied: only incidents and service requests take it")

    def _settle(
        self,
        received: Received,
        place: Place,
        outcome: type[Applied | Ignored | DeadLettered],
        *,
        sender: Sender | None = None,
        change: Change | None = None,
        **fields: object,
    ) -> Result:
        """One write: the change (if any) and the message's record, or the record seen again."""
        mail_id = inbound_mail_id(received.message_id)
        now = self.clock()
        correlation = uuid4()
        ours = Context(MAIL_ACTOR, now, correlation)
        acting = (
            ours if sender is None else Context(sender.actor, now, correlation, sender.identity)
        )
        done: dict[str, object] = {}

        def decide(session: Session) -> UUID:
            done.clear()  # decided again after a lost race: only this decision counts
            mail = session.get_or_new(InboundMail, mail_id)
            if place.replay is not None:
                mail.replay(place.replay)
            elif mail.version:
                mail.seen_at(ours, uidvalidity=received.uidvalidity, uid=received.uid)
                done["again"] = True
                return mail_id
            if change is not None:
                assert sender is not None
                action, record_id, ref = change(session, acting)
                done.update(action=action, ref=ref)
                fields.update(
                    action=action, record_id=record_id, record_ref=ref, acted_as=sender.actor.id
                )
            mail.settle(ours, outcome, received, **fields)
            return mail_id

        self.desk.execute(
            Submission(acting, received, INBOUND_MAIL, operation="receive_mail", decision=decide)
        )
        if done.get("again"):
            return Result(mail_id, "duplicate", reason="received before: recorded as redelivered")
        result = Result(
            mail_id,
            _OUTCOMES[outcome],
            action=done.get("action"),  # type: ignore[arg-type]
            record_ref=done.get("ref"),  # type: ignore[arg-type]
            reason=fields.get("reason"),  # type: ignore[arg-type]
        )
        log.info(
            "mail %s from %s: %s %s",
            received.message_id,
            received.sender,
            result.outcome,
            result.record_ref or result.reason or "",
        )
        return result


_OUTCOMES = {Applied: "applied", Ignored: "ignored", DeadLettered: "dead"}


@dataclass(frozen=True, slots=True)
class Place:
    """Where a message lay in the mailbox, or the replay it is read again for."""

    uidvalidity: int | None
    uid: int | None
    #: A replay: the admin's context (the kept bytes are the same, so is their Message-ID).
    replay: Context | None = None

    def where(self) -> dict[str, int | None]:
        return {"uidvalidity": self.uidvalidity, "uid": self.uid}


def missing_id(raw: bytes) -> str:
    """The Message-ID of bytes that cannot be read (the parser's for a message without one)."""
    return f"<{hashlib.sha256(raw).hexdigest()}@missing-message-id.invalid>"


# -- the changes a message makes, as its sender --------------------------------------------------


def _log(session: Session, ctx: Context, title: str, description: str) -> tuple[Action, UUID, str]:
    command = LogIncident(
        title=title,
        description=description,
        service=MAIL_SERVICE,
        caller=ctx.actor.id,
        channel=Channel.EMAIL,
        impact=MAIL_IMPACT,
        urgency=MAIL_URGENCY,
    )
    incident_id = command.decide(session, ctx)
    number = session.find(Incident, incident_id)
    assert number is not None
    return Action.LOGGED, incident_id, incident_number_label(number.number)


def _reply_to_incident(
    session: Session, ctx: Context, ref: str, parsed: ParsedMail, text: str, sender: Sender
) -> tuple[Action, UUID, str]:
    incident_id = session.find_incident(ref)
    incident = session.get(Incident, incident_id, ref)  # out of reach: as if missing
    if incident.state in (IncidentState.CLOSED, IncidentState.CANCELLED):
        lead = FOLLOW_UP.get(sender.language, FOLLOW_UP["id"]).format(ref=ref)
        room = 10_000 - len(lead) - 2
        body = text if len(text) <= room else text[: room - len(TRUNCATED)] + TRUNCATED
        return _log(session, ctx, _title(parsed), f"{lead}\n\n{body}")
    rules = session.rules
    reopen_until = incident.reopen_until
    if (
        incident.state is IncidentState.RESOLVED
        and parsed.wants_reopen
        and incident.caller == ctx.actor.id
        and reopen_until is not None
        and ctx.at <= reopen_until
    ):
        Reopen(reason=_cut(text, MAX_REASON)).execute(incident, ctx, rules)
        if len(text) > MAX_REASON:  # the whole reply, where the reason holds only its start
            AddComment(text=text).execute(incident, ctx, rules)
        return Action.REOPENED, incident_id, ref
    AddComment(text=text).execute(incident, ctx, rules)
    return Action.COMMENTED, incident_id, ref


def _answer_request(
    session: Session, ctx: Context, ref: str, text: str
) -> tuple[Action, UUID, str]:
    request_id = session.find_numbered(RecordKind.SERVICE_REQUEST, ref)
    request = session.get(ServiceRequest, request_id, ref)
    RecordResponse(answer=text).execute(request, ctx)
    return Action.RESPONDED, request_id, ref


def _title(parsed: ParsedMail) -> str:
    if parsed.subject.strip():
        return parsed.subject
    first = next((line for line in parsed.trimmed.splitlines() if line.strip()), "")
    return _cut(first.strip(), MAX_SUBJECT) or "(e-mail)"


def _cut(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - len(TRUNCATED)] + TRUNCATED


def _bounded(reason: str) -> str:
    return _cut(" ".join(reason.split()), MAX_REASON) or "not applied"


def _first_error(invalid: ValidationError) -> str:
    errors = invalid.errors()
    if not errors:
        return "the message does not fit a command"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"the message does not fit a command: {where}: {first.get('msg', '')}"
