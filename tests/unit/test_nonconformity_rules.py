"""Every rule of nonconformities and corrective action (domain/nonconformity.py), Given / When /
Then: a history replayed through `Nonconformity.project`, one method called, exactly its event or
the named error with nothing recorded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given as hypothesis_given
from hypothesis import strategies as st

from domain.actors import Actor, Role
from domain.errors import DomainError, IllegalTransition, NotPermitted
from domain.events import DomainEvent
from domain.nonconformity import (
    ActionAlreadyDone,
    ActionDone,
    ActionPlanned,
    ActionsOutstanding,
    CorrectionRecorded,
    Nonconformity,
    NonconformityEvent,
    NonconformityGrade,
    NonconformitySource,
    NonconformityState,
    Raised,
    RootCauseRecorded,
    UnknownAction,
    VerifiedEffective,
    VerifiedNotEffective,
    VerifierNotIndependent,
    overdue,
)
from domain.nonconformity_commands import RaiseNonconformity
from tests.conftest import AGENT, MANAGER, T0, context

ID = UUID("6e5d4c3b-2a1f-4e0d-9c8b-7a6f5e4d3c2b")
OWNER = Actor(id="andi.wijaya", role=Role.RESOLVER)
DOER = Actor(id="budi.santoso", role=Role.AGENT)
AUDITOR = Actor(id="rina.auditor", role=Role.AUDITOR)
OWNING_MANAGER = Actor(id="andi.wijaya", role=Role.SERVICE_MANAGER)


def happened(event_type: type[DomainEvent], **fields: Any) -> Any:
    return event_type(
        originator_id=ID,
        originator_version=0,
        timestamp=T0,
        actor=MANAGER,
        correlation_id=uuid4(),
        **fields,
    )


def raised() -> Raised:
    return happened(
        Raised,
        number=1,
        clause="8.6.1",
        grade=NonconformityGrade.MINOR,
        description="Incidents resolved without a note",
        source=NonconformitySource.BREACH,
        owner=OWNER.id,
        due=date(2026, 4, 30),
    )


def given(*events: NonconformityEvent) -> Nonconformity:
    numbered = [e.model_copy(update={"originator_version": n}) for n, e in enumerate(events, 1)]
    found = Nonconformity.project(None, numbered)
    assert found is not None
    return found


ROOT = happened(RootCauseRecorded, root_cause="the form did not ask")
PLANNED = happened(
    ActionPlanned, action=1, description="require a note", owner=DOER.id, due=date(2026, 4, 15)
)
DONE = happened(ActionDone, action=1, note="deployed")
OPEN = (raised(),)
READY = (*OPEN, ROOT, PLANNED, DONE)
CLOSED = (*READY, happened(VerifiedEffective, note="none since"))
REOPENED = (*READY, happened(VerifiedNotEffective, note="two more in May"))
HISTORIES = {NonconformityState.OPEN: READY, NonconformityState.CLOSED: CLOSED}

#: action -> (call it as someone allowed, the event it records); every action is open-only
ACTIONS: dict[str, tuple[Callable[[Nonconformity], None], type]] = {
    "record_correction": (
        lambda n: n.record_correction(context(OWNER), correction="notes added"),
        CorrectionRecorded,
    ),
    "record_root_cause": (
        lambda n: n.record_root_cause(context(OWNER), root_cause="no field"),
        RootCauseRecorded,
    ),
    "plan_action": (
        lambda n: n.plan_action(context(OWNER), description="d", owner=DOER.id, due=T0.date()),
        ActionPlanned,
    ),
    "complete_action": (
        lambda n: n.complete_action(context(OWNER), action=2, note="done"),
        ActionDone,
    ),
    "verify": (
        lambda n: n.verify(context(AUDITOR), effective=True, note="fine"),
        VerifiedEffective,
    ),
}


def then_refused(found: Nonconformity, act: Callable[[], Any], error: type[DomainError]) -> None:
    version = found.version
    with pytest.raises(error):
        act()
    assert found.collect_events() == []
    assert found.version == version


def open_with_a_second_action() -> Nonconformity:
    second = happened(ActionPlanned, action=2, description="x", owner=DOER.id, due=T0.date())
    return given(*READY, second, happened(ActionDone, action=2, note="y"))


def test_the_table_covers_every_public_method() -> None:
    methods = {
        name
        for name, member in vars(Nonconformity).items()
        if not name.startswith("_") and callable(member) and "__mutmut_" not in name
    }
    assert methods - {"raise_", "check_raiser"} == set(ACTIONS)


@pytest.mark.parametrize("action", list(ACTIONS))
def test_an_action_on_an_open_nonconformity_records_its_event(action: str) -> None:
    second = happened(ActionPlanned, action=2, description="x", owner=DOER.id, due=T0.date())
    history = (*READY, second) if action == "complete_action" else READY
    if action == "verify":
        history = READY
    found = given(*history)
    act, event_type = ACTIONS[action]
    act(found)
    (event,) = found.collect_events()
    assert isinstance(event, event_type)
    assert event.originator_version == len(history) + 1


@pytest.mark.parametrize("action", list(ACTIONS))
def test_nothing_is_done_to_a_closed_nonconformity(action: str) -> None:
    found = given(*CLOSED)
    act, _ = ACTIONS[action]
    then_refused(found, lambda: act(found), IllegalTransition)


def test_verified_effective_closes_it_and_not_effective_sends_it_back_to_the_actions() -> None:
    assert given(*CLOSED).state is NonconformityState.CLOSED
    back = given(*REOPENED)
    assert back.state is NonconformityState.OPEN
    back.plan_action(context(OWNER), description="retrain", owner=DOER.id, due=T0.date())
    back.collect_events()
    # a new action not yet done: not verified again until it is
    then_refused(
        back, lambda: back.verify(context(AUDITOR), effective=True, note="x"), ActionsOutstanding
    )


@pytest.mark.parametrize("verifier", [OWNER, DOER, OWNING_MANAGER])
def test_no_one_verifies_work_they_owned(verifier: Actor) -> None:
    found = given(*READY)
    if verifier.role not in (Role.SERVICE_MANAGER, Role.AUDITOR):
        then_refused(
            found, lambda: found.verify(context(verifier), effective=True, note="x"), NotPermitted
        )
    else:
        then_refused(
            found,
            lambda: found.verify(context(verifier), effective=True, note="x"),
            VerifierNotIndependent,
        )


def test_someone_who_owned_none_of_it_verifies() -> None:
    for verifier in (AUDITOR, MANAGER):
        found = given(*READY)
        found.verify(context(verifier), effective=False, note="recurred")
        assert isinstance(found.collect_events()[0], VerifiedNotEffective)


def test_effectiveness_waits_for_the_root_cause_and_every_action_done() -> None:
    for history in (OPEN, (*OPEN, ROOT), (*OPEN, ROOT, PLANNED), (*OPEN, PLANNED, DONE)):
        found = given(*history)
        then_refused(
            found,
            lambda f=found: f.verify(context(AUDITOR), effective=True, note="x"),  # type: ignore[misc]
            ActionsOutstanding,
        )


def test_an_action_is_done_once_by_its_owner_the_nonconformitys_or_a_manager() -> None:
    found = given(*OPEN, PLANNED)
    then_refused(
        found, lambda: found.complete_action(context(AGENT), action=1, note="x"), NotPermitted
    )
    then_refused(
        found, lambda: found.complete_action(context(DOER), action=9, note="x"), UnknownAction
    )
    found.complete_action(context(DOER), action=1, note="x")
    found.collect_events()
    then_refused(
        found,
        lambda: found.complete_action(context(MANAGER), action=1, note="x"),
        ActionAlreadyDone,
    )


def test_its_owner_or_a_manager_records_correction_cause_and_actions() -> None:
    found = given(*OPEN)
    then_refused(
        found, lambda: found.record_correction(context(DOER), correction="x"), NotPermitted
    )
    then_refused(
        found, lambda: found.record_root_cause(context(AGENT), root_cause="x"), NotPermitted
    )
    found.plan_action(context(MANAGER), description="d", owner=DOER.id, due=T0.date())
    assert found.actions == {1: (DOER.id, False)}


def test_actions_are_numbered_from_one() -> None:
    found = open_with_a_second_action()
    assert sorted(found.actions) == [1, 2]


def test_only_a_service_manager_or_an_auditor_raises_one() -> None:
    command = RaiseNonconformity(
        clause="8.6.1",
        grade=NonconformityGrade.MAJOR,
        description="x",
        source=NonconformitySource.COMPLAINT,
        owner=OWNER.id,
        due=date(2026, 5, 1),
    )
    with pytest.raises(NotPermitted):
        command.decide(None, context(AGENT))  # type: ignore[arg-type]


@hypothesis_given(st.dates(), st.dates(), st.booleans())
def test_only_what_is_open_after_its_due_date_is_overdue(
    due: date, today: date, open_: bool
) -> None:
    assert overdue(due, open_, today) == (open_ and today > due)
