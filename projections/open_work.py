"""open_work_by_group: the work queues, ordered by priority and then age.

One slim row per incident. `queued` says whether it is open work: it leaves its group's queue when
resolved or cancelled, and comes back when reopened. Incidents not yet assigned wait in the triage
queue (group null).
"""

from __future__ import annotations

from typing import Any

from domain import incident as e
from domain.context import Context
from domain.records import incident_number_label
from projections.base import Column, Projection, Row, at, state_of
from projections.queries import STAFF, select_where
from projections.view_store import ViewStore


def _after(row: Row, ev: e.IncidentEvent, **changes: Any) -> Row:
    state = e.transition(state_of(row), row["group"], row["agent"], ev)
    row.update(changes)
    row["state"] = state
    row["queued"] = int(state in e.OPEN_STATES)
    return row


def _logged(_: Row | None, ev: e.Logged) -> Row:
    return {
        "id": str(ev.originator_id),
        "number": ev.number,
        "ref": incident_number_label(ev.number),
        "title": ev.title,
        "service": ev.service,
        "category": ev.category,
        "organisation": ev.organisation,
        "priority": ev.priority,
        "group": None,
        "agent": None,
        "state": e.IncidentState.LOGGED,
        "queued": 1,
        "major": False,
        "logged_at": at(ev),
    }


def _assigned(row: Row, ev: e.Assigned) -> Row:
    return _after(row, ev, group=ev.group, agent=ev.agent)


def _work_started(row: Row, ev: e.WorkStarted) -> Row:
    return _after(row, ev, agent=ev.agent)


def _reprioritised(row: Row, ev: e.Reprioritised) -> Row:
    return _after(row, ev, priority=ev.priority)


def _recategorised(row: Row, ev: e.Recategorised) -> Row:
    return _after(row, ev, service=ev.service, category=ev.category)


def _escalated(row: Row, ev: e.Escalated) -> Row:
    if ev.kind is e.EscalationKind.FUNCTIONAL:
        return _after(row, ev, group=ev.to_group, agent=None)
    return _after(row, ev)


def _declared_major(row: Row, ev: e.MajorIncidentDeclared) -> Row:
    return _after(row, ev, major=True)


def _stood_down_major(row: Row, ev: e.MajorIncidentStoodDown) -> Row:
    return _after(row, ev, major=False)


open_work_by_group = Projection(
    name="open_work_by_group",
    # 2: the organisation, as a column (queues per organisation); 3: the category
    version=3,
    folds={
        e.Logged: _logged,
        e.Assigned: _assigned,
        e.WorkStarted: _work_started,
        e.Reprioritised: _reprioritised,
        e.Recategorised: _recategorised,
        e.Escalated: _escalated,
        e.MajorIncidentDeclared: _declared_major,
        e.MajorIncidentStoodDown: _stood_down_major,
        **dict.fromkeys(
            (e.PutOnHold, e.Resumed, e.Resolved, e.Reopened, e.Closed, e.Cancelled), _after
        ),
    },
    columns=(
        Column("queued", "INTEGER"),
        Column("group", "TEXT"),
        Column("priority", "INTEGER"),
        Column("logged_at", "TEXT"),
        Column("organisation", "TEXT"),
    ),
    indexes=(
        ("queued", "group", "priority", "logged_at"),
        ("queued", "organisation", "group", "priority", "logged_at"),
    ),
)


def queued(store: ViewStore, ctx: Context, group: str | None) -> list[Row]:
    """The open work the caller reaches (their organisations'; a requester, none), in one group
    or all, group by group (triage, with no group, first), each by priority then age."""
    conditions, params = ['"queued" = 1'], []
    if group is not None:
        conditions.append('"group" = ?')
        params.append(group)
    tail = 'ORDER BY "group" NULLS FIRST, "priority", "logged_at"'
    return select_where(store, open_work_by_group, ctx, STAFF, conditions, params, tail)
