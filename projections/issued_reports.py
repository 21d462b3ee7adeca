"""Issued service reports as management reads them: `issued_reports`, one row per report issued
(its name, period, the position it was made from, its digest, the report whole) with the decisions
taken from it, newest first (domain/issued_report.py)."""

from __future__ import annotations

from domain import issued_report as ir
from projections.base import Column, Projection, Row, at, by, folds_of
from projections.records import entry, stamped


def _issued(_: Row | None, ev: ir.Issued) -> Row:
    return {
        "id": str(ev.originator_id),
        "code": ev.code,
        "report": ev.report,
        "period": {"from": ev.period_from.isoformat(), "to": ev.period_to.isoformat()},
        "position": ev.position,
        "digest": ev.digest,
        "trigger": ev.trigger,
        "body": ev.body,
        "decisions": [],
        "issued_at": at(ev),
        "issued_by": by(ev),
        "updated_at": at(ev),
        "version": ev.originator_version,
    }


def _decided(row: Row, ev: ir.DecisionRecorded) -> Row:
    stamped(row, ev)
    row["decisions"].append(
        entry(ev, decision=ev.decision, actions=ev.actions, improvement=ev.improvement)
    )
    return row


issued_reports = Projection(
    name="issued_reports",
    version=1,
    folds=folds_of(_issued, _decided),
    columns=(Column("code", "TEXT"), Column("report", "TEXT"), Column("issued_at", "TEXT")),
    indexes=(("code",), ("report", "issued_at"), ("issued_at",)),
)
