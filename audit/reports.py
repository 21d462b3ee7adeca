"""Reports an evidence pack carries for its period.

`incidents.json`: every incident logged in the period, as it stood at the period's end (replayed
from its events, so later changes do not leak in), with counts by priority and state and how
many were resolved within the period. Their SLA attainment, judged by the rules of record, is in
the service reports below.

`service-reports/{code}.json` (9.4): each service report issued for a month the period touches,
as issued (whenever that was), with the decisions taken from it so far.

`notifications.json` (ISO/IEC 20000-1 8.6.1, users kept informed): every notification decided in
the period, as it stood at the period's end (who was told what, on which channel, whether it
reached them, with the server's answer or the reason it failed), with counts by topic, channel and
state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

import orjson
from eventsourcing.persistence import Mapper

from audit.evidence import EventFilter, matching
from audit.replay import as_of
from audit.store import AuditStore
from domain.events import DomainEvent
from domain.incident import Logged
from domain.issued_report import Issued
from domain.notification import Decided
from domain.whatif import REPORTING_ZONE
from projections import incident_details
from projections.issued_reports import issued_reports
from projections.notifications import notifications


class Records(Protocol):
    """What the reports read of the record: the service desk (application/desk.py, a layer
    above) gives it."""

    @property
    def mapper(self) -> Mapper[UUID]: ...

    def record_history(
        self, record_id: UUID, first_type: type[DomainEvent]
    ) -> Sequence[DomainEvent]: ...


def period_reports(
    store: AuditStore, records: Records, since: datetime | None, until: datetime | None
) -> dict[str, bytes]:
    logged = EventFilter(since=since, until=until, types=frozenset({"Incident.Logged"}))
    incidents = []
    for row, _, _ in matching(store, records.mapper, logged):
        history = records.record_history(UUID(row[2]), Logged)
        state = as_of(incident_details, history, until)
        if state is not None:
            incidents.append(state)
    by_state = Counter(str(i["state"]) for i in incidents)
    by_priority = Counter(f"P{i['priority']}" for i in incidents)
    report = {
        "period": {
            "from": since.isoformat() if since else None,
            "to": until.isoformat() if until else None,
        },
        "incidents_logged": len(incidents),
        "by_priority": dict(sorted(by_priority.items())),
        "by_state_at_period_end": dict(sorted(by_state.items())),
        "sla": "judged by the rules of record in the service reports issued for the period:"
        " reports/service-reports/ (docs/reports.md)",
        "incidents": incidents,
    }
    return {
        "incidents.json": orjson.dumps(report, option=orjson.OPT_INDENT_2),
        "notifications.json": orjson.dumps(
            told(store, records, since, until), option=orjson.OPT_INDENT_2
        ),
        **issued(store, records, since, until),
    }


def issued(
    store: AuditStore, records: Records, since: datetime | None, until: datetime | None
) -> dict[str, bytes]:
    """The service reports issued for months the period touches (whenever they were issued: a
    month's are issued after it), each with the decisions taken from it so far, from the record
    (docs/reports.md)."""
    found: dict[str, bytes] = {}
    kept = EventFilter(since=None, until=None, types=frozenset({Issued.type_name}))
    for row, _, _ in matching(store, records.mapper, kept):
        history = records.record_history(UUID(row[2]), Issued)
        report = as_of(issued_reports, history, None)
        if report is None:
            continue
        first, last = (date.fromisoformat(report["period"][e]) for e in ("from", "to"))
        if (since is not None and last < since.astimezone(REPORTING_ZONE).date()) or (
            until is not None and first >= until.astimezone(REPORTING_ZONE).date()
        ):
            continue
        found[f"service-reports/{report['code']}.json"] = orjson.dumps(
            report, option=orjson.OPT_INDENT_2
        )
    return found


def told(
    store: AuditStore, records: Records, since: datetime | None, until: datetime | None
) -> dict[str, object]:
    """The notifications decided in the period, each as it stood at the period's end."""
    decided = EventFilter(since=since, until=until, types=frozenset({"Notification.Decided"}))
    rows = []
    for row, _, _ in matching(store, records.mapper, decided):
        history = records.record_history(UUID(row[2]), Decided)
        state = as_of(notifications, history, until)
        if state is not None:
            rows.append(state)
    return {
        "period": {
            "from": since.isoformat() if since else None,
            "to": until.isoformat() if until else None,
        },
        "notifications_decided": len(rows),
        "by_topic": dict(sorted(Counter(str(r["topic"]) for r in rows).items())),
        "by_channel": dict(sorted(Counter(str(r["channel"]) for r in rows).items())),
        "by_state_at_period_end": dict(sorted(Counter(str(r["state"]) for r in rows).items())),
        "notifications": rows,
    }
