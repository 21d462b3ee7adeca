"""Service requests and the catalogue: Given (events) / When (command) / Then (events or error)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.actors import Actor, Role
from domain.errors import (
    AlreadyDecided,
    AlreadyLinked,
    ArticleNotPublished,
    FulfilmentStepsOutstanding,
    NotANamedApprover,
    NotLinked,
    NotPermitted,
    RecordIllegalTransition,
    RequesterCannotApprove,
)
from domain.request_commands import DefineCatalogueItem
from domain.service_request import (
    PAUSED_STATES,
    ApprovalGiven,
    ApprovalRequested,
    Approved,
    ArticleLinked,
    ArticleUnlinked,
    CatalogueItem,
    RequestState,
    ServiceRequest,
    Submitted,
)
from tests.conftest import context

MEMBER = Actor(id="budi.santoso", role=Role.REQUESTER)
DESK = Actor(id="siti.rahma", role=Role.AGENT)
MANAGER = Actor(id="dewi.lestari", role=Role.SERVICE_MANAGER)
HEADS = [
    Actor(id="kepala.bidang", role=Role.SERVICE_MANAGER),
    Actor(id="kepala.dinas", role=Role.SERVICE_MANAGER),
]

NAMED: dict[str, Any] = {
    "approval_required": True,
    "approvers": [a.id for a in HEADS],
    "approvals_needed": 2,
}
BY_ROLE: dict[str, Any] = {"approval_required": True, "approver_role": Role.SERVICE_MANAGER}


def item(**rule: Any) -> CatalogueItem:
    fields = DefineCatalogueItem(
        code="inlislite-school-install",
        title="Install INLISLite for a school library",
        service="inlislite-slims",
        fulfilment_group="tim-inlislite",
        steps=["Agree a date", "Install", "Train the librarian"],
        **rule,
    ).model_dump()
    defined = CatalogueItem.define(context(MANAGER), **fields)
    defined.collect_events()
    return defined


def submitted(by: Actor = MEMBER, **rule: Any) -> ServiceRequest:
    request = ServiceRequest.submit(
        context(by),
        id=uuid4(),
        number=1,
        item=item(**rule),
        title="SMAN 1 Serang",
        details="",
        requester=MEMBER.id,
    )
    request.collect_events()
    return request


def in_fulfilment() -> ServiceRequest:
    request = submitted()
    request.start_fulfilment(context(DESK))
    request.collect_events()
    return request


def test_a_request_needing_approval_waits_for_its_approvers() -> None:
    request = ServiceRequest.submit(
        context(MEMBER),
        id=uuid4(),
        number=7,
        item=item(**NAMED),
        title="t",
        details="",
        requester=MEMBER.id,
    )
    events = request.collect_events()
    assert [type(e) for e in events] == [Submitted, ApprovalRequested]
    submitted_event = events[0]
    assert isinstance(submitted_event, Submitted)
    assert submitted_event.approvers == ["kepala.bidang", "kepala.dinas"]
    assert submitted_event.steps == ["Agree a date", "Install", "Train the librarian"]
    assert request.state is RequestState.AWAITING_APPROVAL
    assert request.state in PAUSED_STATES  # the SLA clock does not run while approvers decide


def test_a_request_without_approval_goes_straight_to_fulfilment() -> None:
    request = submitted()
    assert request.state is RequestState.SUBMITTED
    request.start_fulfilment(context(DESK))
    assert request.state is RequestState.IN_FULFILMENT


def test_requester_cannot_approve_own_request() -> None:
    request = submitted(**BY_ROLE)
    own = Actor(id=MEMBER.id, role=Role.SERVICE_MANAGER)  # even holding the approving role
    with pytest.raises(RequesterCannotApprove):
        request.approve(context(own))
    assert request.collect_events() == []


def test_whoever_submitted_for_the_requester_cannot_approve_either() -> None:
    request = ServiceRequest.submit(
        context(MANAGER),
        id=uuid4(),
        number=1,
        item=item(**BY_ROLE),
        title="t",
        details="",
        requester=MEMBER.id,
    )
    request.collect_events()
    with pytest.raises(RequesterCannotApprove):
        request.approve(context(MANAGER))


def test_approver_cannot_approve_twice() -> None:
    request = submitted(**NAMED)
    request.approve(context(HEADS[0]))
    request.collect_events()
    with pytest.raises(AlreadyDecided):
        request.approve(context(HEADS[0]))
    assert request.state is RequestState.AWAITING_APPROVAL


def test_the_last_approval_needed_approves_the_request() -> None:
    request = submitted(**NAMED)
    request.approve(context(HEADS[0]))
    assert request.state is RequestState.AWAITING_APPROVAL
    request.collect_events()
    request.approve(context(HEADS[1]), comment="ok")
    events = request.collect_events()
    assert [type(e) for e in events] == [ApprovalGiven, Approved]
    assert request.state is RequestState.APPROVED


def test_only_a_named_approver_may_approve() -> None:
    request = submitted(**NAMED)
    with pytest.raises(NotANamedApprover):
        request.approve(context(MANAGER))


def test_approval_by_role_needs_that_role() -> None:
    request = submitted(**BY_ROLE)
    with pytest.raises(NotANamedApprover):
        request.approve(context(DESK))
    request.approve(context(MANAGER))
    assert request.state is RequestState.APPROVED


def test_a_rejected_request_cannot_be_fulfilled() -> None:
    request = submitted(**BY_ROLE)
    request.reject(context(MANAGER), reason="no budget this year")
    assert request.state is RequestState.REJECTED
    with pytest.raises(RecordIllegalTransition):
        request.start_fulfilment(context(DESK))


def test_fulfilment_waits_for_approval() -> None:
    request = submitted(**BY_ROLE)
    with pytest.raises(RecordIllegalTransition):
        request.start_fulfilment(context(DESK))


def test_a_request_is_fulfilled_only_when_every_step_is_done() -> None:
    request = in_fulfilment()
    request.complete_step(context(DESK), step=1)
    with pytest.raises(FulfilmentStepsOutstanding, match="2, 3"):
        request.fulfil(context(DESK), notes="done")
    request.complete_step(context(DESK), step=2)
    request.complete_step(context(DESK), step=3)
    request.fulfil(context(DESK), notes="installed and trained")
    request.close(context(MEMBER))
    assert request.state is RequestState.CLOSED


def test_waiting_for_the_requester_pauses_until_they_answer() -> None:
    request = in_fulfilment()
    request.await_requester(context(DESK), question="Which day suits the school?")
    assert request.state is RequestState.AWAITING_REQUESTER
    assert request.state in PAUSED_STATES
    request.record_response(context(MEMBER), answer="Thursday")
    assert request.state is RequestState.IN_FULFILMENT


def test_a_requester_cannot_do_the_desks_work() -> None:
    request = submitted()
    with pytest.raises(NotPermitted):
        request.start_fulfilment(context(MEMBER))


def test_a_requester_submits_only_for_themselves() -> None:
    other = Actor(id="ani", role=Role.REQUESTER)
    with pytest.raises(NotPermitted):
        ServiceRequest.submit(
            context(other),
            id=uuid4(),
            number=1,
            item=item(),
            title="t",
            details="",
            requester=MEMBER.id,
        )


def test_a_requester_may_cancel_only_their_own_request() -> None:
    request = submitted()
    with pytest.raises(NotPermitted):
        request.cancel(context(Actor(id="ani", role=Role.REQUESTER)), reason="mine?")
    request.cancel(context(MEMBER), reason="found my old card")
    assert request.state is RequestState.CANCELLED
    with pytest.raises(RecordIllegalTransition):
        request.cancel(context(MEMBER), reason="again")


def test_a_catalogue_item_is_defined_by_a_service_manager() -> None:
    fields = DefineCatalogueItem(
        code="card-reprint", title="t", service="helpdesk", fulfilment_group="g", steps=["x"]
    ).model_dump()
    with pytest.raises(NotPermitted):
        CatalogueItem.define(context(DESK), **fields)


@pytest.mark.parametrize(
    "rule",
    [
        {"approval_required": True},  # by whom?
        {"approval_required": True, "approver_role": "service_manager", "approvers": ["a"]},
        {"approval_required": True, "approvers": ["a"], "approvals_needed": 2},
        {"approval_required": False, "approvers": ["a"]},
    ],
)
def test_an_approval_rule_must_hold_together(rule: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        DefineCatalogueItem(
            code="x", title="t", service="helpdesk", fulfilment_group="g", steps=["x"], **rule
        )


@given(
    needed=st.integers(1, 4),
    order=st.permutations(["a1", "a2", "a3", "a4"]),
    repeats=st.lists(st.integers(0, 3), max_size=6),
)
def test_a_request_is_approved_exactly_when_enough_distinct_approvers_have_approved(
    needed: int, order: list[str], repeats: list[int]
) -> None:
    request = submitted(approval_required=True, approvers=order, approvals_needed=needed)
    # approvers come in some order, some of them trying again
    attempts = [order[i] for i in repeats] + order
    distinct: set[str] = set()
    for who in attempts:
        if request.state is not RequestState.AWAITING_APPROVAL:
            break
        try:
            request.approve(context(Actor(id=who, role=Role.SERVICE_MANAGER)))
        except AlreadyDecided:
            assert who in distinct
            continue
        distinct.add(who)
        assert (request.state is RequestState.APPROVED) == (len(distinct) >= needed)
    assert request.state is RequestState.APPROVED
    assert len(distinct) == needed


# -- the knowledge a catalogue item's fulfilment follows ---------------------------------------

ARTICLE = {"article_id": uuid4(), "article_ref": "KB-000001", "title": "Reprinting a card"}


def test_only_a_published_article_is_linked_and_only_by_the_catalogues_keepers() -> None:
    given = item()
    with pytest.raises(ArticleNotPublished):
        given.link_article(context(MANAGER), **ARTICLE, published=False)
    with pytest.raises(NotPermitted):
        given.link_article(context(DESK), **ARTICLE, published=True)
    assert given.collect_events() == []

    given.link_article(context(MANAGER), **ARTICLE, published=True)

    [linked] = given.collect_events()
    assert isinstance(linked, ArticleLinked)
    assert (linked.article_ref, linked.title, linked.actor.id) == (
        "KB-000001",
        "Reprinting a card",
        MANAGER.id,
    )
    with pytest.raises(AlreadyLinked):
        given.link_article(context(MANAGER), **ARTICLE, published=True)


def test_an_article_is_unlinked_with_a_reason_once_and_may_be_linked_again() -> None:
    given = item()
    ids = {"article_id": ARTICLE["article_id"], "article_ref": "KB-000001"}
    with pytest.raises(NotLinked):
        given.unlink_article(context(MANAGER), **ids, reason="Replaced")
    given.link_article(context(MANAGER), **ARTICLE, published=True)

    given.unlink_article(context(MANAGER), **ids, reason="Replaced")

    assert given.articles == frozenset()
    assert [type(e) for e in given.collect_events()] == [ArticleLinked, ArticleUnlinked]
    given.link_article(context(MANAGER), **ARTICLE, published=True)
    assert given.articles == {ARTICLE["article_id"]}
