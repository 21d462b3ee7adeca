"""Who is told what: the one table of notification rules (docs/notifications.md reads it out).

Each rule names a topic (what people mute by, and what webhooks subscribe to), the event it
follows, the audiences told, and which of them must be told whatever they mute: what ISO/IEC
20000-1 needs the service to show it said (the resolution and its confirmation window to the
caller, a breach to the group's manager). A rule may also say when it applies (a comment by the
caller tells the group; one by staff tells the caller) and how long before a moment it is due
(a change's window).

The audiences are names here; the notifier finds the people behind them (application/notifier.py)
in the record and the directory: the incident's caller, its group and assignee, the group's
manager, the people a change's assessment named to vote, and so on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from domain import change as c
from domain import document as d
from domain import incident as i
from domain import problem as p
from domain import service_request as r
from domain.events import DomainEvent


class Audience(StrEnum):
    CALLER = (
        "caller"  # an incident's caller, a request's or a change's requester, a document's owner
    )
    GROUP = "group"  # the members of the record's group (the on-call alone, out of hours)
    ASSIGNEE = "assignee"  # the agent the record is assigned to
    MANAGER = "manager"  # the manager of the record's group
    ESCALATION = "escalation"  # where an escalation went: a group's members, or a manager
    BROADCAST = "broadcast"  # the major-incident broadcast list
    CAB = "cab"  # the approvers an assessment named
    APPROVERS = "approvers"  # the people of a request's approver role, in its organisation
    SCHEDULER = "scheduler"  # who scheduled a change's window
    LINKED_GROUPS = "linked_groups"  # the groups of the incidents a problem links
    AFFECTED = "affected"  # the callers of the duplicates merged into an incident


#: (event, the record as the notifier knows it) -> whether the rule applies to this event.
Condition = Callable[[Any, Mapping[str, Any]], bool]


def _by_caller(event: DomainEvent, record: Mapping[str, Any]) -> bool:
    return event.actor.id == record.get("caller")


def _not_by_caller(event: DomainEvent, record: Mapping[str, Any]) -> bool:
    return not _by_caller(event, record)


def _awaiting_caller(event: i.PutOnHold, record: Mapping[str, Any]) -> bool:
    return event.reason is i.HoldReason.AWAITING_CALLER


def _duplicates_merged(event: DomainEvent, record: Mapping[str, Any]) -> bool:
    return bool(record.get("affected_callers"))


def _window_start(event: c.Scheduled) -> datetime:
    return event.start


def _window_stands(history: Sequence[DomainEvent], version: int) -> str | None:
    """Why a reminder of the window the change's event `version` scheduled no longer stands:
    the window was moved (scheduled again), or the change left its schedule (cancelled, its
    implementation started). None: it stands."""
    state: c.ChangeState | None = None
    for event in history:
        if not isinstance(event, c.ChangeEvent):
            continue
        if isinstance(event, c.Scheduled) and event.originator_version > version:
            return "the change's window was moved"
        state = c.transition(state, event)
    if state is not c.ChangeState.SCHEDULED:
        return f"the change is {state} now, not waiting for its window"
    return None


@dataclass(frozen=True, slots=True)
class Rule:
    topic: str
    event: type[DomainEvent]
    audiences: tuple[Audience, ...]
    #: The audiences told whatever they mute.
    mandatory: frozenset[Audience] = frozenset()
    when: Condition | None = None
    #: Due this long before the moment the event names (`moment`), not at once.
    ahead: timedelta | None = None
    moment: Callable[[Any], datetime] | None = None
    #: For a notification due later (`ahead`): why, by the record's history when it is due, it
    #: no longer stands and is withdrawn rather than sent (None: it stands).
    stands: Callable[[Sequence[DomainEvent], int], str | None] | None = None
    #: The message's words: templates named after the topic (application/templates/).
    summary: str = field(default="", compare=False)

    def applies(self, event: DomainEvent, record: Mapping[str, Any]) -> bool:
        return self.when is None or self.when(event, record)

    def due(self, event: DomainEvent) -> datetime | None:
        """When the notification may go out: None, at once."""
        if self.ahead is None or self.moment is None:
            return None
        return self.moment(event) - self.ahead


A = Audience
#: Every rule. A topic is one rule; an event may have several (a comment tells the caller or the
#: group, depending on who wrote it).
RULES: tuple[Rule, ...] = (
    # -- incidents: the caller
    Rule("incident.logged", i.Logged, (A.CALLER,), summary="logged, with its number"),
    Rule("incident.commented", i.CommentAdded, (A.CALLER,), when=_not_by_caller),
    Rule("incident.awaiting_caller", i.PutOnHold, (A.CALLER,), when=_awaiting_caller),
    Rule(
        "incident.resolved",
        i.Resolved,
        (A.CALLER,),
        mandatory=frozenset({A.CALLER}),
        summary="resolved: how to confirm or reopen, and until when",
    ),
    Rule(
        "incident.duplicate_resolved",
        i.Resolved,
        (A.AFFECTED,),
        when=_duplicates_merged,
        summary="the incident a duplicate of theirs was merged into is resolved",
    ),
    Rule("incident.closed", i.Closed, (A.CALLER,)),
    Rule("incident.cancelled", i.Cancelled, (A.CALLER,)),
    # -- incidents: the group and the assignee
    Rule("incident.assigned", i.Assigned, (A.GROUP, A.ASSIGNEE)),
    Rule("incident.escalated", i.Escalated, (A.ESCALATION,)),
    Rule("incident.reopened", i.Reopened, (A.GROUP, A.ASSIGNEE)),
    Rule("incident.caller_commented", i.CommentAdded, (A.GROUP, A.ASSIGNEE), when=_by_caller),
    # -- SLA: the group and its manager
    Rule("incident.sla_warning", i.SlaWarned, (A.GROUP, A.MANAGER)),
    Rule(
        "incident.sla_breach", i.SlaBreached, (A.GROUP, A.MANAGER), mandatory=frozenset({A.MANAGER})
    ),
    Rule("request.sla_warning", r.SlaWarned, (A.GROUP, A.MANAGER)),
    Rule(
        "request.sla_breach", r.SlaBreached, (A.GROUP, A.MANAGER), mandatory=frozenset({A.MANAGER})
    ),
    # -- major incidents: the broadcast list
    Rule(
        "incident.major_declared",
        i.MajorIncidentDeclared,
        (A.BROADCAST,),
        mandatory=frozenset({A.BROADCAST}),
    ),
    Rule("incident.major_stood_down", i.MajorIncidentStoodDown, (A.BROADCAST,)),
    # the criteria in force propose it: the list, the group and its manager decide to declare
    Rule(
        "incident.major_proposed",
        i.MajorIncidentProposed,
        (A.BROADCAST, A.GROUP, A.MANAGER),
        mandatory=frozenset({A.BROADCAST}),
        summary="it meets the major-incident criteria: declare it, or not",
    ),
    # -- changes
    Rule("change.vote_needed", c.Assessed, (A.CAB,)),
    Rule("change.authorised", c.Authorised, (A.CALLER,)),
    Rule("change.rejected", c.Rejected, (A.CALLER,)),
    Rule(
        "change.window_opening",
        c.Scheduled,
        (A.CALLER, A.SCHEDULER),
        ahead=timedelta(hours=1),
        moment=_window_start,
        stands=_window_stands,
        summary="the window opens within the hour",
    ),
    # -- service requests
    Rule("request.approval_needed", r.ApprovalRequested, (A.APPROVERS,)),
    Rule("request.fulfilled", r.Fulfilled, (A.CALLER,)),
    # -- problems
    Rule("problem.workaround_published", p.WorkaroundPublished, (A.LINKED_GROUPS,)),
    # -- controlled documents: the owner, when the service notices a review falling due
    Rule(
        "document.review_due",
        d.ReviewDueNoticed,
        (A.CALLER,),
        summary="a document they own is due for review, and by when",
    ),
)

BY_TOPIC: dict[str, Rule] = {rule.topic: rule for rule in RULES}
_BY_EVENT: dict[type[DomainEvent], tuple[Rule, ...]] = {}
for _rule in RULES:
    _BY_EVENT[_rule.event] = (*_BY_EVENT.get(_rule.event, ()), _rule)

#: The topics a person may mute: those with an audience that need not be told.
MUTABLE_TOPICS = frozenset(
    rule.topic for rule in RULES if set(rule.audiences) - set(rule.mandatory)
)


def rules_for(event: DomainEvent) -> tuple[Rule, ...]:
    """The rules that follow this event's type (none for most)."""
    return _BY_EVENT.get(type(event), ())


def check_mutes(topics: list[str]) -> list[str]:
    """Topics a person may mute, or ValueError naming the first that is not one."""
    for topic in topics:
        if topic not in BY_TOPIC:
            raise ValueError(f"no notification topic {topic!r}")
        if topic not in MUTABLE_TOPICS:
            raise ValueError(f"{topic} cannot be muted: the standard needs it told")
    return topics
