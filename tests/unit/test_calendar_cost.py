"""What a time-travel query costs does not depend on how far away its moment lies.

Cost is counted, not timed: every local day whose working windows the calendar works out is one
step (`CalendarSpec._spans`), the only work in the arithmetic that grows with the span covered.
An SLA clock judged as of 9999-12-31 takes no more steps than one judged as of tomorrow, give or
take a table up to the year the calendar starts to repeat and one around the far moment (a few
years of days, whatever the distance).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.calendar import (
    OFFICE_HOURS,
    ROUND_THE_CLOCK,
    CalendarSpec,
    Holiday,
    HolidayKind,
    HolidayYear,
    shipped_holidays,
)
from domain.sla import DEFAULT_TERMS
from domain.sla_clock import Mark, MarkKind, Ticket, TicketClock, judge
from tests.conftest import Steps

WIB = ZoneInfo("Asia/Jakarta")
LOGGED = datetime(2026, 3, 2, 9, tzinfo=WIB).astimezone(UTC)
TOMORROW = LOGGED + timedelta(days=1)
FAR = datetime(9999, 12, 31, tzinfo=UTC)
#: The most days a far moment may cost beyond tomorrow, whatever its distance: the years until
#: the office calendar repeats (its holidays are listed to 2027: 2027 and 2028, with the new
#: year's day either side), and a table of a year or two around the far moment.
FAR_TABLE_DAYS = 5 * 366


def office() -> CalendarSpec:
    """A fresh office calendar (a spec keeps its tables: each count starts from nothing)."""
    return CalendarSpec.of("Asia/Jakarta", OFFICE_HOURS, shipped_holidays())


def _open_incident(*marks: Mark) -> Ticket:
    return Ticket("incident", "Self-check kiosks", None, (Mark(LOGGED, MarkKind.LOGGED, 3), *marks))


def _cost(steps: Steps, ticket: Ticket, as_of: datetime) -> tuple[int, TicketClock]:
    before = steps.days
    judged = judge(ticket, DEFAULT_TERMS, office(), as_of)
    return steps.days - before, judged


@pytest.mark.parametrize(
    "ticket",
    [
        _open_incident(),
        _open_incident(Mark(LOGGED + timedelta(hours=1), MarkKind.HELD, "awaiting_caller")),
        _open_incident(
            Mark(LOGGED + timedelta(hours=1), MarkKind.RESOLVED),
            Mark(LOGGED + timedelta(hours=2), MarkKind.REOPENED),
        ),
    ],
    ids=["running", "paused", "reopened"],
)
def test_a_clock_judged_as_of_year_9999_costs_what_one_judged_as_of_tomorrow_does(
    steps: Steps, ticket: Ticket
) -> None:
    near, _ = _cost(steps, ticket, TOMORROW)
    far, judged = _cost(steps, ticket, FAR)

    assert far <= near + FAR_TABLE_DAYS
    # and the answer is still worked out, not given up on: about 8h on each office day
    counted = judged.resolution.elapsed + sum((p.business_time for p in judged.pauses), timedelta())
    assert counted > timedelta(days=7900 * 365 // 7 * 5 // 3)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(as_of=st.datetimes(min_value=datetime(2027, 1, 1), max_value=datetime(9999, 12, 30)))
def test_no_moment_however_far_costs_more_than_a_bounded_number_of_steps(
    steps: Steps, as_of: datetime
) -> None:
    cost, _ = _cost(steps, _open_incident(), as_of.replace(tzinfo=UTC))

    # a table around the logging, the years until the calendar repeats, and one around as_of
    assert cost <= 366 + FAR_TABLE_DAYS


def test_a_calendar_listing_holidays_to_2200_sums_its_years_once_per_version(
    steps: Steps,
) -> None:
    """Until a calendar repeats, the whole years between two moments are summed once per
    version; after that any moment costs a table or two, however far it is."""
    spec = CalendarSpec.of("Asia/Jakarta", OFFICE_HOURS, _holidays_until(2031) | _year(2200))
    ticket = _open_incident()
    judge(ticket, DEFAULT_TERMS, spec, FAR)  # the years 2027-2201, once

    for as_of in (
        TOMORROW,
        datetime(2100, 6, 1, tzinfo=UTC),
        datetime(2199, 12, 1, tzinfo=UTC),
        FAR,
    ):
        before = steps.days
        judge(ticket, DEFAULT_TERMS, spec, as_of)
        assert steps.days - before <= FAR_TABLE_DAYS


@pytest.mark.parametrize("zone", ["Asia/Jakarta", "Europe/Amsterdam", "America/Sao_Paulo"])
@settings(max_examples=10, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2060, 1, 1)),
    years=st.integers(min_value=0, max_value=60),
    rest=st.timedeltas(min_value=timedelta(), max_value=timedelta(days=400)),
    offsets=st.tuples(st.integers(min_value=-12, max_value=14), st.integers(-12, 14)),
)
def test_business_time_over_decades_is_exactly_the_sum_of_its_days(
    zone: str, start: datetime, years: int, rest: timedelta, offsets: tuple[int, int]
) -> None:
    """The closed form (whole years summed, whole periods of a calendar that repeats) against
    counting every day; the moments may come in any offset (the years are cut in UTC)."""
    spec = CalendarSpec.of(zone, OFFICE_HOURS, _holidays_until(2031))
    begin = start.replace(tzinfo=timezone(timedelta(hours=offsets[0])))
    end = (begin + timedelta(days=365 * years) + rest).astimezone(
        timezone(timedelta(hours=offsets[1]))
    )

    assert spec.business_time(begin, end) == _counted(spec, begin, end)


@pytest.mark.parametrize("zone", ["Asia/Jakarta", "Europe/Amsterdam"])
def test_business_time_over_more_than_one_whole_period_is_the_sum_of_its_days(zone: str) -> None:
    """Past 400 years a daylight-saving zone's cycle comes round whole: still day for day."""
    spec = CalendarSpec.of(zone, OFFICE_HOURS, _holidays_until(2031))
    begin = datetime(2026, 3, 2, 9, 17, tzinfo=UTC)
    end = datetime(2467, 7, 19, 13, 5, tzinfo=UTC)

    assert spec.business_time(begin, end) == _counted(spec, begin, end)


@pytest.mark.parametrize(
    ("begin", "end"),
    [
        # local years either side of the UTC new years the sums are cut at
        ("2026-12-31T23:00:00-12:00", "2031-01-01T05:00:00+14:00"),
        ("2027-01-01T05:00:00+14:00", "2030-12-31T23:00:00-12:00"),
        ("2000-01-01T00:00:00+14:00", "9999-12-31T11:59:59-12:00"),
    ],
)
def test_round_the_clock_business_time_is_the_elapsed_time_in_any_offset(
    begin: str, end: str
) -> None:
    spec = CalendarSpec.of("UTC", ROUND_THE_CLOCK, _holidays_until(2031))
    start, until = datetime.fromisoformat(begin), datetime.fromisoformat(end)
    holidays = timedelta(days=12 if until.year > 2031 else 4)  # 2020-2031, or 2027-2030

    assert spec.business_time(start, until) == until - start - holidays


def test_round_the_clock_business_time_to_year_9999_is_the_elapsed_time() -> None:
    spec = CalendarSpec.of("UTC", ROUND_THE_CLOCK, {})

    assert spec.business_time(LOGGED, FAR) == FAR - LOGGED


def _holidays_until(last: int) -> dict[int, HolidayYear]:
    return {y: h for year in range(2020, last + 1) for y, h in _year(year).items()}


def _year(year: int) -> dict[int, HolidayYear]:
    labour_day = Holiday(date=date(year, 5, 1), name="Labour Day", kind=HolidayKind.NATIONAL)
    return {year: HolidayYear(source="test", holidays=[labour_day])}


def _counted(spec: CalendarSpec, start: datetime, end: datetime) -> timedelta:
    """Business time by summing every day's windows (no tables, no periods): slow and plain."""
    total = timedelta()
    last_close: datetime | None = None
    day = start.date() - timedelta(days=2)
    while day <= end.date() + timedelta(days=2):
        for opens, closes in spec._spans(day):
            if closes <= opens or (last_close is not None and opens < last_close):
                continue  # overlapping the previous window (a clock set back): as the table does
            last_close = closes
            total += max(timedelta(), min(closes, end) - max(opens, start))
        day += timedelta(days=1)
    return total
