"""notification_subjects: what the notifier knows of each record it may tell people about, as of
the event it is deciding on: the record's reference and title, whose it is (caller or
requester), its group and assignee, its organisation, for a problem the incidents it links, and
for an incident the callers of the duplicates merged into it; for a controlled document its owner
(as its "caller": the one told when its review falls due).

The notifier folds this view itself, in its own step, one event at a time before deciding on the
event (processes/notify.py), so a decision sees the record as it was then, not as the views
show it later; it stores its position with these rows. It is not among the service's views.
"""

from __future__ import annotations

from domain import change as c
from domain import document as d
from domain import incident as i
from domain import problem as p
from domain import service_request as r
from domain.record_numbers import RecordKind, number_label
from domain.records import incident_number_label
from projections.base import Projection, Row, folds_of


def _incident_logged(_: Row | None, ev: i.Logged) -> Row:
    return {
        "kind": "incident",
        "ref": incident_number_label(ev.number),
        "title": ev.title,
        "service": ev.service,
        "caller": ev.caller,
        "group": None,
        "assignee": None,
        "organisation": ev.organisation,
        "affected_callers": [],
        # imported history tells no one: it happened elsewhere, long ago (docs/imports.md)
        "imported": ev.source is not None,
    }


def _assigned(row: Row, ev: i.Assigned) -> Row:
    row.update(group=ev.group, assignee=ev.agent)
    return row


def _work_started(row: Row, ev: i.WorkStarted) -> Row:
    row["assignee"] = ev.agent
    return row


def _escalated(row: Row, ev: i.Escalated) -> Row:
    if ev.kind is i.EscalationKind.FUNCTIONAL:
        row.update(group=ev.to_group, assignee=None)
    return row


def _request_submitted(_: Row | None, ev: r.Submitted) -> Row:
    return {
        "kind": "service_request",
        "ref": number_label(RecordKind.SERVICE_REQUEST, ev.number),
        "title": ev.title,
        "service": ev.service,
        "caller": ev.requester,
        "group": ev.fulfilment_group,
        "assignee": None,
        "organisation": ev.organisation,
        "approver_role": ev.approver_role,
        "approvers": list(ev.approvers),
        "imported": False,
    }


def _change_raised(_: Row | None, ev: c.Raised) -> Row:
    return {
        "kind": "change",
        "ref": number_label(RecordKind.CHANGE, ev.number),
        "title": ev.title,
        "caller": ev.requester,
        "group": None,
        "assignee": None,
        "organisation": ev.organisation,
        "imported": False,
    }


def _problem_logged(_: Row | None, ev: p.Logged) -> Row:
    return {
        "kind": "problem",
        "ref": number_label(RecordKind.PROBLEM, ev.number),
        "title": ev.title,
        "caller": None,
        "group": None,
        "assignee": None,
        "organisation": ev.organisation,
        "incidents": [],
        "imported": False,
    }


def _document_registered(_: Row | None, ev: d.Registered) -> Row:
    return {
        "kind": "document",
        "ref": number_label(RecordKind.DOCUMENT, ev.number),
        "title": ev.title,
        "caller": ev.owner,  # the owner is told when the document's review falls due
        "group": None,
        "assignee": None,
        "organisation": None,
        "imported": False,
    }


def _incident_linked(row: Row, ev: p.IncidentLinked) -> Row:
    row["incidents"] = sorted({*row["incidents"], str(ev.incident_id)})
    return row


def _duplicate_merged(row: Row, ev: i.DuplicateMerged) -> Row:
    row["affected_callers"] = sorted({*row.get("affected_callers", []), ev.caller})
    return row


notification_subjects = Projection(
    name="notification_subjects",
    # 2: the callers of merged duplicates; 3: controlled documents' owners
    version=3,
    folds=folds_of(
        _incident_logged,
        _assigned,
        _work_started,
        _escalated,
        _request_submitted,
        _change_raised,
        _problem_logged,
        _document_registered,
        _incident_linked,
        _duplicate_merged,
    ),
)
