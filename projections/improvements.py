"""improvements: the improvement register, one row per improvement, for reading one and for the
lists (by state, source, owner, whether it has an owner, organisation), newest first. The staff's
only: a requester reaches none."""

from __future__ import annotations

from typing import Any

from domain import improvement as m
from domain.record_numbers import RecordKind
from projections.base import Column, Projection, Row, at, by, copied, folds_of
from projections.queries import STAFF, View
from projections.records import entry, list_indexes, numbered, stamped


def _touched(row: Row, ev: m.ImprovementEvent, **changes: Any) -> Row:
    return stamped(row, ev, state=m.transition(m.ImprovementState(row["state"]), ev), **changes)


def _proposed(_: Row | None, ev: m.Proposed) -> Row:
    linked = ev.source_record
    return {
        **numbered(ev, RecordKind.IMPROVEMENT, ev.number),
        **copied(ev, "title description source owner expected_benefit organisation"),
        "source_record": None if linked is None else linked.model_dump(mode="json"),
        # 1 or 0, as a yes/no column holds it (PostgreSQL compares no integer to a boolean)
        "owned": int(ev.owner is not None),
        "due": None if ev.due is None else ev.due.isoformat(),
        "state": m.ImprovementState.PROPOSED,
        "approval": None,
        "started": None,
        "completion": None,
        "rejection": None,
        "owners": [] if ev.owner is None else [entry(ev, owner=ev.owner, reason=None)],
        "realised_benefit": None,
        "proposed_at": at(ev),
        "proposed_by": by(ev),
        "updated_at": at(ev),
        "version": ev.originator_version,
    }


def _approved(row: Row, ev: m.Approved) -> Row:
    return _touched(row, ev, approval=entry(ev, comment=ev.comment))


def _started(row: Row, ev: m.Started) -> Row:
    return _touched(row, ev, started=entry(ev))


def _completed(row: Row, ev: m.Completed) -> Row:
    return _touched(row, ev, completion=entry(ev), realised_benefit=ev.realised_benefit)


def _rejected(row: Row, ev: m.Rejected) -> Row:
    return _touched(row, ev, rejection=entry(ev, reason=ev.reason))


def _owner_assigned(row: Row, ev: m.OwnerAssigned) -> Row:
    _touched(row, ev, owner=ev.owner, owned=1)
    row["owners"].append(entry(ev, owner=ev.owner, reason=ev.reason))
    return row


improvement_register = Projection(
    name="improvement_register",
    version=1,
    folds=folds_of(_proposed, _approved, _started, _completed, _rejected, _owner_assigned),
    columns=(
        Column("number", "INTEGER"),
        Column("state", "TEXT"),
        Column("source", "TEXT"),
        Column("owner", "TEXT"),
        Column("owned", "INTEGER"),
        Column("organisation", "TEXT"),
    ),
    indexes=list_indexes("source", "owner", "owned"),
)

#: The staff's, by organisation; a requester reaches none.
improvements = View(improvement_register, STAFF)
