"""sla_clocks: what each ticket's SLA clock is made of, one row per ticket.

The fold keeps only the ticket's own facts: the rule versions it recorded, its SLA marks (the
adapter's reading of its events, domain/sla_incident.py) and the alerts recorded on it. It reads
no policy or calendar, so it is a pure fold of the ticket's events and gives the same row in
embedded and Kafka mode, whatever order the partitions arrive in. The clocks themselves are judged
when read, by the immutable policy and calendar versions the row names (docs/sla.md says why).

`watched` is 1 until the ticket is closed or cancelled: while a clock may still pass a threshold,
or stopped with thresholds the SLA watcher may not have recorded yet.
"""

from __future__ import annotations

from datetime import datetime

from domain import incident as e
from domain.events import DomainEvent
from domain.incident import BREACH
from domain.records import incident_number_label
from domain.rule_versions import RuleVersions
from domain.sla_clock import Mark, MarkKind, Ticket
from domain.sla_incident import KIND, MARKED, marks_of
from projections.base import Column, Projection, Row, iso


def _marks(row: Row, event: DomainEvent) -> Row:
    row["marks"].extend([iso(m.at), m.kind.value, m.value] for m in marks_of(event))
    row["version"] = event.originator_version
    return row


def _logged(_: Row | None, ev: e.Logged) -> Row:
    row: Row = {
        "id": str(ev.originator_id),
        "ref": incident_number_label(ev.number),
        "kind": KIND,
        "service": ev.service,
        "rules": None if ev.sla is None else ev.sla.model_dump(mode="json"),
        "marks": [],
        "alerts": [],
        "watched": 1,
        "organisation": ev.organisation,
    }
    return _marks(row, ev)


def _finished(row: Row, ev: e.Closed | e.Cancelled) -> Row:
    row["watched"] = 0
    return _marks(row, ev)


def _warned(row: Row, ev: e.SlaWarned) -> Row:
    row["alerts"].append([ev.target.value, ev.threshold])
    row["version"] = ev.originator_version
    return row


def _breached(row: Row, ev: e.SlaBreached) -> Row:
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
    )


sla_clocks = Projection(
    name="sla_clocks",
    version=2,  # 2: the organisation, as a column (scoped clocks)
    folds={
        **dict.fromkeys(MARKED, _marks),
        e.Logged: _logged,
        e.Closed: _finished,
        e.Cancelled: _finished,
        e.SlaWarned: _warned,
        e.SlaBreached: _breached,
    },
    columns=(Column("watched", "INTEGER"), Column("organisation", "TEXT")),
    indexes=(("watched",), ("watched", "organisation")),
)
