"""Business calendars (ISO/IEC 20000-1 8.3.3): when the SLA clock runs, and the arithmetic of it.

A calendar has a time zone (Asia/Jakarta here), working hours per weekday, and per-year lists of
holidays: Indonesian national holidays and cuti bersama (the collective leave days of the joint
ministerial decree, SKB 3 Menteri). Lunar holidays move every year, so holidays are dates listed
per year, never rules. The lists shipped for 2025-2027 are in domain/holidays/indonesia.json with
their sources; a service manager amends a year through the aggregate, which makes a new version.

`CalendarSpec` is one version, frozen, and all the arithmetic there is: business time between two
instants, and an instant plus or minus a business duration. Everything is done on aware UTC
datetimes; the zone only decides where each local day's working windows fall.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import struct
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import MAXYEAR, UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import Any, ClassVar
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.aggregate import Aggregate, applies
from domain.context import Context
from domain.errors import InvalidRule
from domain.events import DomainEvent
from domain.fields import Name, Reason
from domain.time_zones import settled

NAMESPACE = UUID("6f4b1c2e-8d3a-4e5f-9a7b-2c1d0e9f8a6b")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY = 24 * 60
#: How far arithmetic looks for working time before it gives up (a calendar with no working
#: time left would otherwise loop for ever): ten years of days.
HORIZON_DAYS = 3660


class HolidayKind(StrEnum):
    NATIONAL = "national"  # hari libur nasional
    CUTI_BERSAMA = "cuti_bersama"  # collective leave, SKB 3 Menteri
    LOCAL = "local"  # a day the office closes for its own reasons (e.g. a provincial event)


class Window(BaseModel):
    """Working time within one day, in minutes after local midnight (end 1440 is midnight)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    start: int = Field(ge=0, le=DAY - 1, description="minutes after midnight, e.g. 480 = 08:00")
    end: int = Field(ge=1, le=DAY, description="minutes after midnight, e.g. 960 = 16:00")

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError("a working window ends after it starts")
        return self


class Holiday(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    date: date
    name: str = Name
    kind: HolidayKind


class HolidayYear(BaseModel):
    """One year's holidays, with where they come from (a decree, or a provisional estimate)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    source: str = Field(min_length=1, max_length=2000)
    provisional: bool = False
    holidays: list[Holiday] = Field(max_length=60)


#: weekday name -> working windows that day (none: closed)
Hours = dict[str, list[Window]]

OFFICE_HOURS: Hours = {
    day: [Window(start=8 * 60, end=16 * 60)] if day not in ("saturday", "sunday") else []
    for day in WEEKDAYS
}
ROUND_THE_CLOCK: Hours = {day: [Window(start=0, end=DAY)] for day in WEEKDAYS}
#: When the libraries' public services open: Monday to Saturday 08:00-16:00 (the `library`
#: calendar; the circulation rules count outages in it, docs/circulation.md).
LIBRARY_HOURS: Hours = {
    day: [Window(start=8 * 60, end=16 * 60)] if day != "sunday" else [] for day in WEEKDAYS
}


def calendar_id(name: str) -> UUID:
    return uuid5(NAMESPACE, f"calendar:{name}")


def shipped_holidays() -> dict[int, HolidayYear]:
    """The curated Indonesian lists shipped with the service (domain/holidays/indonesia.json)."""
    text = resources.files("domain.holidays").joinpath("indonesia.json").read_text("utf-8")
    raw: dict[str, dict[str, Any]] = json.loads(text)
    return {
        int(year): HolidayYear(
            source=entry["source"],
            provisional=entry["status"] != "official",
            holidays=[Holiday.model_validate(h) for h in entry["holidays"]],
        )
        for year, entry in raw.items()
    }


def _check_hours(hours: Hours) -> Hours:
    if set(hours) != set(WEEKDAYS):
        raise InvalidRule(f"working hours name every weekday: {', '.join(WEEKDAYS)}")
    for day, windows in hours.items():
        ordered = sorted(windows, key=lambda w: w.start)
        for before, after in itertools.pairwise(ordered):
            if after.start < before.end:
                raise InvalidRule(f"working windows overlap on {day}")
    if not any(hours.values()):
        raise InvalidRule("a calendar needs working time on at least one weekday")
    return {day: sorted(hours[day], key=lambda w: w.start) for day in WEEKDAYS}


def _check_year(year: int, entry: HolidayYear) -> HolidayYear:
    dates = [h.date for h in entry.holidays]
    if any(d.year != year for d in dates):
        raise InvalidRule(f"every holiday listed for {year} falls in {year}")
    if len(set(dates)) != len(dates):
        raise InvalidRule(f"a date is listed twice among the holidays of {year}")
    return entry.model_copy(update={"holidays": sorted(entry.holidays, key=lambda h: h.date)})


def _check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRule(f"unknown time zone {name!r}") from None
    return name


# -- the arithmetic ------------------------------------------------------------------------------

Span = tuple[datetime, datetime]


@dataclass(frozen=True, eq=False)
class CalendarSpec:
    """One version of a calendar, and its business-time arithmetic (pure; results in UTC)."""

    time_zone: str
    #: per weekday (Monday first): working windows in minutes after midnight
    hours: tuple[tuple[tuple[int, int], ...], ...]
    holidays: frozenset[date]
    _days: dict[date, tuple[Span, ...]] = field(default_factory=dict, repr=False)
    #: the arithmetic's table (one, replaced whole when it grows): see _cover
    _table: list[_Table] = field(default_factory=list, repr=False)
    #: where the calendar starts to repeat, once worked out (a list: the dataclass is frozen)
    _repeats: list[tuple[int, bool] | None] = field(default_factory=list, repr=False)
    #: the working time of each year asked about (UTC, new year to new year): see _tabled
    _years: dict[int, timedelta] = field(default_factory=dict, repr=False)
    #: this calendar with more days closed, by those days (see closed_also)
    _closed: dict[frozenset[date], CalendarSpec] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, time_zone: str, hours: Hours, years: dict[int, HolidayYear]) -> CalendarSpec:
        return cls(
            time_zone=time_zone,
            hours=tuple(tuple((w.start, w.end) for w in hours[day]) for day in WEEKDAYS),
            holidays=frozenset(h.date for entry in years.values() for h in entry.holidays),
        )

    def closed_also(self, days: frozenset[date]) -> CalendarSpec:
        """This calendar with `days` closed as holidays are (an agreement's closed days); made
        once per set of days and kept, so its tables are built once too."""
        if days <= self.holidays:
            return self
        derived = self._closed.get(days)
        if derived is None:
            derived = self._closed[days] = CalendarSpec(
                time_zone=self.time_zone, hours=self.hours, holidays=self.holidays | days
            )
        return derived

    def windows(self, day: date) -> tuple[Span, ...]:
        """The working spans of a local day, as UTC instants (cached: versions never change)."""
        spans = self._days.get(day)
        if spans is None:
            spans = self._days[day] = self._spans(day)
        return spans

    def _spans(self, day: date) -> tuple[Span, ...]:
        if day in self.holidays:
            return ()
        zone = ZoneInfo(self.time_zone)
        return tuple(
            (_local(day, start, zone), _local(day, end, zone))
            for start, end in self.hours[day.weekday()]
        )

    def _local_date(self, moment: datetime) -> date:
        return moment.astimezone(self._zone).date()

    @property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)  # the zoneinfo module keeps one instance per key

    # The arithmetic runs on a table of every working window of whole years, in time order, with
    # the working time from the table's start to each window's opening and closing: the working
    # time up to a moment is one bisection, so business_time, add and subtract cost the same
    # whether they span an hour or a month, and no moment is converted to local time. The table
    # grows (whole years, built anew) when a moment falls outside it; versions never change, so
    # a table once built stays true. Results are exact (datetime and timedelta arithmetic).
    # Spans of years take no bigger tables: the whole years between are summed (once a year per
    # version), and from where the calendar repeats whole periods are counted (_Cycle), so what a
    # moment costs never grows with its distance (docs/sla.md; tests/unit/test_query_cost.py).

    def _cover(self, lo: datetime, hi: datetime) -> _Table:
        """A table covering the moments `lo` to `hi` (at most TABLE_YEARS apart, plus one)."""
        table = self._table[0] if self._table else None
        if table is not None and table.start <= lo and hi <= table.end:
            return table
        # a moment's local date is within a day of its date in any other zone
        first, last = _shifted(lo.date(), -2), _shifted(hi.date(), 2)
        if table is not None:
            merged = min(first, table.first), max(last, table.last)
            if merged[1].year - merged[0].year <= TABLE_YEARS:
                first, last = merged
            # else a moment far from the table (an as_of centuries away): a table of its own
        table = _Table.build(self, date(first.year, 1, 1), date(last.year, 12, 31))
        self._table[:] = [table]
        return table

    def business_time(self, start: datetime, end: datetime) -> timedelta:
        """Working time in [start, end); zero when end is not after start.

        What it costs does not grow with the span: past the calendar's last listed holiday and
        its zone's last listed change of offset, the calendar repeats (see _Cycle), so the
        working time there is whole periods times the working time of one, plus a remainder;
        before that, year sums and tables (a ticket judged as of 9999 costs what one judged as
        of tomorrow does)."""
        if end <= start:
            return ZERO
        repeats = self._repeats_from()
        if repeats is not None and end > _new_year(repeats[0]):
            cycle = _cycle(self.time_zone, self.hours, *repeats)
            if start >= cycle.start:
                return cycle.worked(end) - cycle.worked(start)
            return self._tabled(start, cycle.start) + cycle.worked(end)
        return self._tabled(start, end)

    def _tabled(self, start: datetime, end: datetime) -> timedelta:
        """Working time in [start, end) from one table if they lie within a few years, else the
        whole years between from their sums (each year's worked out once per version)."""
        if end <= start:
            return ZERO
        first, last = _utc_year(start) + 1, _utc_year(end)
        if last - first < 2:
            table = self._cover(start, end)
            return table.worked(end) - table.worked(start)
        opening, closing = _new_year(first), _new_year(last)
        years = self._years_between(first, last)
        return self._tabled(start, opening) + years + self._tabled(closing, end)

    def _years_between(self, first: int, last: int) -> timedelta:
        """The working time of the years `first` to `last` (excluded), UTC new year to new
        year: each year's is worked out once, apart from the table the arithmetic keeps."""
        missing = [y for y in range(first, last) if y not in self._years]
        if missing:
            self._years.update(zip(missing, _year_sums(self, missing), strict=True))
        return sum((self._years[y] for y in range(first, last)), ZERO)

    def _repeats_from(self) -> tuple[int, bool] | None:
        """From which year's new year (UTC) this calendar repeats, and whether every week (else
        every 400 years): see _Cycle. None if it never does within the years datetime holds, or
        the zone's data cannot be read (then tables all the way)."""
        if not self._repeats:
            try:
                zone = settled(self.time_zone)
            except (OSError, ValueError, struct.error):
                zone = None
            last_holiday = max((d.year for d in self.holidays), default=0)
            # the local day before the UTC new year is in the year before: it must repeat too
            year = 0 if zone is None else max(zone.year + 1, last_holiday + 2, 2)
            self._repeats.append((year, zone.one_offset) if zone and year < MAXYEAR - 400 else None)
        return self._repeats[0]

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant by which `duration` of working time has passed since `start`.

        For a positive duration it always falls within working hours (at the latest, on a
        window's closing minute); a zero duration is `start` itself.
        """
        if duration <= ZERO:
            return start
        span = 0  # the table in hand first: it covers whole years
        while True:
            table = self._cover(start, _later(start, span))
            target = table.worked(start) + duration
            if table.after and target <= table.after[-1]:
                i = bisect_left(table.after, target)
                return table.closes[i] - (table.after[i] - target)
            if span >= HORIZON_DAYS:
                raise InvalidRule("the calendar has no working time within ten years of the start")
            span = min(max(span * 4, 400), HORIZON_DAYS)

    def subtract(self, end: datetime, duration: timedelta) -> datetime:
        """The latest instant from which `duration` of working time runs until `end`."""
        if duration <= ZERO:
            return end
        span = 0
        while True:
            table = self._cover(_later(end, -span), end)
            target = table.worked(end) - duration
            if table.before and target >= ZERO:
                i = bisect_right(table.before, target) - 1
                return table.opens[i] + (target - table.before[i])
            if span >= HORIZON_DAYS:
                raise InvalidRule(
                    "the calendar has no working time within ten years before the end"
                )
            span = min(max(span * 4, 400), HORIZON_DAYS)

    def next_open(self, moment: datetime) -> datetime:
        """`moment` if it is working time, else when working time next starts."""
        span = 0
        while True:
            table = self._cover(moment, _later(moment, span))
            i = bisect_right(table.closes, moment)
            if i < len(table.closes):
                return max(table.opens[i], moment)
            if span >= HORIZON_DAYS:
                raise InvalidRule("the calendar has no working time within ten years")
            span = min(max(span * 4, 400), HORIZON_DAYS)

    def in_hours(self, moment: datetime) -> bool:
        """Whether `moment` lies within a working window, its closing minute included."""
        table = self._cover(moment, moment)
        i = bisect_left(table.closes, moment)
        return i < len(table.closes) and table.opens[i] <= moment


ZERO = timedelta()
#: The most years one table of working windows spans (the memory it takes grows with them).
TABLE_YEARS = 30


def _shifted(day: date, days: int) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.min if days < 0 else date.max


def _later(moment: datetime, days: int) -> datetime:
    try:
        return moment + timedelta(days=days)
    except OverflowError:
        return moment


@dataclass(frozen=True, slots=True)
class _Table:
    """Every working window from `first` to `last` (local days), as UTC instants in time order,
    with the working time from the table's start to each opening (`before`) and closing
    (`after`)."""

    first: date
    last: date
    start: datetime  # the moments the table answers for: those whose local day it holds
    end: datetime
    opens: list[datetime]
    closes: list[datetime]
    before: list[timedelta]
    after: list[timedelta]

    @classmethod
    def build(cls, spec: CalendarSpec, first: date, last: date) -> _Table:
        opens: list[datetime] = []
        closes: list[datetime] = []
        before: list[timedelta] = []
        after: list[timedelta] = []
        total = ZERO
        day = first
        while True:
            for o, c in spec._spans(day):  # the table holds them: no need to cache them too
                if c > o and (not closes or o >= closes[-1]):
                    opens.append(o)
                    closes.append(c)
                    before.append(total)
                    total += c - o
                    after.append(total)
            if day >= last:
                break
            day += timedelta(days=1)
        margin = timedelta(days=1, hours=2)  # more than any zone's offset from UTC
        start = end = datetime.min.replace(tzinfo=UTC)
        with contextlib.suppress(OverflowError):
            start = datetime.combine(first, time(), UTC) + margin
        with contextlib.suppress(OverflowError):
            end = datetime.combine(last, time(), UTC) + timedelta(days=1) - margin
        return cls(first, last, start, end, opens, closes, before, after)

    def worked(self, moment: datetime) -> timedelta:
        """Working time from the table's start to `moment` (which it covers)."""
        i = bisect_right(self.opens, moment) - 1
        if i < 0:
            return ZERO
        close = self.closes[i]
        return self.before[i] + ((moment if moment < close else close) - self.opens[i])


#: The Gregorian calendar repeats every 400 years: 146,097 days, exactly 20,871 weeks.
GREGORIAN_CYCLE = timedelta(days=146_097)
WEEK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class _Cycle:
    """Where a calendar starts to repeat, and the working time of its periods from there.

    From `start` (the new year, UTC, after the year following the last listed holiday and after
    the zone's last listed change of offset, domain/time_zones.py) the working windows repeat
    every `period`: a week if the zone keeps one offset, else 400 years (its daylight-saving rule
    is stated in months and weekdays, which repeat with the Gregorian calendar). `marks` are
    moments within the first period (its start, then each new year for a 400-year period) and
    `sums` the working time from `start` to each, the last being the whole period's; so the
    working time from `start` to any later moment is whole periods, one bisection, and at most a
    year of one table. `plain` is the calendar without holidays (there are none from `start`),
    with a table of its own, so the dated calendar's table stays where its tickets are."""

    start: datetime
    period: timedelta
    marks: tuple[datetime, ...]
    sums: tuple[timedelta, ...]
    plain: CalendarSpec

    def worked(self, moment: datetime) -> timedelta:
        """Working time from `start` to `moment` (not before it)."""
        whole, rest = divmod(moment - self.start, self.period)
        within = self.start + rest
        i = bisect_right(self.marks, within) - 1
        return whole * self.sums[-1] + self.sums[i] + self.plain._tabled(self.marks[i], within)


@lru_cache(maxsize=16)
def _cycle(
    time_zone: str, hours: tuple[tuple[tuple[int, int], ...], ...], year: int, one_offset: bool
) -> _Cycle:
    """Shared by the versions that agree on zone, hours and year: a 400-year period takes
    146,097 days of windows to sum (a second or two, once); a week takes seven."""
    plain = CalendarSpec(time_zone, hours, frozenset())
    start = _new_year(year)
    if one_offset:  # the week's table is the one the plain calendar keeps: the rest is in it
        week = _Table.build(plain, _shifted(start.date(), -2), _shifted(start.date(), 9))
        plain._table.append(week)
        whole = week.worked(start + WEEK) - week.worked(start)
        return _Cycle(start, WEEK, (start,), (ZERO, whole), plain)
    sums = list(itertools.accumulate(_year_sums(plain, [*range(year, year + 400)]), initial=ZERO))
    marks = tuple(_new_year(year + i) for i in range(400))
    return _Cycle(start, GREGORIAN_CYCLE, marks, tuple(sums), plain)


def _new_year(year: int) -> datetime:
    return datetime(year, 1, 1, tzinfo=UTC)


def _utc_year(moment: datetime) -> int:
    """The UTC year of `moment`; beyond datetime's years, the nearest it holds (1 or 9999: the
    new year after a moment before year 1 is after it, the one of a moment after 9999 before)."""
    try:
        return moment.astimezone(UTC).year
    except OverflowError:
        return moment.year


def _year_sums(spec: CalendarSpec, years: list[int]) -> list[timedelta]:
    """The working time of each of `years` (ascending), UTC new year to new year, from tables of
    up to TABLE_YEARS consecutive years built here (the spec's own table stays as it is)."""
    runs: list[list[int]] = []
    for year in years:  # consecutive years, at most TABLE_YEARS to a table
        if runs and runs[-1][-1] == year - 1 and len(runs[-1]) < TABLE_YEARS:
            runs[-1].append(year)
        else:
            runs.append([year])
    sums: list[timedelta] = []
    for run in runs:
        table = _Table.build(spec, date(run[0] - 1, 12, 30), _shifted(date(run[-1] + 1, 1, 1), 2))
        sums += [table.worked(_new_year(y + 1)) - table.worked(_new_year(y)) for y in run]
    return sums


def _local(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """Wall-clock minutes after a local midnight, as UTC (minute 1440 is the next midnight)."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minutes)
    return wall.replace(tzinfo=zone).astimezone(UTC)


# -- the aggregate -------------------------------------------------------------------------------


class CalendarDefined(DomainEvent):
    type_name: ClassVar[str] = "BusinessCalendar.Defined"
    name: str = Field(min_length=1, max_length=100)
    time_zone: str = Field(min_length=1, max_length=100)
    hours: Hours
    years: dict[int, HolidayYear]


class HolidaysAmended(DomainEvent):
    """A year's holiday list replaced, e.g. when the SKB for the year is published or amended."""

    type_name: ClassVar[str] = "BusinessCalendar.HolidaysAmended"
    year: int = Field(ge=1970, le=2200)
    holidays: HolidayYear
    reason: str = Reason


class HoursRevised(DomainEvent):
    type_name: ClassVar[str] = "BusinessCalendar.HoursRevised"
    hours: Hours
    reason: str = Reason


class BusinessCalendar(Aggregate):
    """A named calendar; its versions are its history, and each stays readable."""

    name: str
    time_zone: str
    hours: Hours
    years: dict[int, HolidayYear]

    @classmethod
    def define(
        cls,
        ctx: Context,
        *,
        name: str,
        time_zone: str,
        hours: Hours,
        years: dict[int, HolidayYear],
    ) -> BusinessCalendar:
        checked = {year: _check_year(year, entry) for year, entry in sorted(years.items())}
        return cls._begin(
            ctx,
            calendar_id(name),
            CalendarDefined,
            name=name,
            time_zone=_check_zone(time_zone),
            hours=_check_hours(hours),
            years=checked,
        )

    def amend_holidays(
        self, ctx: Context, *, year: int, holidays: HolidayYear, reason: str
    ) -> None:
        checked = _check_year(year, holidays)
        if self.years.get(year) == checked:
            raise InvalidRule(f"the holidays of {year} are already exactly these")
        self._record(
            HolidaysAmended(**self._envelope(ctx), year=year, holidays=checked, reason=reason)
        )

    def revise_hours(self, ctx: Context, *, hours: Hours, reason: str) -> None:
        checked = _check_hours(hours)
        if checked == self.hours:
            raise InvalidRule("the working hours are already exactly these")
        self._record(HoursRevised(**self._envelope(ctx), hours=checked, reason=reason))

    def spec(self) -> CalendarSpec:
        return CalendarSpec.of(self.time_zone, self.hours, self.years)

    @applies(CalendarDefined)
    def _defined(self, e: CalendarDefined) -> None:
        self.name, self.time_zone, self.hours, self.years = e.name, e.time_zone, e.hours, e.years

    @applies(HolidaysAmended)
    def _amended(self, e: HolidaysAmended) -> None:
        self.years = {**self.years, e.year: e.holidays}

    @applies(HoursRevised)
    def _revised(self, e: HoursRevised) -> None:
        self.hours = e.hours


def checked_spec(time_zone: str, hours: Hours, years: dict[int, HolidayYear]) -> CalendarSpec:
    """A calendar version checked as `BusinessCalendar.define` checks one, without recording it
    (a what-if's calendar: docs/whatif.md). InvalidRule says what is wrong."""
    checked = {year: _check_year(year, entry) for year, entry in sorted(years.items())}
    return CalendarSpec.of(_check_zone(time_zone), _check_hours(hours), checked)
