"""The SLA watcher's alerts on an incident, Given (events) / When (record_sla_alerts) / Then.

The clock (domain/sla_clock.py) says which warnings and breaches have happened; the incident
records each (target, level) once, in time order, and only once its moment has come.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given as for_all
from hypothesis import strategies as st

from domain.errors import SlaAlertNotDue, SlaAlertsAlreadyRecorded
from domain.events import DomainEvent
from domain.incident import BREACH, SlaAlert, SlaBreached, SlaWarned
from domain.rule_versions import SlaTarget
from tests.conftest import T0, context
from tests.unit.test_incident_rules import CLOSED, LOGGED, given, state_of

NOW = T0 + timedelta(hours=4)
RESPONSE_WARNING = SlaAlert(target=SlaTarget.RESPONSE, level=75, at=T0 + timedelta(hours=1))
RESPONSE_BREACH = SlaAlert(target=SlaTarget.RESPONSE, level=BREACH, at=T0 + timedelta(hours=2))
RESOLUTION_WARNING = SlaAlert(target=SlaTarget.RESOLUTION, level=50, at=T0 + timedelta(hours=3))


def alert_of(event: DomainEvent) -> tuple[type, SlaTarget, int, datetime]:
    """What an alert event records: (event type, target, level, the moment it happened)."""
    if isinstance(event, SlaBreached):
        return SlaBreached, event.target, BREACH, event.breached_at
    assert isinstance(event, SlaWarned), event.type_name
    return SlaWarned, event.target, event.threshold, event.passed_at


def test_a_warning_and_a_breach_are_recorded_as_such_with_their_moments() -> None:
    incident = given(*LOGGED)
    ctx = context(at=NOW)

    incident.record_sla_alerts(ctx, [RESPONSE_WARNING, RESPONSE_BREACH])

    events = incident.collect_events()
    assert [type(e) for e in events] == [SlaWarned, SlaBreached]
    warned, breached = events
    assert isinstance(warned, SlaWarned)
    assert isinstance(breached, SlaBreached)
    assert (warned.target, warned.threshold, warned.passed_at) == (
        SlaTarget.RESPONSE,
        75,
        RESPONSE_WARNING.at,
    )
    assert (breached.target, breached.breached_at) == (SlaTarget.RESPONSE, RESPONSE_BREACH.at)
    # the envelope is the command's: who recorded it and when, at the next versions
    assert [e.originator_version for e in events] == [2, 3]
    assert all(
        (e.actor, e.timestamp, e.correlation_id) == (ctx.actor, ctx.at, ctx.correlation_id)
        for e in events
    )
    assert all(e.originator_id == incident.id for e in events)
    assert incident.version == 3
    assert incident.sla_alerts == {(SlaTarget.RESPONSE, 75), (SlaTarget.RESPONSE, BREACH)}


def test_alerts_are_recorded_in_the_order_they_happened_whatever_order_they_come_in() -> None:
    incident = given(*LOGGED)

    incident.record_sla_alerts(
        context(at=NOW), [RESOLUTION_WARNING, RESPONSE_BREACH, RESPONSE_WARNING]
    )

    assert [alert_of(e) for e in incident.collect_events()] == [
        (SlaWarned, SlaTarget.RESPONSE, 75, RESPONSE_WARNING.at),
        (SlaBreached, SlaTarget.RESPONSE, BREACH, RESPONSE_BREACH.at),
        (SlaWarned, SlaTarget.RESOLUTION, 50, RESOLUTION_WARNING.at),
    ]


def test_alerts_at_the_same_moment_are_ordered_by_target_then_level() -> None:
    at = T0 + timedelta(hours=1)
    alerts = [
        SlaAlert(target=SlaTarget.RESPONSE, level=BREACH, at=at),
        SlaAlert(target=SlaTarget.RESPONSE, level=75, at=at),
        SlaAlert(target=SlaTarget.RESOLUTION, level=50, at=at),
    ]
    incident = given(*LOGGED)

    incident.record_sla_alerts(context(at=NOW), alerts)

    assert [alert_of(e)[1:3] for e in incident.collect_events()] == [
        (SlaTarget.RESOLUTION, 50),
        (SlaTarget.RESPONSE, 75),
        (SlaTarget.RESPONSE, BREACH),
    ]


def test_an_alert_due_exactly_now_is_recorded() -> None:
    incident = given(*LOGGED)

    incident.record_sla_alerts(context(at=RESPONSE_BREACH.at), [RESPONSE_BREACH])

    assert [type(e) for e in incident.collect_events()] == [SlaBreached]


@pytest.mark.parametrize("early", [timedelta(seconds=1), timedelta(hours=1)])
def test_an_alert_not_due_yet_is_refused_and_nothing_is_recorded(early: timedelta) -> None:
    incident = given(*LOGGED)
    before = state_of(incident)

    with pytest.raises(SlaAlertNotDue):
        # one alert due, one not: the whole command is refused
        incident.record_sla_alerts(
            context(at=RESPONSE_BREACH.at - early), [RESPONSE_WARNING, RESPONSE_BREACH]
        )

    assert incident.collect_events() == []
    assert state_of(incident) == before


def test_an_alert_is_recorded_once_a_second_watcher_records_only_what_is_new() -> None:
    incident = given(*LOGGED)
    incident.record_sla_alerts(context(at=NOW), [RESPONSE_WARNING])
    incident.collect_events()

    incident.record_sla_alerts(context(at=NOW), [RESPONSE_WARNING, RESPONSE_BREACH])

    assert [type(e) for e in incident.collect_events()] == [SlaBreached]


def test_alerts_all_on_the_record_are_refused_as_already_recorded() -> None:
    incident = given(*LOGGED)
    incident.record_sla_alerts(context(at=NOW), [RESPONSE_WARNING, RESPONSE_BREACH])
    incident.collect_events()
    before = state_of(incident)

    with pytest.raises(SlaAlertsAlreadyRecorded):
        incident.record_sla_alerts(context(at=NOW), [RESPONSE_BREACH, RESPONSE_WARNING])

    assert incident.collect_events() == []
    assert state_of(incident) == before


def test_no_alerts_at_all_are_refused_as_already_recorded() -> None:
    incident = given(*LOGGED)

    with pytest.raises(SlaAlertsAlreadyRecorded):
        incident.record_sla_alerts(context(at=NOW), [])


def test_the_same_alert_twice_in_one_command_is_recorded_once_at_its_first_moment() -> None:
    first = RESPONSE_WARNING
    again = first.model_copy(update={"at": first.at + timedelta(minutes=5)})
    incident = given(*LOGGED)

    incident.record_sla_alerts(context(at=NOW), [again, first])

    [event] = incident.collect_events()
    assert isinstance(event, SlaWarned)
    assert event.passed_at == first.at


def test_alerts_are_facts_about_time_recorded_even_on_a_closed_incident() -> None:
    incident = given(*CLOSED)
    state = incident.state

    incident.record_sla_alerts(context(at=NOW), [RESOLUTION_WARNING])

    assert [type(e) for e in incident.collect_events()] == [SlaWarned]
    assert incident.state is state


alerts = st.builds(
    SlaAlert,
    target=st.sampled_from(list(SlaTarget)),
    level=st.sampled_from([50, 75, 90, BREACH]),
    at=st.integers(0, 240).map(lambda minutes: T0 + timedelta(minutes=minutes)),
)


@for_all(batches=st.lists(st.lists(alerts, max_size=6), min_size=1, max_size=4))
def test_every_target_and_level_is_recorded_exactly_once_however_often_it_is_sent(
    batches: list[list[SlaAlert]],
) -> None:
    incident = given(*LOGGED)
    on_record: list[tuple[SlaTarget, int]] = []
    for batch in batches:
        new = {(a.target, a.level) for a in batch} - set(on_record)
        if not new:
            with pytest.raises(SlaAlertsAlreadyRecorded):
                incident.record_sla_alerts(context(at=NOW), batch)
            continue
        incident.record_sla_alerts(context(at=NOW), batch)
        events = incident.collect_events()
        keys = [alert_of(e)[1:3] for e in events]
        assert sorted(keys) == sorted(new)
        on_record += keys
    assert incident.sla_alerts == set(on_record)
    assert len(on_record) == len(set(on_record))
