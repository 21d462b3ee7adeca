"""incident_details: everything a person reading one incident wants, one row per incident.

It also serves the incident list, filtered by status, group, priority and service, newest first.
"""

from __future__ import annotations

from typing import Any

from domain import incident as e
from domain.records import incident_number_label
from projections.base import Column, Projection, Row, at, by


def _touched(row: Row, event: e.IncidentEvent, **changes: Any) -> Row:
    row["state"] = e.transition(e.IncidentState(row["state"]), row["group"], row["agent"], event)
    row.update(changes)
    row["version"] = event.originator_version
    row["updated_at"] = at(event)
    return row


def _entry(event: e.IncidentEvent, **fields: Any) -> dict[str, Any]:
    return {**fields, "at": at(event), "by": by(event)}


def _logged(_: Row | None, ev: e.Logged) -> Row:
    return {
        "id": str(ev.originator_id),
        "number": ev.number,
        "ref": incident_number_label(ev.number),
        "title": ev.title,
        "description": ev.description,
        "service": ev.service,
        "configuration_item": ev.configuration_item,
        "caller": ev.caller,
        "channel": ev.channel,
        "impact": ev.impact,
        "urgency": ev.urgency,
        "priority": ev.priority,
        "matrix_version": ev.matrix_version,
        "state": e.IncidentState.LOGGED,
        "group": None,
        "agent": None,
        "hold_reason": None,
        "major_incident": None,
        "escalation_level": 0,
        "escalations": [],
        "work_notes": [],
        "comments": [],
        "resolution": None,
        "reopen_count": 0,
        "closure": None,
        "cancellation": None,
        "logged_at": at(ev),
        "logged_by": by(ev),
        "updated_at": at(ev),
        "version": ev.originator_version,
    }


def _assigned(row: Row, ev: e.Assigned) -> Row:
    return _touched(row, ev, group=ev.group, agent=ev.agent)


def _work_started(row: Row, ev: e.WorkStarted) -> Row:
    return _touched(row, ev, agent=ev.agent)


def _put_on_hold(row: Row, ev: e.PutOnHold) -> Row:
    if ev.note:
        row["work_notes"].append(_entry(ev, text=ev.note))
    return _touched(row, ev, hold_reason=ev.reason)


def _resumed(row: Row, ev: e.Resumed) -> Row:
    if ev.note:
        row["work_notes"].append(_entry(ev, text=ev.note))
    return _touched(row, ev, hold_reason=None)


def _work_note(row: Row, ev: e.WorkNoteAdded) -> Row:
    row["work_notes"].append(_entry(ev, text=ev.text))
    return _touched(row, ev)


def _comment(row: Row, ev: e.CommentAdded) -> Row:
    row["comments"].append(_entry(ev, text=ev.text))
    return _touched(row, ev)


def _reprioritised(row: Row, ev: e.Reprioritised) -> Row:
    return _touched(
        row,
        ev,
        impact=ev.impact,
        urgency=ev.urgency,
        priority=ev.priority,
        matrix_version=ev.matrix_version,
    )


def _escalated(row: Row, ev: e.Escalated) -> Row:
    entry = _entry(
        ev, kind=ev.kind, reason=ev.reason, to_group=ev.to_group, to_manager=ev.to_manager
    )
    row["escalations"].append(entry)
    if ev.kind is e.EscalationKind.FUNCTIONAL:
        return _touched(row, ev, group=ev.to_group, agent=None)
    return _touched(row, ev, escalation_level=row["escalation_level"] + 1)


def _declared_major(row: Row, ev: e.MajorIncidentDeclared) -> Row:
    major = _entry(ev, manager=ev.manager, reason=ev.reason, stood_down=None)
    return _touched(row, ev, major_incident=major)


def _stood_down_major(row: Row, ev: e.MajorIncidentStoodDown) -> Row:
    row["major_incident"]["stood_down"] = _entry(ev, reason=ev.reason)
    return _touched(row, ev)


def _resolved(row: Row, ev: e.Resolved) -> Row:
    resolution = _entry(ev, code=ev.code, notes=ev.notes, reopen_until=ev.reopen_until.isoformat())
    return _touched(row, ev, hold_reason=None, resolution=resolution)


def _reopened(row: Row, ev: e.Reopened) -> Row:
    row["comments"].append(_entry(ev, text=f"Reopened: {ev.reason}"))
    return _touched(row, ev, reopen_count=row["reopen_count"] + 1)


def _closed(row: Row, ev: e.Closed) -> Row:
    return _touched(row, ev, closure=_entry(ev, basis=ev.basis))


def _cancelled(row: Row, ev: e.Cancelled) -> Row:
    cancellation = _entry(
        ev,
        reason=ev.reason,
        duplicate_of=str(ev.duplicate_of) if ev.duplicate_of else None,
        note=ev.note,
    )
    return _touched(row, ev, hold_reason=None, cancellation=cancellation)


incident_details = Projection(
    name="incident_details",
    version=1,
    folds={
        e.Logged: _logged,
        e.Assigned: _assigned,
        e.WorkStarted: _work_started,
        e.PutOnHold: _put_on_hold,
        e.Resumed: _resumed,
        e.WorkNoteAdded: _work_note,
        e.CommentAdded: _comment,
        e.Reprioritised: _reprioritised,
        e.Escalated: _escalated,
        e.MajorIncidentDeclared: _declared_major,
        e.MajorIncidentStoodDown: _stood_down_major,
        e.Resolved: _resolved,
        e.Reopened: _reopened,
        e.Closed: _closed,
        e.Cancelled: _cancelled,
    },
    columns=(
        Column("number", "INTEGER"),
        Column("state", "TEXT"),
        Column("group", "TEXT"),
        Column("priority", "INTEGER"),
        Column("service", "TEXT"),
    ),
    indexes=(("number",), ("state", "number"), ("group", "number"), ("service", "number")),
)
