"""change_details: everything a person reading one change wants, one row per change; it also
serves the change list, filtered by state and kind, newest first."""

from __future__ import annotations

from typing import Any

from domain import change as c
from domain.context import Context
from domain.record_numbers import RecordKind
from projections.base import Projection, Row, at, by, copied, folds_of, iso
from projections.queries import STAFF, Filter, View
from projections.records import entry, list_columns, list_indexes, numbered, stamped
from projections.view_store import ViewStore


def _touched(row: Row, ev: c.ChangeEvent, **changes: Any) -> Row:
    return stamped(row, ev, state=c.transition(c.ChangeState(row["state"]), ev), **changes)


def _raised(_: Row | None, ev: c.Raised) -> Row:
    return {
        **numbered(ev, RecordKind.CHANGE, ev.number),
        **copied(
            ev,
            "kind title description requester organisation services configuration_items"
            " backout_plan template service_action transfer_to source external_reference",
        ),
        "state": c.ChangeState.RAISED,
        "backout_test": None,
        "assessment": None,
        "tests": [],
        "design_and_transition": None,
        "approvals": [],
        "authorisation": None,
        "rejection": None,
        "window": None,
        "implementation": None,
        "review_task": None,
        "review": None,
        "cancellation": None,
        "problems": [],
        "incidents": [],
        "raised_at": at(ev),
        "raised_by": by(ev),
        "updated_at": at(ev),
        "version": ev.originator_version,
    }


def _pre_authorised(row: Row, ev: c.PreAuthorised) -> Row:
    _touched(row, ev)
    row["authorisation"] = entry(ev, by_template=ev.template)
    return row


def _backout(row: Row, ev: c.BackoutPlanRecorded) -> Row:
    tested = {"tested": ev.tested, "note": ev.test_note, "at": at(ev), "by": by(ev)}
    return _touched(row, ev, backout_plan=ev.plan, backout_test=tested if ev.tested else None)


def _aspect(aspect: c.Aspect | None) -> dict[str, Any] | None:
    return None if aspect is None else {"level": aspect.level, "note": aspect.note}


def _assessed(row: Row, ev: c.Assessed) -> Row:
    impact = ev.cmdb_impact
    assessment = {
        "risk": ev.risk,
        "impact": ev.impact,
        "cab": list(ev.cab),
        "quorum": ev.quorum,
        "continuity": _aspect(ev.continuity),
        "availability": _aspect(ev.availability),
        "security": _aspect(ev.security),
        "policy_version": ev.policy_version,
        "approver_roles": list(ev.approver_roles),
        "cmdb_impact": None
        if impact is None
        else {
            "items": [{"code": i.code, "distance": i.distance} for i in impact.items],
            "services": list(impact.services),
        },
    }
    return _touched(row, ev, assessment=entry(ev, **assessment))


def _routed(row: Row, ev: c.RoutedToDesignAndTransition) -> Row:
    earlier = row["design_and_transition"] or {"criteria": [], "acceptance": None}
    routed = {
        **earlier,
        "criteria": [*earlier["criteria"], *ev.criteria],
        "policy_version": ev.policy_version,
        "at": earlier.get("at") or at(ev),
    }
    return _touched(row, ev, design_and_transition=routed)


def _design_accepted(row: Row, ev: c.DesignAccepted) -> Row:
    acceptance = entry(
        ev, design_document=ev.design_document, acceptance_criteria=ev.acceptance_criteria
    )
    return _touched(
        row, ev, design_and_transition={**row["design_and_transition"], "acceptance": acceptance}
    )


def _tests_planned(row: Row, ev: c.TestsPlanned) -> Row:
    _touched(row, ev)
    for name in ev.tests:
        row["tests"].append(
            {"name": name, "result": None, "note": None, "attachments": [], "at": None, "by": None}
        )
    return row


def _test_recorded(row: Row, ev: c.TestRecorded) -> Row:
    _touched(row, ev)
    run = {
        "name": ev.test,
        "result": ev.result,
        "note": ev.note,
        "attachments": [str(a) for a in ev.attachments],
        "at": at(ev),
        "by": by(ev),
    }
    row["tests"] = [run if t["name"] == ev.test else t for t in row["tests"]]
    return row


def _approved(row: Row, ev: c.Approved) -> Row:
    _touched(row, ev)
    row["approvals"].append({"approver": ev.approver, "comment": ev.comment, "at": at(ev)})
    return row


def _authorised(row: Row, ev: c.Authorised) -> Row:
    authorisation = {"approvers": list(ev.approvers), "emergency": ev.emergency, "at": at(ev)}
    return _touched(row, ev, authorisation=authorisation)


def _rejected(row: Row, ev: c.Rejected) -> Row:
    rejection = {"approver": ev.approver, "reason": ev.reason, "at": at(ev)}
    return _touched(row, ev, rejection=rejection)


def _scheduled(row: Row, ev: c.Scheduled) -> Row:
    window = entry(
        ev,
        start=iso(ev.start),
        end=iso(ev.end),
        overridden=list(ev.overridden),
        override_reason=ev.override_reason,
    )
    return _touched(row, ev, window=window)


def _started(row: Row, ev: c.ImplementationStarted) -> Row:
    implementation = {
        "implementer": ev.implementer,
        "started_at": at(ev),
        "tests_waived": ev.tests_waived,
        "outcome": None,
    }
    return _touched(row, ev, implementation=implementation)


def _implemented(row: Row, ev: c.Implemented) -> Row:
    implementation = {**(row["implementation"] or {}), "outcome": ev.outcome, "notes": ev.notes}
    return _touched(row, ev, implementation={**implementation, "finished_at": at(ev)})


def _review_task(row: Row, ev: c.ReviewTaskOpened) -> Row:
    return _touched(row, ev, review_task={"reason": ev.reason, "at": at(ev)})


def _reviewed(row: Row, ev: c.Reviewed) -> Row:
    review = entry(ev, summary=ev.summary, objectives_met=ev.objectives_met)
    return _touched(row, ev, review=review)


def _closed(row: Row, ev: c.Closed) -> Row:
    return _touched(row, ev)


def _cancelled(row: Row, ev: c.Cancelled) -> Row:
    return _touched(row, ev, cancellation=entry(ev, reason=ev.reason))


def _problem_linked(row: Row, ev: c.ProblemLinked) -> Row:
    _touched(row, ev)
    row["problems"].append({"id": str(ev.problem_id), "ref": ev.problem_ref, "at": at(ev)})
    return row


def _incident_linked(row: Row, ev: c.IncidentLinked) -> Row:
    _touched(row, ev)
    row["incidents"].append({"id": str(ev.incident_id), "ref": ev.incident_ref, "at": at(ev)})
    return row


change_details = Projection(
    name="change_details",
    # 3: the organisation, as a column (scoped lists); 4: the backout's test; 5: the service
    # action and the source, the assessment's aspects, CMDB impact and policy version, the test
    # checklist, the routing to design and transition
    version=5,
    folds=folds_of(
        _raised,
        _pre_authorised,
        _backout,
        _assessed,
        _tests_planned,
        _test_recorded,
        _routed,
        _design_accepted,
        _approved,
        _authorised,
        _rejected,
        _scheduled,
        _started,
        _implemented,
        _review_task,
        _reviewed,
        _closed,
        _cancelled,
        _problem_linked,
        _incident_linked,
    ),
    columns=list_columns("kind"),
    indexes=list_indexes(),
)

#: Changes are the staff's: a requester reaches none.
changes = View(change_details, STAFF)


def votes_awaited(store: ViewStore, ctx: Context) -> list[Row]:
    """The changes the caller reaches that wait for their vote: assessed (when a CAB votes),
    naming them on the CAB, and not approved by them yet (a rejection ends the voting). Whether
    their vote counts is still the domain's to decide (Change.approve: the requester may not,
    the approval matrix's roles)."""
    who = ctx.actor.id
    return [
        row
        for row in changes.rows(store, ctx, Filter(equal={"state": c.ChangeState.ASSESSED}))
        if who in row["assessment"]["cab"] and who not in {a["approver"] for a in row["approvals"]}
    ]


#: What a change waits for from a change manager, by its state: an assessment (risk, CAB,
#: quorum), an accepted design (a change of major impact, once routed), a window.
MANAGERS_STEP: dict[c.ChangeState, str] = {
    c.ChangeState.RAISED: "assess",
    c.ChangeState.ASSESSED: "accept-design",
    c.ChangeState.AUTHORISED: "schedule",
}


def managers_steps(store: ViewStore, ctx: Context) -> list[tuple[Row, str]]:
    """The changes the caller reaches that wait for a change manager, each with the step: raised
    ones to assess, assessed ones of major impact whose design is not accepted yet, authorised
    ones to schedule; newest first."""
    found = []
    for state, step in MANAGERS_STEP.items():
        for row in changes.rows(store, ctx, Filter(equal={"state": state})):
            routed = row["design_and_transition"]
            if state is c.ChangeState.ASSESSED and (routed is None or routed["acceptance"]):
                continue
            found.append((row, step))
    return sorted(found, key=lambda found: -found[0]["number"])
