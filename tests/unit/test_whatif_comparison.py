"""What-if comparisons (domain/whatif.py): hand-worked flips, properties of the comparison, and
the fast paths it relies on (marks read from stored JSON, the calendar's table, judging without
a timeline), each checked against the plain reading it stands in for.

All times are WIB (UTC+7); the office calendar is Monday to Friday 08:00-16:00 with the shipped
holidays; default targets: P1 4h, P2 8h, P3 24h, P4 40h, P5 80h of resolution.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import incident as e
from domain.calendar import (
    OFFICE_HOURS,
    CalendarSpec,
    HolidayKind,
    calendar_id,
    shipped_holidays,
)
from domain.priority import DEFAULT_CELLS, Impact, Urgency
from domain.rule_versions import RuleVersion, RuleVersions
from domain.sla import DEFAULT_TERMS, PolicyTerms, SlaPolicy, Targets
from domain.sla_clock import Mark, MarkKind, Ticket, judge
from domain.sla_incident import MARKED, marks_of, marks_of_json
from domain.sla_rules import Rules
from domain.whatif import (
    Case,
    Figures,
    Judged,
    Outcome,
    Rating,
    Row,
    Scenario,
    Verdict,
    compare,
    nearest_rank,
    replay,
    report,
)
from infra.serialisation import encode
from processes.whatif_output import FIGURES
from tests.strategies import STRATEGIES

WIB = ZoneInfo("Asia/Jakarta")
OFFICE = CalendarSpec.of("Asia/Jakarta", OFFICE_HOURS, shipped_holidays())
VERSIONS = RuleVersions(
    policy=RuleVersion(id=SlaPolicy.ID, version=1),
    calendar=RuleVersion(id=calendar_id("office"), version=1),
    calendar_name="office",
)
RECORD = Rules(VERSIONS, DEFAULT_TERMS, OFFICE, recorded=True)
AS_OF = datetime(2027, 1, 1, tzinfo=UTC)


def wib(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=WIB).astimezone(UTC)


def case(
    *marks: tuple[datetime, MarkKind, str | int | None],
    ratings: tuple[Rating, ...] = (),
    number: int = 1,
) -> Case:
    ticket = Ticket("incident", "Self-check kiosks", VERSIONS, tuple(Mark(*m) for m in marks))
    return Case(str(uuid4()), number, "dpk-banten", ticket, ratings)


def no_current_calendar(name: str) -> CalendarSpec:
    raise AssertionError(f"the what-if should not need the current {name} calendar")


def with_p2_resolution(minutes: int) -> PolicyTerms:
    return DEFAULT_TERMS.model_copy(
        update={
            "targets": {
                **DEFAULT_TERMS.targets,
                2: Targets(response_minutes=60, resolution_minutes=minutes),
            }
        }
    )


def without_cuti_bersama() -> CalendarSpec:
    years = {
        year: entry.model_copy(
            update={"holidays": [h for h in entry.holidays if h.kind != HolidayKind.CUTI_BERSAMA]}
        )
        for year, entry in shipped_holidays().items()
    }
    return CalendarSpec.of("Asia/Jakarta", OFFICE_HOURS, years)


# -- hand-worked flips ---------------------------------------------------------------------------


def test_a_p2_resolved_in_five_hours_breaches_a_four_hour_target_at_the_fourth_hour() -> None:
    # Logged Monday 2 March 09:00, resolved 14:00: 5h of business time. P2 of record (8h): met.
    # P2 in 4h: missed at 13:00.
    resolved = case(
        (wib(3, 2, 9), MarkKind.LOGGED, 2),
        (wib(3, 2, 14), MarkKind.RESOLVED, None),
    )
    scenario = Scenario(policy=with_p2_resolution(240))

    outcome = replay(resolved, RECORD, scenario, no_current_calendar, AS_OF)

    assert outcome.record.verdict is Verdict.MET
    assert outcome.whatif.verdict is Verdict.BREACHED
    assert outcome.flipped
    assert outcome.record.resolve == outcome.whatif.resolve == timedelta(hours=5)
    assert outcome.whatif.clock is not None
    assert outcome.whatif.clock.resolution.breached_at == wib(3, 2, 13)
    body = report([outcome])
    (flip,) = body["flips"]
    assert any(
        "2026-03-02 13:00 WIB breached: the resolution target of 4h (P2) was missed" in line
        for line in flip["whatif"]["explanation"]
    )
    assert flip["record"]["verdict"] == "met"


def test_cuti_bersama_as_working_days_breaches_a_ticket_that_waited_out_the_long_weekend() -> None:
    # P2 logged Friday 13 February 15:00, resolved Wednesday 18 February 10:00. Of record,
    # Monday 16 (cuti bersama Imlek) and Tuesday 17 (Imlek) are off: Fri 1h + Wed 2h = 3h, met.
    # With cuti bersama worked: Fri 1h + Mon 7h reach 8h at Monday 15:00: breached there.
    waited = case(
        (wib(2, 13, 15), MarkKind.LOGGED, 2),
        (wib(2, 18, 10), MarkKind.RESOLVED, None),
    )
    scenario = Scenario(calendars={"office": without_cuti_bersama()})

    outcome = replay(waited, RECORD, scenario, no_current_calendar, AS_OF)

    assert (outcome.record.verdict, outcome.record.resolve) == (Verdict.MET, timedelta(hours=3))
    assert outcome.whatif.verdict is Verdict.BREACHED
    assert outcome.whatif.resolve == timedelta(hours=11)  # Fri 1h + Mon 8h + Wed 2h
    assert outcome.whatif.clock is not None
    assert outcome.whatif.clock.resolution.breached_at == wib(2, 16, 15)


def test_a_stricter_matrix_raises_the_priority_at_logging_and_at_reprioritisation() -> None:
    # Rated medium/high (P2 of record) at logging, medium/medium (P3) at 10:00. A matrix that
    # makes medium/high P1 and medium/medium P2 gives P1 then P2. Resolved Tuesday 12:00.
    #   record: P2 from 09:00; at 10:00 1h of 8h used (1/8) -> P3 24h with 21h left; met.
    #   what-if: P1 from 09:00; at 10:00 1h of 4h used (1/4) -> P2 8h with 6h left, which
    #   runs out at Monday 16:00 (10-16 is 6h): breached there, at the office's closing.
    rerated = case(
        (wib(3, 2, 9), MarkKind.LOGGED, 2),
        (wib(3, 2, 10), MarkKind.REPRIORITISED, 3),
        (wib(3, 3, 12), MarkKind.RESOLVED, None),
        ratings=(Rating(0, Impact.MEDIUM, Urgency.HIGH), Rating(1, Impact.MEDIUM, Urgency.MEDIUM)),
    )
    matrix = {
        **DEFAULT_CELLS,
        Impact.MEDIUM: {Urgency.HIGH: 1, Urgency.MEDIUM: 2, Urgency.LOW: 4},
    }

    outcome = replay(rerated, RECORD, Scenario(matrix=matrix), no_current_calendar, AS_OF)

    assert (outcome.record.verdict, outcome.record.priority) == (Verdict.MET, 3)
    assert (outcome.whatif.verdict, outcome.whatif.priority) == (Verdict.BREACHED, 2)
    assert outcome.whatif.clock is not None
    assert outcome.whatif.clock.resolution.breached_at == wib(3, 2, 16)
    rows = {(r["dimension"], r["key"]): r for r in report([outcome])["rows"]}
    assert rows["priority", "P3"]["record"]["tickets"] == 1
    assert rows["priority", "P3"]["whatif"]["tickets"] == 0
    assert rows["priority", "P2"]["whatif"]["breached"] == 1


def test_the_group_is_the_one_holding_the_ticket_when_it_was_resolved() -> None:
    moved = case(
        (wib(3, 2, 9), MarkKind.LOGGED, 3),
        (wib(3, 2, 9, 5), MarkKind.REASSIGNED, "helpdesk"),
        (wib(3, 2, 11), MarkKind.REASSIGNED, "tim-inlislite"),
        (wib(3, 2, 14), MarkKind.RESOLVED, None),
        (wib(3, 3, 9), MarkKind.REOPENED, None),
        (wib(3, 3, 10), MarkKind.REASSIGNED, "tim-jaringan"),
    )
    assert moved.group == "tim-inlislite"
    assert moved.month == "2026-03"


def test_figures_count_decided_tickets_for_compliance_and_resolved_ones_for_the_times() -> None:
    def judged(verdict: Verdict, hours: float | None) -> Judged:
        return Judged(verdict, 3, None if hours is None else timedelta(hours=hours), None)

    figures = Figures.of(
        [
            judged(Verdict.MET, 1),
            judged(Verdict.MET, 2),
            judged(Verdict.MET, 3),
            judged(Verdict.BREACHED, 30),
            judged(Verdict.BREACHED, None),  # breached, still open
            judged(Verdict.OPEN, None),
            judged(Verdict.CANCELLED, None),
        ]
    )
    assert (figures.tickets, figures.met, figures.breached, figures.open) == (6, 3, 2, 1)
    assert figures.compliance_pct == 60.0
    assert figures.median_resolve_minutes == 150.0  # of 1h, 2h, 3h, 30h
    assert figures.p90_resolve_minutes == 1800.0
    assert nearest_rank([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90) == 9


# -- properties ----------------------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(2025, 6, 1), max_value=datetime(2026, 12, 1), timezones=st.just(UTC)
)
steps = st.integers(min_value=0, max_value=120 * 3600).map(lambda s: timedelta(seconds=s))
later_marks = st.sampled_from(
    [
        (MarkKind.RESPONDED, None),
        (MarkKind.HELD, "awaiting_caller"),
        (MarkKind.HELD, "awaiting_change"),
        (MarkKind.RESUMED, None),
        (MarkKind.RESOLVED, None),
        (MarkKind.REOPENED, None),
        (MarkKind.REASSIGNED, "helpdesk"),
        ("rated", None),
        (MarkKind.CLOSED, None),
    ]
)
ratings = st.tuples(st.sampled_from(list(Impact)), st.sampled_from(list(Urgency)))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A ticket whose priorities came from the default matrix, with any later history."""
    at = draw(moments)
    impact, urgency = draw(ratings)
    marks = [Mark(at, MarkKind.LOGGED, DEFAULT_CELLS[impact][urgency])]
    rated = [Rating(0, impact, urgency)]
    for (kind_, mark_value), step in draw(st.lists(st.tuples(later_marks, steps), max_size=8)):
        at += step  # time only moves forward
        if kind_ == "rated":
            impact, urgency = draw(ratings)
            rated.append(Rating(len(marks), impact, urgency))
            marks.append(Mark(at, MarkKind.REPRIORITISED, DEFAULT_CELLS[impact][urgency]))
        else:
            marks.append(Mark(at, MarkKind(kind_), mark_value))
    ticket = Ticket("incident", "Self-check kiosks", VERSIONS, tuple(marks))
    return Case(str(uuid4()), 1, "dpk-banten", ticket, tuple(rated))


@settings(max_examples=200)
@given(case=cases())
def test_a_whatif_with_the_rules_of_record_changes_no_verdict(case: Case) -> None:
    same = Scenario(policy=DEFAULT_TERMS, calendars={"office": OFFICE}, matrix=DEFAULT_CELLS)
    outcome = replay(case, RECORD, same, no_current_calendar, AS_OF)
    assert outcome.whatif.verdict is outcome.record.verdict
    assert outcome.whatif.priority == outcome.record.priority
    assert outcome.whatif.resolve == outcome.record.resolve
    assert not outcome.flipped


@settings(max_examples=200)
@given(case=cases(), priority=st.integers(1, 5), longer=st.integers(1, 10 * 480))
def test_a_longer_resolution_target_never_turns_a_met_ticket_into_a_breached_one(
    case: Case, priority: int, longer: int
) -> None:
    targets = DEFAULT_TERMS.targets[priority]
    terms = DEFAULT_TERMS.model_copy(
        update={
            "targets": {
                **DEFAULT_TERMS.targets,
                priority: Targets(
                    response_minutes=targets.response_minutes,
                    resolution_minutes=targets.resolution_minutes + longer,
                ),
            }
        }
    )
    outcome = replay(case, RECORD, Scenario(policy=terms), no_current_calendar, AS_OF)
    if outcome.record.verdict is Verdict.MET:
        assert outcome.whatif.verdict is Verdict.MET


@settings(max_examples=100)
@given(many=st.lists(cases(), max_size=6))
def test_compare_explains_exactly_the_tickets_that_flip(many: list[Case]) -> None:
    stricter = Scenario(policy=with_p2_resolution(60))
    outcomes = compare(many, lambda _: RECORD, stricter, no_current_calendar, AS_OF)
    for outcome in outcomes:
        explained = outcome.whatif.clock is not None and bool(outcome.whatif.clock.timeline)
        assert explained == outcome.flipped
        again = replay(outcome.case, RECORD, stricter, no_current_calendar, AS_OF)
        assert (again.record.verdict, again.whatif.verdict) == (
            outcome.record.verdict,
            outcome.whatif.verdict,
        )


# -- the fast paths, against the plain readings --------------------------------------------------


@settings(max_examples=300)
@given(data=st.data(), event_type=st.sampled_from(MARKED))
def test_marks_read_from_stored_json_are_the_marks_of_the_event(
    data: st.DataObject, event_type: type[e.IncidentEvent]
) -> None:
    event = data.draw(STRATEGIES[event_type])
    stored: dict[str, Any] = orjson.loads(encode(event))
    assert marks_of_json(event.type_name, stored) == marks_of(event)


def test_events_that_make_no_marks_read_as_none_from_json() -> None:
    noted = {"timestamp": "2026-03-02T02:00:00Z", "text": "x"}
    assert marks_of_json(e.WorkNoteAdded.type_name, noted) == ()


@settings(max_examples=300)
@given(case=cases(), as_of=moments)
def test_judging_without_a_timeline_gives_the_same_clocks(case: Case, as_of: datetime) -> None:
    full = judge(case.ticket, DEFAULT_TERMS, OFFICE, as_of)
    bare = judge(case.ticket, DEFAULT_TERMS, OFFICE, as_of, explain=False)
    assert bare.timeline == ()
    assert (bare.state, bare.response, bare.resolution, bare.pauses) == (
        full.state,
        full.response,
        full.resolution,
        full.pauses,
    )


@settings(max_examples=300)
@given(start=moments, length=st.integers(0, 60 * 24 * 3600))
def test_business_time_is_the_sum_of_each_days_windows_within_the_span(
    start: datetime, length: int
) -> None:
    end = start + timedelta(seconds=length)
    expected = timedelta()
    day = start.astimezone(WIB).date() - timedelta(days=1)
    while day <= end.astimezone(WIB).date():
        for opens, closes in OFFICE.windows(day):
            lo, hi = max(opens, start), min(closes, end)
            expected += max(hi - lo, timedelta())
        day += timedelta(days=1)
    assert OFFICE.business_time(start, end) == expected


def test_calendar_arithmetic_reaches_years_beyond_its_first_table() -> None:
    # The table starts around the first moment asked about and grows when later ones come.
    calendar = CalendarSpec.of("Asia/Jakarta", OFFICE_HOURS, shipped_holidays())
    start = datetime(2026, 3, 2, 2, tzinfo=UTC)  # Monday 09:00 WIB
    assert calendar.add(start, timedelta(hours=1)) == wib(3, 2, 10)
    far = datetime(2031, 6, 2, 2, tzinfo=UTC)  # a Monday, 09:00 WIB, no holidays listed
    assert calendar.add(far, timedelta(hours=8)) == far + timedelta(days=1)
    assert calendar.business_time(start, far) > timedelta(hours=8 * 5 * 52 * 5)
    assert calendar.subtract(start, timedelta(hours=8 * 200)) < datetime(2025, 6, 1, tzinfo=UTC)


def test_an_outcome_is_a_flip_only_between_met_and_breached() -> None:
    def judged(verdict: Verdict) -> Judged:
        return Judged(verdict, 3, None, None)

    one = case((wib(3, 2, 9), MarkKind.LOGGED, 3))
    assert Outcome(one, judged(Verdict.MET), judged(Verdict.BREACHED)).flipped
    assert not Outcome(one, judged(Verdict.OPEN), judged(Verdict.BREACHED)).flipped
    assert not Outcome(one, judged(Verdict.MET), judged(Verdict.MET)).flipped


def test_a_moment_centuries_away_is_answered_without_a_table_of_the_centuries_between() -> None:
    calendar = CalendarSpec.of("Asia/Jakarta", OFFICE_HOURS, shipped_holidays())
    start = wib(3, 2, 9)  # Monday 09:00 WIB
    far = datetime(9000, 1, 3, 2, tzinfo=UTC)  # a Monday, 09:00 WIB
    assert calendar.add(start, timedelta(hours=1)) == wib(3, 2, 10)
    assert calendar.add(far, timedelta(hours=7)) == far + timedelta(hours=7)
    table = calendar._table[0]
    assert table.last.year - table.first.year <= 2


def test_business_time_over_more_years_than_a_table_holds_is_the_sum_of_its_parts() -> None:
    calendar = CalendarSpec.of("Asia/Jakarta", OFFICE_HOURS, shipped_holidays())
    start, middle, end = (
        wib(3, 2, 9),
        datetime(2060, 1, 1, tzinfo=UTC),
        datetime(2101, 1, 1, tzinfo=UTC),
    )
    whole = calendar.business_time(start, end)
    assert whole == calendar.business_time(start, middle) + calendar.business_time(middle, end)
    assert timedelta(hours=8 * 5 * 52 * 74) < whole < timedelta(hours=8 * 5 * 53 * 75)


def test_a_row_answers_each_figure_on_both_sides_and_their_difference() -> None:
    record = Figures(10, 6, 4, 0, 60.0, 90.0, 300.0)
    whatif = Figures(10, 8, 2, 0, 80.0, 90.0, None)
    answer = Row("service", "Self-service kiosks", record, whatif).as_dict()
    assert list(answer) == ["dimension", "key", "record", "whatif", "delta"]
    assert answer["dimension"] == "service"
    assert answer["key"] == "Self-service kiosks"
    # under the names the report's table, CSV and chart read them by
    assert tuple(answer["record"]) == FIGURES
    assert tuple(answer["whatif"]) == FIGURES
    assert answer["record"]["compliance_pct"] == 60.0
    assert answer["whatif"]["met"] == 8
    assert answer["delta"]["compliance_pct"] == 20.0
    assert answer["delta"]["met"] == 2
    assert answer["delta"]["p90_resolve_minutes"] is None
