"""service_request_details: everything a person reading one service request wants, one row per
request; it also serves the queues (by state, fulfilment group, requester), newest first.
catalogue_items: the service catalogue, one row per item."""

from __future__ import annotations

from typing import Any

from domain import service_request as r
from domain.record_numbers import RecordKind
from projections.base import Column, Projection, Row, at, by, copied, folds_of
from projections.queries import BY_CODE, SHARED, Reach, View
from projections.records import entry, list_columns, list_indexes, numbered, stamped


def _touched(row: Row, ev: r.RequestEvent, **changes: Any) -> Row:
    row["state"] = r.transition(r.RequestState(row["state"]), ev)
    row["paused"] = row["state"] in r.PAUSED_STATES
    return stamped(row, ev, **changes)


def _submitted(_: Row | None, ev: r.Submitted) -> Row:
    return {
        **numbered(ev, RecordKind.SERVICE_REQUEST, ev.number),
        **copied(ev, "catalogue_item title details requester organisation service priority"),
        "sla": None if ev.sla is None else ev.sla.model_dump(mode="json"),
        "state": r.RequestState.SUBMITTED,
        "paused": False,
        "approval": {
            "required": ev.approval_required,
            "approver_role": ev.approver_role,
            "approvers": list(ev.approvers),
            "needed": ev.approvals_needed,
            "given": [],
            "decision": None,
        },
        "fulfilment_group": ev.fulfilment_group,
        "fulfiller": None,
        "steps": [{"step": i, "text": text, "done": None} for i, text in enumerate(ev.steps, 1)],
        "conversation": [],
        "fulfilment": None,
        "cancellation": None,
        "ended_at": None,
        "rating": None,
        "submitted_at": at(ev),
        "submitted_by": by(ev),
        "updated_at": at(ev),
        "version": ev.originator_version,
    }


def _approval_requested(row: Row, ev: r.ApprovalRequested) -> Row:
    return _touched(row, ev)


def _approval_given(row: Row, ev: r.ApprovalGiven) -> Row:
    _touched(row, ev)
    given = {"approver": ev.approver, "comment": ev.comment, "at": at(ev)}
    row["approval"]["given"].append(given)
    return row


def _approved(row: Row, ev: r.Approved) -> Row:
    _touched(row, ev)
    row["approval"]["decision"] = {"approved": True, "approvers": list(ev.approvers), "at": at(ev)}
    return row


def _rejected(row: Row, ev: r.Rejected) -> Row:
    _touched(row, ev, ended_at=at(ev))
    decision = {"approved": False, "approver": ev.approver, "reason": ev.reason, "at": at(ev)}
    row["approval"]["decision"] = decision
    return row


def _fulfilment_started(row: Row, ev: r.FulfilmentStarted) -> Row:
    return _touched(row, ev, fulfiller=ev.fulfiller)


def _step_completed(row: Row, ev: r.StepCompleted) -> Row:
    _touched(row, ev)
    row["steps"][ev.step - 1]["done"] = entry(ev, note=ev.note)
    return row


def _awaiting_requester(row: Row, ev: r.InformationRequested) -> Row:
    _touched(row, ev)
    row["conversation"].append(entry(ev, question=ev.question))
    return row


def _responded(row: Row, ev: r.RequesterResponded) -> Row:
    _touched(row, ev)
    row["conversation"].append(entry(ev, answer=ev.answer))
    return row


def _fulfilled(row: Row, ev: r.Fulfilled) -> Row:
    return _touched(row, ev, fulfilment=entry(ev, notes=ev.notes))


def _closed(row: Row, ev: r.Closed) -> Row:
    return _touched(row, ev, ended_at=at(ev))


def _cancelled(row: Row, ev: r.Cancelled) -> Row:
    return _touched(row, ev, cancellation=entry(ev, reason=ev.reason), ended_at=at(ev))


def _rated(row: Row, ev: r.Rated) -> Row:
    return _touched(row, ev, rating=entry(ev, score=ev.score, comment=ev.comment))


def _sla_alert(row: Row, ev: r.SlaWarned | r.SlaBreached) -> Row:
    # The watcher's alerts change the record (its version, and so its ETag); the clock itself
    # is at GET /service-requests/{id}/sla.
    return _touched(row, ev)


service_request_details = Projection(
    name="service_request_details",
    # 2: the organisation, as a column (scoped lists); 3: the SLA clock; 4: the requester's rating;
    # 5: when it ended (closed, cancelled or rejected), for the requester's reach
    version=5,
    folds=folds_of(
        _submitted,
        _approval_requested,
        _approval_given,
        _approved,
        _rejected,
        _fulfilment_started,
        _step_completed,
        _awaiting_requester,
        _responded,
        _fulfilled,
        _closed,
        _cancelled,
        _rated,
        _sla_alert,
    ),
    columns=(*list_columns("fulfilment_group", "requester"), Column("ended_at", "TEXT")),
    indexes=list_indexes("fulfilment_group", "requester"),
)


def _defined(_: Row | None, ev: r.CatalogueItemDefined) -> Row:
    body = ev.model_dump(mode="json", exclude={"originator_id", "actor", "correlation_id"})
    return {
        **{k: v for k, v in body.items() if k not in ("originator_version", "timestamp")},
        "knowledge": [],
        "defined_at": at(ev),
        "defined_by": by(ev),
        "version": ev.originator_version,
    }


def _article_linked(row: Row | None, ev: r.ArticleLinked) -> Row:
    assert row is not None
    article = {"ref": ev.article_ref, "title": ev.title, "linked_at": at(ev), "linked_by": by(ev)}
    return {**row, "knowledge": [*row["knowledge"], article], "version": ev.originator_version}


def _article_unlinked(row: Row | None, ev: r.ArticleUnlinked) -> Row:
    assert row is not None
    kept = [a for a in row["knowledge"] if a["ref"] != ev.article_ref]
    return {**row, "knowledge": kept, "version": ev.originator_version}


catalogue_items = Projection(
    name="catalogue_items",
    version=2,
    folds={
        r.CatalogueItemDefined: _defined,
        r.ArticleLinked: _article_linked,
        r.ArticleUnlinked: _article_unlinked,
    },
    columns=(Column("code", "TEXT"),),
    indexes=(("code",),),
)

#: A requester reaches the requests they asked for; others, their organisation's.
service_requests = View(
    service_request_details, Reach(owner="requester", ended="ended_at", kind="service_request")
)
#: The catalogue is everyone's to read.
catalogue = View(catalogue_items, SHARED, BY_CODE)
