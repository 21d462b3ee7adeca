"""What a service report reads: the record's history up to a moment, in one pass over the store.

A report is a function of its period and of the events stored up to a position (the head when it
is made) that happened before the period's end. Reading those again gives the same report: that
is what makes a stored report reproducible (docs/reports.md). Events stored later with earlier
timestamps (an import of another system's history) are after the position, so a report names the
position it read up to.

Incidents are most of the history (a year is hundreds of thousands of events), so their events are
decoded from JSON into plain dicts and only the fields a report needs are read, as the what-if
does (processes/whatif.py); the other kinds are few and are read into small records the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification

from domain import change as c
from domain import configuration_item as ci
from domain import incident as i
from domain import problem as p
from domain import service_request as r
from domain import supplier as s
from domain.organisations import PROVINCE
from domain.rule_versions import RuleVersions
from domain.sla_clock import Mark, MarkKind, Ticket
from domain.sla_incident import MARKED_TYPE_NAMES, marks_of_json
from infra.serialisation import plain

BATCH = 5000
NO_GROUP = "(unassigned)"

#: The states a record can be in at a moment, as the reports count them.
OPEN, RESOLVED, DONE = "open", "resolved", "done"


@dataclass(slots=True)
class Clocked:
    """What every clocked record (an incident, a service request) gives the reports: its marks
    as the SLA clock reads them, and what the reports group it by."""

    id: UUID
    number: int
    organisation: str
    service: str  # the service now (after any recategorisation)
    opened_by: str
    first_service: str  # the service it was logged under: its clock's
    rules: RuleVersions | None
    marks: list[Mark] = field(default_factory=list)
    resolved_by: str | None = None
    rated: tuple[datetime, int] | None = None  # when its caller rated it, and the score

    @property
    def logged_at(self) -> datetime:
        return self.marks[0].at

    def ticket(self, kind: str) -> Ticket:
        return Ticket(kind, self.first_service, self.rules, tuple(self.marks), self.organisation)

    @property
    def priority(self) -> int:
        """The priority last given (at logging or a re-prioritisation)."""
        found = 0
        for mark in self.marks:
            if mark.kind in (MarkKind.LOGGED, MarkKind.REPRIORITISED):
                found = int(mark.value or 0)
        return found

    @property
    def group(self) -> str:
        """The group that resolved it (the last resolution, if reopened); the group it is with
        now if it is not resolved."""
        group = NO_GROUP
        at_resolution = None
        for mark in self.marks:
            if mark.kind is MarkKind.REASSIGNED:
                group = str(mark.value)
            elif mark.kind is MarkKind.RESOLVED:
                at_resolution = group
            elif mark.kind is MarkKind.REOPENED:
                at_resolution = None
        return at_resolution or group

    def state_at(self, moment: datetime) -> str:
        """Open, resolved (waiting to close) or done (closed, cancelled, rejected) at `moment`."""
        state = OPEN
        for mark in self.marks:
            if mark.at >= moment:
                break
            if mark.kind is MarkKind.RESOLVED:
                state = RESOLVED
            elif mark.kind is MarkKind.REOPENED:
                state = OPEN
            elif mark.kind in (MarkKind.CLOSED, MarkKind.CANCELLED, MarkKind.REJECTED):
                state = DONE
        return state

    def count(self, kind: MarkKind) -> int:
        return sum(mark.kind is kind for mark in self.marks)

    def first(self, kind: MarkKind) -> datetime | None:
        return next((mark.at for mark in self.marks if mark.kind is kind), None)

    def last(self, kind: MarkKind) -> datetime | None:
        return next((mark.at for mark in reversed(self.marks) if mark.kind is kind), None)

    def groups(self) -> list[str]:
        """Every group it was assigned to, in order, repeats removed."""
        found: list[str] = []
        for mark in self.marks:
            if mark.kind is MarkKind.REASSIGNED and (not found or found[-1] != mark.value):
                found.append(str(mark.value))
        return found


@dataclass(slots=True)
class Wait:
    """A time an incident waited for a supplier: from its hold until it resumed, was resolved,
    closed or cancelled, or was held again (`end` None while it still waits)."""

    supplier: str
    contract_version: int
    start: datetime
    end: datetime | None = None


@dataclass(slots=True)
class IncidentRead(Clocked):
    major_at: datetime | None = None
    #: Whether it is a major incident now (declared, not stood down), and its review recorded.
    major_now: bool = False
    major_reviewed: bool = False
    waits: list[Wait] = field(default_factory=list)

    def stop_waiting(self, at: datetime) -> None:
        if self.waits and self.waits[-1].end is None:
            self.waits[-1].end = at


@dataclass(slots=True)
class RequestRead(Clocked):
    catalogue_item: str = ""
    fulfilment_group: str = NO_GROUP
    approval_marks: list[tuple[datetime, bool]] = field(default_factory=list)  # (at, waiting)

    @property
    def group(self) -> str:
        return self.fulfilment_group

    def awaiting_approval_at(self, moment: datetime) -> bool:
        waiting = False
        for at, now_waiting in self.approval_marks:
            if at >= moment:
                break
            waiting = now_waiting
        return waiting


@dataclass(slots=True)
class ProblemRead:
    id: UUID
    number: int
    organisation: str
    service: str
    logged_at: datetime
    known_error_at: datetime | None = None
    resolved_at: datetime | None = None
    finished_at: datetime | None = None  # closed or cancelled
    incidents: dict[UUID, datetime] = field(default_factory=dict)  # incident -> when linked


@dataclass(slots=True)
class ChangeRead:
    id: UUID
    number: int
    kind: str
    organisation: str
    services: list[str]
    raised_at: datetime
    started_at: datetime | None = None
    implemented_at: datetime | None = None
    outcome: str | None = None
    finished_at: datetime | None = None
    incidents: set[UUID] = field(default_factory=set)


@dataclass(slots=True)
class ItemRead:
    id: UUID
    code: str
    ci_type: str
    service: str
    registered_at: datetime
    changed: list[datetime] = field(default_factory=list)
    verified: list[datetime] = field(default_factory=list)


@dataclass(slots=True)
class SupplierRead:
    code: str
    name: str
    contracts: dict[int, dict[str, Any]] = field(default_factory=dict)  # by version


@dataclass
class History:
    """Every record a report reads, as it stood just before `end`, from the store up to
    `position`."""

    end: datetime
    position: int
    incidents: dict[UUID, IncidentRead] = field(default_factory=dict)
    requests: dict[UUID, RequestRead] = field(default_factory=dict)
    problems: dict[UUID, ProblemRead] = field(default_factory=dict)
    changes: dict[UUID, ChangeRead] = field(default_factory=dict)
    items: dict[UUID, ItemRead] = field(default_factory=dict)
    suppliers: dict[str, SupplierRead] = field(default_factory=dict)  # by code
    supplier_codes: dict[UUID, str] = field(default_factory=dict)
    events: int = 0
    rules: dict[bytes, RuleVersions] = field(default_factory=dict)


def _rules(h: History, raw: dict[str, Any] | None) -> RuleVersions | None:
    """The rule versions a record recorded: validated once for each distinct set."""
    if raw is None:
        return None
    key = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    found = h.rules.get(key)
    if found is None:
        found = h.rules[key] = RuleVersions.model_validate(raw)
    return found


def _at(data: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(data["timestamp"])


def _actor(data: dict[str, Any]) -> str:
    return str(data["actor"]["id"])


# -- one reader a kind: each event's stored type name -> what it does to the history -----------

Reader = Callable[[History, UUID, datetime, dict[str, Any]], None]


def _incident_opened(h: History, key: UUID, at: datetime, d: dict[str, Any]) -> None:
    h.incidents[key] = IncidentRead(
        key,
        d["number"],
        d.get("organisation", PROVINCE),
        d["service"],
        _actor(d),
        d["service"],
        _rules(h, d.get("sla")),
        list(marks_of_json(i.Logged.type_name, d)),
    )


#: The incident events that end a wait for a supplier (a hold ends one too, and may start one).
_WAIT_ENDS = frozenset(
    t.type_name for t in (i.Resumed, i.Resolved, i.Closed, i.Cancelled, i.PutOnHold)
)


def _incident_marked(type_name: str) -> Reader:
    def read(h: History, key: UUID, at: datetime, d: dict[str, Any]) -> None:
        found = h.incidents.get(key)
        if found is None:
            return
        found.marks.extend(marks_of_json(type_name, d))
        if type_name == i.Resolved.type_name:
            found.resolved_by = _actor(d)
        if type_name in _WAIT_ENDS:
            found.stop_waiting(at)
        if type_name == i.PutOnHold.type_name and d.get("supplier"):
            found.waits.append(Wait(d["supplier"], d["contract_version"], at))

    return read


def _incident_recategorised(h: History, key: UUID, at: datetime, d: dict[str, Any]) -> None:
    if (found := h.incidents.get(key)) is not None:
        found.service = d["service"]


def _major(h: History, key: UUID, at: datetime, d: dict[str, Any]) -> None:
    if (found := h.incidents.get(key)) is not None:
        found.major_now = True
        if found.major_at is None:
            found.major_at = at


def _major_stood_down(h: History, key: UUID, at: datetime, d: dict[str, Any]) -> None:
    if (found := h.incidents.get(key)) is not None:
        found.major_now = False


def _major_reviewed(h: History, key: UUID, at: datetime, d: dict[str, Any]) -> None:
    if (found := h.incidents.get(key)) is not None:
        found.major_reviewed = True


def _request_submitted(h: History, key: UUID, at: datetime, d: dict[str, Any]) -> None:
    h.requests[key] = RequestRead(
        key,
        d["number"],
        d.get("organisation", PROVINCE),
        d["service"],
        _actor(d),
        d["service"],
        _rules(h, d.get("sla")),
        [Mark(at, MarkKind.LOGGED, d["priority"])],
        catalogue_item=d["catalogue_item"],
        fulfilment_group=d.get("fulfilment_group", NO_GROUP),
    )


def _request_mark(kind: MarkKind, value: str | None = None, waiting: bool | None = None) -> Reader:
    """A request event as its clock's mark (domain/sla_request.marks_of says the same of the
    decoded event), and whether it starts or ends a wait for approval."""

    def read(h: History, key: UUID, at: datetime, d: dict[str, Any]) -> None:
        found = h.requests.get(key)
        if found is None:
            return
        if kind is MarkKind.RESOLVED:
            found.marks.append(Mark(at, MarkKind.RESPONDED))
            found.resolved_by = _actor(d)
        found.marks.append(Mark(at, kind, value))
        if waiting is not None:
            found.approval_marks.append((at, waiting))

    return read


def _rated(kind: str) -> Reader:
    """A caller's rating of a closed incident or request (once: domain/satisfaction.py)."""

    def read(h: History, key: UUID, at: datetime, d: dict[str, Any]) -> None:
        found = (h.incidents if kind == "incident" else h.requests).get(key)
        if found is not None:
            found.rated = (at, d["score"])

    return read


def _problem_logged(h: History, key: UUID, at: datetime, d: dict[str, Any]) -> None:
    h.problems[key] = ProblemRead(
        key, d["number"], d.get("organisation", PROVINCE), d.get("service") or "", at
    )


def _problem(step: str) -> Reader:
    def read(h: History, key: UUID, at: datetime, d: dict[str, Any]) -> None:
        found = h.problems.get(key)
        if found is None:
            return
        if step == "known_error" and found.known_error_at is None:
            found.known_error_at = at
        elif step == "resolved":
            found.resolved_at = at
        elif step == "finished":
            found.finished_at = at
        elif step == "incident":
            found.incidents.setdefault(UUID(d["incident_id"]), at)

    return read


def _change_raised(h: History, key: UUID, at: datetime, d: dict[str, Any]) -> None:
    h.changes[key] = ChangeRead(
        key, d["number"], d["kind"], d.get("organisation", PROVINCE), list(d["services"]), at
    )


def _change(step: str) -> Reader:
    def read(h: History, key: UUID, at: datetime, d: dict[str, Any]) -> None:
        found = h.changes.get(key)
        if found is None:
            return
        if step == "started":
            found.started_at = found.started_at or at
        elif step == "implemented":
            found.implemented_at, found.outcome = at, d["outcome"]
        elif step == "finished":
            found.finished_at = at
        elif step == "incident":
            found.incidents.add(UUID(d["incident_id"]))

    return read


def _item_registered(h: History, key: UUID, at: datetime, d: dict[str, Any]) -> None:
    h.items[key] = ItemRead(key, d["code"], d["ci_type"], d.get("service") or "", at)


def _item_changed(h: History, key: UUID, at: datetime, d: dict[str, Any]) -> None:
    if (found := h.items.get(key)) is not None:
        found.changed.append(at)


def _item_verified(h: History, key: UUID, at: datetime, d: dict[str, Any]) -> None:
    if (found := h.items.get(key)) is not None:
        found.verified.append(at)


def _supplier_registered(h: History, key: UUID, at: datetime, d: dict[str, Any]) -> None:
    h.supplier_codes[key] = d["code"]
    h.suppliers[d["code"]] = SupplierRead(
        d["code"], d["name"], {d["originator_version"]: d["contract"]}
    )


def _contract_revised(h: History, key: UUID, at: datetime, d: dict[str, Any]) -> None:
    code = h.supplier_codes.get(key)
    if code is not None:
        h.suppliers[code].contracts[d["originator_version"]] = d["contract"]


_READERS: dict[str, Reader] = {
    i.Logged.type_name: _incident_opened,
    **{name: _incident_marked(name) for name in MARKED_TYPE_NAMES if name != i.Logged.type_name},
    i.Recategorised.type_name: _incident_recategorised,
    i.MajorIncidentDeclared.type_name: _major,
    i.MajorIncidentStoodDown.type_name: _major_stood_down,
    i.MajorIncidentReviewed.type_name: _major_reviewed,
    i.Rated.type_name: _rated("incident"),
    r.Rated.type_name: _rated("request"),
    r.Submitted.type_name: _request_submitted,
    r.ApprovalRequested.type_name: _request_mark(
        MarkKind.PAUSED, r.RequestState.AWAITING_APPROVAL.value, waiting=True
    ),
    r.Approved.type_name: _request_mark(MarkKind.RESUMED, waiting=False),
    r.RequesterResponded.type_name: _request_mark(MarkKind.RESUMED),
    r.Rejected.type_name: _request_mark(MarkKind.REJECTED, waiting=False),
    r.FulfilmentStarted.type_name: _request_mark(MarkKind.RESPONDED),
    r.InformationRequested.type_name: _request_mark(
        MarkKind.PAUSED, r.RequestState.AWAITING_REQUESTER.value
    ),
    r.Fulfilled.type_name: _request_mark(MarkKind.RESOLVED),
    r.Closed.type_name: _request_mark(MarkKind.CLOSED),
    r.Cancelled.type_name: _request_mark(MarkKind.CANCELLED, waiting=False),
    p.Logged.type_name: _problem_logged,
    p.KnownErrorPublished.type_name: _problem("known_error"),
    p.Resolved.type_name: _problem("resolved"),
    p.Closed.type_name: _problem("finished"),
    p.Cancelled.type_name: _problem("finished"),
    p.IncidentLinked.type_name: _problem("incident"),
    c.Raised.type_name: _change_raised,
    c.ImplementationStarted.type_name: _change("started"),
    c.Implemented.type_name: _change("implemented"),
    c.Closed.type_name: _change("finished"),
    c.Cancelled.type_name: _change("finished"),
    c.Rejected.type_name: _change("finished"),
    c.IncidentLinked.type_name: _change("incident"),
    ci.Registered.type_name: _item_registered,
    **{
        event.type_name: _item_changed
        for event in (
            ci.StatusChanged,
            ci.OwnerChanged,
            ci.DependencyAdded,
            ci.DependencyRemoved,
        )
    },
    ci.Verified.type_name: _item_verified,
    s.Registered.type_name: _supplier_registered,
    s.ContractRevised.type_name: _contract_revised,
}

#: Read whenever they happened: a hold names the contract version it waits under, which is that
#: version whatever its timestamp says.
_TIMELESS = frozenset({s.Registered.type_name, s.ContractRevised.type_name})

#: The stored type names a report reads.
TOPICS = tuple(_READERS)


def apply(history: History, type_name: str, key: UUID, data: dict[str, Any]) -> None:
    """One stored event (its type name and its JSON, decoded) read into the history."""
    _READERS[type_name](history, key, _at(data), data)


def batches(recorder: ApplicationRecorder, head: int) -> Iterator[Sequence[Notification]]:
    position = 0
    while position < head:
        batch = recorder.select_notifications(
            start=position, limit=BATCH, stop=head, topics=TOPICS, inclusive_of_start=False
        )
        if not batch:
            return
        yield batch
        position = batch[-1].id


def read_history(
    recorder: ApplicationRecorder,
    mapper: Mapper,  # type: ignore[type-arg]
    end: datetime,
    *,
    position: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> History:
    """Every record the reports read, from the events stored up to `position` (the head when
    left out) that happened before `end`."""
    head = recorder.max_notification_id() or 0 if position is None else position
    history = History(end, head)
    for batch in batches(recorder, head):
        for n in batch:
            data = orjson.loads(plain(mapper, n.state))
            if _at(data) >= end and n.topic not in _TIMELESS:
                continue
            history.events += 1
            key = n.originator_id
            apply(history, n.topic, key if isinstance(key, UUID) else UUID(key), data)
        if progress is not None:
            progress(batch[-1].id, head)
    return history
