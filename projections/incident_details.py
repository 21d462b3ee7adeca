"""incident_details: everything a person reading one incident wants, one row per incident,
including the problems and changes linked to it and the workarounds its problems published, its
parent and children, the parent whose resolution resolved it, the duplicates merged into it, and
the caller's rating once it is closed.

It also serves the incident list, filtered by status, group, priority, service and category,
newest first.
"""

from __future__ import annotations

from typing import Any

from domain import incident as e
from domain.records import incident_number_label
from projections.base import Column, Projection, Row, at, by, folds_of, iso, state_of
from projections.queries import Reach, View


def _touched(row: Row, event: e.IncidentEvent, **changes: Any) -> Row:
    """The row after an event: its lifecycle state, the changes, its version and update time."""
    row["state"] = e.transition(state_of(row), row["group"], row["agent"], event)
    row.update(changes)
    row["version"] = event.originator_version
    row["updated_at"] = at(event)
    return row


def _entry(row: Row, event: e.IncidentEvent, **fields: Any) -> dict[str, Any]:
    """A note, escalation or outcome the event adds to a row it has just touched: when (the
    row's update time) and by whom."""
    return {**fields, "at": row["updated_at"], "by": by(event)}


def _logged(_: Row | None, ev: e.Logged) -> Row:
    logged_at = at(ev)
    return {
        "id": str(ev.originator_id),
        "number": ev.number,
        "ref": incident_number_label(ev.number),
        "title": ev.title,
        "description": ev.description,
        "service": ev.service,
        "category": ev.category,
        "subcategory": ev.subcategory,
        "configuration_item": ev.configuration_item,
        "caller": ev.caller,
        "organisation": ev.organisation,
        "channel": ev.channel,
        "impact": ev.impact,
        "urgency": ev.urgency,
        "priority": ev.priority,
        "matrix_version": ev.matrix_version,
        "sla": None if ev.sla is None else ev.sla.model_dump(mode="json"),
        "state": e.IncidentState.LOGGED,
        "group": None,
        "agent": None,
        "hold_reason": None,
        "major_incident": None,
        "major_proposal": None,
        "escalation_level": 0,
        "escalations": [],
        "work_notes": [],
        "comments": [],
        "resolution": None,
        "reopen_count": 0,
        "closure": None,
        "cancellation": None,
        "ended_at": None,
        "problems": [],
        "changes": [],
        "workarounds": [],
        "parent": None,
        "children": [],
        "resolved_with_parent": None,
        "duplicates": [],
        "rating": None,
        "logged_at": logged_at,
        "logged_by": by(ev),
        "updated_at": logged_at,
        "version": ev.originator_version,
    }


def _assigned(row: Row, ev: e.Assigned) -> Row:
    return _touched(row, ev, group=ev.group, agent=ev.agent)


def _work_started(row: Row, ev: e.WorkStarted) -> Row:
    return _touched(row, ev, agent=ev.agent)


def _put_on_hold(row: Row, ev: e.PutOnHold) -> Row:
    _touched(row, ev, hold_reason=ev.reason)
    if ev.note:
        row["work_notes"].append(_entry(row, ev, text=ev.note))
    return row


def _resumed(row: Row, ev: e.Resumed) -> Row:
    _touched(row, ev, hold_reason=None)
    if ev.note:
        row["work_notes"].append(_entry(row, ev, text=ev.note))
    return row


def _work_note(row: Row, ev: e.WorkNoteAdded) -> Row:
    _touched(row, ev)
    row["work_notes"].append(_entry(row, ev, text=ev.text))
    return row


def _comment(row: Row, ev: e.CommentAdded) -> Row:
    _touched(row, ev)
    row["comments"].append(_entry(row, ev, text=ev.text))
    return row


def _reprioritised(row: Row, ev: e.Reprioritised) -> Row:
    return _touched(
        row,
        ev,
        impact=ev.impact,
        urgency=ev.urgency,
        priority=ev.priority,
        matrix_version=ev.matrix_version,
    )


def _recategorised(row: Row, ev: e.Recategorised) -> Row:
    return _touched(row, ev, service=ev.service, category=ev.category, subcategory=ev.subcategory)


def _escalated(row: Row, ev: e.Escalated) -> Row:
    if ev.kind is e.EscalationKind.FUNCTIONAL:
        _touched(row, ev, group=ev.to_group, agent=None)
    else:
        _touched(row, ev, escalation_level=row["escalation_level"] + 1)
    entry = _entry(
        row, ev, kind=ev.kind, reason=ev.reason, to_group=ev.to_group, to_manager=ev.to_manager
    )
    row["escalations"].append(entry)
    return row


def _declared_major(row: Row, ev: e.MajorIncidentDeclared) -> Row:
    _touched(row, ev)
    row["major_incident"] = _entry(
        row, ev, manager=ev.manager, reason=ev.reason, stood_down=None, review=None
    )
    return row


def _stood_down_major(row: Row, ev: e.MajorIncidentStoodDown) -> Row:
    _touched(row, ev)
    row["major_incident"]["stood_down"] = _entry(row, ev, reason=ev.reason)
    return row


def _proposed_major(row: Row, ev: e.MajorIncidentProposed) -> Row:
    _touched(row, ev)
    row["major_proposal"] = _entry(
        row, ev, criteria=list(ev.criteria), rule_version=ev.rule_version
    )
    return row


def _reviewed_major(row: Row, ev: e.MajorIncidentReviewed) -> Row:
    _touched(row, ev)
    review = ev.model_dump(mode="json", include=set(e.MajorIncidentReview.model_fields))
    row["major_incident"]["review"] = _entry(row, ev, **review)
    return row


def _resolved(row: Row, ev: e.Resolved) -> Row:
    _touched(row, ev, hold_reason=None)
    row["resolution"] = _entry(
        row, ev, code=ev.code, notes=ev.notes, reopen_until=iso(ev.reopen_until)
    )
    return row


def _reopened(row: Row, ev: e.Reopened) -> Row:
    _touched(row, ev, reopen_count=row["reopen_count"] + 1)
    row["comments"].append(_entry(row, ev, text=f"Reopened: {ev.reason}"))
    return row


def _sla_alert(row: Row, ev: e.SlaWarned | e.SlaBreached) -> Row:
    # The watcher's alerts change the record (its version, and so its ETag); the clock itself
    # is at GET /incidents/{id}/sla.
    return _touched(row, ev)


def _closed(row: Row, ev: e.Closed) -> Row:
    _touched(row, ev, ended_at=at(ev))
    row["closure"] = _entry(row, ev, basis=ev.basis)
    return row


def _rated(row: Row, ev: e.Rated) -> Row:
    _touched(row, ev)
    row["rating"] = _entry(row, ev, score=ev.score, comment=ev.comment)
    return row


def _cancelled(row: Row, ev: e.Cancelled) -> Row:
    _touched(row, ev, hold_reason=None, ended_at=at(ev))
    row["cancellation"] = _entry(
        row,
        ev,
        reason=ev.reason,
        duplicate_of=str(ev.duplicate_of) if ev.duplicate_of else None,
        note=ev.note,
    )
    return row


def _linked_to_problem(row: Row, ev: e.LinkedToProblem) -> Row:
    _touched(row, ev)
    row["problems"].append(_entry(row, ev, id=str(ev.problem_id), ref=ev.problem_ref))
    return row


def _linked_to_change(row: Row, ev: e.LinkedToChange) -> Row:
    _touched(row, ev)
    row["changes"].append(_entry(row, ev, id=str(ev.change_id), ref=ev.change_ref))
    return row


def _workaround_shared(row: Row, ev: e.WorkaroundShared) -> Row:
    _touched(row, ev)
    entry = _entry(row, ev, problem_id=str(ev.problem_id), problem=ev.problem_ref)
    row["workarounds"].append({**entry, "workaround": ev.workaround})
    return row


def _child_linked(row: Row, ev: e.ChildLinked) -> Row:
    _touched(row, ev)
    row["children"].append(_entry(row, ev, id=str(ev.incident_id), ref=ev.incident_ref))
    return row


def _linked_to_parent(row: Row, ev: e.LinkedToParent) -> Row:
    _touched(row, ev)
    row["parent"] = _entry(row, ev, id=str(ev.incident_id), ref=ev.incident_ref)
    return row


def _unlinked_from_parent(row: Row, ev: e.UnlinkedFromParent) -> Row:
    return _touched(row, ev, parent=None)


def _child_unlinked(row: Row, ev: e.ChildUnlinked) -> Row:
    _touched(row, ev)
    row["children"] = [child for child in row["children"] if child["id"] != str(ev.incident_id)]
    return row


def _parent_resolved(row: Row, ev: e.ParentResolved) -> Row:
    _touched(row, ev)
    row["resolved_with_parent"] = _entry(
        row,
        ev,
        id=str(ev.incident_id),
        ref=ev.incident_ref,
        code=ev.code,
        on_behalf_of={"id": ev.on_behalf_of.id, "role": ev.on_behalf_of.role},
    )
    return row


def _duplicate_merged(row: Row, ev: e.DuplicateMerged) -> Row:
    _touched(row, ev)
    entry = _entry(row, ev, id=str(ev.incident_id), ref=ev.incident_ref, caller=ev.caller)
    row["duplicates"].append(entry)
    return row


incident_details = Projection(
    name="incident_details",
    # 2: SLA rule versions and alerts; 3: links to problems and changes, workarounds;
    # 4: the organisation and the caller as columns (scoped lists); 5: parent and children,
    # resolution by the parent, merged duplicates; 6: a child unlinked from its parent;
    # 7: category and subcategory; 8: the caller's rating; 9: a major incident proposed by the
    # criteria, and its review; 10: when it ended (closed or cancelled), for the requester's
    # reach (the retention schedule)
    version=10,
    folds=folds_of(
        _logged,
        _assigned,
        _work_started,
        _put_on_hold,
        _resumed,
        _work_note,
        _comment,
        _reprioritised,
        _recategorised,
        _escalated,
        _declared_major,
        _stood_down_major,
        _proposed_major,
        _reviewed_major,
        _resolved,
        _reopened,
        _closed,
        _rated,
        _sla_alert,
        _cancelled,
        _linked_to_problem,
        _linked_to_change,
        _workaround_shared,
        _child_linked,
        _linked_to_parent,
        _unlinked_from_parent,
        _child_unlinked,
        _parent_resolved,
        _duplicate_merged,
    ),
    columns=(
        Column("number", "INTEGER"),
        Column("state", "TEXT"),
        Column("group", "TEXT"),
        Column("priority", "INTEGER"),
        Column("service", "TEXT"),
        Column("category", "TEXT"),
        Column("organisation", "TEXT"),
        Column("caller", "TEXT"),
        Column("ended_at", "TEXT"),
    ),
    # A list is ordered by number and, for staff of one organisation, filtered by it: each filter
    # an agent walks (group, status, both) has an index that leads with the organisation and
    # ends with the number, so a page reads only its own rows however long the history (with
    # ("organisation", "number") alone, a group's page read every newer incident of the
    # organisation: issue 23, p99 44 ms -> 285 ms from 10k to 100k incidents).
    indexes=(
        ("number",),
        ("state", "number"),
        ("group", "number"),
        ("group", "state", "number"),
        ("organisation", "group", "number"),
        ("organisation", "state", "number"),
        ("organisation", "group", "state", "number"),
        ("service", "number"),
        ("category", "number"),
        ("organisation", "number"),
        ("caller", "number"),
    ),
)

#: A requester reaches the incidents they are the caller of; others, their organisation's.
incidents = View(incident_details, Reach(owner="caller", ended="ended_at", kind="incident"))
