"""The rules of service reports, Given / When / Then: periods in the office's time, the first
working day that issues a month's reports, an issued report kept once with its decisions, and the
reports' reading of stored events saying what the SLA adapters say (hypothesis, every event type).
The figures themselves are checked against the raw events in
tests/integration/test_service_reports.py."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import incident as i
from domain import service_request as r
from domain.actors import Actor, Role
from domain.calendar import OFFICE_HOURS, CalendarSpec, shipped_holidays
from domain.errors import RecordAlreadyExists
from domain.improvement import Improvement
from domain.issued_report import (
    DecisionRecorded,
    ImprovementNotFound,
    IssuedReport,
    IssueReport,
    RecordDecision,
    issued_report_id,
)
from domain.sla_incident import marks_of as incident_marks
from domain.sla_request import MARKED as REQUEST_MARKED
from domain.sla_request import marks_of as request_marks
from infra.serialisation import encode
from processes.reports import catalogue
from processes.reports.figures import Period, nearest_rank
from processes.reports.history import History, apply
from processes.reports.issue import due_month, first_working_day
from tests.conftest import T0, context
from tests.fake_session import FakeSession
from tests.strategies import STRATEGIES

MANAGER = Actor(id="dewi.lestari", role=Role.SERVICE_MANAGER)
OFFICE = CalendarSpec.of("Asia/Jakarta", OFFICE_HOURS, shipped_holidays())
MADE: dict[str, Any] = {
    "report": "incidents",
    "period": {"from": "2026-03-01", "to": "2026-03-31"},
    "position": 120,
    "digest": "ab" * 32,
    "total": {"logged": 7},
}


# -- periods ---------------------------------------------------------------------------------------


def test_a_month_runs_from_midnight_wib_on_its_first_day_to_midnight_after_its_last() -> None:
    march = Period.month(2026, 3)
    assert (march.first, march.last) == (date(2026, 3, 1), date(2026, 3, 31))
    assert march.start == datetime(2026, 2, 28, 17, 0, tzinfo=UTC)
    assert march.end == datetime(2026, 3, 31, 17, 0, tzinfo=UTC)
    assert march.holds(march.start)
    assert not march.holds(march.end)
    assert Period.month(2026, 12).last == date(2026, 12, 31)


def test_a_period_is_cut_into_the_months_it_touches() -> None:
    months = Period(date(2025, 12, 20), date(2026, 2, 10)).months()
    assert [(m.first, m.last) for m in months] == [
        (date(2025, 12, 20), date(2025, 12, 31)),
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 10)),
    ]
    assert [m.label for m in months] == ["2025-12", "2026-01", "2026-02"]


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="ends"):
        Period(date(2026, 3, 2), date(2026, 3, 1))


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=50))
def test_a_percentile_is_a_value_of_the_data_at_or_above_that_share(values: list[float]) -> None:
    p90 = nearest_rank(values, 90)
    assert p90 in values
    assert sum(v <= p90 for v in values) >= 0.9 * len(values)


# -- when a month's reports are due ----------------------------------------------------------------


def test_the_reports_are_due_from_the_first_working_day_of_the_next_month() -> None:
    # May 2026: Friday the 1st is Labour Day, then a weekend; Monday the 4th is the first
    assert first_working_day(OFFICE, 2026, 5) == date(2026, 5, 4)
    assert due_month(OFFICE, date(2026, 5, 3)) is None
    assert due_month(OFFICE, date(2026, 5, 4)) == "2026-04"
    assert due_month(OFFICE, date(2026, 5, 20)) == "2026-04"  # a schedule that was down
    assert due_month(OFFICE, date(2027, 1, 4)) == "2026-12"


def test_a_holiday_added_to_the_calendar_moves_the_day() -> None:
    calendar = CalendarSpec(
        time_zone="Asia/Jakarta", hours=OFFICE.hours, holidays=OFFICE.holidays | {date(2026, 5, 4)}
    )
    assert first_working_day(calendar, 2026, 5) == date(2026, 5, 5)
    assert due_month(calendar, date(2026, 5, 4)) is None


# -- an issued report ------------------------------------------------------------------------------


def issued() -> tuple[FakeSession, IssuedReport]:
    session = FakeSession()
    IssueReport(report="incidents", month="2026-03").decide(
        session,  # type: ignore[arg-type]
        context(MANAGER, T0),
        MADE,
        "request",
    )
    (report,) = session.added
    assert isinstance(report, IssuedReport)
    return session, report


def test_issuing_keeps_the_report_whole_with_its_position_and_digest() -> None:
    _, report = issued()
    (event,) = report.collect_events()
    assert report.id == issued_report_id("2026-03-incidents")
    assert (event.code, event.position, event.digest, event.trigger) == (
        "2026-03-incidents",
        120,
        "ab" * 32,
        "request",
    )
    assert event.body == MADE
    assert (event.period_from, event.period_to) == (date(2026, 3, 1), date(2026, 3, 31))


def test_a_report_and_month_are_issued_once() -> None:
    session, _ = issued()
    with pytest.raises(RecordAlreadyExists):
        IssueReport(report="incidents", month="2026-03").decide(
            session,  # type: ignore[arg-type]
            context(MANAGER, T0),
            MADE,
            "schedule",
        )
    assert len(session.added) == 1


def test_a_decision_is_recorded_with_its_actions_and_improvement() -> None:
    session, report = issued()
    report.collect_events()
    improvement = Improvement.__new__(Improvement)
    improvement.id = uuid4()
    session.records[improvement.id] = improvement  # type: ignore[assignment]
    RecordDecision(
        decision="Review the circulation rota", actions=["Two on call"], improvement="IMP-000001"
    ).decide(session, context(MANAGER, T0), report.id, improvement.id)  # type: ignore[arg-type]
    (event,) = report.collect_events()
    assert isinstance(event, DecisionRecorded)
    assert (event.decision, event.actions, event.improvement) == (
        "Review the circulation rota",
        ["Two on call"],
        "IMP-000001",
    )
    assert event.actor == MANAGER


def test_a_decision_naming_an_improvement_there_is_none_of_is_refused() -> None:
    session, report = issued()
    report.collect_events()
    with pytest.raises(ImprovementNotFound):
        RecordDecision(decision="x", improvement="IMP-000009").decide(
            session,  # type: ignore[arg-type]
            context(MANAGER, T0),
            report.id,
            None,
        )
    assert report.collect_events() == []


# -- the catalogue ---------------------------------------------------------------------------------


def test_every_report_defines_each_figure_it_charts_in_both_languages() -> None:
    for definition in catalogue().values():
        assert set(definition.trend) | {definition.headline} <= set(definition.measures)
        for measure in definition.measures.values():
            assert measure.id
            assert measure.en
            assert measure.id != measure.en


# -- the reading says what the SLA adapters say ----------------------------------------------------


def _read(events: list[Any]) -> list[Any]:
    history = History(datetime.max.replace(tzinfo=UTC), 0)
    key = events[0].originator_id
    for event in events:
        apply(history, event.type_name, key, orjson.loads(encode(event)))
    found = history.incidents.get(key) or history.requests.get(key)
    assert found is not None
    return found.marks


@given(data=st.data())
@pytest.mark.parametrize("event_type", sorted(REQUEST_MARKED, key=lambda t: t.type_name))
def test_a_requests_marks_read_from_stored_json_are_its_clocks(
    data: st.DataObject, event_type: type[r.RequestEvent]
) -> None:
    opened = data.draw(STRATEGIES[r.Submitted])
    event = data.draw(STRATEGIES[event_type]).model_copy(
        update={"originator_id": opened.originator_id}
    )
    expected = [
        *request_marks(opened),
        *([] if event_type is r.Submitted else request_marks(event)),
    ]
    chain = [opened] if event_type is r.Submitted else [opened, event]
    assert _read(chain) == expected


@given(data=st.data())
def test_an_incidents_marks_and_rating_read_from_stored_json(data: st.DataObject) -> None:
    logged = data.draw(STRATEGIES[i.Logged])
    rated = data.draw(STRATEGIES[i.Rated]).model_copy(
        update={"originator_id": logged.originator_id}
    )
    history = History(datetime.max.replace(tzinfo=UTC), 0)
    for event in (logged, rated):
        apply(history, event.type_name, logged.originator_id, orjson.loads(encode(event)))
    incident = history.incidents[logged.originator_id]
    assert incident.marks == list(incident_marks(logged))
    assert incident.rated == (rated.timestamp, rated.score)
    assert incident.logged_at == logged.timestamp
