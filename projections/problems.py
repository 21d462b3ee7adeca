"""Problems' read models.

- problem_details: everything a person reading one problem wants, one row per problem; it also
  serves the problem list (by state, service, priority), newest first or by priority, and the
  recurrence report.
- known_errors: the known error database: one row per problem, searchable by service,
  configuration item and text; only published known errors are listed.
- incident_occurrences: when and where each incident happened (service, configuration item),
  indexed, for the recurrence report: incidents on a closed problem's service or items logged
  after it closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain import incident as i
from domain import problem as p
from domain.context import Context
from domain.problem_candidates import MAX_INCIDENTS
from domain.record_numbers import RecordKind, number_label
from projections.base import Column, Projection, Row, at, by, copied, folds_of
from projections.queries import (
    STAFF,
    Filter,
    Order,
    Page,
    Reach,
    View,
    Where,
    select_where,
)
from projections.records import entry, list_columns, list_indexes, numbered, stamped
from projections.view_store import ViewStore


def _touched(row: Row, ev: p.ProblemEvent, **changes: Any) -> Row:
    return stamped(row, ev, state=p.transition(p.ProblemState(row["state"]), ev), **changes)


def priority_rank(priority: int, number: int) -> str:
    """The problem queue's order, one value per problem: priority first (P1 first), then the
    oldest (the lowest number) first."""
    return f"{priority}:{number:019d}"


def _prioritised(row: Row, ev: p.Logged | p.Reprioritised) -> dict[str, Any]:
    return {
        **copied(ev, "impact urgency priority matrix_version"),
        "priority_rank": priority_rank(ev.priority, row["number"]),
    }


def _logged(_: Row | None, ev: p.Logged) -> Row:
    return {
        **numbered(ev, RecordKind.PROBLEM, ev.number),
        **copied(ev, "title description service configuration_items organisation"),
        "state": p.ProblemState.LOGGED,
        "investigator": None,
        "escalated_to": None,
        "escalations": [],
        "work_notes": [],
        "actions_taken": [],
        "root_cause": None,
        "potential_actions": [],
        "workaround": None,
        "known_error": None,
        "resolution": None,
        "closed_at": None,
        "cancellation": None,
        "incidents": [],
        "changes": [],
        "logged_at": at(ev),
        "logged_by": by(ev),
        "updated_at": at(ev),
        "version": ev.originator_version,
    } | _prioritised({"number": ev.number}, ev)


def _reprioritised(row: Row, ev: p.Reprioritised) -> Row:
    return _touched(row, ev, **_prioritised(row, ev))


def _escalated(row: Row, ev: p.Escalated) -> Row:
    _touched(row, ev, escalated_to=ev.to_group or ev.to_manager)
    row["escalations"].append(
        entry(ev, kind=ev.kind, reason=ev.reason, to_group=ev.to_group, to_manager=ev.to_manager)
    )
    return row


def _work_note(row: Row, ev: p.WorkNoteAdded) -> Row:
    _touched(row, ev)
    row["work_notes"].append(entry(ev, text=ev.text))
    return row


def _action_taken(row: Row, ev: p.ActionTaken) -> Row:
    _touched(row, ev)
    row["actions_taken"].append(entry(ev, description=ev.description, result=ev.result))
    return row


def _action_decided(row: Row, ev: p.PotentialActionDecided) -> Row:
    _touched(row, ev)
    for action in row["potential_actions"]:
        if action["number"] == ev.potential_action:
            action["decision"] = entry(ev, decision=ev.decision, reason=ev.reason)
    return row


def _investigating(row: Row, ev: p.InvestigationStarted) -> Row:
    return _touched(row, ev, investigator=ev.investigator)


def _root_cause(row: Row, ev: p.RootCauseRecorded) -> Row:
    analysis = None if ev.analysis is None else ev.analysis.model_dump(mode="json")
    cause = entry(ev, text=ev.root_cause, method=ev.method, analysis=analysis)
    _touched(row, ev, root_cause=cause)
    for action in ev.actions:
        proposed = entry(ev, **action.model_dump(mode="json"))
        row["potential_actions"].append({**proposed, "decision": None})
    return row


def _workaround(row: Row, ev: p.WorkaroundPublished) -> Row:
    return _touched(row, ev, workaround=entry(ev, text=ev.workaround))


def _known_error(row: Row, ev: p.KnownErrorPublished) -> Row:
    return _touched(row, ev, known_error=entry(ev, symptoms=ev.symptoms))


def _resolved(row: Row, ev: p.Resolved) -> Row:
    resolution = entry(ev, change_id=str(ev.change_id), change=ev.change_ref, notes=ev.notes)
    return _touched(row, ev, resolution=resolution)


def _closed(row: Row, ev: p.Closed) -> Row:
    return _touched(row, ev, closed_at=at(ev))


def _cancelled(row: Row, ev: p.Cancelled) -> Row:
    return _touched(row, ev, cancellation=entry(ev, reason=ev.reason))


def _incident_linked(row: Row, ev: p.IncidentLinked) -> Row:
    _touched(row, ev)
    row["incidents"].append(entry(ev, id=str(ev.incident_id), ref=ev.incident_ref))
    return row


def _change_linked(row: Row, ev: p.ChangeLinked) -> Row:
    _touched(row, ev)
    row["changes"].append(entry(ev, id=str(ev.change_id), ref=ev.change_ref))
    return row


def _ci_linked(row: Row, ev: p.ConfigurationItemLinked) -> Row:
    return _touched(row, ev, configuration_items=sorted({*row["configuration_items"], ev.code}))


problem_details = Projection(
    name="problem_details",
    # 2: the organisation, as a column (scoped lists); 3: priority, escalations, work notes,
    # actions taken, the analysis and its potential actions
    version=3,
    folds=folds_of(
        _logged,
        _reprioritised,
        _escalated,
        _work_note,
        _action_taken,
        _action_decided,
        _investigating,
        _root_cause,
        _workaround,
        _known_error,
        _resolved,
        _closed,
        _cancelled,
        _incident_linked,
        _change_linked,
        _ci_linked,
    ),
    columns=(
        *list_columns("service"),
        Column("priority", "INTEGER"),
        Column("priority_rank", "TEXT"),
    ),
    indexes=(*list_indexes("service", "priority"), ("priority_rank",)),
)


# -- the known error database ------------------------------------------------------------------


def _searchable(row: Row) -> Row:
    """The indexed columns: items as |a|b| (so that LIKE '%|a|%' matches one item exactly), and
    the text a search looks in, lower-cased."""
    row["items"] = "".join(f"|{code}" for code in row["configuration_items"]) + "|"
    words = [row["title"], row["description"], row["symptoms"], row["root_cause"]]
    words.append(row["workaround"])
    row["text"] = "\n".join(w for w in words if w).lower()
    return row


def _ke_logged(_: Row | None, ev: p.Logged) -> Row:
    row = {
        "id": str(ev.originator_id),
        "problem": number_label(RecordKind.PROBLEM, ev.number),
        "number": ev.number,
        "title": ev.title,
        "description": ev.description,
        "service": ev.service,
        "configuration_items": list(ev.configuration_items),
        "organisation": ev.organisation,
        "published": 0,
        "published_at": None,
        "symptoms": None,
        "root_cause": None,
        "workaround": None,
        "state": p.ProblemState.LOGGED,
    }
    return _searchable(row)


def _ke_state(row: Row, ev: p.InvestigationStarted | p.Resolved | p.Closed | p.Cancelled) -> Row:
    row["state"] = p.transition(p.ProblemState(row["state"]), ev)
    return row


def _ke_published(row: Row, ev: p.KnownErrorPublished) -> Row:
    state = p.transition(p.ProblemState(row["state"]), ev)
    row.update(published=1, published_at=at(ev), symptoms=ev.symptoms, state=state)
    return _searchable(row)


def _ke_root_cause(row: Row, ev: p.RootCauseRecorded) -> Row:
    row["root_cause"] = ev.root_cause
    return _searchable(row)


def _ke_workaround(row: Row, ev: p.WorkaroundPublished) -> Row:
    row["workaround"] = ev.workaround
    return _searchable(row)


def _ke_ci(row: Row, ev: p.ConfigurationItemLinked) -> Row:
    row["configuration_items"] = sorted({*row["configuration_items"], ev.code})
    return _searchable(row)


known_errors = Projection(
    name="known_errors",
    version=2,  # 2: the organisation, as a column (scoped search)
    folds=folds_of(_ke_logged, _ke_state, _ke_root_cause, _ke_workaround, _ke_published, _ke_ci),
    columns=(
        Column("published", "INTEGER"),
        Column("number", "INTEGER"),
        Column("service", "TEXT"),
        Column("items", "TEXT"),
        Column("text", "TEXT"),
        Column("organisation", "TEXT"),
    ),
    indexes=(("published", "service"), ("published", "number"), ("published", "organisation")),
)


# -- where and when incidents happen -----------------------------------------------------------


def _occurred(_: Row | None, ev: i.Logged) -> Row:
    return {
        "id": str(ev.originator_id),
        **copied(ev, "number service category configuration_item title"),
        "logged_at": at(ev),
        "organisation": ev.organisation,
        "cancelled": 0,
        "problems": [],
    }


def _recategorised(row: Row, ev: i.Recategorised) -> Row:
    row.update(service=ev.service, category=ev.category)
    return row


def _occurrence_cancelled(row: Row, ev: i.Cancelled) -> Row:
    row["cancelled"] = 1  # a duplicate, or logged in error: no occurrence of a fault
    return row


def _occurrence_linked(row: Row, ev: i.LinkedToProblem) -> Row:
    row["problems"].append(str(ev.problem_id))
    return row


incident_occurrences = Projection(
    name="incident_occurrences",
    # 2: the incident's organisation, as a column (scoped report); 3: its category and title,
    # whether it was cancelled and the problems it is linked to (problem candidates)
    version=3,
    folds=folds_of(_occurred, _recategorised, _occurrence_cancelled, _occurrence_linked),
    columns=(
        Column("service", "TEXT"),
        Column("configuration_item", "TEXT"),
        Column("logged_at", "TEXT"),
        Column("organisation", "TEXT"),
        Column("cancelled", "INTEGER"),
    ),
    indexes=(
        ("service", "logged_at"),
        ("configuration_item", "logged_at"),
        ("logged_at",),
        ("organisation", "logged_at"),
    ),
)

#: Problems are the staff's: a requester reaches none.
problems = View(problem_details, STAFF)
#: The problem queue: by priority (P1 first), then the oldest first.
problems_by_priority = View(problem_details, STAFF, Order("priority_rank"))
#: Published known errors, searched by service, configuration item and text.
known_error_views = View(known_errors, STAFF)


@dataclass(frozen=True, slots=True)
class PublishedToEveryone(Reach):
    """A published known error is everyone's to read, requesters included, in every library of
    the province (self-help: the member reads the workaround before logging a ticket); a problem
    whose known error is not published is no one's here, as if it did not exist."""

    def admits(self, ctx: Context, record: Mapping[str, Any]) -> bool:
        return bool(record.get("published"))

    def where(self, ctx: Context) -> Where:
        return ['"published" = 1'], []


#: One published known error, for anyone (api/problem_records.py `get_known_error`).
published_known_errors = View(known_errors, PublishedToEveryone())

#: What everyone reads of a published known error: what it is, where, what it looks like and
#: what to do about it. Never the description, the root cause or anything else the staff wrote
#: while investigating (problems are staff records: domain/visibility.py).
KNOWN_ERROR_FACE = (
    "id",
    "problem",
    "number",
    "title",
    "service",
    "configuration_items",
    "symptoms",
    "workaround",
    "state",
    "published_at",
)


def known_error_face(row: Row) -> Row:
    """A known errors row as everyone reads it (KNOWN_ERROR_FACE)."""
    return {name: row[name] for name in KNOWN_ERROR_FACE}


def known_error_filter(service: str | None, item: str | None, text: str | None) -> Filter:
    """The published known errors on a service, naming an item, and containing a text (any case)."""
    return Filter(
        equal={"published": 1, "service": service},
        contains={
            "items": None if item is None else f"|{item}|",  # |a|b|: one item exactly
            "text": None if text is None else text.lower(),
        },
    )


def problem_queue(
    store: ViewStore,
    ctx: Context,
    kept: Filter,
    *,
    limit: int,
    after: str | None = None,
) -> Page:
    """The open problems the caller reaches that `kept` keeps, by priority (P1 first) then the
    oldest first, at most `limit` from just after the rank `after`."""
    states = sorted(p.OPEN_STATES)
    conditions, params = kept.where()
    conditions = [f'"state" IN ({", ".join("?" for _ in states)})', *conditions]
    params = [*states, *params]
    order = problems_by_priority.order
    if after is not None:
        more, values = order.after(after)
        conditions, params = [*conditions, *more], [*params, *values]
    tail = f"{order.sql} LIMIT {limit + 1}"  # one more: whether a next page exists
    rows = select_where(store, problem_details, ctx, STAFF, conditions, params, tail)
    if len(rows) <= limit:
        return Page(rows, None)
    return Page(rows[:limit], rows[limit - 1][order.column])


def candidate_occurrences(store: ViewStore, ctx: Context, since: str) -> tuple[list[Row], bool]:
    """The incidents the caller reaches logged at or after `since`, not cancelled and linked to
    no open problem, the latest MAX_INCIDENTS of them; and whether there were more."""
    cap = MAX_INCIDENTS
    rows = select_where(
        store,
        incident_occurrences,
        ctx,
        STAFF,
        ['"logged_at" >= ?', '"cancelled" = 0'],
        [since],
        f'ORDER BY "logged_at" DESC LIMIT {cap + 1}',
    )
    states = sorted(p.OPEN_STATES)
    open_problems = {
        row["id"]
        for row in select_where(
            store,
            problem_details,
            ctx,
            STAFF,
            [f'"state" IN ({", ".join("?" for _ in states)})'],
            states,
        )
    }
    kept = [row for row in rows[:cap] if not open_problems.intersection(row["problems"])]
    return kept, len(rows) > cap


def incidents_after(store: ViewStore, ctx: Context, problem: Row) -> list[Row]:
    """The incidents the caller reaches (their organisations'; a requester, none) on a closed
    problem's service or items, logged after it closed, in the order they were logged."""
    on: list[str] = []
    params: list[Any] = []
    if problem["service"]:
        on.append('"service" = ?')
        params.append(problem["service"])
    items = problem["configuration_items"]
    if items:
        on.append(f'"configuration_item" IN ({", ".join("?" for _ in items)})')
        params.extend(items)
    if not on:
        return []
    conditions = [f"({' OR '.join(on)})", '"logged_at" > ?']
    return select_where(
        store,
        incident_occurrences,
        ctx,
        STAFF,
        conditions,
        [*params, problem["closed_at"]],
        'ORDER BY "logged_at"',
    )
