"""Changes are tested before they are implemented (ISO/IEC 20000-1 8.5.1.3): a change carries a
checklist of tests, named with its backout plan or at its assessment (a standard change's, by
its template); each is recorded as passed or failed, with a note and the files on the change that
show it; implementation of a normal change waits until every test on it passed, and a normal
change plans at least one. A standard change is exempt unless its template lists tests; an
emergency change may start without them, with the reason recorded.

Given (a change) / When (a command) / Then (events, or the named error with nothing recorded).
"""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.actors import Actor, Role
from domain.change import (
    Change,
    ChangeKind,
    ChangeState,
    ChangeTemplate,
    ImplementationStarted,
    Risk,
    TestRecorded,
    TestResult,
    TestsNotPassed,
    TestsPlanned,
    UnknownTest,
    WaiverNotAllowed,
)
from domain.change_commands import Assess, RecordBackoutPlan, RecordTest
from domain.errors import AttachmentNotFound
from tests.conftest import T0, context
from tests.unit.test_change_assessment_rules import ASPECTS

REQUESTER = Actor(id="andi.pratama", role=Role.RESOLVER)
MANAGER = Actor(id="rina.wati", role=Role.CHANGE_MANAGER)
CAB = Actor(id="ahmad", role=Role.CAB_MEMBER)
DRILL, CHECKOUT = "restore drill on staging", "SIP2 checkout at kiosk 1"


def raised(kind: ChangeKind = ChangeKind.NORMAL, template: ChangeTemplate | None = None) -> Change:
    return Change.raise_change(
        context(REQUESTER),
        id=uuid4(),
        number=5,
        kind=kind,
        title="Upgrade INLISLite to 3.2",
        description="",
        requester=REQUESTER.id,
        services=["inlislite-slims"],
        configuration_items=["app-inlislite"],
        backout_plan="restore the snapshot",
        template=template,
    )


def scheduled(
    kind: ChangeKind = ChangeKind.NORMAL,
    with_plan: list[str] | None = None,
    at_assessment: list[str] | None = None,
    passed: list[str] | None = None,
) -> Change:
    """A change taken to its window, its checklist planned and the `passed` tests passed."""
    change = raised(kind)
    if with_plan:
        change.record_backout_plan(context(REQUESTER), plan="restore the snapshot", tests=with_plan)
    change.assess(
        context(MANAGER),
        risk=Risk.MEDIUM,
        impact="OPAC down",
        cab=[CAB.id],
        quorum=1,
        tests=at_assessment,
        **ASPECTS,
    )
    change.approve(context(CAB))
    for test in passed or []:
        change.record_test(context(REQUESTER), test=test, result=TestResult.PASSED)
    change.schedule(
        context(MANAGER), start=T0, end=T0 + timedelta(hours=2), overridden=[], override_reason=None
    )
    change.collect_events()
    return change


def kiosk_template(tests: list[str]) -> ChangeTemplate:
    template = ChangeTemplate.define(
        context(MANAGER),
        code="kiosk-firmware",
        title="Kiosk firmware update",
        description="",
        services=["kiosks-gates"],
        configuration_items=[],
        backout_plan="reflash the previous image",
        tests=tests,
    )
    template.collect_events()
    return template


# -- the checklist -------------------------------------------------------------------------------


def test_tests_are_planned_with_the_backout_plan_and_at_assessment_each_once() -> None:
    change = raised()
    change.collect_events()

    change.record_backout_plan(context(REQUESTER), plan="restore", tests=[DRILL])
    change.assess(
        context(MANAGER),
        risk=Risk.LOW,
        impact="x",
        cab=[CAB.id],
        quorum=1,
        tests=[DRILL, CHECKOUT],
        **ASPECTS,
    )

    planned = [e for e in change.collect_events() if isinstance(e, TestsPlanned)]
    assert [e.tests for e in planned] == [[DRILL], [CHECKOUT]]  # the drill was planned already
    assert dict(change.checklist) == {DRILL: None, CHECKOUT: None}


def test_a_command_names_each_test_once() -> None:
    with pytest.raises(ValidationError, match="each test once"):
        RecordBackoutPlan(plan="restore", tests=[DRILL, DRILL])
    with pytest.raises(ValidationError, match="each test once"):
        Assess.model_validate(
            {
                "risk": "low",
                "impact": "x",
                "cab": ["ahmad"],
                "quorum": 1,
                "continuity": {"level": "none"},
                "availability": {"level": "none"},
                "security": {"level": "none"},
                "tests": [CHECKOUT, CHECKOUT],
            }
        )


def test_a_test_is_recorded_passed_or_failed_with_a_note_and_its_evidence() -> None:
    change = raised()
    change.record_backout_plan(context(REQUESTER), plan="restore", tests=[DRILL])
    evidence = uuid4()
    change.attach_file(
        context(REQUESTER),
        attachment_id=evidence,
        name="drill.log",
        content_type="text/plain",
        size=10,
        sha256="a" * 64,
    )
    change.collect_events()

    change.record_test(
        context(REQUESTER),
        test=DRILL,
        result=TestResult.FAILED,
        note="restore took 40 min",
        attachments=[evidence],
    )

    [event] = change.collect_events()
    assert isinstance(event, TestRecorded)
    assert (event.test, event.result, event.note, event.attachments) == (
        DRILL,
        TestResult.FAILED,
        "restore took 40 min",
        [evidence],
    )
    assert (event.actor, change.checklist[DRILL]) == (REQUESTER, TestResult.FAILED)


def test_a_result_for_a_test_not_on_the_checklist_or_evidence_not_on_the_change_is_refused() -> (
    None
):
    change = raised()
    change.record_backout_plan(context(REQUESTER), plan="restore", tests=[DRILL])
    change.collect_events()

    with pytest.raises(UnknownTest, match="no test"):
        change.record_test(context(REQUESTER), test="load test", result=TestResult.PASSED)
    with pytest.raises(AttachmentNotFound):
        change.record_test(
            context(REQUESTER), test=DRILL, result=TestResult.PASSED, attachments=[uuid4()]
        )
    assert change.collect_events() == []
    assert RecordTest(test=DRILL, result="passed").attachments == []


# -- implementation waits for the tests -----------------------------------------------------------


def test_a_normal_change_does_not_start_until_every_test_on_its_checklist_passed() -> None:
    # Given a scheduled change whose checkout test has not passed
    change = scheduled(with_plan=[DRILL], at_assessment=[CHECKOUT], passed=[DRILL])

    # When implementation starts, Then it is refused naming the test, and nothing is recorded
    with pytest.raises(TestsNotPassed, match=CHECKOUT):
        change.start_implementation(context(REQUESTER))
    assert change.collect_events() == []
    assert change.state is ChangeState.SCHEDULED

    # When the test fails, then passes, Then the change starts: the latest result counts
    change.record_test(context(REQUESTER), test=CHECKOUT, result=TestResult.FAILED)
    with pytest.raises(TestsNotPassed):
        change.start_implementation(context(REQUESTER))
    change.record_test(context(REQUESTER), test=CHECKOUT, result=TestResult.PASSED)
    change.start_implementation(context(REQUESTER))
    assert change.state is ChangeState.IMPLEMENTING


def test_a_normal_change_with_no_tests_planned_does_not_start() -> None:
    change = scheduled()

    with pytest.raises(TestsNotPassed, match="none planned"):
        change.start_implementation(context(REQUESTER))


def test_only_an_emergency_change_waives_its_tests() -> None:
    change = scheduled(with_plan=[DRILL])

    with pytest.raises(WaiverNotAllowed):
        change.start_implementation(context(REQUESTER), waiver="in a hurry")


def test_an_emergency_change_may_start_untested_and_the_reason_is_recorded() -> None:
    change = scheduled(ChangeKind.EMERGENCY, with_plan=[DRILL])

    with pytest.raises(TestsNotPassed, match="waive"):
        change.start_implementation(context(REQUESTER))
    change.start_implementation(context(REQUESTER), waiver="every gate is open: no time to test")

    [event] = change.collect_events()
    assert isinstance(event, ImplementationStarted)
    assert event.tests_waived == "every gate is open: no time to test"


def test_an_emergency_change_with_no_tests_planned_starts_only_with_a_waiver() -> None:
    change = scheduled(ChangeKind.EMERGENCY)

    with pytest.raises(TestsNotPassed):
        change.start_implementation(context(REQUESTER))
    change.start_implementation(context(REQUESTER), waiver="the vendor's hotfix, tested by them")
    assert change.state is ChangeState.IMPLEMENTING


def test_a_standard_change_is_exempt_unless_its_template_lists_tests() -> None:
    exempt = raised(ChangeKind.STANDARD, kiosk_template([]))
    exempt.schedule(
        context(MANAGER), start=T0, end=T0 + timedelta(hours=1), overridden=[], override_reason=None
    )
    exempt.start_implementation(context(REQUESTER))
    assert exempt.state is ChangeState.IMPLEMENTING

    tested = raised(ChangeKind.STANDARD, kiosk_template([CHECKOUT]))
    assert [type(e).__name__ for e in tested.collect_events()] == [
        "Raised",
        "PreAuthorised",
        "TestsPlanned",
    ]
    tested.schedule(
        context(MANAGER), start=T0, end=T0 + timedelta(hours=1), overridden=[], override_reason=None
    )
    with pytest.raises(TestsNotPassed, match=CHECKOUT):
        tested.start_implementation(context(REQUESTER))
    tested.record_test(context(REQUESTER), test=CHECKOUT, result=TestResult.PASSED)
    tested.start_implementation(context(REQUESTER))


@given(
    runs=st.lists(
        st.tuples(st.sampled_from([DRILL, CHECKOUT]), st.sampled_from(list(TestResult))),
        max_size=8,
    )
)
def test_implementation_starts_exactly_when_each_tests_latest_result_is_passed(
    runs: list[tuple[str, TestResult]],
) -> None:
    change = scheduled(with_plan=[DRILL, CHECKOUT])
    for test, result in runs:
        change.record_test(context(REQUESTER), test=test, result=result)
    latest = dict(runs)

    starts = all(latest.get(test) is TestResult.PASSED for test in (DRILL, CHECKOUT))
    if starts:
        change.start_implementation(context(REQUESTER))
        assert change.state is ChangeState.IMPLEMENTING
    else:
        with pytest.raises(TestsNotPassed):
            change.start_implementation(context(REQUESTER))
        assert change.state is ChangeState.SCHEDULED


def test_replaying_the_history_gives_the_checklist_its_results_left() -> None:
    change = raised()
    history = change.collect_events()
    change.record_backout_plan(context(REQUESTER), plan="restore", tests=[DRILL, CHECKOUT])
    change.record_test(context(REQUESTER), test=DRILL, result=TestResult.FAILED)
    change.record_test(context(REQUESTER), test=DRILL, result=TestResult.PASSED)
    history += change.collect_events()

    replayed = Change.project(None, history)

    assert replayed is not None
    assert dict(replayed.checklist) == {DRILL: TestResult.PASSED, CHECKOUT: None}
    assert replayed.tests_outstanding == [CHECKOUT]
