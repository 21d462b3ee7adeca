"""The change lifecycle, every action in every state, and what each event records.

    raised -> assessed -> authorised | rejected
    authorised -> scheduled (a window) -> implementing -> implemented -> reviewed -> closed
    raised, assessed, authorised, scheduled -> cancelled

Given: a change taken to a state through its own commands. When: one command. Then: exactly the
events it records, or the named error with nothing recorded and the state untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.actors import Actor, Role
from domain.change import (
    CANCELLABLE,
    TESTABLE,
    Approved,
    Assessed,
    Authorised,
    BackoutPlanRecorded,
    Cancelled,
    Change,
    ChangeEvent,
    ChangeKind,
    ChangeSource,
    ChangeState,
    ChangeTemplate,
    Closed,
    DesignAccepted,
    ImplementationOutcome,
    ImplementationStarted,
    Implemented,
    IncidentLinked,
    PreAuthorised,
    ProblemLinked,
    Raised,
    Rejected,
    Reviewed,
    ReviewTaskOpened,
    Risk,
    RoutedToDesignAndTransition,
    Scheduled,
    ServiceAction,
    TemplateDefined,
    TestRecorded,
    TestResult,
    template_id,
)
from domain.context import Context
from domain.errors import (
    AlreadyDecided,
    AlreadyLinked,
    NotANamedApprover,
    NotPermitted,
    RecordIllegalTransition,
    RequesterCannotApprove,
    ReviewRequired,
)
from domain.organisations import PROVINCE
from tests.conftest import T0, context
from tests.unit.test_change_assessment_rules import ASPECTS

REQUESTER = Actor(id="andi.pratama", role=Role.RESOLVER)
RAISER = Actor(id="siti.rahma", role=Role.AGENT)  # raises the change for the requester
MANAGER = Actor(id="rina.wati", role=Role.CHANGE_MANAGER)
ADMIN = Actor(id="admin", role=Role.ADMIN)
CAB = [Actor(id=name, role=Role.CAB_MEMBER) for name in ("ahmad", "yusuf", "lina")]
WINDOW = (T0 + timedelta(days=1), T0 + timedelta(days=1, hours=2))
#: The test on the checklist of the given changes (a standard one's template lists none).
DRILL = "restore drill on staging"
LATER_WINDOW = (T0 + timedelta(days=2), T0 + timedelta(days=2, hours=3))


def state_of(change: Change) -> dict[str, Any]:
    return {k: v for k, v in vars(change).items() if k != "_pending"}


def then_recorded(change: Change, *types: type[ChangeEvent]) -> list[ChangeEvent]:
    events = change.collect_events()
    assert [type(e) for e in events] == list(types)
    assert all(e.originator_id == change.id for e in events)
    assert [e.originator_version for e in events] == list(
        range(change.version - len(events) + 1, change.version + 1)
    )
    return events


def then_rejected(change: Change, error: type[Exception], when: Callable[[], object]) -> Exception:
    before = state_of(change)
    with pytest.raises(error) as raised:
        when()
    assert type(raised.value) is error
    assert change.collect_events() == []
    assert state_of(change) == before
    return raised.value


def fields_of(event: ChangeEvent | TemplateDefined) -> dict[str, Any]:
    """Every field an event records but its correlation id (a fresh one in each context)."""
    return {name: getattr(event, name) for name in type(event).model_fields} | {
        "correlation_id": None
    }


# -- given: a change in each state, reached through its commands --------------------------------


def raised(
    kind: ChangeKind = ChangeKind.NORMAL,
    backout: str | None = "restore the backup",
    organisation: str = PROVINCE,
) -> Change:
    change = Change.raise_change(
        context(RAISER),
        id=uuid4(),
        number=1,
        kind=kind,
        title="Upgrade INLISLite to 3.2",
        description="the 3.1 line is out of support",
        requester=REQUESTER.id,
        services=["inlislite-slims", "catalogue-search"],
        configuration_items=["app-inlislite", "srv-inlislite-01"],
        backout_plan=backout,
        template=template() if kind is ChangeKind.STANDARD else None,
        organisation=organisation,
    )
    if kind is not ChangeKind.STANDARD and backout is not None:  # and the test to pass first
        change.record_backout_plan(context(RAISER), plan=backout, tests=[DRILL])
    change.collect_events()
    return change


def assessed(kind: ChangeKind = ChangeKind.NORMAL, quorum: int = 1, **options: Any) -> Change:
    change = raised(kind, **options)
    change.assess(
        context(MANAGER),
        risk=Risk.MEDIUM,
        impact="OPAC down for an hour",
        cab=[a.id for a in CAB],
        quorum=quorum,
        **ASPECTS,
    )
    change.collect_events()
    return change


def authorised(kind: ChangeKind = ChangeKind.NORMAL) -> Change:
    if kind is ChangeKind.STANDARD:
        return raised(kind)  # its template authorises it
    change = assessed(kind)
    change.approve(context(CAB[0]))
    change.record_test(context(REQUESTER), test=DRILL, result=TestResult.PASSED)
    change.collect_events()
    return change


def rejected() -> Change:
    change = assessed()
    change.reject(context(CAB[0]), reason="no backout test")
    change.collect_events()
    return change


def scheduled(kind: ChangeKind = ChangeKind.NORMAL) -> Change:
    change = authorised(kind)
    schedule(change)
    change.collect_events()
    return change


def implementing(kind: ChangeKind = ChangeKind.NORMAL) -> Change:
    change = scheduled(kind)
    change.start_implementation(context(REQUESTER))
    change.collect_events()
    return change


def implemented(
    kind: ChangeKind = ChangeKind.NORMAL,
    outcome: ImplementationOutcome = ImplementationOutcome.SUCCESSFUL,
) -> Change:
    change = implementing(kind)
    change.record_implementation(context(REQUESTER), outcome=outcome, notes="went to plan")
    change.collect_events()
    return change


def reviewed() -> Change:
    change = implemented()
    change.review(context(MANAGER), summary="as planned", objectives_met=True)
    change.collect_events()
    return change


def closed() -> Change:
    change = reviewed()
    change.close(context(MANAGER))
    change.collect_events()
    return change


def cancelled() -> Change:
    change = raised()
    change.cancel(context(MANAGER), reason="superseded")
    change.collect_events()
    return change


def schedule(change: Change, window: tuple[Any, Any] = WINDOW, **override: Any) -> None:
    change.schedule(
        context(MANAGER),
        start=window[0],
        end=window[1],
        overridden=override.get("overridden", []),
        override_reason=override.get("reason"),
    )


IN_STATE: dict[ChangeState, Callable[[], Change]] = {
    ChangeState.RAISED: raised,
    ChangeState.ASSESSED: assessed,
    ChangeState.AUTHORISED: authorised,
    ChangeState.REJECTED: rejected,
    ChangeState.SCHEDULED: scheduled,
    ChangeState.IMPLEMENTING: implementing,
    ChangeState.IMPLEMENTED: implemented,
    ChangeState.REVIEWED: reviewed,
    ChangeState.CLOSED: closed,
    ChangeState.CANCELLED: cancelled,
}


def test_each_given_change_is_in_its_state() -> None:
    for state, make in IN_STATE.items():
        assert make().state is state


# -- every action, in the states that allow it -------------------------------------------------

Action = Callable[[Change], None]


def route(change: Change) -> None:
    change.route_to_design_and_transition(
        context(MANAGER), criteria=["risk: high"], policy_version=1
    )


def accept_design(change: Change) -> None:
    """Accept the design of a change routed to design and transition (routed first, where it
    may be: the given changes are not of major impact)."""
    if change.state in ALLOWED_IN["accept_design"]:
        route(change)
    change.accept_design(
        context(MANAGER), design_document="DOC-000031", acceptance_criteria="OPAC answers"
    )


ACTIONS: dict[str, tuple[Action, tuple[type[ChangeEvent], ...], ChangeState | None]] = {
    "record_backout_plan": (
        lambda c: c.record_backout_plan(context(REQUESTER), plan="reinstall 3.1"),
        (BackoutPlanRecorded,),
        None,  # the state does not change
    ),
    "assess": (
        lambda c: c.assess(
            context(MANAGER), risk=Risk.LOW, impact="none", cab=["ahmad"], quorum=1, **ASPECTS
        ),
        (Assessed,),
        ChangeState.ASSESSED,
    ),
    "route_to_design_and_transition": (route, (RoutedToDesignAndTransition,), None),
    "accept_design": (accept_design, (RoutedToDesignAndTransition, DesignAccepted), None),
    "record_test": (
        lambda c: c.record_test(context(REQUESTER), test=DRILL, result=TestResult.FAILED),
        (TestRecorded,),
        None,
    ),
    "approve": (
        lambda c: c.approve(context(CAB[1])),
        (Approved, Authorised),
        ChangeState.AUTHORISED,
    ),
    "reject": (
        lambda c: c.reject(context(CAB[1]), reason="too risky in term time"),
        (Rejected,),
        ChangeState.REJECTED,
    ),
    "schedule": (lambda c: schedule(c, LATER_WINDOW), (Scheduled,), ChangeState.SCHEDULED),
    "start_implementation": (
        lambda c: c.start_implementation(context(REQUESTER)),
        (ImplementationStarted,),
        ChangeState.IMPLEMENTING,
    ),
    "record_implementation": (
        lambda c: c.record_implementation(
            context(REQUESTER), outcome=ImplementationOutcome.SUCCESSFUL, notes="done"
        ),
        (Implemented,),
        ChangeState.IMPLEMENTED,
    ),
    "review": (
        lambda c: c.review(context(MANAGER), summary="fine", objectives_met=True),
        (Reviewed,),
        ChangeState.REVIEWED,
    ),
    "close": (lambda c: c.close(context(MANAGER)), (Closed,), ChangeState.CLOSED),
    "cancel": (
        lambda c: c.cancel(context(MANAGER), reason="no longer needed"),
        (Cancelled,),
        ChangeState.CANCELLED,
    ),
}

ALLOWED_IN: dict[str, set[ChangeState]] = {
    "record_backout_plan": {ChangeState.RAISED, ChangeState.ASSESSED},
    "assess": {ChangeState.RAISED},
    "record_test": set(TESTABLE),
    "route_to_design_and_transition": {ChangeState.RAISED, ChangeState.ASSESSED},
    "accept_design": {ChangeState.RAISED, ChangeState.ASSESSED},
    "approve": {ChangeState.ASSESSED},
    "reject": {ChangeState.ASSESSED},
    "schedule": {ChangeState.AUTHORISED, ChangeState.SCHEDULED},
    "start_implementation": {ChangeState.SCHEDULED},
    "record_implementation": {ChangeState.IMPLEMENTING},
    "review": {ChangeState.IMPLEMENTED},
    # and from implemented, a successful standard change only: see the closing rules
    "close": {ChangeState.REVIEWED},
    "cancel": set(CANCELLABLE),
}


def test_the_table_names_every_public_decision_of_a_change() -> None:
    methods = {
        name
        for name, member in vars(Change).items()
        if callable(member) and not name.startswith("_") and "__mutmut_" not in name
    }
    assert methods - {"check_schedulable", "link_problem", "link_incident"} == set(ACTIONS)
    assert set(CANCELLABLE) == {
        ChangeState.RAISED,
        ChangeState.ASSESSED,
        ChangeState.AUTHORISED,
        ChangeState.SCHEDULED,
    }


def _pairs(allowed: bool) -> list[Any]:
    return [
        pytest.param(action, state, id=f"{action}-{state}")
        for action in ACTIONS
        for state in ChangeState
        if (state in ALLOWED_IN[action]) is allowed
        and not (action == "close" and state is ChangeState.IMPLEMENTED)
    ]


@pytest.mark.parametrize(("action", "state"), _pairs(allowed=True))
def test_an_action_in_its_states_records_its_events_and_moves_the_change(
    action: str, state: ChangeState
) -> None:
    change = IN_STATE[state]()
    act, types, after = ACTIONS[action]

    act(change)

    then_recorded(change, *types)
    assert change.state is (after or state)


@pytest.mark.parametrize(("action", "state"), _pairs(allowed=False))
def test_an_action_outside_its_states_is_refused_naming_action_and_state(
    action: str, state: ChangeState
) -> None:
    change = IN_STATE[state]()
    act, _, _ = ACTIONS[action]

    error = then_rejected(change, RecordIllegalTransition, lambda: act(change))

    assert isinstance(error, RecordIllegalTransition)
    assert (error.action, error.state) == (action, state)


# -- raising -------------------------------------------------------------------------------------


def test_raising_records_what_the_change_is_and_who_raised_it_for_whom() -> None:
    ctx = context(RAISER)
    change_id = uuid4()

    change = Change.raise_change(
        ctx,
        id=change_id,
        number=12,
        kind=ChangeKind.EMERGENCY,
        title="Patch the gate firmware",
        description="the gate lets everyone through",
        requester=REQUESTER.id,
        services=["Security gates"],
        configuration_items=["gate-dpk-main"],
        backout_plan="reflash 2.0",
        template=None,
        organisation="perpus-kota-serang",
        service_action=ServiceAction.TRANSFER,
        transfer_to="Dispusip Kota Serang",
        source=ChangeSource.INCIDENT,
        external_reference="INC-000042",
    )

    [event] = then_recorded(change, Raised)
    assert isinstance(event, Raised)
    assert fields_of(event) == {
        "originator_id": change_id,
        "originator_version": 1,
        "timestamp": ctx.at,
        "actor": RAISER,
        "number": 12,
        "kind": ChangeKind.EMERGENCY,
        "title": "Patch the gate firmware",
        "description": "the gate lets everyone through",
        "requester": REQUESTER.id,
        "services": ["Security gates"],
        "configuration_items": ["gate-dpk-main"],
        "backout_plan": "reflash 2.0",
        "template": None,
        "organisation": "perpus-kota-serang",
        "service_action": ServiceAction.TRANSFER,
        "transfer_to": "Dispusip Kota Serang",
        "source": ChangeSource.INCIDENT,
        "external_reference": "INC-000042",
        "correlation_id": None,
    }
    assert event.correlation_id == ctx.correlation_id
    assert (change.id, change.number, change.kind, change.title) == (
        change_id,
        12,
        ChangeKind.EMERGENCY,
        "Patch the gate firmware",
    )
    assert (change.raised_by, change.requester) == (RAISER.id, REQUESTER.id)
    assert (change.services, change.configuration_items) == (
        ("Security gates",),
        ["gate-dpk-main"],
    )
    assert (change.backout_plan, change.organisation) == ("reflash 2.0", "perpus-kota-serang")
    assert (change.cab, change.quorum, change.approvals) == (frozenset(), 0, ())
    assert (change.window, change.outcome, change.review_required) == (None, None, False)
    assert (change.problems, change.incidents) == (frozenset(), frozenset())
    assert (change.service_action, change.source) == (ServiceAction.TRANSFER, ChangeSource.INCIDENT)


def template() -> ChangeTemplate:
    made = ChangeTemplate.define(
        context(MANAGER),
        code="kiosk-receipt-printer-swap",
        title="Swap a kiosk printer",
        description="for a spare of the same model",
        services=["kiosks-gates"],
        configuration_items=["kiosk-dpk-01"],
        backout_plan="refit the old one",
    )
    made.collect_events()
    return made


@pytest.mark.parametrize("actor", [MANAGER, ADMIN], ids=["change_manager", "admin"])
def test_a_change_manager_defines_a_template_with_its_backout_plan(actor: Actor) -> None:
    ctx = context(actor)

    made = ChangeTemplate.define(
        ctx,
        code="kiosk-receipt-printer-swap",
        title="Swap a kiosk printer",
        description="for a spare of the same model",
        services=["kiosks-gates"],
        configuration_items=["kiosk-dpk-01"],
        backout_plan="refit the old one",
    )

    [event] = made.collect_events()
    assert isinstance(event, TemplateDefined)
    assert fields_of(event) == {
        "originator_id": template_id("kiosk-receipt-printer-swap"),
        "originator_version": 1,
        "timestamp": ctx.at,
        "actor": actor,
        "code": "kiosk-receipt-printer-swap",
        "title": "Swap a kiosk printer",
        "description": "for a spare of the same model",
        "services": ["kiosks-gates"],
        "configuration_items": ["kiosk-dpk-01"],
        "backout_plan": "refit the old one",
        "tests": [],
        "correlation_id": None,
    }
    assert made.id == template_id("kiosk-receipt-printer-swap")
    assert (made.code, made.title, made.backout_plan) == (
        "kiosk-receipt-printer-swap",
        "Swap a kiosk printer",
        "refit the old one",
    )
    assert (made.services, made.configuration_items) == (["kiosks-gates"], ["kiosk-dpk-01"])


def test_a_templates_id_is_fixed_by_its_code_whatever_its_case() -> None:
    # stored templates are found by this id: it may never change
    expected = UUID("2d0c5261-ed4c-525a-87e2-ba4c5933af40")
    assert template_id("kiosk-receipt-printer-swap") == expected
    assert template_id("Kiosk-Receipt-Printer-Swap") == expected


@pytest.mark.parametrize("role", [Role.CAB_MEMBER, Role.AGENT, Role.SERVICE_MANAGER])
def test_only_a_change_manager_defines_a_template(role: Role) -> None:
    with pytest.raises(NotPermitted):
        ChangeTemplate.define(
            context(Actor(id="someone", role=role)),
            code="x",
            title="x",
            description="",
            services=[],
            configuration_items=[],
            backout_plan="x",
        )


def test_a_standard_change_names_its_template_on_raising_and_on_authorisation() -> None:
    ctx = context(RAISER)

    change = Change.raise_change(
        ctx,
        id=uuid4(),
        number=7,
        kind=ChangeKind.STANDARD,
        title="Swap kiosk 1's printer",
        description="",
        requester=REQUESTER.id,
        services=[],
        configuration_items=["kiosk-dpk-01"],
        backout_plan="refit the old one",
        template=template(),
    )

    raised_event, authorised_event = then_recorded(change, Raised, PreAuthorised)
    assert isinstance(raised_event, Raised)
    assert isinstance(authorised_event, PreAuthorised)
    assert raised_event.template == "kiosk-receipt-printer-swap"
    assert authorised_event.template == "kiosk-receipt-printer-swap"
    assert (authorised_event.actor, authorised_event.correlation_id) == (
        ctx.actor,
        ctx.correlation_id,
    )
    assert change.state is ChangeState.AUTHORISED


@pytest.mark.parametrize(
    ("kind", "with_template"),
    [
        (ChangeKind.STANDARD, False),
        (ChangeKind.NORMAL, True),
        (ChangeKind.EMERGENCY, True),
    ],
)
def test_a_standard_change_and_only_a_standard_change_has_a_template(
    kind: ChangeKind, with_template: bool
) -> None:
    with pytest.raises(ValueError, match="template"):
        Change.raise_change(
            context(RAISER),
            id=uuid4(),
            number=1,
            kind=kind,
            title="x",
            description="",
            requester=REQUESTER.id,
            services=[],
            configuration_items=[],
            backout_plan="x",
            template=template() if with_template else None,
        )


# -- backout plan and assessment -----------------------------------------------------------------


@pytest.mark.parametrize("make", [raised, assessed], ids=["raised", "assessed"])
def test_a_backout_plan_recorded_before_authorisation_replaces_the_one_raised_with(
    make: Callable[..., Change],
) -> None:
    change = make(backout=None)

    change.record_backout_plan(context(REQUESTER), plan="reinstall 3.1 from the image")

    [event] = then_recorded(change, BackoutPlanRecorded)
    assert isinstance(event, BackoutPlanRecorded)
    assert event.plan == "reinstall 3.1 from the image"
    assert change.backout_plan == "reinstall 3.1 from the image"


def test_assessment_records_risk_impact_cab_and_quorum() -> None:
    change = raised()

    change.assess(
        context(ADMIN),
        risk=Risk.HIGH,
        impact="gate open 1 h",
        cab=["ahmad", "lina"],
        quorum=2,
        **ASPECTS,
    )

    [event] = then_recorded(change, Assessed)
    assert isinstance(event, Assessed)
    assert (event.risk, event.impact, event.cab, event.quorum) == (
        Risk.HIGH,
        "gate open 1 h",
        ["ahmad", "lina"],
        2,
    )
    assert (change.cab, change.quorum) == (frozenset({"ahmad", "lina"}), 2)


@pytest.mark.parametrize("who", [REQUESTER, RAISER], ids=["requester", "raised_by"])
def test_neither_the_requester_nor_who_raised_it_sits_on_the_cab(who: Actor) -> None:
    change = raised()

    then_rejected(
        change,
        RequesterCannotApprove,
        lambda: change.assess(
            context(MANAGER), risk=Risk.LOW, impact="x", cab=["ahmad", who.id], quorum=1, **ASPECTS
        ),
    )


# -- approval and rejection ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "emergency"), [(ChangeKind.NORMAL, False), (ChangeKind.EMERGENCY, True)]
)
def test_authorisation_says_whether_the_cab_was_an_emergency_cab(
    kind: ChangeKind, emergency: bool
) -> None:
    change = assessed(kind, quorum=2)
    change.approve(context(CAB[2]), comment="fine by me")
    [approved] = then_recorded(change, Approved)
    assert isinstance(approved, Approved)
    assert (approved.approver, approved.comment) == ("lina", "fine by me")

    change.approve(context(CAB[0]))

    approved, authorised_event = then_recorded(change, Approved, Authorised)
    assert isinstance(approved, Approved)
    assert isinstance(authorised_event, Authorised)
    assert (approved.approver, approved.comment) == ("ahmad", None)
    assert authorised_event.approvers == ["lina", "ahmad"]
    assert authorised_event.emergency is emergency
    assert change.approvals == ("lina", "ahmad")


def test_a_rejection_records_who_rejected_it_and_why_and_ends_the_change() -> None:
    change = assessed(quorum=2)
    change.approve(context(CAB[0]))
    change.collect_events()

    change.reject(context(CAB[1]), reason="no backout test")

    [event] = then_recorded(change, Rejected)
    assert isinstance(event, Rejected)
    assert (event.approver, event.reason) == ("yusuf", "no backout test")
    assert change.state is ChangeState.REJECTED


@pytest.mark.parametrize("decide", ["approve", "reject"])
@pytest.mark.parametrize("who", [REQUESTER, RAISER], ids=["requester", "raised_by"])
def test_neither_the_requester_nor_who_raised_it_decides(decide: str, who: Actor) -> None:
    change = assessed()
    as_cab = context(Actor(id=who.id, role=Role.CAB_MEMBER))

    then_rejected(change, RequesterCannotApprove, lambda: decide_on(change, decide, as_cab))


@pytest.mark.parametrize("decide", ["approve", "reject"])
def test_only_a_named_approver_decides(decide: str) -> None:
    change = assessed()
    stranger = context(Actor(id="stranger", role=Role.CAB_MEMBER))

    then_rejected(change, NotANamedApprover, lambda: decide_on(change, decide, stranger))


@pytest.mark.parametrize("decide", ["approve", "reject"])
def test_an_approver_who_approved_does_not_decide_again(decide: str) -> None:
    change = assessed(quorum=2)
    change.approve(context(CAB[0]))
    change.collect_events()

    then_rejected(change, AlreadyDecided, lambda: decide_on(change, decide, context(CAB[0])))


def decide_on(change: Change, decide: str, ctx: Context) -> None:
    if decide == "approve":
        change.approve(ctx)
    else:
        change.reject(ctx, reason="no")


# -- scheduling ----------------------------------------------------------------------------------


def test_scheduling_records_the_window_and_any_conflict_overridden_with_its_reason() -> None:
    change = authorised()

    schedule(change, overridden=["CHG-000004", "BLACKOUT year-end"], reason="vendor on site")

    [event] = then_recorded(change, Scheduled)
    assert isinstance(event, Scheduled)
    assert (event.start, event.end) == WINDOW
    assert (event.overridden, event.override_reason) == (
        ["CHG-000004", "BLACKOUT year-end"],
        "vendor on site",
    )
    assert change.window == WINDOW


def test_a_scheduled_change_is_rescheduled_to_its_new_window() -> None:
    change = scheduled()
    change.check_schedulable()  # still schedulable: the window may move

    schedule(change, LATER_WINDOW)

    [event] = then_recorded(change, Scheduled)
    assert isinstance(event, Scheduled)
    assert ((event.start, event.end), event.overridden, event.override_reason) == (
        LATER_WINDOW,
        [],
        None,
    )
    assert (change.state, change.window) == (ChangeState.SCHEDULED, LATER_WINDOW)


@pytest.mark.parametrize(
    "state", sorted(set(ChangeState) - {ChangeState.AUTHORISED, ChangeState.SCHEDULED})
)
def test_only_an_authorised_or_scheduled_change_is_schedulable(state: ChangeState) -> None:
    change = IN_STATE[state]()

    error = then_rejected(change, RecordIllegalTransition, change.check_schedulable)

    assert isinstance(error, RecordIllegalTransition)
    assert (error.action, error.state) == ("schedule", state)


# -- implementation, review and closing ----------------------------------------------------------


def test_implementation_records_who_implemented_it_and_the_outcome() -> None:
    change = scheduled()

    change.start_implementation(context(REQUESTER))
    [started] = then_recorded(change, ImplementationStarted)
    change.record_implementation(
        context(REQUESTER), outcome=ImplementationOutcome.SUCCESSFUL, notes="went to plan"
    )

    [done] = then_recorded(change, Implemented)
    assert isinstance(started, ImplementationStarted)
    assert isinstance(done, Implemented)
    assert started.implementer == REQUESTER.id
    assert (done.outcome, done.notes) == (ImplementationOutcome.SUCCESSFUL, "went to plan")
    assert (change.outcome, change.review_required) == (ImplementationOutcome.SUCCESSFUL, False)
    assert change.implemented_successfully


@pytest.mark.parametrize(
    ("outcome", "why"),
    [
        (ImplementationOutcome.FAILED, "the change was failed: review it"),
        (ImplementationOutcome.BACKED_OUT, "the change was backed out: review it"),
    ],
)
def test_a_change_that_did_not_succeed_opens_a_review_task_saying_why(
    outcome: ImplementationOutcome, why: str
) -> None:
    change = implementing(ChangeKind.STANDARD)

    change.record_implementation(context(REQUESTER), outcome=outcome, notes="hung")

    _, task = then_recorded(change, Implemented, ReviewTaskOpened)
    assert isinstance(task, ReviewTaskOpened)
    assert task.reason == why
    assert change.review_required
    assert not change.implemented_successfully


def test_a_successful_standard_change_closes_without_a_review() -> None:
    change = implemented(ChangeKind.STANDARD)
    assert not change.review_required

    change.close(context(MANAGER))

    then_recorded(change, Closed)
    assert change.state is ChangeState.CLOSED


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [
        (ChangeKind.NORMAL, ImplementationOutcome.SUCCESSFUL),
        (ChangeKind.EMERGENCY, ImplementationOutcome.SUCCESSFUL),
        (ChangeKind.STANDARD, ImplementationOutcome.FAILED),
        (ChangeKind.STANDARD, ImplementationOutcome.BACKED_OUT),
    ],
)
def test_any_other_implemented_change_is_reviewed_before_it_closes(
    kind: ChangeKind, outcome: ImplementationOutcome
) -> None:
    change = implemented(kind, outcome)

    then_rejected(change, ReviewRequired, lambda: change.close(context(MANAGER)))


def test_a_successful_emergency_change_opens_a_review_task_saying_why() -> None:
    change = implementing(ChangeKind.EMERGENCY)

    change.record_implementation(
        context(REQUESTER), outcome=ImplementationOutcome.SUCCESSFUL, notes="patched"
    )

    _, task = then_recorded(change, Implemented, ReviewTaskOpened)
    assert isinstance(task, ReviewTaskOpened)
    assert task.reason == "an emergency change is reviewed afterwards"
    assert change.review_required


def test_a_history_that_does_not_start_with_raised_is_refused() -> None:
    # every rule reads state that Raised sets: a history without it is not a change's
    stray = BackoutPlanRecorded(
        originator_id=uuid4(), originator_version=1, plan="x", **context(MANAGER).stamp()
    )
    with pytest.raises(AssertionError, match=r"starts with Change\.Raised"):
        Change.project(None, [stray])


def test_a_review_records_its_summary_and_clears_the_review_task() -> None:
    change = implemented(ChangeKind.EMERGENCY)
    assert change.review_required

    change.review(context(MANAGER), summary="patched in time", objectives_met=False)

    [event] = then_recorded(change, Reviewed)
    assert isinstance(event, Reviewed)
    assert (event.summary, event.objectives_met) == ("patched in time", False)
    assert not change.review_required
    assert change.implemented_successfully  # reviewed, still a success
    change.close(context(MANAGER))
    assert change.state is ChangeState.CLOSED
    assert not change.implemented_successfully


@pytest.mark.parametrize("state", sorted(CANCELLABLE))
def test_a_change_not_yet_implementing_is_cancelled_with_its_reason(state: ChangeState) -> None:
    change = IN_STATE[state]()

    change.cancel(context(MANAGER), reason="superseded by CHG-000009")

    [event] = then_recorded(change, Cancelled)
    assert isinstance(event, Cancelled)
    assert event.reason == "superseded by CHG-000009"
    assert change.state is ChangeState.CANCELLED


# -- links ---------------------------------------------------------------------------------------


def test_a_change_records_each_link_to_a_problem_or_incident_once() -> None:
    change = implemented()
    problem_id, incident_id = uuid4(), uuid4()

    change.link_problem(context(MANAGER), problem_id=problem_id, problem_ref="PRB-000002")
    change.link_incident(context(MANAGER), incident_id=incident_id, incident_ref="INC-000031")

    linked_problem, linked_incident = then_recorded(change, ProblemLinked, IncidentLinked)
    assert isinstance(linked_problem, ProblemLinked)
    assert isinstance(linked_incident, IncidentLinked)
    assert (linked_problem.problem_id, linked_problem.problem_ref) == (problem_id, "PRB-000002")
    assert (linked_incident.incident_id, linked_incident.incident_ref) == (
        incident_id,
        "INC-000031",
    )
    assert (change.problems, change.incidents) == ({problem_id}, {incident_id})
    assert change.state is ChangeState.IMPLEMENTED
    then_rejected(
        change,
        AlreadyLinked,
        lambda: change.link_problem(context(MANAGER), problem_id=problem_id, problem_ref="P"),
    )
    then_rejected(
        change,
        AlreadyLinked,
        lambda: change.link_incident(context(MANAGER), incident_id=incident_id, incident_ref="I"),
    )


def test_replaying_a_changes_history_gives_the_state_its_commands_left() -> None:
    history: list[ChangeEvent] = []
    change = Change.raise_change(
        context(RAISER),
        id=uuid4(),
        number=3,
        kind=ChangeKind.NORMAL,
        title="Patch gate",
        description="",
        requester=REQUESTER.id,
        services=["Security gates"],
        configuration_items=["gate-dpk-main"],
        backout_plan=None,
        template=None,
    )
    steps: list[Callable[[], object]] = [
        lambda: change.record_backout_plan(context(REQUESTER), plan="reflash", tests=[DRILL]),
        lambda: change.assess(
            context(MANAGER),
            risk=Risk.LOW,
            impact="x",
            cab=["ahmad", "yusuf"],
            quorum=2,
            tests=["gate opens for a member card"],
            **ASPECTS,
        ),
        lambda: change.record_test(context(REQUESTER), test=DRILL, result=TestResult.FAILED),
        lambda: change.approve(context(CAB[0])),
        lambda: change.approve(context(CAB[1])),
        lambda: change.record_test(context(REQUESTER), test=DRILL, result=TestResult.PASSED),
        lambda: change.record_test(
            context(REQUESTER), test="gate opens for a member card", result=TestResult.PASSED
        ),
        lambda: schedule(change),
        lambda: schedule(change, LATER_WINDOW),
        lambda: change.link_problem(context(MANAGER), problem_id=UUID(int=1), problem_ref="P"),
        lambda: change.start_implementation(context(REQUESTER)),
        lambda: change.record_implementation(
            context(REQUESTER), outcome=ImplementationOutcome.FAILED, notes="hung"
        ),
    ]
    for step in [lambda: None, *steps]:
        step()
        history += change.collect_events()  # type: ignore[arg-type]
        replayed = Change.project(None, history)
        assert replayed is not None
        assert state_of(replayed) == state_of(change)
