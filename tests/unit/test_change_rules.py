"""Changes and the change schedule: Given (events) / When (command) / Then (events or error)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.actors import Actor, Role
from domain.change import (
    Approved,
    Authorised,
    BackoutPlanRecorded,
    Change,
    ChangeKind,
    ChangeState,
    ChangeTemplate,
    ImplementationOutcome,
    ReviewTaskOpened,
    Risk,
    TestResult,
)
from domain.change_schedule import SCHEDULE_ID, BlackoutDeclared, ChangeSchedule, WindowBooked
from domain.errors import (
    AlreadyDecided,
    BackoutPlanMissing,
    BackoutTestUnexplained,
    InvalidWindow,
    NotANamedApprover,
    NotPermitted,
    RecordIllegalTransition,
    RequesterCannotApprove,
    ReviewRequired,
    ScheduleConflict,
)
from tests.conftest import T0, context
from tests.unit.test_change_assessment_rules import ASPECTS

REQUESTER = Actor(id="andi.pratama", role=Role.RESOLVER)
MANAGER = Actor(id="rina.wati", role=Role.CHANGE_MANAGER)
CAB = [Actor(id=name, role=Role.CAB_MEMBER) for name in ("ahmad", "yusuf", "lina")]
SERVICE_MANAGER = Actor(id="dewi.lestari", role=Role.SERVICE_MANAGER)


def raised(kind: ChangeKind = ChangeKind.NORMAL, backout: str | None = "restore backup") -> Change:
    change = Change.raise_change(
        context(REQUESTER),
        id=uuid4(),
        number=1,
        kind=kind,
        title="Upgrade INLISLite to 3.2",
        description="",
        requester=REQUESTER.id,
        services=["inlislite-slims"],
        configuration_items=["app-inlislite"],
        backout_plan=backout,
        template=None,
    )
    change.collect_events()
    return change


def assessed(quorum: int = 2, **options: Any) -> Change:
    change = raised(**options)
    cab = [a.id for a in CAB]
    change.assess(
        context(MANAGER),
        risk=Risk.MEDIUM,
        impact="OPAC down 1 h",
        cab=cab,
        quorum=quorum,
        **ASPECTS,
    )
    change.collect_events()
    return change


def test_requester_cannot_approve_own_change() -> None:
    # Given a change assessed with its requester somehow acting as a CAB member
    change = assessed()
    requester_as_cab = Actor(id=REQUESTER.id, role=Role.CAB_MEMBER)
    # When the requester approves, Then it is refused and nothing is recorded
    with pytest.raises(RequesterCannotApprove):
        change.approve(context(requester_as_cab))
    assert change.collect_events() == []


def test_the_requester_cannot_sit_on_the_cab_of_their_change() -> None:
    change = raised()
    with pytest.raises(RequesterCannotApprove):
        change.assess(
            context(MANAGER),
            risk=Risk.LOW,
            impact="none",
            cab=[REQUESTER.id, "ahmad"],
            quorum=1,
            **ASPECTS,
        )


def test_authorisation_waits_for_the_quorum_of_named_approvers() -> None:
    # Given a change whose CAB of three needs two approvals
    change = assessed(quorum=2)
    # When one approves, Then it is approved but not yet authorised
    change.approve(context(CAB[0]))
    assert [type(e) for e in change.collect_events()] == [Approved]
    assert change.state is ChangeState.ASSESSED
    # When a second approves, Then the quorum authorises it, naming both
    change.approve(context(CAB[1]))
    events = change.collect_events()
    assert [type(e) for e in events] == [Approved, Authorised]
    assert isinstance(events[1], Authorised)
    assert events[1].approvers == ["ahmad", "yusuf"]
    assert change.state is ChangeState.AUTHORISED


def test_only_named_approvers_decide_and_each_once() -> None:
    change = assessed(quorum=2)
    with pytest.raises(NotANamedApprover):
        change.approve(context(Actor(id="stranger", role=Role.CAB_MEMBER)))
    change.approve(context(CAB[0]))
    with pytest.raises(AlreadyDecided):
        change.approve(context(CAB[0]))


def test_a_backout_plan_is_required_before_authorisation() -> None:
    change = assessed(quorum=1, backout=None)
    with pytest.raises(BackoutPlanMissing):
        change.approve(context(CAB[0]))
    change.record_backout_plan(context(REQUESTER), plan="reinstall 3.1 from the image")
    change.approve(context(CAB[0]))
    assert change.state is ChangeState.AUTHORISED


def test_a_tested_backout_plan_says_how_it_was_tested() -> None:
    change = raised(backout=None)
    with pytest.raises(BackoutTestUnexplained):
        change.record_backout_plan(context(REQUESTER), plan="restore the snapshot", tested=True)
    assert change.collect_events() == []
    change.record_backout_plan(
        context(REQUESTER), plan="restore the snapshot", tested=True, test_note="on staging"
    )
    (event,) = change.collect_events()
    assert isinstance(event, BackoutPlanRecorded)
    assert (event.tested, event.test_note) == (True, "on staging")


def test_only_a_change_manager_assesses() -> None:
    with pytest.raises(NotPermitted):
        raised().assess(
            context(CAB[0]), risk=Risk.LOW, impact="x", cab=["ahmad"], quorum=1, **ASPECTS
        )


def test_a_standard_change_is_authorised_by_its_template_without_a_cab() -> None:
    template = ChangeTemplate.define(
        context(MANAGER),
        code="kiosk-receipt-printer-swap",
        title="Swap a kiosk printer",
        description="",
        services=[],
        configuration_items=["kiosk-dpk-01"],
        backout_plan="refit the old one",
    )
    change = Change.raise_change(
        context(REQUESTER),
        id=uuid4(),
        number=7,
        kind=ChangeKind.STANDARD,
        title="Swap kiosk 1's printer",
        description="",
        requester=REQUESTER.id,
        services=[],
        configuration_items=["kiosk-dpk-01"],
        backout_plan="refit the old one",
        template=template,
    )
    assert change.state is ChangeState.AUTHORISED
    assert [e.type_name for e in change.collect_events()] == [
        "Change.Raised",
        "Change.PreAuthorised",
    ]


def implementing(kind: ChangeKind = ChangeKind.NORMAL) -> Change:
    change = raised(kind=kind)
    change.record_backout_plan(context(REQUESTER), plan="restore backup", tests=["restore drill"])
    change.assess(context(MANAGER), risk=Risk.LOW, impact="x", cab=["ahmad"], quorum=1, **ASPECTS)
    change.approve(context(CAB[0]))
    change.record_test(context(REQUESTER), test="restore drill", result=TestResult.PASSED)
    change.schedule(
        context(MANAGER), start=T0, end=T0 + timedelta(hours=1), overridden=[], override_reason=None
    )
    change.start_implementation(context(REQUESTER))
    change.collect_events()
    return change


@pytest.mark.parametrize(
    "outcome", [ImplementationOutcome.FAILED, ImplementationOutcome.BACKED_OUT]
)
def test_a_failed_change_opens_a_review_task_and_cannot_close_unreviewed(
    outcome: ImplementationOutcome,
) -> None:
    change = implementing()
    change.record_implementation(context(REQUESTER), outcome=outcome, notes="gate firmware hung")
    events = change.collect_events()
    assert isinstance(events[-1], ReviewTaskOpened)
    with pytest.raises(ReviewRequired):
        change.close(context(MANAGER))
    change.review(context(MANAGER), summary="firmware needs vendor fix", objectives_met=False)
    change.close(context(MANAGER))
    assert change.state is ChangeState.CLOSED


def test_an_emergency_change_is_reviewed_afterwards_even_when_successful() -> None:
    change = implementing(ChangeKind.EMERGENCY)
    change.record_implementation(
        context(REQUESTER), outcome=ImplementationOutcome.SUCCESSFUL, notes="patched"
    )
    assert change.review_required
    with pytest.raises(ReviewRequired):
        change.close(context(MANAGER))


def test_a_change_cannot_be_implemented_before_it_is_scheduled() -> None:
    with pytest.raises(RecordIllegalTransition):
        assessed().start_implementation(context(REQUESTER))


# -- the schedule --------------------------------------------------------------------------------


def book(
    schedule: ChangeSchedule,
    actor: Actor,
    items: set[str],
    reach: set[str],
    hours: tuple[int, int],
    override: str | None = None,
    change_id: UUID | None = None,
) -> list[dict[str, str]]:
    return schedule.book(
        context(actor),
        change_id=change_id or uuid4(),
        change_ref=f"CHG-{len(schedule.bookings) + 1:06d}",
        title="a change",
        start=T0 + timedelta(hours=hours[0]),
        end=T0 + timedelta(hours=hours[1]),
        items=items,
        reach=reach,
        override_reason=override,
    )


def test_overlapping_windows_on_related_items_conflict_and_are_refused() -> None:
    # Given a window booked on the INLISLite server (the app depends on it)
    schedule = ChangeSchedule(SCHEDULE_ID)
    book(schedule, MANAGER, {"srv-inlislite-01"}, {"srv-inlislite-01", "app-inlislite"}, (1, 3))
    schedule.collect_events()
    # When another change books an overlapping window on the app, Then it is refused
    with pytest.raises(ScheduleConflict) as refused:
        book(schedule, MANAGER, {"app-inlislite"}, {"app-inlislite", "srv-inlislite-01"}, (2, 4))
    assert [c["ref"] for c in refused.value.conflicts] == ["CHG-000001"]
    assert schedule.collect_events() == []
    # ... but a window that does not overlap, or unrelated items, is fine
    assert book(schedule, MANAGER, {"app-inlislite"}, {"app-inlislite"}, (3, 4)) == []
    assert book(schedule, MANAGER, {"wifi-dpk"}, {"wifi-dpk"}, (1, 3)) == []


def test_a_change_manager_may_override_a_conflict_with_a_reason_and_it_is_recorded() -> None:
    schedule = ChangeSchedule(SCHEDULE_ID)
    book(schedule, MANAGER, {"wifi-dpk"}, {"wifi-dpk"}, (1, 3))
    with pytest.raises(NotPermitted):
        book(schedule, REQUESTER, {"wifi-dpk"}, {"wifi-dpk"}, (2, 4), override="vendor visit")
    schedule.collect_events()
    overridden = book(schedule, MANAGER, {"wifi-dpk"}, {"wifi-dpk"}, (2, 4), override="vendor")
    assert [c["ref"] for c in overridden] == ["CHG-000001"]
    event = schedule.collect_events()[-1]
    assert isinstance(event, WindowBooked)
    assert (event.override_reason, event.overridden) == ("vendor", ["CHG-000001"])


def test_a_blackout_refuses_windows_on_the_items_it_covers() -> None:
    schedule = ChangeSchedule(SCHEDULE_ID)
    schedule.declare_blackout(
        context(SERVICE_MANAGER),
        code="opening-hours-monday",
        title="Opening hours",
        start=T0,
        end=T0 + timedelta(hours=8),
        items=["svc-opac"],
        reason="the reading room is open",
    )
    assert isinstance(schedule.collect_events()[0], BlackoutDeclared)
    with pytest.raises(ScheduleConflict):
        book(schedule, MANAGER, {"srv-opac-01"}, {"srv-opac-01", "svc-opac"}, (1, 2))
    assert book(schedule, MANAGER, {"wifi-dpk"}, {"wifi-dpk"}, (1, 2)) == []


def test_only_a_service_manager_declares_blackouts() -> None:
    with pytest.raises(NotPermitted):
        ChangeSchedule(SCHEDULE_ID).declare_blackout(
            context(MANAGER),
            code="year-end",
            title="Year end",
            start=T0,
            end=T0 + timedelta(days=1),
            items=[],
            reason="closing the books",
        )


def test_a_window_in_the_past_is_refused() -> None:
    with pytest.raises(InvalidWindow):
        book(ChangeSchedule(SCHEDULE_ID), MANAGER, {"a"}, {"a"}, (-3, -1))


def test_rebooking_a_change_releases_its_earlier_window_instead_of_conflicting() -> None:
    schedule = ChangeSchedule(SCHEDULE_ID)
    change_id = uuid4()
    book(schedule, MANAGER, {"a"}, {"a"}, (1, 3), change_id=change_id)
    assert book(schedule, MANAGER, {"a"}, {"a"}, (2, 4), change_id=change_id) == []
    assert list(schedule.bookings) == [str(change_id)]


def test_replaying_a_changes_events_gives_the_state_its_decisions_left() -> None:
    events: list[Any] = []
    change = Change.raise_change(
        context(REQUESTER),
        id=uuid4(),
        number=3,
        kind=ChangeKind.EMERGENCY,
        title="Patch gate",
        description="",
        requester=REQUESTER.id,
        services=[],
        configuration_items=["gate-dpk-main"],
        backout_plan="reflash",
        template=None,
    )
    events += change.collect_events()
    change.assess(
        context(MANAGER), risk=Risk.HIGH, impact="gate open", cab=["ahmad"], quorum=1, **ASPECTS
    )
    change.approve(context(CAB[0]))
    change.schedule(
        context(MANAGER), start=T0, end=T0 + timedelta(hours=1), overridden=[], override_reason=None
    )
    change.start_implementation(context(REQUESTER), waiver="the gate lets everyone in: no time")
    change.record_implementation(
        context(REQUESTER), outcome=ImplementationOutcome.SUCCESSFUL, notes="ok"
    )
    events += change.collect_events()
    replayed = Change.project(None, events)
    assert replayed is not None
    assert (replayed.state, replayed.version, replayed.approvals, replayed.review_required) == (
        change.state,
        change.version,
        change.approvals,
        change.review_required,
    )
    assert replayed.state is ChangeState.IMPLEMENTED
    assert replayed.review_required
