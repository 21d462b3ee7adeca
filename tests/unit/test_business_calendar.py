"""Calendar arithmetic, as properties over the shipped office calendar (2025-2027) and over
arbitrary weekly hours: one library for every clock, so it has to be right everywhere."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import (
    OFFICE_HOURS,
    WEEKDAYS,
    CalendarSpec,
    HolidayKind,
    Window,
    shipped_holidays,
)
from domain.sla import DEFAULT_TERMS
from domain.sla_clock import Mark, MarkKind, Ticket, judge

OFFICE = CalendarSpec.of("Asia/Jakarta", OFFICE_HOURS, shipped_holidays())

moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 11, 30), timezones=st.just(UTC)
)
durations = st.integers(min_value=1, max_value=200 * 3600).map(lambda s: timedelta(seconds=s))


@st.composite
def calendars(draw: st.DrawFn) -> CalendarSpec:
    """Weekly hours of one or two windows a day on some days, with the shipped holidays."""
    hours = {}
    for day in WEEKDAYS:
        cuts = sorted(draw(st.sets(st.integers(0, 1440), max_size=4)))
        pairs = [(a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False) if b > a]
        hours[day] = [Window(start=a, end=b) for a, b in pairs]
    weekly = sum(w.end - w.start for windows in hours.values() for w in windows)
    if weekly < 60:  # a few minutes a week would need centuries for the durations drawn
        hours["monday"] = [Window(start=480, end=960)]
    return CalendarSpec.of("Asia/Jakarta", hours, shipped_holidays())


@settings(max_examples=300)
@given(start=moments, duration=durations)
def test_adding_business_time_never_lands_in_closed_hours(
    start: datetime, duration: timedelta
) -> None:
    end = OFFICE.add(start, duration)
    assert OFFICE.in_hours(end)
    assert OFFICE.business_time(start, end) == duration


@settings(max_examples=200)
@given(calendar=calendars(), start=moments, duration=durations)
def test_add_then_subtract_returns_the_start(
    calendar: CalendarSpec, start: datetime, duration: timedelta
) -> None:
    # From a closed moment, the clock really starts when work next opens.
    assert calendar.subtract(calendar.add(start, duration), duration) == calendar.next_open(start)


@settings(max_examples=200)
@given(calendar=calendars(), start=moments, a=durations, b=durations)
def test_a_longer_duration_never_ends_earlier(
    calendar: CalendarSpec, start: datetime, a: timedelta, b: timedelta
) -> None:
    shorter, longer = sorted((a, b))
    assert calendar.add(start, shorter) <= calendar.add(start, longer)


@settings(max_examples=200)
@given(
    logged=moments,
    priority=st.integers(1, 5),
    pause_after=st.integers(0, 100 * 3600),
    pause_for=st.integers(1, 200 * 3600),
    look=st.integers(0, 300 * 3600),
    reason=st.sampled_from(["awaiting_caller", "awaiting_supplier", "awaiting_change"]),
)
def test_a_pause_never_shortens_the_remaining_time(
    logged: datetime, priority: int, pause_after: int, pause_for: int, look: int, reason: str
) -> None:
    held = logged + timedelta(seconds=pause_after)
    resumed = held + timedelta(seconds=pause_for)
    as_of = logged + timedelta(seconds=look)
    plain = Ticket("incident", "x", None, (Mark(logged, MarkKind.LOGGED, priority),))
    paused = Ticket(
        "incident",
        "x",
        None,
        (
            *plain.marks,
            Mark(held, MarkKind.HELD, reason),
            Mark(resumed, MarkKind.RESUMED),
        ),
    )
    without = judge(plain, DEFAULT_TERMS, OFFICE, as_of)
    with_pause = judge(paused, DEFAULT_TERMS, OFFICE, as_of)
    assert with_pause.resolution.remaining >= without.resolution.remaining


def test_the_shipped_lists_cover_2025_to_2027_with_national_days_and_cuti_bersama() -> None:
    years = shipped_holidays()
    assert set(years) >= {2025, 2026, 2027}
    for year, entry in years.items():
        kinds = {h.kind for h in entry.holidays}
        assert kinds == {HolidayKind.NATIONAL, HolidayKind.CUTI_BERSAMA}, year
        assert all(h.date.year == year for h in entry.holidays)
        assert entry.source
    # Lunar holidays move: Idul Fitri is a different date every year.
    idul_fitri = {
        h.date for e in years.values() for h in e.holidays if h.name.startswith("Idul Fitri")
    }
    assert len({(d.month, d.day) for d in idul_fitri}) == len(idul_fitri) == 6


def test_the_shipped_lists_agree_with_the_holidays_package() -> None:
    # A cross-check, not the source: the curated list is what counts (docs/sla.md).
    import holidays

    for year, entry in shipped_holidays().items():
        ours = {h.date for h in entry.holidays}
        theirs = set(holidays.Indonesia(years=year, categories=("public", "government")))
        assert ours == theirs, (year, sorted(ours ^ theirs))
