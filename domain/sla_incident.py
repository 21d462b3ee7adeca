"""The SLA adapter for incidents: which of an incident's events matter to its clock, as marks.

Each event maps on its own (no state), so a projection can keep the marks as events arrive and a
reader can make them from the history; both give the same ticket. The response is the first sign
that someone is on it: work started, a public comment by staff, a hold (someone spoke to the
caller or a supplier), or the resolution itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from domain import incident as e
from domain.actors import Role
from domain.events import DomainEvent
from domain.sla_clock import Mark, MarkKind, Ticket

KIND = "incident"


def marks_of(event: DomainEvent) -> tuple[Mark, ...]:
    at = event.timestamp
    match event:
        case e.Logged():
            return (Mark(at, MarkKind.LOGGED, event.priority),)
        case e.WorkStarted():
            return (Mark(at, MarkKind.RESPONDED),)
        case e.CommentAdded() if event.actor.role is not Role.REQUESTER:
            return (Mark(at, MarkKind.RESPONDED),)
        case e.PutOnHold():
            return (Mark(at, MarkKind.RESPONDED), Mark(at, MarkKind.HELD, event.reason.value))
        case e.Resumed():
            return (Mark(at, MarkKind.RESUMED),)
        case e.Reprioritised():
            return (Mark(at, MarkKind.REPRIORITISED, event.priority),)
        case e.Resolved():
            return (Mark(at, MarkKind.RESPONDED), Mark(at, MarkKind.RESOLVED))
        case e.Reopened():
            return (Mark(at, MarkKind.REOPENED),)
        case e.Closed():
            return (Mark(at, MarkKind.CLOSED),)
        case e.Cancelled():
            return (Mark(at, MarkKind.CANCELLED),)
        case e.Assigned():
            return (Mark(at, MarkKind.REASSIGNED, event.group),)
        case e.Escalated() if event.to_group is not None:
            return (Mark(at, MarkKind.REASSIGNED, event.to_group),)
    return ()


#: The incident events that make marks (what a projection of marks folds).
MARKED = (
    e.Logged,
    e.WorkStarted,
    e.CommentAdded,
    e.PutOnHold,
    e.Resumed,
    e.Reprioritised,
    e.Resolved,
    e.Reopened,
    e.Closed,
    e.Cancelled,
    e.Assigned,
    e.Escalated,
)


def ticket(events: Iterable[DomainEvent]) -> Ticket:
    """An incident's ticket for the clock, from its history (starting with Incident.Logged)."""
    history = list(events)
    logged = history[0]
    assert isinstance(logged, e.Logged), "an incident's history starts with Incident.Logged"
    marks = tuple(m for event in history for m in marks_of(event))
    return Ticket(KIND, logged.service, logged.sla, marks)
