"""The SLA clock of service requests (domain/sla_request.py): Given a request's events (made by the
aggregate, at hand-picked moments) / When its clock is judged / Then its dues, pauses and state.

Office calendar (Monday to Friday 08:00-16:00 WIB, shipped holidays), default policy: P3 response
4h, resolution 24h; P4 8h, 40h; warnings at 75% and 90%. Early March 2026 has no holidays.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from domain.actors import Actor, Role
from domain.calendar import OFFICE_HOURS, CalendarSpec, shipped_holidays
from domain.errors import SlaAlertNotDue, SlaAlertsAlreadyRecorded
from domain.events import DomainEvent
from domain.incident import BREACH, SlaAlert
from domain.request_commands import DefineCatalogueItem
from domain.rule_versions import SlaTarget
from domain.service_request import (
    CatalogueItem,
    ServiceRequest,
    SlaBreached,
    SlaWarned,
)
from domain.sla import DEFAULT_TERMS
from domain.sla_clock import ClockState, MarkKind, TicketClock, judge
from domain.sla_request import KIND, marks_of, ticket
from tests.conftest import context

WIB = ZoneInfo("Asia/Jakarta")
OFFICE = CalendarSpec.of("Asia/Jakarta", OFFICE_HOURS, shipped_holidays())
H = timedelta(hours=1)
MEMBER = Actor(id="budi.santoso", role=Role.REQUESTER)
DESK = Actor(id="siti.rahma", role=Role.AGENT)
MANAGER = Actor(id="dewi.lestari", role=Role.SERVICE_MANAGER)
HEAD = Actor(id="kepala.bidang", role=Role.SERVICE_MANAGER)


def wib(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=WIB).astimezone(UTC)


class Story:
    """A request and every event it recorded, each action at its own moment."""

    def __init__(self, at: datetime, priority: int, **rule: Any) -> None:
        fields = DefineCatalogueItem(
            code="staff-account",
            title="Create a staff account",
            service="inlislite-slims",
            priority=priority,
            fulfilment_group="tim-inlislite",
            steps=["Create the account"],
            **rule,
        ).model_dump()
        item = CatalogueItem.define(context(MANAGER), **fields)
        self.request = ServiceRequest.submit(
            context(MEMBER, at),
            id=uuid4(),
            number=1,
            item=item,
            title="Account for Rina",
            details="",
            requester=MEMBER.id,
        )
        self.events: list[DomainEvent] = list(self.request.collect_events())

    def then(self, actor: Actor, at: datetime, action: str, **kw: Any) -> Story:
        getattr(self.request, action)(context(actor, at), **kw)
        self.events.extend(self.request.collect_events())
        return self

    def clock(self, as_of: datetime) -> TicketClock:
        return judge(ticket(self.events), DEFAULT_TERMS, OFFICE, as_of)


def approval_story(at: datetime) -> Story:
    return Story(at, 3, approval_required=True, approver_role=Role.SERVICE_MANAGER)


def test_the_clock_pauses_while_a_request_awaits_approval_across_a_weekend() -> None:
    # Given a P3 request needing approval, submitted Thursday 5 March 14:00 and approved on
    # Monday 9 March at 10:00: the wait (Thu 2h + Fri 8h + Mon 2h = 12h of business time) is
    # the approver's, not the desk's.
    story = approval_story(wib(5, 14)).then(HEAD, wib(9, 10), "approve")

    # When it is judged on Monday at 11:00
    c = story.clock(wib(9, 11))

    # Then both clocks ran only from the approval: 1h used, resolution (24h) due Thursday 10:00
    # (Mon 6h + Tue 8h + Wed 8h + Thu 2h), response (4h) due Monday 14:00.
    assert [(p.start, p.end, p.reason, p.business_time) for p in c.pauses] == [
        (wib(5, 14), wib(9, 10), "awaiting_approval", 12 * H)
    ]
    assert c.resolution.elapsed == 1 * H
    assert c.resolution.due_at == wib(12, 10)
    assert c.response.due_at == wib(9, 14)
    assert c.state is ClockState.RUNNING
    assert ("paused", "waiting: awaiting_approval") in [(s.what, s.detail) for s in c.timeline]


def test_while_awaiting_approval_the_clock_is_paused_and_due_nowhere() -> None:
    # Given a request waiting for its approver since Thursday; When judged next Wednesday
    story = approval_story(wib(5, 14))
    c = story.clock(wib(11, 9))

    # Then it is paused, no time has run, and nothing is due until it is approved
    assert c.state is ClockState.PAUSED
    assert c.resolution.elapsed == timedelta()
    assert c.resolution.due_at is None
    assert c.next_alert_at is None


def test_an_approval_is_not_the_desks_response() -> None:
    # Given a P3 request approved Monday 9 March 10:00 that nobody at the desk picks up
    story = approval_story(wib(5, 14)).then(HEAD, wib(9, 10), "approve")

    # When judged a minute after four business hours have run from the approval
    c = story.clock(wib(9, 14, 1))

    # Then the response target (4h) was missed at 14:00
    assert c.response.state is ClockState.BREACHED
    assert c.response.breached_at == wib(9, 14)
    assert c.state is ClockState.BREACHED


def test_starting_fulfilment_is_the_response_and_fulfilment_the_resolution() -> None:
    # Given a P4 request without approval, submitted Monday 2 March 09:00, picked up at 09:30,
    # waiting for the requester from 10:00 until Wednesday 10:00, fulfilled Wednesday 12:00
    story = (
        Story(wib(2, 9), 4)
        .then(DESK, wib(2, 9, 30), "start_fulfilment")
        .then(DESK, wib(2, 10), "await_requester", question="Which branch?")
        .then(MEMBER, wib(4, 10), "record_response", answer="Cilegon")
        .then(DESK, wib(4, 11), "complete_step", step=1)
        .then(DESK, wib(4, 12), "fulfil", notes="Account created")
    )

    # When judged later that week
    c = story.clock(wib(6, 9))

    # Then the response was met at 09:30 and the resolution after 1h + 2h of the desk's time;
    # the wait for the requester (Mon 6h + Tue 8h + Wed 2h) did not count
    assert c.response.state is ClockState.MET
    assert c.response.stopped_at == wib(2, 9, 30)
    assert c.resolution.state is ClockState.MET
    assert c.resolution.elapsed == 3 * H
    assert [(p.reason, p.business_time) for p in c.pauses] == [("awaiting_requester", 16 * H)]
    assert c.state is ClockState.MET


@pytest.mark.parametrize(
    ("action", "kw", "actor"),
    [("reject", {"reason": "no post for her"}, HEAD), ("cancel", {"reason": "left"}, MEMBER)],
)
def test_a_rejected_or_cancelled_request_stops_its_clocks_unjudged(
    action: str, kw: dict[str, str], actor: Actor
) -> None:
    # Given a request waiting for approval, rejected (or cancelled) on Monday
    story = approval_story(wib(5, 14)).then(actor, wib(9, 10), action, **kw)

    # When judged weeks later
    c = story.clock(wib(30, 10))

    # Then both clocks stopped at that moment, and neither is judged
    assert c.state is ClockState.CANCELLED
    assert {t.stopped_at for t in c.targets} == {wib(9, 10)}
    assert c.next_alert_at is None
    assert (
        c.timeline[-1].detail
        == f"service request {'rejected' if action == 'reject' else 'cancelled'}; the clocks stop"
    )


def test_the_ticket_is_the_requests_kind_service_and_recorded_rules() -> None:
    story = Story(wib(2, 9), 4)
    t = ticket(story.events)
    assert (t.kind, t.service, t.rules) == (KIND, "inlislite-slims", None)
    assert [m.kind for m in t.marks] == [MarkKind.LOGGED]
    assert t.marks[0].value == 4


def test_events_that_do_not_move_the_clock_make_no_marks() -> None:
    story = (
        Story(
            wib(2, 9),
            3,
            approval_required=True,
            approvers=[HEAD.id, MANAGER.id],
            approvals_needed=2,
        ).then(HEAD, wib(2, 10), "approve")  # one of two: still waiting
    )
    assert [m for e in story.events[2:] for m in marks_of(e)] == []
    assert story.clock(wib(2, 12)).state is ClockState.PAUSED


# -- recording the watcher's alerts on the request -------------------------------------------------


def test_a_request_records_each_sla_alert_once() -> None:
    story = Story(wib(2, 9), 4)
    breach = SlaAlert(target=SlaTarget.RESPONSE, level=BREACH, at=wib(3, 9))
    warning = SlaAlert(target=SlaTarget.RESPONSE, level=75, at=wib(3, 7))

    story.then(DESK, wib(3, 10), "record_sla_alerts", alerts=[breach, warning, warning])

    recorded = story.events[1:]
    assert [type(e) for e in recorded] == [SlaWarned, SlaBreached]  # in time order, once each
    assert all(e.actor == DESK for e in recorded)
    with pytest.raises(SlaAlertsAlreadyRecorded):
        story.then(DESK, wib(3, 11), "record_sla_alerts", alerts=[breach])


def test_a_request_refuses_an_alert_whose_moment_has_not_come() -> None:
    story = Story(wib(2, 9), 4)
    later = SlaAlert(target=SlaTarget.RESOLUTION, level=BREACH, at=wib(20, 9))
    with pytest.raises(SlaAlertNotDue):
        story.then(DESK, wib(3, 10), "record_sla_alerts", alerts=[later])
