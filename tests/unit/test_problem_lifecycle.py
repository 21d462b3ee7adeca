"""The problem lifecycle, every action in every state, Given (commands) / When / Then.

logged -> investigating -> known_error -> resolved -> closed
logged | investigating | known_error -> cancelled
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.actors import Actor, Role
from domain.errors import AlreadyLinked, RecordIllegalTransition
from domain.incident import EscalationKind
from domain.priority import Impact, Urgency
from domain.problem import (
    ANALYSED_STATES,
    OPEN_STATES,
    WORKED_STATES,
    ActionDecision,
    ActionKind,
    ActionTaken,
    Cancelled,
    ChangeLinked,
    Closed,
    ConfigurationItemLinked,
    Escalated,
    InvestigationStarted,
    KnownErrorPublished,
    Logged,
    PotentialAction,
    PotentialActionDecided,
    Problem,
    ProblemEvent,
    ProblemState,
    Reprioritised,
    Resolved,
    RootCauseRecorded,
    WorkaroundPublished,
    WorkNoteAdded,
)
from tests.conftest import context
from tests.unit.test_problem_work import MATRIX

AGENT = Actor(id="siti.rahma", role=Role.AGENT)
CHANGE_ID = UUID("7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")


def state_of(problem: Problem) -> dict[str, Any]:
    return {k: v for k, v in vars(problem).items() if k != "_pending"}


def logged() -> Problem:
    problem = Problem.log(
        context(AGENT),
        id=uuid4(),
        number=1,
        title="Renewals fail at night",
        description="",
        service="catalogue-search",
        configuration_items=["app-opac"],
    )
    problem.link_change(context(AGENT), change_id=CHANGE_ID, change_ref="CHG-000001")
    problem.collect_events()
    return problem


def investigating() -> Problem:
    problem = logged()
    problem.start_investigation(context(AGENT))
    problem.record_root_cause(
        context(AGENT),
        root_cause="the nightly index job locks loans",
        actions=[
            PotentialAction(
                kind=ActionKind.CORRECTIVE, description="move the job", owner="app-team"
            )
        ],
    )
    problem.collect_events()
    return problem


def known_error() -> Problem:
    problem = investigating()
    problem.publish_known_error(context(AGENT), symptoms="renew does nothing after 23:00")
    problem.collect_events()
    return problem


def resolved() -> Problem:
    problem = known_error()
    problem.resolve(
        context(AGENT),
        change_id=CHANGE_ID,
        change_ref="CHG-000001",
        implemented_successfully=True,
        notes="job moved",
    )
    problem.collect_events()
    return problem


def closed() -> Problem:
    problem = resolved()
    problem.close(context(AGENT))
    problem.collect_events()
    return problem


def cancelled() -> Problem:
    problem = logged()
    problem.cancel(context(AGENT), reason="a duplicate of PRB-000002")
    problem.collect_events()
    return problem


IN_STATE: dict[ProblemState, Callable[[], Problem]] = {
    ProblemState.LOGGED: logged,
    ProblemState.INVESTIGATING: investigating,
    ProblemState.KNOWN_ERROR: known_error,
    ProblemState.RESOLVED: resolved,
    ProblemState.CLOSED: closed,
    ProblemState.CANCELLED: cancelled,
}

ACTIONS: dict[str, tuple[Callable[[Problem], None], type[ProblemEvent], ProblemState | None]] = {
    "start_investigation": (
        lambda p: p.start_investigation(context(AGENT)),
        InvestigationStarted,
        ProblemState.INVESTIGATING,
    ),
    "record_root_cause": (
        lambda p: p.record_root_cause(context(AGENT), root_cause="a lock"),
        RootCauseRecorded,
        None,
    ),
    "publish_workaround": (
        lambda p: p.publish_workaround(context(AGENT), workaround="renew at the desk"),
        WorkaroundPublished,
        None,
    ),
    "publish_known_error": (
        lambda p: p.publish_known_error(context(AGENT), symptoms="renew does nothing"),
        KnownErrorPublished,
        ProblemState.KNOWN_ERROR,
    ),
    "resolve": (
        lambda p: p.resolve(
            context(AGENT),
            change_id=CHANGE_ID,
            change_ref="CHG-000001",
            implemented_successfully=True,
            notes="job moved",
        ),
        Resolved,
        ProblemState.RESOLVED,
    ),
    "close": (lambda p: p.close(context(AGENT)), Closed, ProblemState.CLOSED),
    "reprioritise": (
        lambda p: p.reprioritise(
            context(AGENT),
            impact=Impact.HIGH,
            urgency=Urgency.HIGH,
            reason="every branch now",
            matrix=MATRIX,
        ),
        Reprioritised,
        None,
    ),
    "escalate": (
        lambda p: p.escalate(
            context(AGENT),
            kind=EscalationKind.HIERARCHICAL,
            reason="two weeks without a cause",
            to_manager="dewi.lestari",
        ),
        Escalated,
        None,
    ),
    "add_work_note": (
        lambda p: p.add_work_note(context(AGENT), text="the logs show a lock at 23:00"),
        WorkNoteAdded,
        None,
    ),
    "record_action": (
        lambda p: p.record_action(context(AGENT), description="replayed the renewals"),
        ActionTaken,
        None,
    ),
    "decide_potential_action": (
        lambda p: p.decide_potential_action(
            context(AGENT), potential_action=1, decision=ActionDecision.TAKEN
        ),
        PotentialActionDecided,
        None,
    ),
    "cancel": (
        lambda p: p.cancel(context(AGENT), reason="not a problem after all"),
        Cancelled,
        ProblemState.CANCELLED,
    ),
}

ALLOWED_IN: dict[str, set[ProblemState]] = {
    "start_investigation": {ProblemState.LOGGED},
    "record_root_cause": {ProblemState.INVESTIGATING, ProblemState.KNOWN_ERROR},
    "publish_workaround": set(OPEN_STATES),
    "publish_known_error": {ProblemState.INVESTIGATING},
    "resolve": {ProblemState.INVESTIGATING, ProblemState.KNOWN_ERROR},
    "close": {ProblemState.RESOLVED},
    "cancel": set(OPEN_STATES),
    "reprioritise": set(OPEN_STATES),
    "escalate": set(OPEN_STATES),
    "add_work_note": set(WORKED_STATES),
    "record_action": set(WORKED_STATES),
    "decide_potential_action": set(ANALYSED_STATES),
}

#: Problem's own public methods that are no lifecycle action: logging, and links (made in any
#: state: below and tests/unit/test_link_rules.py).
NOT_ACTIONS = {"log", "link_incident", "link_change", "link_configuration_item"}


def test_the_table_covers_every_public_method_of_problem() -> None:
    methods = {
        name
        for name, value in vars(Problem).items()
        if not name.startswith("_") and callable(getattr(Problem, name))
    }
    assert methods - NOT_ACTIONS == set(ACTIONS) == set(ALLOWED_IN)


def test_each_given_problem_is_in_its_state() -> None:
    for state, make in IN_STATE.items():
        assert make().state is state
    assert set(OPEN_STATES) == {
        ProblemState.LOGGED,
        ProblemState.INVESTIGATING,
        ProblemState.KNOWN_ERROR,
    }


def _pairs(allowed: bool) -> list[Any]:
    return [
        pytest.param(action, state, id=f"{action}-{state}")
        for action in ACTIONS
        for state in ProblemState
        if (state in ALLOWED_IN[action]) is allowed
    ]


@pytest.mark.parametrize(("action", "state"), _pairs(allowed=True))
def test_an_action_in_its_states_records_its_event_and_moves_the_problem(
    action: str, state: ProblemState
) -> None:
    problem = IN_STATE[state]()
    act, event_type, after = ACTIONS[action]

    act(problem)

    [event] = problem.collect_events()
    assert type(event) is event_type
    assert (event.originator_id, event.originator_version) == (problem.id, problem.version)
    assert problem.state is (after or state)


@pytest.mark.parametrize(("action", "state"), _pairs(allowed=False))
def test_an_action_outside_its_states_is_refused_naming_action_and_state(
    action: str, state: ProblemState
) -> None:
    problem = IN_STATE[state]()
    before = state_of(problem)
    act, _, _ = ACTIONS[action]

    with pytest.raises(RecordIllegalTransition) as refused:
        act(problem)

    assert (refused.value.action, refused.value.state) == (action, state)
    assert problem.collect_events() == []
    assert state_of(problem) == before


@pytest.mark.parametrize("state", sorted(OPEN_STATES))
def test_an_open_problem_is_cancelled_with_its_reason(state: ProblemState) -> None:
    problem = IN_STATE[state]()
    ctx = context(AGENT)

    problem.cancel(ctx, reason="a duplicate of PRB-000002")

    [event] = problem.collect_events()
    assert isinstance(event, Cancelled)
    assert (event.reason, event.actor, event.correlation_id) == (
        "a duplicate of PRB-000002",
        AGENT,
        ctx.correlation_id,
    )
    assert problem.state is ProblemState.CANCELLED
    assert not problem.open


@pytest.mark.parametrize("state", list(ProblemState))
def test_a_problem_in_any_state_records_a_configuration_item_once(state: ProblemState) -> None:
    problem = IN_STATE[state]()
    ctx = context(AGENT)

    problem.link_configuration_item(ctx, code="srv-opac-01")

    [event] = problem.collect_events()
    assert isinstance(event, ConfigurationItemLinked)
    assert (event.code, event.originator_version, event.correlation_id) == (
        "srv-opac-01",
        problem.version,
        ctx.correlation_id,
    )
    assert problem.configuration_items == {"app-opac", "srv-opac-01"}
    assert problem.state is state
    with pytest.raises(AlreadyLinked):
        problem.link_configuration_item(context(AGENT), code="app-opac")
    with pytest.raises(AlreadyLinked):
        problem.link_configuration_item(context(AGENT), code="srv-opac-01")
    assert problem.collect_events() == []


def test_a_change_is_linked_to_a_problem_once() -> None:
    problem = logged()

    with pytest.raises(AlreadyLinked):
        problem.link_change(context(AGENT), change_id=CHANGE_ID, change_ref="CHG-000001")
    problem.link_change(context(AGENT), change_id=uuid4(), change_ref="CHG-000002")

    [event] = problem.collect_events()
    assert isinstance(event, ChangeLinked)
    assert event.change_ref == "CHG-000002"


def test_a_history_that_does_not_start_with_logged_is_refused() -> None:
    stray = RootCauseRecorded(
        originator_id=uuid4(), originator_version=1, root_cause="x", **context(AGENT).stamp()
    )
    with pytest.raises(AssertionError, match=r"starts with Problem\.Logged"):
        Problem.project(None, [stray])


def test_logging_records_what_the_problem_is_and_whose_it_is() -> None:
    ctx = context(AGENT)
    problem_id = uuid4()

    problem = Problem.log(
        ctx,
        id=problem_id,
        number=4,
        title="Renewals fail at night",
        description="since the 3.2 upgrade",
        service="catalogue-search",
        configuration_items=["app-opac"],
        organisation="perpus-kota-serang",
    )

    [event] = problem.collect_events()
    assert isinstance(event, Logged)
    assert (event.originator_id, event.originator_version, event.number, event.title) == (
        problem_id,
        1,
        4,
        "Renewals fail at night",
    )
    assert (event.description, event.service, event.configuration_items) == (
        "since the 3.2 upgrade",
        "catalogue-search",
        ["app-opac"],
    )
    assert (event.organisation, event.actor, event.correlation_id) == (
        "perpus-kota-serang",
        AGENT,
        ctx.correlation_id,
    )
    assert (problem.version, problem.organisation) == (1, "perpus-kota-serang")
