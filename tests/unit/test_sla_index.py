"""The clock index (projections/sla_index.py) may skip judging a ticket only when judging it afresh
would not list it: a remembered state holds until the row changes or the next threshold passes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import OFFICE_HOURS, CalendarSpec, calendar_id, shipped_holidays
from domain.incident import HoldReason
from domain.rule_versions import RuleVersion, RuleVersions
from domain.sla import DEFAULT_TERMS, OFFICE, SlaPolicy
from domain.sla_clock import ClockState, MarkKind, Ticket
from domain.sla_rules import RuleBook, Rules
from projections.base import Row, iso
from projections.sla_clocks import ticket_of
from projections.sla_index import ClockIndex, counting_targets

SPEC = CalendarSpec.of("Asia/Jakarta", OFFICE_HOURS, shipped_holidays())
VERSIONS = RuleVersions(
    policy=RuleVersion(id=SlaPolicy.ID, version=1),
    calendar=RuleVersion(id=calendar_id(OFFICE), version=1),
    calendar_name=OFFICE,
)
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class DefaultRules(RuleBook):
    """The default policy on the office calendar, without a store behind it."""

    def __init__(self) -> None:
        super().__init__(lambda _id, _version: None)

    def rules(self, ticket: Ticket) -> Rules:
        return Rules(VERSIONS, DEFAULT_TERMS, SPEC, recorded=True)


MOVES = [
    (MarkKind.RESPONDED, None),
    (MarkKind.HELD, HoldReason.AWAITING_CALLER.value),
    (MarkKind.HELD, HoldReason.AWAITING_CHANGE.value),
    (MarkKind.PAUSED, "awaiting_approval"),
    (MarkKind.RESUMED, None),
    (MarkKind.REPRIORITISED, 1),
    (MarkKind.REPRIORITISED, 5),
    (MarkKind.RESOLVED, None),
    (MarkKind.REOPENED, None),
]
minutes = st.integers(min_value=0, max_value=10 * 24 * 60)


@st.composite
def rows(draw: st.DrawFn) -> Row:
    priority = draw(st.integers(1, 5))
    marks: list[list[object]] = [[iso(START), MarkKind.LOGGED.value, priority]]
    at = START
    for kind, value in draw(st.lists(st.sampled_from(MOVES), max_size=6)):
        at += timedelta(minutes=draw(minutes))
        marks.append([iso(at), kind.value, value])
    return {
        "id": str(uuid4()),
        "version": len(marks),
        "kind": "incident",
        "service": "kiosks-gates",
        "rules": VERSIONS.model_dump(mode="json"),
        "marks": marks,
        "alerts": [],
    }


def listed(index: ClockIndex, row: Row, at: datetime, state: ClockState | None) -> bool:
    _, clock = index.rulebook.judge(ticket_of(row), at)
    return bool(counting_targets(clock)) and (state is None or clock.state is state)


@settings(max_examples=300, deadline=None)
@given(
    row=rows(),
    first=minutes,
    later=st.integers(min_value=0, max_value=20 * 24 * 60),
)
def test_a_ticket_is_skipped_only_if_judging_it_afresh_would_not_list_it(
    row: Row, first: int, later: int
) -> None:
    index = ClockIndex(DefaultRules())
    judged_at = START + timedelta(minutes=first)
    index.judge(row, judged_at)
    asked_at = judged_at + timedelta(minutes=later)

    for state in (None, *ClockState):
        if not index.may_list(row, asked_at, state):
            assert not listed(index, row, asked_at, state), state


def test_a_changed_row_or_an_earlier_moment_is_judged_again() -> None:
    index = ClockIndex(DefaultRules())
    row: Row = {
        "id": "t",
        "version": 1,
        "kind": "incident",
        "service": "kiosks-gates",
        "rules": None,
        "marks": [[iso(START), "logged", 3], [iso(START), "resolved", None]],
        "alerts": [],
    }
    index.judge(row, START + timedelta(hours=1))  # met: never listed again by itself
    assert not index.may_list(row, START + timedelta(days=30), None)
    assert index.may_list({**row, "version": 2}, START + timedelta(days=30), None)
    assert index.may_list(row, START, None)  # asked about a moment before the judgement
    index.keep_only([])
    assert index.may_list(row, START + timedelta(days=30), None)


def test_facts_dated_after_the_judgement_end_what_it_remembered() -> None:
    # Judged while paused, with a resumption already recorded for a later moment (a back-dated
    # import, or a clock behind the writer's): once that moment passes the clock runs again.
    index = ClockIndex(DefaultRules())
    row: Row = {
        "id": "t",
        "version": 3,
        "kind": "incident",
        "service": "kiosks-gates",
        "rules": None,
        "marks": [
            [iso(START), "logged", 2],
            [iso(START + timedelta(hours=1)), "paused", "awaiting_approval"],
            [iso(START + timedelta(days=3)), "resumed", None],
        ],
        "alerts": [],
    }
    _, clock = index.judge(row, START + timedelta(hours=2))
    assert clock.state is ClockState.PAUSED
    later = START + timedelta(days=4)
    assert listed(index, row, later, ClockState.BREACHED)
    assert index.may_list(row, later, ClockState.BREACHED)
