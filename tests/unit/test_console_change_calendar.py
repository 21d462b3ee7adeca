"""The change calendar's periods (console/changes.py): a week runs Monday to Sunday around the day
asked, a month from its first day to its last; the previous and next links lead to the periods
just before and after, with no day left out or shown twice."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from console.changes import neighbours, period

DAYS = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))


@given(DAYS)
def test_a_week_runs_from_the_monday_of_the_day_asked_to_its_sunday(day: date) -> None:
    first, last = period("week", day)
    assert first.weekday() == 0
    assert last - first == timedelta(days=6)
    assert first <= day <= last


@given(DAYS)
def test_a_month_runs_from_its_first_day_to_its_last(day: date) -> None:
    first, last = period("month", day)
    assert first == day.replace(day=1)
    assert last.month == day.month
    assert (last + timedelta(days=1)).day == 1


@given(DAYS, st.sampled_from(["week", "month"]))
def test_the_previous_and_next_periods_meet_this_one_without_a_gap(day: date, view: str) -> None:
    first, last = period(view, day)
    before, after = neighbours(view, first)
    assert period(view, before)[1] == first - timedelta(days=1)
    assert period(view, after)[0] == last + timedelta(days=1)


def test_december_leads_to_january_of_the_next_year() -> None:
    first, last = period("month", date(2026, 12, 17))
    assert (first, last) == (date(2026, 12, 1), date(2026, 12, 31))
    assert neighbours("month", first) == (date(2026, 11, 1), date(2027, 1, 1))
