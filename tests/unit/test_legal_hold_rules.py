"""Legal holds, Given / When / Then: a record held for a matter refuses every destruction until
each matter it is held for is released; a matter is placed and released once; only a service
manager or an admin keeps holds."""

from __future__ import annotations

from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.actors import Actor, Role
from domain.errors import NothingChanged, UnderLegalHold
from domain.legal_hold import HoldPlaced, HoldReleased, LegalHold, check_not_held, hold_id
from tests.conftest import context
from tests.fake_session import FakeSession

KEEPER = Actor(id="dewi.lestari", role=Role.SERVICE_MANAGER)
RECORD = uuid4()


def held(*matters: str) -> LegalHold:
    hold = LegalHold.first(context(KEEPER), RECORD, "DOC-000003", matters[0], "asked")
    for matter in matters[1:]:
        hold.place(context(KEEPER), RECORD, matter, "asked")
    hold.collect_events()
    return hold


def test_a_held_record_refuses_destruction_naming_its_matters_until_each_is_released() -> None:
    hold = held("dispute", "inquiry")
    session = FakeSession(hold)
    with pytest.raises(UnderLegalHold, match="dispute, inquiry"):
        check_not_held(session, RECORD, "its disposition")

    hold.release(context(KEEPER), RECORD, "dispute", "settled")
    with pytest.raises(UnderLegalHold, match="inquiry"):
        check_not_held(session, RECORD, "its disposition")
    hold.release(context(KEEPER), RECORD, "inquiry", "closed")

    check_not_held(session, RECORD, "its disposition")  # free: nothing raised
    check_not_held(FakeSession(), uuid4(), "its disposition")  # never held
    assert [type(e) for e in hold.collect_events()] == [HoldReleased, HoldReleased]
    assert hold.id == hold_id(RECORD)


def test_a_matter_is_placed_and_released_once() -> None:
    hold = held("dispute")
    with pytest.raises(NothingChanged):
        hold.place(context(KEEPER), RECORD, "dispute", "again")
    with pytest.raises(NothingChanged):
        hold.release(context(KEEPER), RECORD, "inquiry", "never held for it")
    hold.release(context(KEEPER), RECORD, "dispute", "settled")
    hold.place(context(KEEPER), RECORD, "dispute", "appealed")  # held again, a new placement
    assert [type(e) for e in hold.collect_events()] == [HoldReleased, HoldPlaced]
    assert hold.matters == {"dispute"}


@given(st.lists(st.tuples(st.booleans(), st.sampled_from(["a", "b", "c"])), max_size=20))
def test_the_record_is_held_exactly_while_some_matter_is_placed_and_not_released(
    steps: list[tuple[bool, str]],
) -> None:
    hold = held("a")
    expected = {"a"}
    for placing, matter in steps:
        try:
            if placing:
                hold.place(context(KEEPER), RECORD, matter, "r")
            else:
                hold.release(context(KEEPER), RECORD, matter, "r")
        except NothingChanged:
            assert (matter in expected) is placing
            continue
        expected = expected | {matter} if placing else expected - {matter}
    assert hold.matters == expected
    try:
        check_not_held(FakeSession(hold), RECORD, "x")
        assert not expected
    except UnderLegalHold:
        assert expected
