"""nonconformities: one row per nonconformity (its clause, grade, source and the audit finding it
came from, owner and due date, correction, root cause, corrective actions, verifications), for
reading one and for the lists (by state, owner, source, organisation; the overdue ones), newest
first. The staff's (domain/nonconformity.py); a requester reaches none."""

from __future__ import annotations

from datetime import date
from typing import Any

from domain import nonconformity as m
from domain.context import Context
from domain.record_numbers import RecordKind
from projections.base import Column, Projection, Row, at, by, copied, folds_of
from projections.queries import STAFF, View, select_where
from projections.records import entry, list_indexes, numbered, stamped
from projections.view_store import ViewStore


def _touched(row: Row, ev: m.NonconformityEvent, **changes: Any) -> Row:
    return stamped(row, ev, state=m.transition(m.NonconformityState(row["state"]), ev), **changes)


def _raised(_: Row | None, ev: m.Raised) -> Row:
    finding = ev.finding
    return {
        **numbered(ev, RecordKind.NONCONFORMITY, ev.number),
        **copied(ev, "clause grade description source source_ref owner organisation"),
        "finding": None if finding is None else finding.model_dump(mode="json"),
        "due": ev.due.isoformat(),
        "state": m.NonconformityState.OPEN,
        "correction": None,
        "root_cause": None,
        "actions": [],
        #: the earliest due date of what is still to do: the nonconformity's, or an action's
        "next_due": ev.due.isoformat(),
        "verifications": [],
        "raised_at": at(ev),
        "raised_by": by(ev),
        "closed_at": None,
        "updated_at": at(ev),
        "version": ev.originator_version,
    }


def _next_due(row: Row) -> str | None:
    if row["state"] != m.NonconformityState.OPEN:
        return None
    pending: list[str] = [a["due"] for a in row["actions"] if a["done"] is None]
    return min([str(row["due"]), *pending])


def _correction(row: Row, ev: m.CorrectionRecorded) -> Row:
    return _touched(row, ev, correction=entry(ev, text=ev.correction))


def _root_cause(row: Row, ev: m.RootCauseRecorded) -> Row:
    return _touched(row, ev, root_cause=entry(ev, text=ev.root_cause))


def _planned(row: Row, ev: m.ActionPlanned) -> Row:
    _touched(row, ev)
    action = entry(ev, action=ev.action, description=ev.description, owner=ev.owner)
    row["actions"].append({**action, "due": ev.due.isoformat(), "done": None})
    row["next_due"] = _next_due(row)
    return row


def _done(row: Row, ev: m.ActionDone) -> Row:
    _touched(row, ev)
    for action in row["actions"]:
        if action["action"] == ev.action:
            action["done"] = entry(ev, note=ev.note)
    row["next_due"] = _next_due(row)
    return row


def _verified(row: Row, ev: m.VerifiedEffective | m.VerifiedNotEffective) -> Row:
    _touched(row, ev)
    effective = isinstance(ev, m.VerifiedEffective)
    row["verifications"].append(entry(ev, effective=effective, note=ev.note))
    row["closed_at"] = at(ev) if effective else None
    row["next_due"] = _next_due(row)
    return row


nonconformity_register = Projection(
    name="nonconformities",
    version=1,
    folds=folds_of(_raised, _correction, _root_cause, _planned, _done, _verified),
    columns=(
        Column("number", "INTEGER"),
        Column("state", "TEXT"),
        Column("owner", "TEXT"),
        Column("source", "TEXT"),
        Column("organisation", "TEXT"),
        Column("next_due", "TEXT"),
    ),
    indexes=(*list_indexes("owner", "source"), ("next_due",)),
)

#: The staff's, by organisation; a requester reaches none.
nonconformities = View(nonconformity_register, STAFF)


def overdue(store: ViewStore, ctx: Context, today: date) -> list[Row]:
    """The open nonconformities the caller reaches with something past its due date on `today`
    (the nonconformity itself, or an action not done), the most overdue first."""
    return select_where(
        store,
        nonconformity_register,
        ctx,
        STAFF,
        ['"state" = ?', '"next_due" < ?'],
        [m.NonconformityState.OPEN.value, today.isoformat()],
        'ORDER BY "next_due" ASC, "number" ASC',
    )
