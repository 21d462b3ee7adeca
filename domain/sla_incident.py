"""The SLA adapter for incidents: which of an incident's events matter to its clock, as marks.

Each event maps on its own (no state), so a projection can keep the marks as events arrive and a
reader can make them from the history; both give the same ticket. The response is the first sign
that someone is on it: work started, a public comment by staff, a hold (someone spoke to the
caller or a supplier), or the resolution itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from domain import incident as e
from domain.actors import Role
from domain.events import DomainEvent
from domain.sla_clock import Mark, MarkKind, Ticket, ticket_of

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
    return ticket_of(KIND, e.Logged, marks_of, events)


# -- the same reading from an event's stored JSON ---------------------------------------------
# A what-if reads a year of history at once: decoding each event's JSON into a plain dict and
# reading the few fields the clock needs costs a fifth of validating it into its class. The
# mapping must say exactly what `marks_of` says (tests/unit/test_whatif_comparison.py checks
# every event type against it).

#: stored type name -> how its JSON makes marks
_FROM_JSON: dict[str, Callable[[datetime, dict[str, Any]], tuple[Mark, ...]]] = {
    e.Logged.type_name: lambda at, d: (Mark(at, MarkKind.LOGGED, d["priority"]),),
    e.WorkStarted.type_name: lambda at, d: (Mark(at, MarkKind.RESPONDED),),
    e.CommentAdded.type_name: lambda at, d: (
        (Mark(at, MarkKind.RESPONDED),) if d["actor"]["role"] != Role.REQUESTER.value else ()
    ),
    e.PutOnHold.type_name: lambda at, d: (
        Mark(at, MarkKind.RESPONDED),
        Mark(at, MarkKind.HELD, d["reason"]),
    ),
    e.Resumed.type_name: lambda at, d: (Mark(at, MarkKind.RESUMED),),
    e.Reprioritised.type_name: lambda at, d: (Mark(at, MarkKind.REPRIORITISED, d["priority"]),),
    e.Resolved.type_name: lambda at, d: (
        Mark(at, MarkKind.RESPONDED),
        Mark(at, MarkKind.RESOLVED),
    ),
    e.Reopened.type_name: lambda at, d: (Mark(at, MarkKind.REOPENED),),
    e.Closed.type_name: lambda at, d: (Mark(at, MarkKind.CLOSED),),
    e.Cancelled.type_name: lambda at, d: (Mark(at, MarkKind.CANCELLED),),
    e.Assigned.type_name: lambda at, d: (Mark(at, MarkKind.REASSIGNED, d["group"]),),
    e.Escalated.type_name: lambda at, d: (
        (Mark(at, MarkKind.REASSIGNED, d["to_group"]),) if d.get("to_group") is not None else ()
    ),
}

#: the stored type names of the events that make marks
MARKED_TYPE_NAMES = tuple(_FROM_JSON)


def marks_of_json(type_name: str, data: dict[str, Any]) -> tuple[Mark, ...]:
    """`marks_of` for an event as stored: its type name and its JSON decoded into a dict."""
    read = _FROM_JSON.get(type_name)
    if read is None:
        return ()
    return read(datetime.fromisoformat(data["timestamp"]), data)
