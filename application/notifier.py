"""Deciding notifications: for an event of the record, who is told what, on which channel.

The rules (domain/notification_rules.py) name audiences; this finds the people behind them in the
record as the notifier knows it (projections/notification_subjects.py, as of the event) and in the
directory (as it is now: a person's address and language today), leaves out who is deactivated,
has no address, muted the topic (unless the standard needs them told) or did the thing
themselves, and renders each message in the recipient's language (application/messages.py).

A caller is told only what a caller reads of the event (domain/visibility.py): a rule that names
a caller for an event they may not read tells them nothing, and a field they may not read (a work
note, the reasons behind an escalation) reads as empty in their message. Work notes never reach a
caller by this road, whatever a template says. (A change's or a problem's "caller" is its
requester, who is staff, and reads its events as staff: `Notifier._reader`.)

Each rule's topic also goes to every webhook endpoint subscribed to it, active or paused (its
webhooks then wait) (projections/webhook_endpoints.py): one notification per endpoint, whose
payload is JSON in the Standard Webhooks form (`type`, `timestamp`, `data`). An endpoint may be a
gateway to the public (a WhatsApp gateway), so a payload tells the event as a caller reads it: a
staff-only event (an assignment, a work note) is named with its record and nothing of its fields.

Each decision is one `Notification` record whose id derives from (record, version, recipient,
channel), so deciding the same event again writes nothing new.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from application.messages import Messages, Rendered
from domain import visibility
from domain.actors import Role
from domain.context import Context
from domain.directory import MAJOR_INCIDENT_LIST, on_call
from domain.events import DomainEvent
from domain.notification import Channel, Notification, notification_id
from domain.notification_rules import Audience, Rule, rules_for
from domain.organisations import PROVINCE
from domain.visibility import for_caller, for_reader, reads_internal
from projections import directory
from projections.base import Row
from projections.view_store import ViewStore
from projections.webhook_endpoints import subscribed

#: The audiences that are the record's own callers: told only what a caller reads.
_CALLERS = frozenset({Audience.CALLER, Audience.AFFECTED})


@dataclass(frozen=True, slots=True)
class Recipient:
    person: Row
    #: Whether an audience that must be told selected them.
    mandatory: bool
    #: Whether they are told as the record's caller (and read it as a caller does).
    as_caller: bool


@dataclass(frozen=True, slots=True)
class Decision:
    """What the notifier needs to decide: the event, where it is, the record as of it."""

    event: DomainEvent
    record: Mapping[str, Any]


class Notifier:
    """Decides the notifications of events, given the record as of each (`Decision`)."""

    def __init__(
        self,
        views: ViewStore,
        messages: Messages,
        *,
        subjects: Callable[[str], Row | None],
        in_hours: Callable[[str, datetime], bool] = lambda _calendar, _at: True,
        endpoints: Callable[[str, str | None], list[Row]] | None = None,
    ) -> None:
        self.views = views
        self.messages = messages
        #: Another record as the notifier knows it (a problem's linked incidents), by id.
        self.subjects = subjects
        self.in_hours = in_hours
        #: The active webhook endpoints of a topic and an organisation.
        self.endpoints = endpoints or (lambda topic, org: subscribed(views, topic, org))

    def decide(self, ctx: Context, decision: Decision) -> list[Notification]:
        event, record = decision.event, decision.record
        if record.get("imported"):
            return []  # history from another system: nobody is told of it again
        decided: dict[UUID, Notification] = {}
        for rule in rules_for(event):
            if not rule.applies(event, record):
                continue
            for recipient in self._recipients(rule, event, record):
                note = self._email(ctx, rule, event, record, recipient)
                if note is not None:
                    decided.setdefault(note.id, note)
            for endpoint in self.endpoints(rule.topic, record.get("organisation")):
                note = self._webhook(ctx, rule, event, record, endpoint)
                decided.setdefault(note.id, note)
        return list(decided.values())

    # -- who ------------------------------------------------------------------------------------

    def _recipients(
        self, rule: Rule, event: DomainEvent, record: Mapping[str, Any]
    ) -> list[Recipient]:
        chosen: dict[str, Recipient] = {}
        for audience in rule.audiences:
            mandatory = audience in rule.mandatory
            for actor_id in self._audience(audience, event, record):
                person = directory.person(self.views, actor_id)
                if person is None or not person["active"] or not person["email"]:
                    continue
                if actor_id == event.actor.id and not (
                    audience is Audience.CALLER and rule.topic == "incident.logged"
                ):
                    continue  # nobody is told of what they did themselves (but a receipt)
                if rule.topic in person["muted"] and not mandatory:
                    continue
                before = chosen.get(actor_id)
                chosen[actor_id] = Recipient(
                    person,
                    mandatory=mandatory or (before is not None and before.mandatory),
                    as_caller=audience in _CALLERS and (before is None or before.as_caller),
                )
        return list(chosen.values())

    def _audience(
        self, audience: Audience, event: DomainEvent, record: Mapping[str, Any]
    ) -> Iterable[str]:
        match audience:
            case Audience.CALLER:
                return _one(record.get("caller"))
            case Audience.ASSIGNEE:
                return _one(getattr(event, "agent", None) or record.get("assignee"))
            case Audience.GROUP:
                return self._group(getattr(event, "group", None) or record.get("group"), event)
            case Audience.MANAGER:
                group = directory.group(self.views, record.get("group") or "")
                return _one(group["manager"] if group else None)
            case Audience.ESCALATION:
                if getattr(event, "to_manager", None):
                    return _one(event.to_manager)  # type: ignore[attr-defined]
                return self._group(getattr(event, "to_group", None), event)
            case Audience.BROADCAST:
                listed = directory.broadcast_list(self.views, MAJOR_INCIDENT_LIST)
                return listed["members"] if listed else []
            case Audience.CAB:
                return list(getattr(event, "cab", []))
            case Audience.APPROVERS:
                return self._approvers(record)
            case Audience.SCHEDULER:
                return _one(event.actor.id)
            case Audience.AFFECTED:
                return list(record.get("affected_callers", []))
            case Audience.LINKED_GROUPS:
                members: list[str] = []
                for incident in record.get("incidents", []):
                    linked = self.subjects(incident)
                    if linked is not None:
                        members.extend(self._group(linked.get("group"), event))
                return members
        raise AssertionError(f"no people for the audience {audience}")

    def _group(self, code: str | None, event: DomainEvent) -> list[str]:
        """A group's members; out of its hours, the one on call if its rota names one."""
        group = directory.group(self.views, code) if code else None
        if group is None or group["disbanded"]:
            return []
        hours = group["hours"]
        if hours and not self.in_hours(hours, event.timestamp):
            someone = on_call(group["on_call"], event.timestamp)
            if someone is not None:
                return [someone]
        return list(group["members"])

    def _approvers(self, record: Mapping[str, Any]) -> list[str]:
        if record.get("approvers"):
            return list(record["approvers"])
        role = record.get("approver_role")
        if not role:
            return []
        rows = self.views.select(
            directory.directory_people,
            '"organisation" = ? AND "active" = 1',
            (record["organisation"],),
        )
        return [row["actor_id"] for row in rows if role in row["roles"]]

    # -- what -----------------------------------------------------------------------------------

    def _email(
        self,
        ctx: Context,
        rule: Rule,
        event: DomainEvent,
        record: Mapping[str, Any],
        recipient: Recipient,
    ) -> Notification | None:
        person = recipient.person
        seen = for_reader(self._reader(recipient, event), [event])
        if not seen:
            return None  # the event is not theirs to read
        note_id = notification_id(
            event.originator_id, event.originator_version, person["actor_id"], Channel.EMAIL
        )
        rendered: Rendered = self.messages.render(
            rule.topic,
            person["language"],
            event=seen[0],
            record=record,
            recipient=person,
        )
        return Notification.decide(
            ctx,
            id=note_id,
            topic=rule.topic,
            channel=Channel.EMAIL,
            recipient=person["actor_id"],
            address=person["email"],
            language=person["language"],
            record_id=event.originator_id,
            record_version=event.originator_version,
            record_ref=record.get("ref"),
            event_type=event.type_name,
            organisation=record.get("organisation") or person["organisation"],
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id=self.messages.message_id(note_id, record.get("ref")),
            mandatory=recipient.mandatory,
            not_before=rule.due(event),
        )

    @staticmethod
    def _reader(recipient: Recipient, event: DomainEvent) -> Role:
        """Whom a recipient reads the event as. The record's caller reads as a caller, where
        callers read the event at all (an incident, a request); a change's or a problem's
        "caller" is its requester, who is staff: they read as staff if the directory says they
        are (a requester who is not is told nothing)."""
        if not recipient.as_caller:
            return Role.AGENT
        if visibility.audience(type(event)).caller:
            return Role.REQUESTER
        staff = any(reads_internal(Role(role)) for role in recipient.person["roles"])
        return Role.AGENT if staff else Role.REQUESTER

    def _webhook(
        self,
        ctx: Context,
        rule: Rule,
        event: DomainEvent,
        record: Mapping[str, Any],
        endpoint: Row,
    ) -> Notification:
        note_id = notification_id(
            event.originator_id, event.originator_version, endpoint["code"], Channel.WEBHOOK
        )
        seen = for_caller([event])
        payload = {
            "type": rule.topic,
            "timestamp": event.timestamp.isoformat(),
            "data": {
                "record": {
                    "id": str(event.originator_id),
                    "kind": record.get("kind"),
                    "ref": record.get("ref"),
                    "title": record.get("title"),
                    "organisation": record.get("organisation"),
                    "url": self.messages.resource(record),
                },
                "event": {
                    "type": event.type_name,
                    "version": event.originator_version,
                    "data": seen[0].data() if seen else None,
                },
            },
        }
        ref = record.get("ref")
        return Notification.decide(
            ctx,
            id=note_id,
            topic=rule.topic,
            channel=Channel.WEBHOOK,
            recipient=endpoint["code"],
            address=endpoint["url"],
            language="id",
            record_id=event.originator_id,
            record_version=event.originator_version,
            record_ref=ref,
            event_type=event.type_name,
            organisation=record.get("organisation") or endpoint["organisation"] or PROVINCE,
            subject=f"[{ref}] {rule.topic}" if ref else rule.topic,
            text=orjson.dumps(payload).decode(),
            message_id=f"msg_{note_id.hex}",
            mandatory=False,
            not_before=rule.due(event),
        )


def _one(actor_id: str | None) -> list[str]:
    return [actor_id] if actor_id else []
