"""Working a problem, Given (a problem) / When (an action) / Then (its events or a refusal):
its priority through the matrix in force, escalation, work notes and actions taken, and the root
cause analysis with its potential actions and their decisions (ISO/IEC 20000-1 8.6.3: items 50,
51, 52 of docs/iso20000.md). Problems stored before these read a default (upcast)."""

from __future__ import annotations

from uuid import uuid4

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.actors import Actor, Role
from domain.errors import (
    EscalationTargetUnchanged,
    PotentialActionAlreadyDecided,
    PriorityUnchanged,
    UnknownPotentialAction,
)
from domain.events import VERSION_KEY
from domain.incident import EscalationKind
from domain.priority import DEFAULT_CELLS, Cells, Impact, PriorityMatrix, Urgency
from domain.problem import (
    UNJUDGED,
    ActionDecision,
    ActionKind,
    ActionTaken,
    Analysis,
    Escalated,
    Factor,
    Logged,
    PotentialAction,
    PotentialActionDecided,
    Problem,
    RcaMethod,
    Reprioritised,
    RootCauseRecorded,
    WorkNoteAdded,
    judged,
)
from domain.problem_commands import DecidePotentialAction, EscalateProblem, RecordRootCause
from domain.visibility import for_caller
from infra.serialisation import decode, encode
from tests.conftest import context
from tests.strategies import STRATEGIES, cells

AGENT = Actor(id="siti.rahma", role=Role.AGENT)
MATRIX = PriorityMatrix.define(context(AGENT), DEFAULT_CELLS)


def logged(impact: Impact = Impact.MEDIUM, urgency: Urgency = Urgency.LOW) -> Problem:
    problem = Problem.log(
        context(AGENT),
        id=uuid4(),
        number=7,
        title="Renewals fail at night",
        description="",
        service="batupusaka",
        configuration_items=[],
        priority=judged(MATRIX, impact, urgency),
    )
    problem.collect_events()
    return problem


def investigating() -> Problem:
    problem = logged()
    problem.start_investigation(context(AGENT))
    problem.collect_events()
    return problem


def action(kind: ActionKind = ActionKind.CORRECTIVE, **more: str) -> PotentialAction:
    fields = {"description": "move the nightly job", "owner": "app-team", **more}
    return PotentialAction(kind=kind, **fields)


# -- priority (item 51) -------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(matrix_cells=cells, impact=st.sampled_from(Impact), urgency=st.sampled_from(Urgency))
def test_a_problem_takes_the_priority_the_matrix_in_force_gives_its_impact_and_urgency(
    matrix_cells: Cells, impact: Impact, urgency: Urgency
) -> None:
    matrix = PriorityMatrix.define(context(AGENT), matrix_cells)

    problem = Problem.log(
        context(AGENT),
        id=uuid4(),
        number=1,
        title="Gate alarms at random",
        description="",
        service=None,
        configuration_items=[],
        priority=judged(matrix, impact, urgency),
    )

    [event] = problem.collect_events()
    assert isinstance(event, Logged)
    assert (event.impact, event.urgency) == (impact, urgency)
    assert event.priority == problem.priority == matrix_cells[impact][urgency]
    assert event.matrix_version == matrix.version


def test_a_problem_logged_without_a_judgement_reads_medium_medium_p3_by_no_matrix() -> None:
    problem = Problem.log(
        context(AGENT),
        id=uuid4(),
        number=1,
        title="CHG-000003 failed",
        description="",
        service=None,
        configuration_items=[],
    )

    [event] = problem.collect_events()
    assert isinstance(event, Logged)
    assert (event.impact, event.urgency, event.priority, event.matrix_version) == (
        Impact.MEDIUM,
        Urgency.MEDIUM,
        3,
        None,
    )


def test_a_problem_logged_before_priorities_reads_as_unjudged() -> None:
    given = Logged(
        originator_id=uuid4(),
        originator_version=1,
        number=3,
        title="Old problem",
        service=None,
        **UNJUDGED,
        **context(AGENT).stamp(),
    )
    state = orjson.loads(encode(given))
    for name in (VERSION_KEY, "impact", "urgency", "priority", "matrix_version"):
        del state[name]  # as version 1 stored it

    then = decode("Problem.Logged", orjson.dumps(state))

    assert then == given


def test_reprioritising_records_the_new_priority_its_matrix_version_and_why() -> None:
    problem = logged(Impact.MEDIUM, Urgency.LOW)
    ctx = context(AGENT)

    problem.reprioritise(
        ctx, impact=Impact.HIGH, urgency=Urgency.HIGH, reason="every branch now", matrix=MATRIX
    )

    [event] = problem.collect_events()
    assert isinstance(event, Reprioritised)
    assert (event.priority, event.matrix_version, event.reason, event.actor) == (
        1,
        MATRIX.version,
        "every branch now",
        AGENT,
    )
    assert problem.priority == 1


def test_reprioritising_to_the_same_impact_and_urgency_is_refused() -> None:
    problem = logged(Impact.MEDIUM, Urgency.LOW)

    with pytest.raises(PriorityUnchanged):
        problem.reprioritise(
            context(AGENT), impact=Impact.MEDIUM, urgency=Urgency.LOW, reason="x", matrix=MATRIX
        )
    assert problem.collect_events() == []


# -- escalation (item 51) -----------------------------------------------------------------------


def test_escalating_to_a_named_manager_records_whom_and_why() -> None:
    problem = logged()

    problem.escalate(
        context(AGENT),
        kind=EscalationKind.HIERARCHICAL,
        reason="no cause found in two weeks",
        to_manager="dewi.lestari",
    )

    [event] = problem.collect_events()
    assert isinstance(event, Escalated)
    assert (event.kind, event.to_manager, event.to_group, event.reason) == (
        EscalationKind.HIERARCHICAL,
        "dewi.lestari",
        None,
        "no cause found in two weeks",
    )
    assert problem.escalated_to == "dewi.lestari"


def test_escalating_again_to_where_it_already_went_is_refused() -> None:
    problem = logged()
    problem.escalate(
        context(AGENT), kind=EscalationKind.FUNCTIONAL, reason="network", to_group="network-team"
    )
    problem.collect_events()

    with pytest.raises(EscalationTargetUnchanged):
        problem.escalate(
            context(AGENT), kind=EscalationKind.FUNCTIONAL, reason="again", to_group="network-team"
        )
    assert problem.collect_events() == []


def test_an_escalation_names_a_target_that_fits_its_kind() -> None:
    with pytest.raises(ValidationError, match="names a manager"):
        EscalateProblem(kind=EscalationKind.HIERARCHICAL, reason="x", to_group="network-team")
    with pytest.raises(ValidationError, match="names a group"):
        EscalateProblem(kind=EscalationKind.FUNCTIONAL, reason="x", to_manager="dewi.lestari")


# -- work notes and actions taken (item 52) -----------------------------------------------------


def test_a_work_note_and_an_action_taken_are_recorded_with_who_and_when() -> None:
    problem = logged()
    ctx = context(AGENT)

    problem.add_work_note(ctx, text="the logs show a lock at 23:00")
    problem.record_action(ctx, description="replayed the renewals", result="all 37 failed")

    note, taken = problem.collect_events()
    assert isinstance(note, WorkNoteAdded)
    assert isinstance(taken, ActionTaken)
    assert note.text == "the logs show a lock at 23:00"
    assert (taken.description, taken.result) == ("replayed the renewals", "all 37 failed")
    for event in (note, taken):
        assert (event.actor, event.timestamp, event.correlation_id) == (
            AGENT,
            ctx.at,
            ctx.correlation_id,
        )


@settings(max_examples=30, deadline=None)
@given(
    event=st.one_of(
        *(STRATEGIES[t] for t in (WorkNoteAdded, ActionTaken, RootCauseRecorded, Escalated))
    )
)
def test_a_caller_never_reads_a_problems_work_notes_actions_or_analysis(
    event: WorkNoteAdded,
) -> None:
    assert for_caller([event]) == []


# -- root cause analysis and potential actions (item 50) ----------------------------------------


def test_a_root_cause_is_recorded_with_its_method_analysis_and_numbered_potential_actions() -> None:
    problem = investigating()
    analysis = Analysis(
        whys=["renewals fail", "the API answers 422", "fines under Rp 1.000 round to 0"],
        factors=[Factor(category="technology", cause="rounding rule")],
    )

    problem.record_root_cause(
        context(AGENT),
        root_cause="the fine check rounds small fines to zero",
        method=RcaMethod.FIVE_WHYS,
        analysis=analysis,
        actions=[
            action(change="CHG-000007"),
            action(ActionKind.PREVENTIVE, improvement="IMP-000002", owner="dewi.lestari"),
        ],
    )

    [event] = problem.collect_events()
    assert isinstance(event, RootCauseRecorded)
    assert (event.method, event.analysis) == (RcaMethod.FIVE_WHYS, analysis)
    assert [(a.number, a.kind, a.change, a.improvement) for a in event.actions] == [
        (1, ActionKind.CORRECTIVE, "CHG-000007", None),
        (2, ActionKind.PREVENTIVE, None, "IMP-000002"),
    ]
    assert dict(problem.potential_actions) == {1: False, 2: False}


@settings(max_examples=40, deadline=None)
@given(revisions=st.lists(st.integers(0, 4), min_size=1, max_size=5))
def test_potential_actions_are_numbered_on_across_revisions_and_each_is_decided_once(
    revisions: list[int],
) -> None:
    problem = investigating()
    for count in revisions:
        problem.record_root_cause(
            context(AGENT), root_cause="a lock", actions=[action() for _ in range(count)]
        )
    recorded = [a.number for e in problem.collect_events() for a in e.actions]  # type: ignore[attr-defined]
    assert recorded == list(range(1, sum(revisions) + 1))

    for number in recorded:
        problem.decide_potential_action(
            context(AGENT), potential_action=number, decision=ActionDecision.TAKEN
        )
        with pytest.raises(PotentialActionAlreadyDecided):
            problem.decide_potential_action(
                context(AGENT), potential_action=number, decision=ActionDecision.TAKEN
            )
    with pytest.raises(UnknownPotentialAction):
        problem.decide_potential_action(
            context(AGENT), potential_action=len(recorded) + 1, decision=ActionDecision.TAKEN
        )
    decided = problem.collect_events()
    assert [e.potential_action for e in decided] == recorded  # type: ignore[attr-defined]


def test_a_rejected_potential_action_says_why() -> None:
    problem = investigating()
    problem.record_root_cause(context(AGENT), root_cause="a lock", actions=[action()])
    problem.collect_events()

    with pytest.raises(ValidationError, match="says why"):
        DecidePotentialAction(potential_action=1, decision=ActionDecision.REJECTED)
    problem.decide_potential_action(
        context(AGENT),
        potential_action=1,
        decision=ActionDecision.REJECTED,
        reason="covered by the release test plan",
    )

    [event] = problem.collect_events()
    assert isinstance(event, PotentialActionDecided)
    assert (event.decision, event.reason) == (
        ActionDecision.REJECTED,
        "covered by the release test plan",
    )


@pytest.mark.parametrize(
    "body",
    [
        {"root_cause": "x", "method": "six-sigma"},
        {"root_cause": "x", "analysis": {"whys": ["w"] * 11}},
        {"root_cause": "x", "analysis": {"whys": [""]}},
        {"root_cause": "x", "actions": [{"kind": "corrective", "description": "d"}]},
        {
            "root_cause": "x",
            "actions": [
                {"kind": "corrective", "description": "d", "owner": "o", "change": "PRB-000001"}
            ],
        },
    ],
    ids=["unknown-method", "too-many-whys", "empty-why", "no-owner", "change-not-a-change"],
)
def test_an_analysis_out_of_its_bounds_is_refused_before_any_rule_runs(body: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValidationError):
        RecordRootCause.model_validate(body)


def test_a_root_cause_recorded_before_methods_reads_as_by_no_method() -> None:
    given = RootCauseRecorded(
        originator_id=uuid4(), originator_version=3, root_cause="a lock", **context(AGENT).stamp()
    )
    state = orjson.loads(encode(given))
    for name in (VERSION_KEY, "method", "analysis", "actions"):
        del state[name]  # as version 1 stored it

    then = decode("Problem.RootCauseRecorded", orjson.dumps(state))

    assert then == given
    assert (then.method, then.analysis, then.actions) == (None, None, [])  # type: ignore[attr-defined]
