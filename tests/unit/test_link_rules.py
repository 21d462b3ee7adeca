"""Problems and links: Given (events) / When (command) / Then (events or error)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain import links
from domain.actors import Actor, Role
from domain.change import Change, ChangeKind, ProblemLinked
from domain.errors import (
    AlreadyLinked,
    ChangeNotImplemented,
    RecordIllegalTransition,
    RootCauseMissing,
)
from domain.incident import (
    OPEN_STATES,
    CancelReason,
    Channel,
    Incident,
    IncidentState,
    LinkedToChange,
    LinkedToProblem,
    WorkaroundShared,
)
from domain.priority import DEFAULT_CELLS, Impact, PriorityMatrix, Urgency
from domain.problem import ChangeLinked, IncidentLinked, Problem, ProblemState
from tests.conftest import context
from tests.unit.test_incident_rules import HISTORIES
from tests.unit.test_incident_rules import given as given_incident

AGENT = Actor(id="siti.rahma", role=Role.AGENT)
ADMIN = Actor(id="admin", role=Role.ADMIN)


def incident(number: int = 1) -> Incident:
    logged = Incident.log(
        context(AGENT),
        id=uuid4(),
        number=number,
        title="Online renewal fails",
        description="",
        service="batupusaka",
        configuration_item=None,
        caller="budi.santoso",
        channel=Channel.PHONE,
        impact=Impact.MEDIUM,
        urgency=Urgency.MEDIUM,
        matrix=PriorityMatrix.define(context(ADMIN), DEFAULT_CELLS),
    )
    logged.collect_events()
    return logged


def problem() -> Problem:
    logged = Problem.log(
        context(AGENT),
        id=uuid4(),
        number=1,
        title="Renewal fails",
        description="",
        service="batupusaka",
        configuration_items=["app-union-catalogue"],
    )
    logged.collect_events()
    return logged


def investigating() -> Problem:
    found = problem()
    found.start_investigation(context(AGENT))
    found.collect_events()
    return found


def change() -> Change:
    raised = Change.raise_change(
        context(AGENT),
        id=uuid4(),
        number=3,
        kind=ChangeKind.NORMAL,
        title="Fix renewal",
        description="",
        requester=AGENT.id,
        services=[],
        configuration_items=["app-union-catalogue"],
        backout_plan="roll back",
        template=None,
    )
    raised.collect_events()
    return raised


def test_a_link_is_an_event_on_both_records() -> None:
    inc, prb = incident(), problem()
    links.incident_and_problem(context(AGENT), inc, prb)
    [on_problem] = prb.collect_events()
    [on_incident] = inc.collect_events()
    assert isinstance(on_problem, IncidentLinked)
    assert on_problem.incident_ref == "INC-000001"
    assert isinstance(on_incident, LinkedToProblem)
    assert on_incident.problem_ref == "PRB-000001"


def test_a_link_is_made_once() -> None:
    inc, prb = incident(), problem()
    links.incident_and_problem(context(AGENT), inc, prb)
    with pytest.raises(AlreadyLinked):
        links.incident_and_problem(context(AGENT), inc, prb)


def test_an_incident_linked_after_the_workaround_is_told_of_it() -> None:
    prb = investigating()
    prb.publish_workaround(context(AGENT), workaround="Renew at the desk")
    inc = incident()
    links.incident_and_problem(context(AGENT), inc, prb)
    events = inc.collect_events()
    assert [type(e) for e in events] == [LinkedToProblem, WorkaroundShared]
    shared = events[1]
    assert isinstance(shared, WorkaroundShared)
    assert shared.workaround == "Renew at the desk"


def test_a_closed_incident_is_linked_but_not_told_of_a_workaround() -> None:
    inc = incident()
    inc.cancel(context(AGENT), reason=CancelReason.LOGGED_IN_ERROR)
    inc.collect_events()
    assert inc.state is IncidentState.CANCELLED
    prb = investigating()
    prb.publish_workaround(context(AGENT), workaround="Renew at the desk")
    links.incident_and_problem(context(AGENT), inc, prb)
    assert [type(e) for e in inc.collect_events()] == [LinkedToProblem]


def test_a_known_error_needs_its_root_cause() -> None:
    prb = investigating()
    with pytest.raises(RootCauseMissing):
        prb.publish_known_error(context(AGENT), symptoms="renew does nothing")
    prb.record_root_cause(context(AGENT), root_cause="rounding of small fines")
    prb.publish_known_error(context(AGENT), symptoms="renew does nothing")
    assert prb.state is ProblemState.KNOWN_ERROR


def test_a_problem_is_resolved_only_through_a_change_implemented_successfully() -> None:
    prb, chg = investigating(), change()
    links.problem_and_change(context(AGENT), prb, chg)
    assert [type(e) for e in chg.collect_events()] == [ProblemLinked]
    assert [type(e) for e in prb.collect_events()] == [ChangeLinked]
    with pytest.raises(ChangeNotImplemented):
        prb.resolve(
            context(AGENT),
            change_id=chg.id,
            change_ref="CHG-000003",
            implemented_successfully=chg.implemented_successfully,
            notes="fixed",
        )
    prb.resolve(
        context(AGENT),
        change_id=chg.id,
        change_ref="CHG-000003",
        implemented_successfully=True,
        notes="fixed",
    )
    prb.close(context(AGENT))
    assert prb.state is ProblemState.CLOSED
    with pytest.raises(RecordIllegalTransition):
        prb.publish_workaround(context(AGENT), workaround="too late")


# -- the incident's side of a link, one method at a time -----------------------------------------


@pytest.mark.parametrize("state", list(IncidentState))
def test_an_incident_in_any_state_records_a_link_to_a_problem_once(state: IncidentState) -> None:
    inc = given_incident(*HISTORIES[state])
    problem_id = uuid4()
    ctx = context(AGENT)

    inc.link_to_problem(ctx, problem_id=problem_id, problem_ref="PRB-000007")

    [event] = inc.collect_events()
    assert isinstance(event, LinkedToProblem)
    assert (event.problem_id, event.problem_ref) == (problem_id, "PRB-000007")
    assert (event.originator_id, event.originator_version) == (inc.id, len(HISTORIES[state]) + 1)
    assert (event.actor, event.correlation_id) == (ctx.actor, ctx.correlation_id)
    assert inc.problems == {problem_id}
    assert inc.state is state
    with pytest.raises(AlreadyLinked):
        inc.link_to_problem(context(AGENT), problem_id=problem_id, problem_ref="PRB-000007")
    assert inc.collect_events() == []


@pytest.mark.parametrize("state", list(IncidentState))
def test_an_incident_in_any_state_records_a_link_to_a_change_once(state: IncidentState) -> None:
    inc = given_incident(*HISTORIES[state])
    change_id = uuid4()
    ctx = context(AGENT)

    inc.link_to_change(ctx, change_id=change_id, change_ref="CHG-000003")

    [event] = inc.collect_events()
    assert isinstance(event, LinkedToChange)
    assert (event.change_id, event.change_ref) == (change_id, "CHG-000003")
    assert (event.originator_id, event.originator_version) == (inc.id, len(HISTORIES[state]) + 1)
    assert (event.actor, event.correlation_id) == (ctx.actor, ctx.correlation_id)
    assert inc.changes == {change_id}
    assert inc.state is state
    with pytest.raises(AlreadyLinked):
        inc.link_to_change(context(AGENT), change_id=change_id, change_ref="CHG-000003")
    assert inc.collect_events() == []


def test_links_to_two_problems_are_both_kept() -> None:
    inc = given_incident(*HISTORIES[IncidentState.LOGGED])
    first, second = uuid4(), uuid4()

    inc.link_to_problem(context(AGENT), problem_id=first, problem_ref="PRB-000001")
    inc.link_to_problem(context(AGENT), problem_id=second, problem_ref="PRB-000002")
    inc.link_to_change(context(AGENT), change_id=first, change_ref="CHG-000001")

    assert inc.problems == {first, second}
    assert inc.changes == {first}


@pytest.mark.parametrize("state", sorted(OPEN_STATES))
def test_an_incident_being_worked_is_told_of_a_linked_problems_workaround(
    state: IncidentState,
) -> None:
    problem_id = uuid4()
    inc = given_incident(*HISTORIES[state])
    inc.link_to_problem(context(AGENT), problem_id=problem_id, problem_ref="PRB-000007")
    inc.collect_events()
    ctx = context(AGENT)

    told = inc.share_workaround(
        ctx, problem_id=problem_id, problem_ref="PRB-000007", workaround="Renew at the desk"
    )

    assert told is True
    [event] = inc.collect_events()
    assert isinstance(event, WorkaroundShared)
    assert (event.problem_id, event.problem_ref, event.workaround) == (
        problem_id,
        "PRB-000007",
        "Renew at the desk",
    )
    assert (event.originator_version, event.actor) == (inc.version, ctx.actor)
    assert inc.state is state


@pytest.mark.parametrize(
    "state", sorted(set(IncidentState) - OPEN_STATES), ids=lambda state: state.value
)
def test_an_incident_no_longer_worked_is_not_told_of_a_workaround(state: IncidentState) -> None:
    problem_id = uuid4()
    inc = given_incident(*HISTORIES[state])
    inc.link_to_problem(context(AGENT), problem_id=problem_id, problem_ref="PRB-000007")
    inc.collect_events()

    told = inc.share_workaround(
        context(AGENT), problem_id=problem_id, problem_ref="PRB-000007", workaround="Renew"
    )

    assert told is False
    assert inc.collect_events() == []


def test_an_incident_is_not_told_the_workaround_of_a_problem_it_is_not_linked_to() -> None:
    inc = given_incident(*HISTORIES[IncidentState.IN_PROGRESS])
    inc.link_to_problem(context(AGENT), problem_id=uuid4(), problem_ref="PRB-000001")
    inc.collect_events()

    told = inc.share_workaround(
        context(AGENT), problem_id=uuid4(), problem_ref="PRB-000002", workaround="Renew"
    )

    assert told is False
    assert inc.collect_events() == []
