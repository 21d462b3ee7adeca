"""sla_clocks: what each ticket's SLA clock is made of, one row per ticket (incident or service
request, told apart by `kind`).

The fold keeps only the ticket's own facts: the rule versions it recorded, its SLA marks (the
adapters' reading of its events, domain/sla_incident.py and domain/sla_request.py) and the alerts
recorded on it. It reads
no policy or calendar, so it is a pure fold of the ticket's events and gives the same row in
embedded and Kafka mode, whatever order the partitions arrive in. The clocks themselves are judged
when read, by the immutable policy and calendar versions the row names (docs/sla.md says why).

`watched` is 1 until the ticket is closed or cancelled (or, for a request, rejected): while a
clock may still pass a threshold, or stopped with thresholds the SLA watcher may not have
recorded yet.
"""

from __future__ import annotations

from datetime import datetime

from domain import incident as e
from domain import service_request as r
from domain import sla_incident, sla_request
from domain.context import Context
from domain.events import DomainEvent
from domain.incident import BREACH
from domain.record_numbers import RecordKind, number_label
from domain.records import incident_number_label
from domain.rule_versions import RuleVersions
from domain.sla_clock import Mark, MarkKind, Ticket
from projections.base import Column, Projection, Row, iso
from projections.queries import STAFF, select_where
from projections.view_store import ViewStore


def _marked(row: Row, event: DomainEvent, marks: tuple[Mark, ...]) -> Row:
    row["marks"].extend([iso(m.at), m.kind.value, m.value] for m in marks)
    row["version"] = event.originator_version
    return row


def _incident_marks(row: Row, event: DomainEvent) -> Row:
    return _marked(row, event, sla_incident.marks_of(event))


def _request_marks(row: Row, event: DomainEvent) -> Row:
    return _marked(row, event, sla_request.marks_of(event))


def _row(ev: e.Logged | r.Submitted, ref: str, kind: str) -> Row:
    return {
        "id": str(ev.originator_id),
        "ref": ref,
        "kind": kind,
        "service": ev.service,
        "rules": None if ev.sla is None else ev.sla.model_dump(mode="json"),
        "marks": [],
        "alerts": [],
        "watched": 1,
        "organisation": ev.organisation,
    }


def _logged(_: Row | None, ev: e.Logged) -> Row:
    return _incident_marks(_row(ev, incident_number_label(ev.number), sla_incident.KIND), ev)


def _submitted(_: Row | None, ev: r.Submitted) -> Row:
    ref = number_label(RecordKind.SERVICE_REQUEST, ev.number)
    return _request_marks(_row(ev, ref, sla_request.KIND), ev)


def _finished(row: Row, ev: e.Closed | e.Cancelled) -> Row:
    row["watched"] = 0
    return _incident_marks(row, ev)


def _request_finished(row: Row, ev: r.Closed | r.Cancelled | r.Rejected) -> Row:
    row["watched"] = 0
    return _request_marks(row, ev)


def _warned(row: Row, ev: e.SlaWarned | r.SlaWarned) -> Row:
    row["alerts"].append([ev.target.value, ev.threshold])
    row["version"] = ev.originator_version
    return row


def _breached(row: Row, ev: e.SlaBreached | r.SlaBreached) -> Row:
    row["alerts"].append([ev.target.value, BREACH])
    row["version"] = ev.originator_version
    return row


def ticket_of(row: Row) -> Ticket:
    """The ticket the clock judges, from its row."""
    rules = row["rules"]
    return Ticket(
        row["kind"],
        row["service"],
        None if rules is None else RuleVersions.model_validate(rules),
        tuple(
            Mark(datetime.fromisoformat(at), MarkKind(kind), value)
            for at, kind, value in row["marks"]
        ),
        row.get("organisation"),
    )


sla_clocks = Projection(
    name="sla_clocks",
    version=3,  # 2: the organisation, as a column (scoped clocks); 3: service requests
    folds={
        **dict.fromkeys(sla_incident.MARKED, _incident_marks),
        e.Logged: _logged,
        e.Closed: _finished,
        e.Cancelled: _finished,
        e.SlaWarned: _warned,
        e.SlaBreached: _breached,
        **dict.fromkeys(sla_request.MARKED, _request_marks),
        r.Submitted: _submitted,
        r.Closed: _request_finished,
        r.Cancelled: _request_finished,
        r.Rejected: _request_finished,
        r.SlaWarned: _warned,
        r.SlaBreached: _breached,
    },
    columns=(Column("watched", "INTEGER"), Column("organisation", "TEXT")),
    indexes=(("watched",), ("watched", "organisation")),
)


def watched(store: ViewStore, ctx: Context) -> list[Row]:
    """The rows of the tickets the caller reaches whose clocks still run (their organisations';
    the staff's: a requester, none)."""
    return select_where(store, sla_clocks, ctx, STAFF, ['"watched" = 1'], [])
