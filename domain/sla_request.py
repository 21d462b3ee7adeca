"""The SLA adapter for service requests: which of a request's events matter to its clock, as marks.

Like the incident adapter (domain/sla_incident.py), each event maps on its own, so a projection
can keep the marks as events arrive and a reader can make them from the history. The rules
(docs/sla.md, "Service requests"):

- the clock starts at submission, with the priority the catalogue item gives its requests;
- the response is the service desk taking the request on: fulfilment started (or, failing that,
  the fulfilment itself). Approvers deciding is not the desk's response: it is a wait;
- resolution is fulfilment;
- the clock pauses while the request waits for its approvers or for its requester
  (PAUSED_STATES), whatever the policy's `pause_on` says (those are the incident's hold reasons),
  and runs again once approved or answered;
- a rejected or cancelled request's clocks stop and are not judged (state cancelled); closing a
  fulfilled request only ends the watch.
"""

from __future__ import annotations

from collections.abc import Iterable

from domain import service_request as r
from domain.events import DomainEvent
from domain.sla_clock import Mark, MarkKind, Ticket, ticket_of

KIND = "service_request"


def marks_of(event: DomainEvent) -> tuple[Mark, ...]:
    at = event.timestamp
    match event:
        case r.Submitted():
            return (Mark(at, MarkKind.LOGGED, event.priority),)
        case r.ApprovalRequested():
            return (Mark(at, MarkKind.PAUSED, r.RequestState.AWAITING_APPROVAL.value),)
        case r.Approved() | r.RequesterResponded():
            return (Mark(at, MarkKind.RESUMED),)
        case r.Rejected():
            return (Mark(at, MarkKind.REJECTED),)
        case r.FulfilmentStarted():
            return (Mark(at, MarkKind.RESPONDED),)
        case r.InformationRequested():
            return (Mark(at, MarkKind.PAUSED, r.RequestState.AWAITING_REQUESTER.value),)
        case r.Fulfilled():
            return (Mark(at, MarkKind.RESPONDED), Mark(at, MarkKind.RESOLVED))
        case r.Closed():
            return (Mark(at, MarkKind.CLOSED),)
        case r.Cancelled():
            return (Mark(at, MarkKind.CANCELLED),)
    return ()


#: The request events that make marks (what a projection of marks folds).
MARKED = (
    r.Submitted,
    r.ApprovalRequested,
    r.Approved,
    r.RequesterResponded,
    r.Rejected,
    r.FulfilmentStarted,
    r.InformationRequested,
    r.Fulfilled,
    r.Closed,
    r.Cancelled,
)


def ticket(events: Iterable[DomainEvent]) -> Ticket:
    """A request's ticket for the clock, from its history (starting with its submission)."""
    return ticket_of(KIND, r.Submitted, marks_of, events)
