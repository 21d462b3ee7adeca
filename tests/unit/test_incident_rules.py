"""Every rule of the Incident aggregate (and of the priority matrix), Given / When / Then.

Given: a history of events, replayed through `Incident.project`.
When: one aggregate method, called with a Context.
Then: exactly the new events it records, or the named error it raises with nothing recorded and
the state untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from domain.actors import Actor, Role
from domain.context import Context
from domain.errors import (
    AlreadyAMajorIncident,
    AssignmentUnchanged,
    ConfirmationWindowOpen,
    DomainError,
    DuplicateOfItself,
    EscalationTargetUnchanged,
    IllegalTransition,
    IncidentAlreadyClosed,
    InvalidRule,
    NotAMajorIncident,
    NotTheCaller,
    PriorityUnchanged,
    ReopenWindowClosed,
)
from domain.events import DomainEvent
from domain.incident import (
    Assigned,
    Cancelled,
    CancelReason,
    Channel,
    Closed,
    ClosureBasis,
    CommentAdded,
    Escalated,
    EscalationKind,
    HoldReason,
    ImportSource,
    Incident,
    IncidentEvent,
    IncidentState,
    Logged,
    MajorIncidentDeclared,
    MajorIncidentReviewed,
    MajorIncidentStoodDown,
    PutOnHold,
    Recategorised,
    Reopened,
    Reprioritised,
    ResolutionCode,
    Resolved,
    Resumed,
    WorkNoteAdded,
    WorkStarted,
)
from domain.organisations import PROVINCE
from domain.priority import (
    DEFAULT_CELLS,
    Cells,
    Impact,
    MatrixDefined,
    MatrixRevised,
    PriorityMatrix,
    Urgency,
)
from domain.rule_versions import RuleVersion, RuleVersions
from domain.service_catalogue import Classification
from tests.conftest import AGENT, CALLER, MANAGER, T0, context

E = TypeVar("E", bound=DomainEvent)

INCIDENT_ID = UUID("0b5c3a52-7d1e-4c8f-9a61-3e2f4d5c6b7a")
WINDOW = timedelta(days=5)
LATER = T0 + timedelta(hours=1)
SERVICE_DESK = "service-desk"
NETWORK = "network"
SITI = AGENT.id
ANDI = "andi.wijaya"
SOMEONE_ELSE = Actor(id="rina.kartika", role=Role.REQUESTER)
MATRIX = PriorityMatrix.define(context(MANAGER), DEFAULT_CELLS)
SLA_VERSIONS = RuleVersions(
    policy=RuleVersion(id=UUID("5d0c2e1a-3b4f-4a6e-8c7d-9e0f1a2b3c4d"), version=3),
    calendar=RuleVersion(id=UUID("6e1d3f2b-4c5a-4b7f-9d8e-0f1a2b3c4d5e"), version=2),
    calendar_name="serang-office-hours",
)
IMPORTED_FROM = ImportSource(system="servicenow", case="INC0000045", line=7, file="events.csv")


# -- given: histories built from events ----------------------------------------------------------


def happened(event_type: type[E], *, at: datetime = T0, **fields: Any) -> E:
    """An event of this incident; `given` numbers the versions."""
    return event_type(
        originator_id=INCIDENT_ID,
        originator_version=0,
        timestamp=at,
        actor=AGENT,
        correlation_id=uuid4(),
        **fields,
    )


def logged(
    impact: Impact = Impact.MEDIUM, urgency: Urgency = Urgency.MEDIUM, caller: str = CALLER.id
) -> Logged:
    return happened(
        Logged,
        number=1,
        title="Katalog online tidak bisa diakses",
        service="catalogue-search",
        caller=caller,
        channel=Channel.PHONE,
        impact=impact,
        urgency=urgency,
        priority=DEFAULT_CELLS[impact][urgency],
        matrix_version=1,
    )


def assigned(group: str = SERVICE_DESK, agent: str | None = SITI) -> Assigned:
    return happened(Assigned, group=group, agent=agent)


def work_started(agent: str = SITI) -> WorkStarted:
    return happened(WorkStarted, agent=agent)


def put_on_hold(reason: HoldReason = HoldReason.AWAITING_CALLER) -> PutOnHold:
    return happened(PutOnHold, reason=reason)


def resumed() -> Resumed:
    return happened(Resumed)


def escalated_to(group: str) -> Escalated:
    return happened(
        Escalated, kind=EscalationKind.FUNCTIONAL, reason="needs network", to_group=group
    )


def declared_major(manager: str = MANAGER.id) -> MajorIncidentDeclared:
    return happened(MajorIncidentDeclared, manager=manager, reason="all branches down")


def stood_down() -> MajorIncidentStoodDown:
    return happened(MajorIncidentStoodDown, reason="contained")


def resolved(at: datetime = T0) -> Resolved:
    return happened(
        Resolved, at=at, code=ResolutionCode.FIXED, notes="restarted", reopen_until=at + WINDOW
    )


def reopened() -> Reopened:
    return happened(Reopened, reason="still broken")


def closed() -> Closed:
    return happened(Closed, basis=ClosureBasis.CONFIRMED_BY_CALLER)


def cancelled() -> Cancelled:
    return happened(Cancelled, reason=CancelReason.LOGGED_IN_ERROR)


def given(*events: IncidentEvent) -> Incident:
    numbered = [e.model_copy(update={"originator_version": n}) for n, e in enumerate(events, 1)]
    incident = Incident.project(None, numbered)
    assert incident is not None
    return incident


LOGGED = (logged(),)
ASSIGNED = (*LOGGED, assigned())
IN_PROGRESS = (*ASSIGNED, work_started())
ON_HOLD = (*IN_PROGRESS, put_on_hold())
RESOLVED = (*IN_PROGRESS, resolved())
CLOSED = (*RESOLVED, closed())
CANCELLED = (*LOGGED, cancelled())

HISTORIES: dict[IncidentState, tuple[IncidentEvent, ...]] = {
    IncidentState.LOGGED: LOGGED,
    IncidentState.ASSIGNED: ASSIGNED,
    IncidentState.IN_PROGRESS: IN_PROGRESS,
    IncidentState.ON_HOLD: ON_HOLD,
    IncidentState.RESOLVED: RESOLVED,
    IncidentState.CLOSED: CLOSED,
    IncidentState.CANCELLED: CANCELLED,
}
OPEN = {
    IncidentState.LOGGED,
    IncidentState.ASSIGNED,
    IncidentState.IN_PROGRESS,
    IncidentState.ON_HOLD,
}


# -- then: what was recorded ---------------------------------------------------------------------


def state_of(incident: Incident) -> dict[str, Any]:
    return {k: v for k, v in vars(incident).items() if k != "_pending"}


def then_recorded(incident: Incident, event_type: type[E], **fields: Any) -> E:
    """Exactly one new event of this type, with these fields, at the next version."""
    events = incident.collect_events()
    assert [type(e) for e in events] == [event_type]
    event = events[0]
    assert isinstance(event, event_type)
    assert {name: getattr(event, name) for name in fields} == fields
    assert event.originator_id == incident.id
    assert event.originator_version == incident.version
    return event


def then_rejected(
    incident: Incident, error: type[Exception], when: Callable[[], object]
) -> Exception:
    """The action raises exactly this error, records nothing and changes nothing."""
    before = state_of(incident)
    with pytest.raises(error) as raised:
        when()
    assert type(raised.value) is error
    assert incident.collect_events() == []
    assert state_of(incident) == before
    return raised.value


# -- every action, with arguments that would be accepted in a state that allows it ---------------

Action = Callable[[Incident, Context], None]

ACTIONS: dict[str, tuple[Action, type[IncidentEvent]]] = {
    "assign": (lambda i, c: i.assign(c, group=NETWORK, agent=ANDI), Assigned),
    "start_work": (lambda i, c: i.start_work(c), WorkStarted),
    "put_on_hold": (
        lambda i, c: i.put_on_hold(c, reason=HoldReason.AWAITING_SUPPLIER),
        PutOnHold,
    ),
    "resume": (lambda i, c: i.resume(c), Resumed),
    "add_work_note": (lambda i, c: i.add_work_note(c, text="checked the switch"), WorkNoteAdded),
    "add_comment": (lambda i, c: i.add_comment(c, text="we are on it"), CommentAdded),
    "reprioritise": (
        lambda i, c: i.reprioritise(
            c, impact=Impact.HIGH, urgency=Urgency.HIGH, reason="all branches", matrix=MATRIX
        ),
        Reprioritised,
    ),
    "recategorise": (
        lambda i, c: i.recategorise(
            c,
            to=Classification(service="batupusaka", category="renewal"),
            catalogue_version=1,
            reason="the renewal, not the kiosk",
        ),
        Recategorised,
    ),
    "escalate_functionally": (
        lambda i, c: i.escalate(
            c, kind=EscalationKind.FUNCTIONAL, reason="needs network", to_group=NETWORK
        ),
        Escalated,
    ),
    "escalate_hierarchically": (
        lambda i, c: i.escalate(
            c, kind=EscalationKind.HIERARCHICAL, reason="breach", to_manager=MANAGER.id
        ),
        Escalated,
    ),
    "declare_major": (
        lambda i, c: i.declare_major(c, manager=MANAGER.id, reason="all branches down"),
        MajorIncidentDeclared,
    ),
    "stand_down_major": (
        lambda i, c: i.stand_down_major(c, reason="contained"),
        MajorIncidentStoodDown,
    ),
    "review_major": (
        lambda i, c: i.review_major(
            c, timeline="08:10 down; 10:40 up", went_well="fast", went_badly="no password"
        ),
        MajorIncidentReviewed,
    ),
    "resolve": (
        lambda i, c: i.resolve(
            c, code=ResolutionCode.FIXED, notes="replaced the cable", reopen_window=WINDOW
        ),
        Resolved,
    ),
    "confirm_resolution": (lambda i, c: i.confirm_resolution(c), Closed),
    "reopen": (lambda i, c: i.reopen(c, reason="it broke again"), Reopened),
    # an agent closes once the caller's window has passed
    "close": (lambda i, c: i.close(replace(c, at=c.at + WINDOW)), Closed),
    "cancel": (lambda i, c: i.cancel(c, reason=CancelReason.LOGGED_IN_ERROR), Cancelled),
}

NOT_FINISHED = {*OPEN, IncidentState.RESOLVED}
ALLOWED_IN: dict[str, set[IncidentState]] = {
    "assign": OPEN,
    "start_work": {IncidentState.ASSIGNED},
    "put_on_hold": {IncidentState.ASSIGNED, IncidentState.IN_PROGRESS},
    "resume": {IncidentState.ON_HOLD},
    "add_work_note": NOT_FINISHED,
    "add_comment": NOT_FINISHED,
    "reprioritise": OPEN,
    "recategorise": NOT_FINISHED,
    "escalate_functionally": OPEN,
    "escalate_hierarchically": OPEN,
    "declare_major": OPEN,
    "stand_down_major": NOT_FINISHED,  # and only a major incident: see the major incident rules
    "review_major": {IncidentState.RESOLVED},  # and only a major incident: as above
    "resolve": {IncidentState.IN_PROGRESS, IncidentState.ON_HOLD},
    "confirm_resolution": {IncidentState.RESOLVED},
    "reopen": {IncidentState.RESOLVED},
    "close": {IncidentState.RESOLVED},
    "cancel": OPEN,
}


#: Links are recorded in every state (a closed incident is still evidence of a problem), and a
#: workaround is shared only while the incident is worked: tests/unit/test_link_rules.py.
LINK_METHODS = {"link_to_problem", "link_to_change", "share_workaround"}
#: Parents, children and merged duplicates: tests/unit/test_related_incidents.py.
RELATED_METHODS = {"link_child", "unlink_from_parent", "resolve_with_parent", "merge_duplicate"}
#: The caller's rating, the one action a closed incident allows (only to its caller):
#: tests/unit/test_satisfaction_rules.py.
RATING_METHODS = {"rate"}
#: The service proposes a major incident when the criteria in force are met, in whatever state
#: it finds an open incident: tests/unit/test_major_incident_rules.py.
PROPOSAL_METHODS = {"propose_major"}


def method_of(action: str) -> str:
    return action.removesuffix("_functionally").removesuffix("_hierarchically")


def public_methods(cls: type) -> set[str]:
    """The public methods a class defines, as its source states them.

    Read from the class body rather than filtered by name: a mutation tester (mutmut, `make
    mutation`) adds a copy of each method per mutant to the class (`xǁIncidentǁassign__mutmut_3`),
    which a filter on a leading underscore counts as public, so the table test failed on the
    unmutated code and mutmut refused to run.
    """
    return {
        name
        for name, member in vars(cls).items()
        if not name.startswith("_")
        and (callable(member) or isinstance(member, classmethod))
        and "__mutmut_" not in name
    }


def test_the_state_table_covers_every_action_and_every_public_method() -> None:
    assert set(ALLOWED_IN) == set(ACTIONS)
    # the SLA watcher's alerts are facts about time, allowed in any state (see the SLA alert
    # rules); logging starts the table
    methods = public_methods(Incident) - {"log", "record_sla_alerts"} - LINK_METHODS
    methods -= RELATED_METHODS | RATING_METHODS | PROPOSAL_METHODS
    assert methods == {method_of(action) for action in ACTIONS}


def _pairs(allowed: bool) -> list[Any]:
    """(action, state) pairs the state table allows, or forbids; closed has its own test, and
    standing down also needs a major incident (see the major incident rules)."""
    return [
        pytest.param(action, state, id=f"{action}-{state}")
        for action in ACTIONS
        for state in IncidentState
        if state is not IncidentState.CLOSED
        and (state in ALLOWED_IN[action]) is allowed
        and not (allowed and action in ("stand_down_major", "review_major"))
    ]


@pytest.mark.parametrize(("action", "state"), _pairs(allowed=False))
def test_an_action_outside_its_states_is_an_illegal_transition(
    action: str, state: IncidentState
) -> None:
    incident = given(*HISTORIES[state])
    act, _ = ACTIONS[action]

    error = then_rejected(incident, IllegalTransition, lambda: act(incident, context(at=LATER)))

    assert isinstance(error, IllegalTransition)
    assert (error.action, error.state) == (method_of(action), state)


@pytest.mark.parametrize(("action", "state"), _pairs(allowed=True))
def test_an_action_in_its_states_records_one_event_at_the_next_version(
    action: str, state: IncidentState
) -> None:
    incident = given(*HISTORIES[state])
    act, event_type = ACTIONS[action]
    version = incident.version
    ctx = context(at=LATER)

    act(incident, ctx)

    event = then_recorded(incident, event_type)
    assert event.originator_version == version + 1
    assert event.actor == ctx.actor
    assert event.correlation_id == ctx.correlation_id


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_on_a_closed_incident_raises_incident_already_closed(action: str) -> None:
    incident = given(*CLOSED)
    act, _ = ACTIONS[action]

    error = then_rejected(
        incident, IncidentAlreadyClosed, lambda: act(incident, context(at=T0 + 2 * WINDOW))
    )

    assert isinstance(error, IncidentAlreadyClosed)
    assert error.state == IncidentState.CLOSED
    assert error.code == "incident-closed"


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_on_a_cancelled_incident_is_an_illegal_transition(action: str) -> None:
    incident = given(*CANCELLED)
    act, _ = ACTIONS[action]

    error = then_rejected(incident, IllegalTransition, lambda: act(incident, context(at=LATER)))

    assert isinstance(error, IllegalTransition)
    assert error.state == IncidentState.CANCELLED


def test_a_history_that_does_not_start_with_logged_is_refused() -> None:
    # every rule reads state that Logged sets: a history without it is not an incident's
    with pytest.raises(AssertionError, match=r"starts with Incident\.Logged"):
        given(happened(WorkNoteAdded, text="a note before anything was logged"))


# -- logging -------------------------------------------------------------------------------------


def log(ctx: Context, matrix: PriorityMatrix = MATRIX, **overrides: Any) -> Incident:
    fields: dict[str, Any] = {
        "id": INCIDENT_ID,
        "number": 42,
        "title": "Printer jammed at the reading room",
        "description": "",
        "service": "membership-cards",
        "configuration_item": "PRN-07",
        "caller": CALLER.id,
        "channel": Channel.WALK_IN,
        "impact": Impact.LOW,
        "urgency": Urgency.HIGH,
        **overrides,
    }
    return Incident.log(ctx, matrix=matrix, **fields)


def test_logging_records_logged_as_version_one_with_the_callers_details() -> None:
    ctx = context(AGENT, T0)

    incident = log(ctx)

    then_recorded(
        incident,
        Logged,
        originator_version=1,
        number=42,
        caller=CALLER.id,
        service="membership-cards",
        configuration_item="PRN-07",
        channel=Channel.WALK_IN,
        impact=Impact.LOW,
        urgency=Urgency.HIGH,
        priority=3,
        matrix_version=1,
        actor=AGENT,
        timestamp=T0,
        correlation_id=ctx.correlation_id,
    )
    assert incident.id == INCIDENT_ID
    assert incident.version == 1


def test_logging_records_the_description_rules_organisation_and_source_it_was_given() -> None:
    incident = log(
        context(),
        description="Paper jams on every second page",
        sla=SLA_VERSIONS,
        organisation="perpus-kota-serang",
        source=IMPORTED_FROM,
    )

    then_recorded(
        incident,
        Logged,
        description="Paper jams on every second page",
        sla=SLA_VERSIONS,
        organisation="perpus-kota-serang",
        source=IMPORTED_FROM,
    )
    # the organisation scopes who reaches the record; the SLA versions judge it
    assert (incident.organisation, incident.sla) == ("perpus-kota-serang", SLA_VERSIONS)


def test_an_incident_logged_without_an_organisation_or_rules_is_the_provinces_with_none() -> None:
    incident = log(context())

    then_recorded(incident, Logged, description="", sla=None, organisation=PROVINCE, source=None)
    assert (incident.organisation, incident.sla) == (PROVINCE, None)


def test_a_requester_logs_incidents_only_as_their_own_caller() -> None:
    with pytest.raises(NotTheCaller):
        log(context(CALLER), caller=SOMEONE_ELSE.id)

    own = log(context(CALLER), caller=CALLER.id)

    then_recorded(own, Logged, caller=CALLER.id, actor=CALLER)


@pytest.mark.parametrize("actor", [AGENT, MANAGER], ids=["agent", "service_manager"])
def test_the_desk_logs_incidents_for_any_caller(actor: Actor) -> None:
    incident = log(context(actor), caller=SOMEONE_ELSE.id)

    then_recorded(incident, Logged, caller=SOMEONE_ELSE.id, actor=actor)


def test_a_logged_incident_is_unassigned_not_major_and_not_escalated() -> None:
    incident = log(context())

    assert incident.state is IncidentState.LOGGED
    assert (incident.group, incident.agent) == (None, None)
    assert incident.major_manager is None
    assert incident.escalation_level == 0
    assert incident.hold_reason is None
    assert (incident.reopen_until, incident.reopen_count) == (None, 0)


@pytest.mark.parametrize("impact", list(Impact))
@pytest.mark.parametrize("urgency", list(Urgency))
def test_priority_is_the_matrix_cell_for_impact_and_urgency(
    impact: Impact, urgency: Urgency
) -> None:
    incident = log(context(), impact=impact, urgency=urgency)

    then_recorded(incident, Logged, priority=DEFAULT_CELLS[impact][urgency])
    assert incident.priority == DEFAULT_CELLS[impact][urgency]


def test_priority_comes_from_the_matrix_version_in_force() -> None:
    matrix = PriorityMatrix.define(context(MANAGER), DEFAULT_CELLS)
    stricter = {impact: dict(row) for impact, row in DEFAULT_CELLS.items()}
    stricter[Impact.LOW][Urgency.HIGH] = 2
    matrix.revise(context(MANAGER), stricter, "walk-in printers matter more")

    incident = log(context(), matrix, impact=Impact.LOW, urgency=Urgency.HIGH)

    then_recorded(incident, Logged, priority=2, matrix_version=2)
    assert (incident.priority, incident.matrix_version) == (2, 2)


# -- assignment ----------------------------------------------------------------------------------


def test_assigning_a_logged_incident_moves_it_to_assigned() -> None:
    incident = given(*LOGGED)

    incident.assign(context(at=LATER), group=SERVICE_DESK, agent=SITI)

    then_recorded(incident, Assigned, group=SERVICE_DESK, agent=SITI, timestamp=LATER)
    assert incident.state is IncidentState.ASSIGNED
    assert (incident.group, incident.agent) == (SERVICE_DESK, SITI)


def test_assigning_to_a_group_alone_leaves_the_agent_open() -> None:
    incident = given(*LOGGED)

    incident.assign(context(), group=NETWORK)

    then_recorded(incident, Assigned, group=NETWORK, agent=None)
    assert (incident.state, incident.group, incident.agent) == (
        IncidentState.ASSIGNED,
        NETWORK,
        None,
    )


@pytest.mark.parametrize(
    "history", [ASSIGNED, IN_PROGRESS, ON_HOLD], ids=["assigned", "in_progress", "on_hold"]
)
def test_assigning_to_the_same_group_and_agent_raises_assignment_unchanged(
    history: tuple[IncidentEvent, ...],
) -> None:
    incident = given(*history)

    then_rejected(
        incident,
        AssignmentUnchanged,
        lambda: incident.assign(context(), group=SERVICE_DESK, agent=SITI),
    )


def test_reassigning_work_in_progress_to_another_group_puts_it_back_in_the_queue() -> None:
    incident = given(*IN_PROGRESS)

    incident.assign(context(), group=NETWORK, agent=None)

    then_recorded(incident, Assigned, group=NETWORK, agent=None)
    assert (incident.state, incident.group, incident.agent) == (
        IncidentState.ASSIGNED,
        NETWORK,
        None,
    )


def test_handing_work_in_progress_to_another_agent_of_the_group_keeps_it_in_progress() -> None:
    incident = given(*IN_PROGRESS)

    incident.assign(context(), group=SERVICE_DESK, agent=ANDI)

    then_recorded(incident, Assigned, group=SERVICE_DESK, agent=ANDI)
    assert (incident.state, incident.agent) == (IncidentState.IN_PROGRESS, ANDI)


def test_reassigning_an_assigned_incident_keeps_it_assigned() -> None:
    incident = given(*ASSIGNED)

    incident.assign(context(), group=NETWORK, agent=ANDI)

    then_recorded(incident, Assigned, group=NETWORK, agent=ANDI)
    assert (incident.state, incident.group, incident.agent) == (
        IncidentState.ASSIGNED,
        NETWORK,
        ANDI,
    )


def test_reassigning_an_incident_on_hold_keeps_it_on_hold() -> None:
    incident = given(*ON_HOLD)

    incident.assign(context(), group=NETWORK, agent=ANDI)

    then_recorded(incident, Assigned, group=NETWORK, agent=ANDI)
    assert (incident.state, incident.group, incident.agent) == (
        IncidentState.ON_HOLD,
        NETWORK,
        ANDI,
    )
    assert incident.hold_reason is HoldReason.AWAITING_CALLER


@pytest.mark.parametrize("state", [IncidentState.RESOLVED, IncidentState.CANCELLED])
def test_cannot_assign_an_incident_that_is_no_longer_open(state: IncidentState) -> None:
    incident = given(*HISTORIES[state])

    then_rejected(incident, IllegalTransition, lambda: incident.assign(context(), group=NETWORK))


# -- work ----------------------------------------------------------------------------------------


def test_starting_work_keeps_the_assigned_agent() -> None:
    incident = given(*ASSIGNED)

    incident.start_work(context(MANAGER))

    then_recorded(incident, WorkStarted, agent=SITI, actor=MANAGER)
    assert (incident.state, incident.agent) == (IncidentState.IN_PROGRESS, SITI)


def test_starting_work_on_a_group_assignment_makes_the_actor_the_agent() -> None:
    incident = given(*LOGGED, assigned(NETWORK, None))

    incident.start_work(context(Actor(id=ANDI, role=Role.RESOLVER)))

    then_recorded(incident, WorkStarted, agent=ANDI)
    assert (incident.state, incident.group, incident.agent) == (
        IncidentState.IN_PROGRESS,
        NETWORK,
        ANDI,
    )


def test_cannot_start_work_on_an_incident_nobody_is_assigned_to() -> None:
    incident = given(*LOGGED)

    error = then_rejected(incident, IllegalTransition, lambda: incident.start_work(context()))

    assert isinstance(error, IllegalTransition)
    assert (error.action, error.state) == ("start_work", IncidentState.LOGGED)
    assert error.code == "illegal-transition"


def test_cannot_start_work_that_is_already_in_progress() -> None:
    incident = given(*IN_PROGRESS)

    then_rejected(incident, IllegalTransition, lambda: incident.start_work(context()))


# -- hold and resume -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "history", [ASSIGNED, IN_PROGRESS], ids=["from_assigned", "from_in_progress"]
)
def test_put_on_hold_records_why(history: tuple[IncidentEvent, ...]) -> None:
    incident = given(*history)

    incident.put_on_hold(context(), reason=HoldReason.AWAITING_SUPPLIER, note="RMA 5512")

    then_recorded(incident, PutOnHold, reason=HoldReason.AWAITING_SUPPLIER, note="RMA 5512")
    assert (incident.state, incident.hold_reason) == (
        IncidentState.ON_HOLD,
        HoldReason.AWAITING_SUPPLIER,
    )


def test_cannot_put_on_hold_an_incident_already_on_hold() -> None:
    incident = given(*ON_HOLD)

    then_rejected(
        incident,
        IllegalTransition,
        lambda: incident.put_on_hold(context(), reason=HoldReason.AWAITING_CHANGE),
    )


def test_cannot_put_on_hold_an_incident_that_is_only_logged() -> None:
    incident = given(*LOGGED)

    then_rejected(
        incident,
        IllegalTransition,
        lambda: incident.put_on_hold(context(), reason=HoldReason.AWAITING_CALLER),
    )


def test_resuming_returns_to_work_in_progress_and_clears_the_hold_reason() -> None:
    incident = given(*ON_HOLD)

    incident.resume(context(), note="caller replied")

    then_recorded(incident, Resumed, note="caller replied")
    assert (incident.state, incident.hold_reason, incident.agent) == (
        IncidentState.IN_PROGRESS,
        None,
        SITI,
    )


@pytest.mark.parametrize("state", sorted(NOT_FINISHED - {IncidentState.ON_HOLD}))
def test_cannot_resume_an_incident_that_is_not_on_hold(state: IncidentState) -> None:
    incident = given(*HISTORIES[state])

    then_rejected(incident, IllegalTransition, lambda: incident.resume(context()))


# -- notes and comments --------------------------------------------------------------------------


@pytest.mark.parametrize("state", sorted(NOT_FINISHED))
@pytest.mark.parametrize(
    ("add", "event_type"),
    [
        (lambda i, c: i.add_work_note(c, text="note"), WorkNoteAdded),
        (lambda i, c: i.add_comment(c, text="note"), CommentAdded),
    ],
    ids=["work_note", "comment"],
)
def test_notes_and_comments_may_be_added_until_the_incident_is_finished_and_change_no_state(
    state: IncidentState, add: Action, event_type: type[IncidentEvent]
) -> None:
    incident = given(*HISTORIES[state])
    before = state_of(incident)

    add(incident, context())

    then_recorded(incident, event_type, text="note")
    assert state_of(incident) == {**before, "version": before["version"] + 1}


# -- priority ------------------------------------------------------------------------------------


def test_reprioritising_takes_priority_and_version_from_the_matrix_given() -> None:
    matrix = PriorityMatrix.define(context(MANAGER), DEFAULT_CELLS)
    revised = {impact: dict(row) for impact, row in DEFAULT_CELLS.items()}
    revised[Impact.HIGH][Urgency.LOW] = 1
    matrix.revise(context(MANAGER), revised, "a whole service down is always P1")
    incident = given(*IN_PROGRESS)

    incident.reprioritise(
        context(), impact=Impact.HIGH, urgency=Urgency.LOW, reason="whole branch", matrix=matrix
    )

    then_recorded(
        incident,
        Reprioritised,
        impact=Impact.HIGH,
        urgency=Urgency.LOW,
        priority=1,
        matrix_version=2,
        reason="whole branch",
    )
    assert (incident.impact, incident.urgency, incident.priority, incident.matrix_version) == (
        Impact.HIGH,
        Urgency.LOW,
        1,
        2,
    )
    assert incident.state is IncidentState.IN_PROGRESS


def test_reprioritising_to_the_same_impact_and_urgency_raises_priority_unchanged() -> None:
    incident = given(logged(Impact.MEDIUM, Urgency.HIGH))

    then_rejected(
        incident,
        PriorityUnchanged,
        lambda: incident.reprioritise(
            context(), impact=Impact.MEDIUM, urgency=Urgency.HIGH, reason="same", matrix=MATRIX
        ),
    )


def test_reprioritising_to_the_same_priority_by_other_cells_is_a_change() -> None:
    incident = given(logged(Impact.MEDIUM, Urgency.HIGH))  # P2

    incident.reprioritise(
        context(), impact=Impact.HIGH, urgency=Urgency.MEDIUM, reason="more users", matrix=MATRIX
    )

    then_recorded(incident, Reprioritised, priority=2)


def test_cannot_reprioritise_a_resolved_incident() -> None:
    incident = given(*RESOLVED)

    then_rejected(
        incident,
        IllegalTransition,
        lambda: incident.reprioritise(
            context(), impact=Impact.HIGH, urgency=Urgency.HIGH, reason="x", matrix=MATRIX
        ),
    )


# -- escalation ----------------------------------------------------------------------------------


def escalate_to_group(incident: Incident, group: str) -> None:
    incident.escalate(
        context(), kind=EscalationKind.FUNCTIONAL, reason="needs skills", to_group=group
    )


@pytest.mark.parametrize(
    "history", [LOGGED, ASSIGNED, IN_PROGRESS], ids=["logged", "assigned", "in_progress"]
)
def test_functional_escalation_moves_to_the_new_group_and_clears_the_agent(
    history: tuple[IncidentEvent, ...],
) -> None:
    incident = given(*history)
    level = incident.escalation_level

    escalate_to_group(incident, NETWORK)

    then_recorded(
        incident, Escalated, kind=EscalationKind.FUNCTIONAL, to_group=NETWORK, to_manager=None
    )
    assert (incident.state, incident.group, incident.agent) == (
        IncidentState.ASSIGNED,
        NETWORK,
        None,
    )
    assert incident.escalation_level == level


def test_functional_escalation_of_an_incident_on_hold_keeps_it_on_hold() -> None:
    incident = given(*ON_HOLD)

    escalate_to_group(incident, NETWORK)

    then_recorded(incident, Escalated, to_group=NETWORK)
    assert (incident.state, incident.group, incident.agent) == (
        IncidentState.ON_HOLD,
        NETWORK,
        None,
    )


@pytest.mark.parametrize(
    "history", [ASSIGNED, IN_PROGRESS, ON_HOLD], ids=["assigned", "in_progress", "on_hold"]
)
def test_functional_escalation_to_the_same_group_raises_escalation_target_unchanged(
    history: tuple[IncidentEvent, ...],
) -> None:
    incident = given(*history)

    then_rejected(
        incident, EscalationTargetUnchanged, lambda: escalate_to_group(incident, SERVICE_DESK)
    )


@pytest.mark.parametrize(
    "history", [LOGGED, ASSIGNED, IN_PROGRESS, ON_HOLD], ids=lambda h: h[-1].type_name
)
def test_hierarchical_escalation_raises_the_level_and_leaves_the_work_where_it_is(
    history: tuple[IncidentEvent, ...],
) -> None:
    incident = given(*history)
    before = (incident.state, incident.group, incident.agent)

    incident.escalate(
        context(), kind=EscalationKind.HIERARCHICAL, reason="SLA at risk", to_manager=MANAGER.id
    )
    incident.escalate(
        context(), kind=EscalationKind.HIERARCHICAL, reason="SLA breached", to_manager="kepala"
    )

    events = incident.collect_events()
    assert [(type(e), e.kind, e.to_manager) for e in events if isinstance(e, Escalated)] == [
        (Escalated, EscalationKind.HIERARCHICAL, MANAGER.id),
        (Escalated, EscalationKind.HIERARCHICAL, "kepala"),
    ]
    assert [e.originator_version for e in events] == [len(history) + 1, len(history) + 2]
    assert incident.escalation_level == 2
    assert (incident.state, incident.group, incident.agent) == before


@pytest.mark.parametrize(
    ("kind", "to_group", "to_manager"),
    [
        (EscalationKind.FUNCTIONAL, None, None),
        (EscalationKind.FUNCTIONAL, NETWORK, MANAGER.id),
        (EscalationKind.FUNCTIONAL, None, MANAGER.id),
        (EscalationKind.HIERARCHICAL, None, None),
        (EscalationKind.HIERARCHICAL, NETWORK, MANAGER.id),
        (EscalationKind.HIERARCHICAL, NETWORK, None),
    ],
)
def test_an_escalation_names_exactly_the_target_its_kind_needs(
    kind: EscalationKind, to_group: str | None, to_manager: str | None
) -> None:
    incident = given(*ASSIGNED)

    then_rejected(
        incident,
        ValidationError,
        lambda: incident.escalate(
            context(), kind=kind, reason="r", to_group=to_group, to_manager=to_manager
        ),
    )


# -- major incidents -----------------------------------------------------------------------------


def test_declaring_a_major_incident_names_its_manager() -> None:
    incident = given(*IN_PROGRESS)

    incident.declare_major(context(MANAGER), manager=MANAGER.id, reason="all branches down")

    then_recorded(incident, MajorIncidentDeclared, manager=MANAGER.id, reason="all branches down")
    assert incident.major_manager == MANAGER.id
    assert incident.state is IncidentState.IN_PROGRESS


def test_declaring_a_major_incident_twice_raises_already_a_major_incident() -> None:
    incident = given(*IN_PROGRESS, declared_major())

    then_rejected(
        incident,
        AlreadyAMajorIncident,
        lambda: incident.declare_major(context(), manager="someone", reason="again"),
    )


def test_standing_down_a_major_incident_clears_the_manager() -> None:
    incident = given(*IN_PROGRESS, declared_major())

    incident.stand_down_major(context(MANAGER), reason="contained")

    then_recorded(incident, MajorIncidentStoodDown, reason="contained")
    assert incident.major_manager is None


def test_a_resolved_major_incident_may_still_be_stood_down() -> None:
    incident = given(*IN_PROGRESS, declared_major(), resolved())

    incident.stand_down_major(context(MANAGER), reason="post-incident review done")

    then_recorded(incident, MajorIncidentStoodDown)
    assert incident.state is IncidentState.RESOLVED


@pytest.mark.parametrize("state", sorted(NOT_FINISHED))
def test_standing_down_an_incident_that_is_not_major_raises_not_a_major_incident(
    state: IncidentState,
) -> None:
    incident = given(*HISTORIES[state])

    then_rejected(
        incident, NotAMajorIncident, lambda: incident.stand_down_major(context(), reason="r")
    )


def test_standing_down_twice_raises_not_a_major_incident() -> None:
    incident = given(*IN_PROGRESS, declared_major(), stood_down())

    then_rejected(
        incident, NotAMajorIncident, lambda: incident.stand_down_major(context(), reason="r")
    )


def test_a_stood_down_incident_may_be_declared_major_again() -> None:
    incident = given(*IN_PROGRESS, declared_major(), stood_down())

    incident.declare_major(context(), manager="kepala", reason="it spread")

    then_recorded(incident, MajorIncidentDeclared, manager="kepala")
    assert incident.major_manager == "kepala"


def test_cannot_declare_a_resolved_incident_major() -> None:
    incident = given(*RESOLVED)

    then_rejected(
        incident,
        IllegalTransition,
        lambda: incident.declare_major(context(), manager=MANAGER.id, reason="r"),
    )


# -- resolution ----------------------------------------------------------------------------------


def test_resolving_work_in_progress_opens_the_reopen_window() -> None:
    incident = given(*IN_PROGRESS)

    incident.resolve(
        context(at=LATER),
        code=ResolutionCode.WORKAROUND,
        notes="use branch B",
        reopen_window=WINDOW,
    )

    then_recorded(
        incident,
        Resolved,
        code=ResolutionCode.WORKAROUND,
        notes="use branch B",
        reopen_until=LATER + WINDOW,
    )
    assert (incident.state, incident.reopen_until) == (IncidentState.RESOLVED, LATER + WINDOW)


def test_resolving_an_incident_on_hold_clears_the_hold_reason() -> None:
    incident = given(*ON_HOLD)

    incident.resolve(
        context(), code=ResolutionCode.CALLER_RESOLVED, notes="ok", reopen_window=WINDOW
    )

    then_recorded(incident, Resolved, code=ResolutionCode.CALLER_RESOLVED)
    assert (incident.state, incident.hold_reason) == (IncidentState.RESOLVED, None)


def test_cannot_resolve_an_incident_that_is_only_logged() -> None:
    incident = given(*LOGGED)

    error = then_rejected(
        incident,
        IllegalTransition,
        lambda: incident.resolve(
            context(), code=ResolutionCode.FIXED, notes="n", reopen_window=WINDOW
        ),
    )

    assert "resolve" in str(error)


def test_cannot_resolve_an_incident_nobody_has_started_on() -> None:
    incident = given(*ASSIGNED)

    then_rejected(
        incident,
        IllegalTransition,
        lambda: incident.resolve(
            context(), code=ResolutionCode.FIXED, notes="n", reopen_window=WINDOW
        ),
    )


def test_cannot_resolve_twice() -> None:
    incident = given(*RESOLVED)

    then_rejected(
        incident,
        IllegalTransition,
        lambda: incident.resolve(
            context(), code=ResolutionCode.FIXED, notes="n", reopen_window=WINDOW
        ),
    )


# -- confirmation and closure --------------------------------------------------------------------


@pytest.mark.parametrize("actor", [CALLER, AGENT], ids=["the_caller", "an_agent_for_them"])
def test_confirming_the_resolution_closes_the_incident(actor: Actor) -> None:
    incident = given(*RESOLVED)

    incident.confirm_resolution(context(actor, LATER))

    then_recorded(incident, Closed, basis=ClosureBasis.CONFIRMED_BY_CALLER, actor=actor)
    assert incident.state is IncidentState.CLOSED


def test_requester_cannot_confirm_someone_elses_incident() -> None:
    incident = given(*RESOLVED)

    then_rejected(
        incident, NotTheCaller, lambda: incident.confirm_resolution(context(SOMEONE_ELSE, LATER))
    )


@pytest.mark.parametrize("after", [timedelta(0), timedelta(seconds=1), 3 * WINDOW])
def test_agent_closes_once_the_confirmation_window_has_ended(after: timedelta) -> None:
    incident = given(*RESOLVED)  # resolved at T0

    incident.close(context(AGENT, T0 + WINDOW + after))

    then_recorded(incident, Closed, basis=ClosureBasis.WINDOW_ELAPSED)
    assert incident.state is IncidentState.CLOSED


@pytest.mark.parametrize("at", [T0, LATER, T0 + WINDOW - timedelta(microseconds=1)])
def test_agent_cannot_close_before_the_confirmation_window_ends(at: datetime) -> None:
    incident = given(*RESOLVED)

    then_rejected(incident, ConfirmationWindowOpen, lambda: incident.close(context(AGENT, at)))


@pytest.mark.parametrize("state", sorted(OPEN | {IncidentState.CANCELLED}))
def test_cannot_close_an_incident_that_is_not_resolved(state: IncidentState) -> None:
    incident = given(*HISTORIES[state])

    then_rejected(incident, IllegalTransition, lambda: incident.close(context(at=T0 + 2 * WINDOW)))


# -- reopening -----------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", [CALLER, AGENT], ids=["the_caller", "an_agent_for_them"])
def test_reopening_within_the_window_returns_the_work_to_its_agent(actor: Actor) -> None:
    incident = given(*RESOLVED)

    incident.reopen(context(actor, LATER), reason="the catalogue is down again")

    then_recorded(incident, Reopened, reason="the catalogue is down again", actor=actor)
    assert (incident.state, incident.group, incident.agent) == (
        IncidentState.IN_PROGRESS,
        SERVICE_DESK,
        SITI,
    )
    assert (incident.reopen_until, incident.reopen_count) == (None, 1)


def test_reopening_work_that_has_no_agent_returns_it_to_the_group_queue() -> None:
    # escalated to another group while on hold, then resolved from the hold: nobody has it
    incident = given(*ON_HOLD, escalated_to(NETWORK), resolved())

    incident.reopen(context(CALLER, LATER), reason="again")

    then_recorded(incident, Reopened)
    assert (incident.state, incident.group, incident.agent) == (
        IncidentState.ASSIGNED,
        NETWORK,
        None,
    )


def test_reopen_at_the_last_moment_of_the_window_is_allowed() -> None:
    incident = given(*RESOLVED)

    incident.reopen(context(CALLER, T0 + WINDOW), reason="just in time")

    then_recorded(incident, Reopened)


@pytest.mark.parametrize("late", [timedelta(microseconds=1), timedelta(days=30)])
def test_reopen_after_the_window_raises_reopen_window_closed(late: timedelta) -> None:
    incident = given(*RESOLVED)

    then_rejected(
        incident,
        ReopenWindowClosed,
        lambda: incident.reopen(context(CALLER, T0 + WINDOW + late), reason="too late"),
    )


def test_an_agent_cannot_reopen_after_the_window_either() -> None:
    incident = given(*RESOLVED)

    then_rejected(
        incident,
        ReopenWindowClosed,
        lambda: incident.reopen(context(AGENT, T0 + 2 * WINDOW), reason="too late"),
    )


def test_requester_cannot_reopen_someone_elses_incident() -> None:
    incident = given(*RESOLVED)

    then_rejected(
        incident, NotTheCaller, lambda: incident.reopen(context(SOMEONE_ELSE, LATER), reason="x")
    )


def test_reopening_counts_every_reopen_and_a_new_resolution_opens_a_new_window() -> None:
    later = T0 + timedelta(days=2)
    incident = given(*RESOLVED, reopened(), resolved(at=later))

    incident.reopen(context(CALLER, later + WINDOW), reason="third time")

    then_recorded(incident, Reopened)
    assert incident.reopen_count == 2


@pytest.mark.parametrize("state", sorted(OPEN))
def test_cannot_reopen_an_incident_that_is_not_resolved(state: IncidentState) -> None:
    incident = given(*HISTORIES[state])

    then_rejected(incident, IllegalTransition, lambda: incident.reopen(context(CALLER), reason="x"))


def test_state_rules_come_before_the_caller_rule() -> None:
    incident = given(*IN_PROGRESS)

    then_rejected(
        incident, IllegalTransition, lambda: incident.reopen(context(SOMEONE_ELSE), reason="x")
    )


# -- cancellation --------------------------------------------------------------------------------


@pytest.mark.parametrize("state", sorted(OPEN))
def test_any_open_incident_may_be_cancelled_as_logged_in_error(state: IncidentState) -> None:
    incident = given(*HISTORIES[state])

    incident.cancel(context(), reason=CancelReason.LOGGED_IN_ERROR, note="test call")

    then_recorded(
        incident,
        Cancelled,
        reason=CancelReason.LOGGED_IN_ERROR,
        duplicate_of=None,
        note="test call",
    )
    assert incident.state is IncidentState.CANCELLED


def test_cancelling_a_duplicate_names_the_original() -> None:
    original = uuid4()
    incident = given(*LOGGED)

    incident.cancel(context(), reason=CancelReason.DUPLICATE, duplicate_of=original)

    then_recorded(incident, Cancelled, reason=CancelReason.DUPLICATE, duplicate_of=original)


def test_an_incident_cannot_be_cancelled_as_a_duplicate_of_itself() -> None:
    incident = given(*LOGGED)

    then_rejected(
        incident,
        DuplicateOfItself,
        lambda: incident.cancel(context(), reason=CancelReason.DUPLICATE, duplicate_of=incident.id),
    )


def test_cancel_duplicate_requires_duplicate_of() -> None:
    incident = given(*LOGGED)

    then_rejected(
        incident, ValidationError, lambda: incident.cancel(context(), reason=CancelReason.DUPLICATE)
    )


def test_cancel_logged_in_error_must_not_name_a_duplicate() -> None:
    incident = given(*LOGGED)

    then_rejected(
        incident,
        ValidationError,
        lambda: incident.cancel(
            context(), reason=CancelReason.LOGGED_IN_ERROR, duplicate_of=uuid4()
        ),
    )


@pytest.mark.parametrize("state", [IncidentState.RESOLVED, IncidentState.CANCELLED])
def test_cannot_cancel_an_incident_that_is_no_longer_open(state: IncidentState) -> None:
    incident = given(*HISTORIES[state])

    then_rejected(
        incident,
        IllegalTransition,
        lambda: incident.cancel(context(), reason=CancelReason.LOGGED_IN_ERROR),
    )


# -- the envelope and replay -----------------------------------------------------------------------


def test_each_event_carries_the_actor_the_time_and_the_correlation_of_its_command() -> None:
    incident = given(*ASSIGNED)
    ctx = Context(actor=MANAGER, at=LATER, correlation_id=uuid4())

    incident.start_work(ctx)

    then_recorded(
        incident,
        WorkStarted,
        actor=MANAGER,
        timestamp=LATER,
        correlation_id=ctx.correlation_id,
        originator_id=INCIDENT_ID,
        originator_version=3,
    )


def test_several_decisions_record_consecutive_versions_and_replay_to_the_same_state() -> None:
    incident = given(*LOGGED)
    incident.assign(context(), group=SERVICE_DESK)
    incident.start_work(context())
    incident.add_work_note(context(), text="looking")
    incident.resolve(context(), code=ResolutionCode.FIXED, notes="done", reopen_window=WINDOW)

    new = incident.collect_events()

    assert [e.originator_version for e in new] == [2, 3, 4, 5]
    replayed = given(*LOGGED, *new)  # type: ignore[arg-type]
    assert state_of(replayed) == state_of(incident)


def test_a_rejected_command_leaves_earlier_pending_events_alone() -> None:
    incident = given(*LOGGED)
    incident.assign(context(), group=SERVICE_DESK)

    with pytest.raises(DomainError):
        incident.resolve(context(), code=ResolutionCode.FIXED, notes="n", reopen_window=WINDOW)

    assert [type(e) for e in incident.collect_events()] == [Assigned]


# -- work in progress always has an agent ----------------------------------------------------------


@pytest.mark.parametrize(
    "history",
    [
        (*LOGGED, assigned(NETWORK, None), put_on_hold(), resumed()),
        (*ON_HOLD, escalated_to(NETWORK), resumed()),
    ],
    ids=["held_before_work_started", "escalated_while_on_hold"],
)
def test_work_in_progress_always_has_an_agent(history: tuple[IncidentEvent, ...]) -> None:
    incident = given(*history)

    assert incident.state is not IncidentState.IN_PROGRESS or incident.agent is not None


# -- the priority matrix -------------------------------------------------------------------------


def cells_with(**changes: int) -> Cells:
    """DEFAULT_CELLS with some cells changed, named impact_urgency (e.g. low_high=2)."""
    cells = {impact: dict(row) for impact, row in DEFAULT_CELLS.items()}
    for name, priority in changes.items():
        impact, urgency = name.split("_")
        cells[Impact(impact)][Urgency(urgency)] = priority
    return cells


def test_defining_the_matrix_records_version_one() -> None:
    ctx = context(MANAGER)

    matrix = PriorityMatrix.define(ctx, DEFAULT_CELLS)

    events = matrix.collect_events()
    assert [type(e) for e in events] == [MatrixDefined]
    assert events[0].originator_id == PriorityMatrix.ID
    assert events[0].originator_version == 1
    assert matrix.version == 1
    assert matrix.cells == DEFAULT_CELLS
    assert all(matrix.priority(i, u) == DEFAULT_CELLS[i][u] for i in Impact for u in Urgency)


def _incomplete() -> list[Any]:
    no_row = {i: dict(r) for i, r in DEFAULT_CELLS.items() if i is not Impact.LOW}
    short_row = cells_with()
    del short_row[Impact.MEDIUM][Urgency.LOW]
    return [
        pytest.param(no_row, id="missing_impact"),
        pytest.param(short_row, id="missing_urgency"),
    ]


@pytest.mark.parametrize("cells", _incomplete())
def test_an_incomplete_matrix_is_an_invalid_rule(cells: Cells) -> None:
    with pytest.raises(InvalidRule):
        PriorityMatrix.define(context(MANAGER), cells)
    matrix = PriorityMatrix.define(context(MANAGER), DEFAULT_CELLS)
    matrix.collect_events()
    then_matrix_rejected(matrix, lambda: matrix.revise(context(MANAGER), cells, "r"))


@pytest.mark.parametrize("priority", [0, 6, -1, 100])
def test_a_priority_out_of_range_is_an_invalid_rule(priority: int) -> None:
    cells = cells_with(high_high=priority)
    with pytest.raises(InvalidRule):
        PriorityMatrix.define(context(MANAGER), cells)
    matrix = PriorityMatrix.define(context(MANAGER), DEFAULT_CELLS)
    matrix.collect_events()
    then_matrix_rejected(matrix, lambda: matrix.revise(context(MANAGER), cells, "r"))


def then_matrix_rejected(matrix: PriorityMatrix, when: Callable[[], object]) -> None:
    before = (matrix.version, matrix.cells)
    with pytest.raises(InvalidRule):
        when()
    assert matrix.collect_events() == []
    assert (matrix.version, matrix.cells) == before


def test_revising_to_the_same_cells_is_an_invalid_rule() -> None:
    matrix = PriorityMatrix.define(context(MANAGER), DEFAULT_CELLS)
    matrix.collect_events()

    then_matrix_rejected(matrix, lambda: matrix.revise(context(MANAGER), cells_with(), "no-op"))


def test_a_revision_bumps_the_version_and_changes_the_priority() -> None:
    matrix = PriorityMatrix.define(context(MANAGER), DEFAULT_CELLS)
    first = matrix.collect_events()
    ctx = context(MANAGER, LATER)

    matrix.revise(ctx, cells_with(low_high=2), "walk-ins")
    matrix.revise(ctx, cells_with(low_high=2, medium_low=3), "branches")

    revisions = matrix.collect_events()
    assert [type(e) for e in revisions] == [MatrixRevised, MatrixRevised]
    assert [e.originator_version for e in revisions] == [2, 3]
    assert revisions[0].reason == "walk-ins"
    assert matrix.version == 3
    assert matrix.priority(Impact.LOW, Urgency.HIGH) == 2
    assert matrix.priority(Impact.MEDIUM, Urgency.LOW) == 3
    # older versions stay readable from their history
    version_2 = PriorityMatrix.project(None, [*first, revisions[0]])
    assert version_2 is not None
    assert (version_2.version, version_2.priority(Impact.MEDIUM, Urgency.LOW)) == (2, 4)


def test_the_matrix_keeps_its_own_copy_of_the_cells() -> None:
    cells = cells_with()
    matrix = PriorityMatrix.define(context(MANAGER), cells)

    cells[Impact.HIGH][Urgency.HIGH] = 5

    assert matrix.priority(Impact.HIGH, Urgency.HIGH) == 1
