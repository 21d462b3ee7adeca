"""internal_audits: the audit programme, one row per audit (its scope, criteria, dates, audited
period, auditors and findings, each finding with its evidence and the record it opened), for
reading one and for the lists (by state, lead auditor, organisation), newest first. The staff's
(domain/internal_audit.py); a requester reaches none."""

from __future__ import annotations

from typing import Any

from domain import internal_audit as m
from domain.record_numbers import RecordKind
from projections.base import Column, Projection, Row, at, by, copied, folds_of
from projections.queries import STAFF, View
from projections.records import entry, list_indexes, numbered, stamped


def _touched(row: Row, ev: m.AuditEvent, **changes: Any) -> Row:
    return stamped(row, ev, state=m.transition(m.AuditState(row["state"]), ev), **changes)


def _planned(_: Row | None, ev: m.Planned) -> Row:
    return {
        **numbered(ev, RecordKind.INTERNAL_AUDIT, ev.number),
        **copied(ev, "title scope services criteria method lead_auditor organisation"),
        "auditors": [ev.lead_auditor, *ev.auditors],
        "planned": {"start": ev.planned_start.isoformat(), "end": ev.planned_end.isoformat()},
        "period": {"from": ev.period_from.isoformat(), "to": ev.period_to.isoformat()},
        "state": m.AuditState.PLANNED,
        "assignments": [],
        "started": None,
        "findings": [],
        "report": None,
        "closure": None,
        "cancellation": None,
        "planned_at": at(ev),
        "planned_by": by(ev),
        "updated_at": at(ev),
        "version": ev.originator_version,
    }


def _assigned(row: Row, ev: m.AuditorAssigned) -> Row:
    _touched(row, ev)
    row["auditors"].append(ev.auditor)
    row["assignments"].append(entry(ev, auditor=ev.auditor, reason=ev.reason))
    return row


def _started(row: Row, ev: m.Started) -> Row:
    return _touched(row, ev, started=entry(ev))


def _found(row: Row, ev: m.FindingRecorded) -> Row:
    _touched(row, ev)
    opened = None if ev.opened is None else ev.opened.model_dump(mode="json")
    row["findings"].append(
        entry(
            ev,
            finding=ev.finding,
            kind=ev.kind,
            clause=ev.clause,
            text=ev.text,
            evidence=[e.model_dump(mode="json") for e in ev.evidence],
            opened=opened,
        )
    )
    return row


def _reported(row: Row, ev: m.Reported) -> Row:
    return _touched(row, ev, report=entry(ev, conclusions=ev.conclusions))


def _closed(row: Row, ev: m.Closed) -> Row:
    return _touched(row, ev, closure=entry(ev, note=ev.note))


def _cancelled(row: Row, ev: m.Cancelled) -> Row:
    return _touched(row, ev, cancellation=entry(ev, reason=ev.reason))


audit_programme = Projection(
    name="audit_programme",
    version=1,
    folds=folds_of(_planned, _assigned, _started, _found, _reported, _closed, _cancelled),
    columns=(
        Column("number", "INTEGER"),
        Column("state", "TEXT"),
        Column("lead_auditor", "TEXT"),
        Column("organisation", "TEXT"),
        Column("planned_at", "TEXT"),
    ),
    indexes=list_indexes("lead_auditor"),
)

#: The staff's, by organisation; a requester reaches none.
internal_audits = View(audit_programme, STAFF)
