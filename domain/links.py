"""Links between incidents, problems, changes and configuration items.

A link is an event on each of the two records (Incident.LinkedToProblem and
Problem.IncidentLinked, ...), recorded in one command and so saved in one atomic write: each
record's history shows it, and neither side can exist without the other.
"""

from __future__ import annotations

from uuid import UUID

from domain.change import Change
from domain.configuration_item import ConfigurationItem, ci_id
from domain.context import Context
from domain.errors import NoParent
from domain.incident import MAX_DEPTH, Incident, incident_label
from domain.problem import Problem
from domain.record_numbers import RecordKind, number_label
from domain.session import Session


def incident_ref(incident: Incident) -> str:
    return incident_label(incident)


def problem_ref(problem: Problem) -> str:
    return number_label(RecordKind.PROBLEM, problem.number)


def change_ref(change: Change) -> str:
    return number_label(RecordKind.CHANGE, change.number)


def load_incident(session: Session, ref: str) -> Incident:
    incident_id: UUID = session.find_incident(ref)
    return session.get(Incident, incident_id, ref)


def load_change(session: Session, ref: str) -> Change:
    return session.get(Change, session.find_numbered(RecordKind.CHANGE, ref), ref)


def load_problem(session: Session, ref: str) -> Problem:
    return session.get(Problem, session.find_numbered(RecordKind.PROBLEM, ref), ref)


def incident_and_problem(ctx: Context, incident: Incident, problem: Problem) -> None:
    """Link both ways; an incident still being worked is told of the problem's workaround."""
    problem.link_incident(ctx, incident_id=incident.id, incident_ref=incident_ref(incident))
    incident.link_to_problem(ctx, problem_id=problem.id, problem_ref=problem_ref(problem))
    if problem.workaround is not None:
        incident.share_workaround(
            ctx,
            problem_id=problem.id,
            problem_ref=problem_ref(problem),
            workaround=problem.workaround,
        )


def parent_and_child(session: Session, ctx: Context, parent: Incident, child: Incident) -> None:
    """Link both ways, if the caller reaches both (the command loaded them so); the parent's own
    parents are read as the service reads them, whoever's they are, to refuse a cycle."""
    ancestors: list[Incident] = []
    above = parent.parent
    while above is not None and len(ancestors) <= MAX_DEPTH:
        found = session.find(Incident, above)
        if found is None:
            break
        ancestors.append(found)
        above = found.parent
    parent.link_child(ctx, child=child, ancestors=ancestors)


def child_from_parent(session: Session, ctx: Context, child: Incident, reason: str) -> None:
    """Unlink a child the caller reaches (the command loaded it so) from its parent, read as the
    service reads it, whoever's it is: the parent must record its side, and the caller learns
    nothing of it the child's own history does not already name."""
    parent = None if child.parent is None else session.find(Incident, child.parent)
    if parent is None:  # no parent (or, never, one the store lost): refused as having none
        raise NoParent(f"{incident_ref(child)} has no parent")
    child.unlink_from_parent(ctx, parent=parent, reason=reason)


def resolve_children(session: Session, ctx: Context, parent: Incident) -> None:
    """Propagate the parent's resolution, just recorded, to each child still open: the service
    acts on every child, in this write, whoever's it is (the resolver need not reach it)."""
    for child_id in sorted(parent.children):
        child = session.find(Incident, child_id)
        if child is not None:
            child.resolve_with_parent(ctx, parent=parent)


def problem_and_change(ctx: Context, problem: Problem, change: Change) -> None:
    problem.link_change(ctx, change_id=change.id, change_ref=change_ref(change))
    change.link_problem(ctx, problem_id=problem.id, problem_ref=problem_ref(problem))


def incident_and_change(ctx: Context, incident: Incident, change: Change) -> None:
    change.link_incident(ctx, incident_id=incident.id, incident_ref=incident_ref(incident))
    incident.link_to_change(ctx, change_id=change.id, change_ref=change_ref(change))


def problem_and_item(ctx: Context, problem: Problem, item: ConfigurationItem) -> None:
    problem.link_configuration_item(ctx, code=item.code)
    item.link_problem(ctx, problem_id=problem.id, problem_ref=problem_ref(problem))


def change_and_items(session: Session, ctx: Context, change: Change) -> None:
    """A change names its items when it is raised; each item records the link."""
    for code in change.configuration_items:
        item = session.get(ConfigurationItem, ci_id(code), code)
        item.link_change(ctx, change_id=change.id, change_ref=change_ref(change))
