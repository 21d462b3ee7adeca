"""Every rule of the improvement register (domain/improvement.py), Given / When / Then.

Given: a history of events, replayed through `Improvement.project`.
When: one aggregate method (or the proposing command), called with a Context.
Then: exactly the new event it records, or the named error it raises with nothing recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.actors import Actor, Role
from domain.context import Context
from domain.errors import DomainError, IllegalTransition, NothingChanged, NotPermitted
from domain.events import DomainEvent
from domain.improvement import (
    Approved,
    Completed,
    Improvement,
    ImprovementEvent,
    ImprovementSource,
    ImprovementState,
    OwnerAssigned,
    Proposed,
    Rejected,
    Started,
)
from domain.improvement_commands import ProposeImprovement
from tests.conftest import AGENT, MANAGER, T0, context

ID = UUID("3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b9a")
OWNER = Actor(id="andi.wijaya", role=Role.RESOLVER)
ADMIN = Actor(id="admin", role=Role.ADMIN)


def happened(event_type: type[DomainEvent], **fields: Any) -> Any:
    return event_type(
        originator_id=ID,
        originator_version=0,
        timestamp=T0,
        actor=MANAGER,
        correlation_id=uuid4(),
        **fields,
    )


def proposed(owner: str | None = OWNER.id) -> Proposed:
    return happened(
        Proposed,
        number=1,
        title="Kiosk card readers: replace before they fail",
        source=ImprovementSource.PROBLEM,
        owner=owner,
        expected_benefit="No kiosk out of service for a reader",
        due=date(2027, 3, 31),
    )


def given(*events: ImprovementEvent) -> Improvement:
    numbered = [e.model_copy(update={"originator_version": n}) for n, e in enumerate(events, 1)]
    found = Improvement.project(None, numbered)
    assert found is not None
    return found


PROPOSED = (proposed(),)
APPROVED = (*PROPOSED, happened(Approved))
IN_PROGRESS = (*APPROVED, happened(Started))
DONE = (*IN_PROGRESS, happened(Completed, realised_benefit="none out since May"))
REJECTED = (*PROPOSED, happened(Rejected, reason="replaced next year"))
HISTORIES = {
    ImprovementState.PROPOSED: PROPOSED,
    ImprovementState.APPROVED: APPROVED,
    ImprovementState.IN_PROGRESS: IN_PROGRESS,
    ImprovementState.DONE: DONE,
    ImprovementState.REJECTED: REJECTED,
}
OPEN = {ImprovementState.PROPOSED, ImprovementState.APPROVED, ImprovementState.IN_PROGRESS}

#: action -> (call it as a service manager, the event it records, the states it is allowed in)
ACTIONS: dict[str, tuple[Callable[[Improvement, Context], None], type, set[ImprovementState]]] = {
    "approve": (
        lambda m, c: m.approve(c, comment="worth it"),
        Approved,
        {ImprovementState.PROPOSED},
    ),
    "start": (lambda m, c: m.start(c), Started, {ImprovementState.APPROVED}),
    "complete": (
        lambda m, c: m.complete(c, realised_benefit="fewer faults"),
        Completed,
        {ImprovementState.IN_PROGRESS},
    ),
    "reject": (lambda m, c: m.reject(c, reason="not now"), Rejected, OPEN),
    "assign_owner": (
        lambda m, c: m.assign_owner(c, owner="dewi.lestari", reason="her team"),
        OwnerAssigned,
        OPEN,
    ),
}


def then_refused(found: Improvement, act: Callable[[], Any], error: type[DomainError]) -> None:
    version = found.version
    with pytest.raises(error):
        act()
    assert found.collect_events() == []
    assert found.version == version


def test_the_table_covers_every_public_method() -> None:
    methods = {
        name
        for name, member in vars(Improvement).items()
        if not name.startswith("_") and callable(member) and "__mutmut_" not in name
    }
    assert methods - {"propose", "check_manager"} == set(ACTIONS)


@pytest.mark.parametrize(
    ("action", "state"),
    [(a, s) for a in ACTIONS for s in ImprovementState if s in ACTIONS[a][2]],
)
def test_an_action_in_its_states_records_its_event(action: str, state: ImprovementState) -> None:
    found = given(*HISTORIES[state])
    act, event_type, _ = ACTIONS[action]
    ctx = context(MANAGER)
    act(found, ctx)
    (event,) = found.collect_events()
    assert isinstance(event, event_type)
    assert (event.actor, event.timestamp) == (MANAGER, ctx.at)
    assert event.originator_version == len(HISTORIES[state]) + 1


@pytest.mark.parametrize(
    ("action", "state"),
    [(a, s) for a in ACTIONS for s in ImprovementState if s not in ACTIONS[a][2]],
)
def test_an_action_outside_its_states_is_an_illegal_transition(
    action: str, state: ImprovementState
) -> None:
    found = given(*HISTORIES[state])
    act, _, _ = ACTIONS[action]
    then_refused(found, lambda: act(found, context(MANAGER)), IllegalTransition)


def test_the_lifecycle_runs_proposed_approved_in_progress_done() -> None:
    assert given(*DONE).state is ImprovementState.DONE
    assert given(*REJECTED).state is ImprovementState.REJECTED


@pytest.mark.parametrize("action", ["approve", "reject", "assign_owner"])
def test_only_a_service_manager_approves_rejects_and_names_owners(action: str) -> None:
    found = given(*PROPOSED)
    act, _, _ = ACTIONS[action]
    then_refused(found, lambda: act(found, context(OWNER)), NotPermitted)
    act(found, context(ADMIN))
    assert len(found.collect_events()) == 1


@pytest.mark.parametrize("action", ["start", "complete"])
def test_its_owner_or_a_service_manager_does_the_work(action: str) -> None:
    act, _, states = ACTIONS[action]
    (state,) = states
    found = given(*HISTORIES[state])
    then_refused(found, lambda: act(found, context(AGENT)), NotPermitted)
    act(found, context(OWNER))
    assert len(found.collect_events()) == 1


def test_an_unowned_improvement_is_worked_by_a_manager_until_it_has_an_owner() -> None:
    found = given(proposed(owner=None), happened(Approved))
    assert found.owner is None
    then_refused(found, lambda: found.start(context(OWNER)), NotPermitted)
    found.assign_owner(context(MANAGER), owner=OWNER.id)
    found.start(context(OWNER))
    assert [type(e) for e in found.collect_events()] == [OwnerAssigned, Started]
    assert found.owner == OWNER.id


def test_naming_the_owner_it_has_changes_nothing() -> None:
    found = given(*PROPOSED)
    then_refused(
        found, lambda: found.assign_owner(context(MANAGER), owner=OWNER.id), NothingChanged
    )


def test_only_a_service_manager_proposes_an_improvement() -> None:
    command = ProposeImprovement(title="Shorter queues", source=ImprovementSource.OTHER)
    with pytest.raises(NotPermitted):
        command.decide(None, context(AGENT))  # type: ignore[arg-type]
