"""Parents, children and merged duplicates, Given (events) / When (a method) / Then (events on
each record, or the named error with nothing recorded on either)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given as for_all
from hypothesis import strategies as st

from domain import links
from domain.actors import SYSTEM
from domain.errors import (
    AlreadyHasParent,
    AlreadyLinked,
    IllegalTransition,
    IncidentAlreadyClosed,
    NoParent,
    ParentCycle,
    TooManyRelated,
)
from domain.incident import (
    MAX_RELATED,
    ChildLinked,
    ChildUnlinked,
    DuplicateMerged,
    Incident,
    IncidentEvent,
    IncidentState,
    LinkedToParent,
    ParentResolved,
    ResolutionCode,
    Resolved,
    UnlinkedFromParent,
)
from tests.conftest import AGENT, MANAGER, context
from tests.unit.test_incident_rules import HISTORIES, OPEN, WINDOW, state_of

CLOSED_STATES = [s for s in IncidentState if s not in OPEN]


def incident(state: IncidentState = IncidentState.ASSIGNED, number: int = 1) -> Incident:
    """An incident of its own id and number, in `state` (test_incident_rules' histories)."""
    record_id = uuid4()
    events = [
        e.model_copy(update={"originator_id": record_id, "originator_version": n})
        for n, e in enumerate(HISTORIES[state], 1)
    ]
    events[0] = events[0].model_copy(update={"number": number})
    found = Incident.project(None, events)
    assert found is not None
    return found


def family(*states: IncidentState) -> tuple[Incident, list[Incident]]:
    """A parent in progress with a child in each of `states`, linked while they were open."""
    parent = incident(IncidentState.IN_PROGRESS, number=100)
    children = []
    for n, state in enumerate(states, 1):
        child = incident(IncidentState.ASSIGNED, number=n)
        parent.link_child(context(AGENT), child=child, ancestors=[])
        children.append(_moved_to(child, state))
    parent.collect_events()
    return parent, children


def _moved_to(child: Incident, state: IncidentState) -> Incident:
    """The child, its history continued from assigned as far as `state` goes."""
    child.collect_events()
    ctx = context(AGENT)
    steps: dict[IncidentState, list[Any]] = {
        IncidentState.ASSIGNED: [],
        IncidentState.LOGGED: [],
        IncidentState.IN_PROGRESS: [lambda: child.start_work(ctx)],
        IncidentState.ON_HOLD: [
            lambda: child.start_work(ctx),
            lambda: child.put_on_hold(ctx, reason="awaiting_caller"),
        ],
        IncidentState.RESOLVED: [
            lambda: child.start_work(ctx),
            lambda: child.resolve(
                ctx, code=ResolutionCode.FIXED, notes="own", reopen_window=WINDOW
            ),
        ],
        IncidentState.CLOSED: [
            lambda: child.start_work(ctx),
            lambda: child.resolve(
                ctx, code=ResolutionCode.FIXED, notes="own", reopen_window=WINDOW
            ),
            lambda: child.confirm_resolution(ctx),
        ],
        IncidentState.CANCELLED: [lambda: child.cancel(ctx, reason="logged_in_error")],
    }
    for step in steps[state]:
        step()
    child.collect_events()
    return child


def then_only(record: Incident, *types: type[IncidentEvent]) -> list[IncidentEvent]:
    events = record.collect_events()
    assert [type(e) for e in events] == list(types)
    assert all(isinstance(e, IncidentEvent) for e in events)
    return events  # type: ignore[return-value]


def then_refused(error: type[Exception], when: Any, *records: Incident) -> None:
    """Exactly this error, and nothing recorded or changed on any of the records."""
    before = [state_of(r) for r in records]
    with pytest.raises(error) as raised:
        when()
    assert type(raised.value) is error
    for record, was in zip(records, before, strict=True):
        assert record.collect_events() == []
        assert state_of(record) == was


# -- linking a child -----------------------------------------------------------------------------


@pytest.mark.parametrize("parent_state", sorted(OPEN))
@pytest.mark.parametrize("child_state", sorted(OPEN))
def test_a_link_is_an_event_on_both_open_incidents(
    parent_state: IncidentState, child_state: IncidentState
) -> None:
    parent, child = incident(parent_state, 7), incident(child_state, 8)
    ctx = context(AGENT)

    parent.link_child(ctx, child=child, ancestors=[])

    [on_parent] = then_only(parent, ChildLinked)
    [on_child] = then_only(child, LinkedToParent)
    assert isinstance(on_parent, ChildLinked)
    assert isinstance(on_child, LinkedToParent)
    assert (on_parent.incident_id, on_parent.incident_ref) == (child.id, "INC-000008")
    assert (on_child.incident_id, on_child.incident_ref) == (parent.id, "INC-000007")
    assert on_parent.correlation_id == on_child.correlation_id == ctx.correlation_id
    assert parent.children == {child.id}
    assert child.parent == parent.id
    assert (parent.state, child.state) == (parent_state, child_state)


@pytest.mark.parametrize("state", CLOSED_STATES)
def test_a_finished_incident_is_neither_parent_nor_child(state: IncidentState) -> None:
    finished, open_one = incident(state, 1), incident(IncidentState.ASSIGNED, 2)
    error = IncidentAlreadyClosed if state is IncidentState.CLOSED else IllegalTransition
    then_refused(
        error,
        lambda: finished.link_child(context(AGENT), child=open_one, ancestors=[]),
        finished,
        open_one,
    )
    then_refused(
        error,
        lambda: open_one.link_child(context(AGENT), child=finished, ancestors=[]),
        finished,
        open_one,
    )


def test_an_incident_is_not_its_own_child() -> None:
    one = incident()
    then_refused(ParentCycle, lambda: one.link_child(context(AGENT), child=one, ancestors=[]), one)


def test_a_parent_of_a_parent_cannot_become_its_child() -> None:
    top, middle, bottom = incident(number=1), incident(number=2), incident(number=3)
    top.link_child(context(AGENT), child=middle, ancestors=[])
    middle.link_child(context(AGENT), child=bottom, ancestors=[top])
    for record in (top, middle, bottom):
        record.collect_events()

    then_refused(
        ParentCycle,
        lambda: bottom.link_child(context(AGENT), child=top, ancestors=[middle, top]),
        top,
        bottom,
    )


def test_a_child_has_one_parent() -> None:
    first, second, child = incident(number=1), incident(number=2), incident(number=3)
    first.link_child(context(AGENT), child=child, ancestors=[])
    first.collect_events(), child.collect_events()

    then_refused(
        AlreadyHasParent,
        lambda: second.link_child(context(AGENT), child=child, ancestors=[]),
        second,
        child,
    )
    then_refused(
        AlreadyLinked,
        lambda: first.link_child(context(AGENT), child=child, ancestors=[]),
        first,
        child,
    )


def test_a_parent_holds_a_bounded_number_of_children() -> None:
    parent = incident(number=1)
    for _ in range(MAX_RELATED):
        parent.link_child(context(AGENT), child=incident(number=2), ancestors=[])
    parent.collect_events()
    one_more = incident(number=3)

    then_refused(
        TooManyRelated,
        lambda: parent.link_child(context(AGENT), child=one_more, ancestors=[]),
        parent,
        one_more,
    )


# -- unlinking a child ----------------------------------------------------------------------------


@pytest.mark.parametrize("parent_state", sorted(IncidentState))
@pytest.mark.parametrize("child_state", sorted(OPEN))
def test_an_open_child_leaves_its_parent_in_any_state_with_a_reason_recorded_on_both(
    parent_state: IncidentState, child_state: IncidentState
) -> None:
    # Given a parent with a child, and the parent moved on since (a child reopened after its
    # parent was resolved is still its child)
    open_then = parent_state if parent_state in OPEN else IncidentState.IN_PROGRESS
    parent, child = incident(open_then, 100), incident(child_state, 1)
    parent.link_child(context(AGENT), child=child, ancestors=[])
    parent.collect_events()
    child.collect_events()
    if parent_state not in OPEN:
        parent = _finished(parent, parent_state)
    assert parent.state is parent_state
    ctx = context(AGENT)

    # When the child is unlinked
    child.unlink_from_parent(ctx, parent=parent, reason="A different fault")

    # Then both record it, with the reason, and neither holds the link
    [on_child] = then_only(child, UnlinkedFromParent)
    [on_parent] = then_only(parent, ChildUnlinked)
    assert isinstance(on_child, UnlinkedFromParent)
    assert isinstance(on_parent, ChildUnlinked)
    assert (on_child.incident_id, on_child.incident_ref) == (parent.id, "INC-000100")
    assert (on_parent.incident_id, on_parent.incident_ref) == (child.id, "INC-000001")
    assert on_child.reason == on_parent.reason == "A different fault"
    assert on_child.actor == on_parent.actor == AGENT
    assert (child.parent, parent.children) == (None, frozenset())
    assert child.state is child_state


def _finished(parent: Incident, state: IncidentState) -> Incident:
    """The parent (in progress), its history continued to `state` (resolved, closed,
    cancelled)."""
    ctx = context(AGENT)
    if state is IncidentState.CANCELLED:
        parent.cancel(ctx, reason="logged_in_error")
    else:
        parent.resolve(ctx, code=ResolutionCode.FIXED, notes="fixed", reopen_window=WINDOW)
        if state is IncidentState.CLOSED:
            parent.confirm_resolution(ctx)
    parent.collect_events()
    return parent


@pytest.mark.parametrize("child_state", CLOSED_STATES)
def test_a_child_no_longer_open_is_not_unlinked(child_state: IncidentState) -> None:
    parent, [child] = family(child_state)
    then_refused(
        IllegalTransition if child_state is not IncidentState.CLOSED else IncidentAlreadyClosed,
        lambda: child.unlink_from_parent(context(AGENT), parent=parent, reason="x"),
        child,
        parent,
    )


def test_an_incident_without_a_parent_is_not_unlinked() -> None:
    loner, other = incident(number=3), incident(number=4)
    then_refused(
        NoParent,
        lambda: loner.unlink_from_parent(context(AGENT), parent=other, reason="x"),
        loner,
        other,
    )


def test_an_unlinked_child_is_not_resolved_with_its_former_parent_and_may_take_another() -> None:
    # Given a parent with two children, one of them unlinked
    parent, [kept, left] = family(IncidentState.ASSIGNED, IncidentState.IN_PROGRESS)
    left.unlink_from_parent(context(AGENT), parent=parent, reason="Linked in error")
    left.collect_events()
    parent.collect_events()

    # When the parent is resolved and its resolution propagated
    parent.resolve(context(AGENT), code=ResolutionCode.FIXED, notes="fixed", reopen_window=WINDOW)
    links.resolve_children(_Children(kept, left), context(AGENT), parent)  # type: ignore[arg-type]

    # Then only the child still linked is resolved with it
    then_only(kept, ParentResolved, Resolved)
    assert left.collect_events() == []
    assert left.state is IncidentState.IN_PROGRESS
    assert left.resolve_with_parent(context(AGENT), parent=parent) is False
    # and the unlinked child may be linked to another parent (no longer "already has a parent")
    other = incident(IncidentState.IN_PROGRESS, number=200)
    other.link_child(context(AGENT), child=left, ancestors=[])
    then_only(left, LinkedToParent)


def test_unlinking_through_the_session_reads_the_parent_whoever_reaches_it() -> None:
    parent, [child] = family(IncidentState.ASSIGNED)

    links.child_from_parent(_Children(parent), context(AGENT), child, "Another outage")  # type: ignore[arg-type]

    then_only(child, UnlinkedFromParent)
    then_only(parent, ChildUnlinked)
    loner = incident(number=9)
    then_refused(
        NoParent,
        lambda: links.child_from_parent(_Children(), context(AGENT), loner, "x"),  # type: ignore[arg-type]
        loner,
    )


# -- the parent's resolution propagates ------------------------------------------------------------


@pytest.mark.parametrize("child_state", sorted(OPEN))
def test_an_open_child_is_resolved_with_its_parent_by_the_service_for_the_resolver(
    child_state: IncidentState,
) -> None:
    parent, [child] = family(child_state)
    resolver = context(MANAGER)
    parent.resolve(
        resolver, code=ResolutionCode.WORKAROUND, notes="Gate reset", reopen_window=WINDOW
    )
    [parent_resolved] = then_only(parent, Resolved)

    assert child.resolve_with_parent(resolver, parent=parent) is True

    why, resolved = then_only(child, ParentResolved, Resolved)
    assert isinstance(why, ParentResolved)
    assert isinstance(resolved, Resolved)
    assert (why.incident_id, why.incident_ref) == (parent.id, "INC-000100")
    assert why.code is ResolutionCode.WORKAROUND
    assert why.on_behalf_of == MANAGER
    assert why.actor == resolved.actor == SYSTEM
    assert why.correlation_id == resolved.correlation_id == resolver.correlation_id
    assert isinstance(parent_resolved, Resolved)
    assert (resolved.code, resolved.notes, resolved.reopen_until) == (
        parent_resolved.code,
        parent_resolved.notes,
        parent_resolved.reopen_until,
    )
    assert child.state is IncidentState.RESOLVED


@pytest.mark.parametrize("child_state", CLOSED_STATES)
def test_a_child_no_longer_open_keeps_its_own_outcome(child_state: IncidentState) -> None:
    parent, [child] = family(child_state)
    parent.resolve(context(AGENT), code=ResolutionCode.FIXED, notes="fixed", reopen_window=WINDOW)
    before = state_of(child)

    assert child.resolve_with_parent(context(AGENT), parent=parent) is False

    assert child.collect_events() == []
    assert state_of(child) == before


def test_a_parent_not_resolved_resolves_no_child() -> None:
    parent, [child] = family(IncidentState.ASSIGNED)
    assert child.resolve_with_parent(context(AGENT), parent=parent) is False
    assert child.collect_events() == []


def test_an_incident_resolves_only_its_own_children() -> None:
    parent, _ = family(IncidentState.ASSIGNED)
    stranger = incident(number=55)
    parent.resolve(context(AGENT), code=ResolutionCode.FIXED, notes="fixed", reopen_window=WINDOW)
    assert stranger.resolve_with_parent(context(AGENT), parent=parent) is False
    assert stranger.collect_events() == []


class _Children:
    """The session `links.resolve_children` reads the children through: the records by id."""

    def __init__(self, *records: Incident) -> None:
        self.records = {r.id: r for r in records}

    def find(self, cls: type[Incident], record_id: UUID) -> Incident | None:
        return self.records.get(record_id)


@for_all(st.lists(st.sampled_from(sorted(IncidentState)), max_size=8))
def test_resolving_a_parent_resolves_exactly_its_open_children(
    states: list[IncidentState],
) -> None:
    parent, children = family(*states)
    parent.resolve(context(AGENT), code=ResolutionCode.FIXED, notes="fixed", reopen_window=WINDOW)

    links.resolve_children(_Children(*children), context(AGENT), parent)  # type: ignore[arg-type]

    for child, state in zip(children, states, strict=True):
        events = child.collect_events()
        if state in OPEN:
            assert [type(e) for e in events] == [ParentResolved, Resolved]
            assert child.state is IncidentState.RESOLVED
        else:
            assert events == []
            assert child.state is state


# -- duplicates ----------------------------------------------------------------------------------


def test_a_duplicate_merged_into_an_incident_makes_its_caller_affected() -> None:
    survivor, duplicate = incident(number=1), incident(number=2)
    duplicate.cancel(context(AGENT), reason="duplicate", duplicate_of=survivor.id)
    duplicate.collect_events()

    survivor.merge_duplicate(context(AGENT), duplicate=duplicate)

    [merged] = then_only(survivor, DuplicateMerged)
    assert isinstance(merged, DuplicateMerged)
    assert (merged.incident_id, merged.incident_ref) == (duplicate.id, "INC-000002")
    assert merged.caller == duplicate.caller
    assert survivor.affected_callers == {duplicate.caller}
