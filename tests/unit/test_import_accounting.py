"""Every row of an imported case is applied, approximated or refused, each counted with its reason,
and the source's own facts (priority, close, reopens, agent) are what the events record.

Given the rows of one UCI ServiceNow case / When they are replayed / Then these events, counts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.incident import (
    Closed,
    IncidentState,
    Logged,
    Reopened,
    Reprioritised,
    Resolved,
    WorkStarted,
)
from domain.priority import Impact, Urgency
from processes.import_mapping import shipped
from processes.importer import CaseReplay, ImportReport, SourceRow
from tests.unit.test_import_rows import BASE, MATRIX, UCI, replay, rows

ALL_STATES = [
    "New",
    "Active",
    "Awaiting User Info",
    "Awaiting Vendor",
    "Resolved",
    "Closed",
    "-100",
]


def at_day(row: SourceRow, day: int) -> SourceRow:
    """The row moved to a later day of March 2016 (same minute)."""
    return SourceRow(row.line, {**row.values, "sys_updated_at": f"{day}/3/2016 10:00"})


def accounted(report: ImportReport, read: int) -> None:
    applied = report.applied + report.approximated_rows + sum(report.skipped.values())
    assert applied == read


def test_the_sources_priority_is_recorded_not_recomputed_from_impact_and_urgency():
    # ServiceNow gives low x low "4 - Low"; our matrix would say 5
    low = {"impact": "3 - Low", "urgency": "3 - Low", "priority": "4 - Low"}
    _, events, _ = replay(rows(low))
    logged = events[0]
    assert isinstance(logged, Logged)
    assert (logged.impact, logged.urgency) == (Impact.LOW, Urgency.LOW)
    assert MATRIX.priority(Impact.LOW, Urgency.LOW) == 5
    assert logged.priority == 4


def test_a_reprioritisation_records_the_sources_new_priority():
    high = {"impact": "1 - High", "urgency": "2 - Medium", "priority": "2 - High"}
    low = {"impact": "3 - Low", "urgency": "2 - Medium", "priority": "4 - Low"}
    _, events, _ = replay(rows(high, low))
    change = [e for e in events if isinstance(e, Reprioritised)]
    assert [c.priority for c in change] == [4]


def test_an_impact_missing_from_the_mapping_is_counted_per_value_not_silently_medium():
    odd = {"impact": "0 - Cosmic", "urgency": "2 - Medium"}
    _, _, report = replay(rows(odd, {**odd, "incident_state": "Active"}, {}))
    assert report.unmapped == {"impact '0 - Cosmic'": 2}
    reason = "impact '0 - Cosmic' is not in the mapping: recorded as medium"
    assert report.approximated[reason] == 1
    assert report.approximated["impact '0 - Cosmic' is not in the mapping: left as it was"] == 1
    accounted(report, 3)


def test_with_refuse_unmapped_a_row_with_an_unmapped_value_is_refused_and_counted():
    source = rows({}, {"incident_state": "Active", "urgency": "9 - Whenever"}, {})
    report = ImportReport()
    incident = CaseReplay(UCI, MATRIX, report, refuse_unmapped=True).replay(
        "INC0000045", source, number=7, sla=lambda _: None
    )
    assert incident is not None
    assert report.skipped == {"urgency '9 - Whenever' is not in the mapping (refused by option)": 1}
    assert incident.state is IncidentState.ASSIGNED  # the Active row was refused
    accounted(report, 3)


def test_a_case_refused_whole_counts_every_row_with_the_reason():
    source = rows({"impact": "7"}, {"impact": "7"})
    report = ImportReport()
    incident = CaseReplay(UCI, MATRIX, report, refuse_unmapped=True).replay(
        "INC0000045", source, number=7, sla=lambda _: None
    )
    assert incident is None
    assert report.failed == {"no row left to replay (each is refused above)": 1}
    assert report.skipped == {"impact '7' is not in the mapping (refused by option)": 2}
    accounted(report, 2)


def test_a_case_reopened_after_a_closed_row_is_reopened_and_closed_at_its_last_closed_row():
    # INC0001894's shape: resolved, closed, reopened a month later, resolved, closed again
    source = rows(
        {},
        {"incident_state": "Active"},
        {"incident_state": "Resolved"},
        {"incident_state": "Closed"},
        {"incident_state": "Active"},
        {"incident_state": "Resolved"},
        {"incident_state": "Closed"},
    )
    source[3] = at_day(source[3], 5)
    for i in (4, 5, 6):
        source[i] = at_day(source[i], 20 + i)
    incident, events, report = replay(source)
    assert incident.state is IncidentState.CLOSED
    assert incident.reopen_count == 1
    assert len([e for e in events if isinstance(e, Reopened)]) == 1
    closes = [e for e in events if isinstance(e, Closed)]
    assert [c.timestamp.day for c in closes] == [26]
    assert report.approximated["a Closed row before the case's last one: left resolved"] == 1
    assert not report.skipped
    accounted(report, 7)


def test_of_several_closed_rows_the_last_is_the_close():
    source = rows({}, {"incident_state": "Resolved"}, {"incident_state": "Closed"}, {})
    source[2] = at_day(source[2], 10)
    source[3] = at_day(SourceRow(5, {**source[3].values, "incident_state": "Closed"}), 12)
    _incident, events, _ = replay(source)
    closes = [e for e in events if isinstance(e, Closed)]
    assert [c.timestamp.day for c in closes] == [12]


def test_a_row_after_the_last_closed_is_refused_with_its_reason_not_dropped():
    incident, _, report = replay(
        rows(
            {},
            {"incident_state": "Resolved"},
            {"incident_state": "Closed"},
            {"incident_state": "Active"},
        )
    )
    assert incident.state is IncidentState.CLOSED
    assert report.skipped == {
        "closed -> Active: not-representable (a closed incident is final here)": 1
    }
    accounted(report, 4)


def test_work_started_where_the_source_names_no_agent_does_not_make_the_updater_the_agent():
    incident, events, report = replay(rows({}, {"incident_state": "Active"}))
    started = events[-1]
    assert isinstance(started, WorkStarted)
    assert started.agent == "servicenow:unknown"
    assert started.actor.id == "servicenow:Updated by 1"
    assert incident.agent == "servicenow:unknown"
    reason = "work started with no agent in the source: agent servicenow:unknown"
    assert report.approximated[reason] == 1


def test_a_case_without_resolved_at_whose_first_row_is_resolved_says_it_resolves_at_0h():
    first = {"incident_state": "Resolved", "sys_updated_at": BASE["opened_at"], "resolved_at": "?"}
    _incident, _events, report = replay(rows(first))
    assert report.approximated["no resolved_at in the source: resolved at its first row (0 h)"] == 1


def test_a_resolved_at_other_than_the_row_where_the_state_became_resolved_is_counted():
    # the source's resolved_at follows its last update while resolved
    resolved = {"incident_state": "Resolved", "resolved_at": "29/2/2016 02:02"}
    _incident, events, report = replay(rows({}, resolved, resolved))
    assert [e.timestamp.minute for e in events if isinstance(e, Resolved)] == [1]
    reason = (
        "resolved_at in the source differs: resolved at the row where the state became resolved"
    )
    assert report.approximated[reason] == 1
    _incident, _events, report = replay(rows({}, {**resolved, "resolved_at": "29/2/2016 02:01"}))
    assert not report.approximated.keys() & {reason}


def test_a_case_left_open_by_its_last_row_is_counted_as_unfinished():
    _incident, _events, report = replay(rows({}, {"incident_state": "Awaiting User Info"}))
    assert report.unfinished == {IncidentState.ON_HOLD: 1}
    assert report.last_case == ("INC0000045", IncidentState.ON_HOLD)
    assert any("cut it off" in line for line in report.lines())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(ALL_STATES), st.integers(min_value=0, max_value=3)),
        min_size=1,
        max_size=12,
    )
)
def test_every_row_is_applied_approximated_or_refused_exactly_once(
    steps: list[tuple[str, int]],
) -> None:
    source = []
    day = 1
    for i, (state, gap) in enumerate(steps):
        day += gap * 3  # gaps of 0 to 9 days: inside and beyond the reopen window
        values = {
            **BASE,
            "incident_state": state,
            "sys_updated_by": f"Updated by {i}",
            "sys_updated_at": f"{day}/3/2016 10:{i:02d}",
            "sys_mod_count": str(i),
        }
        source.append(SourceRow(i + 2, values))
    report = ImportReport()
    CaseReplay(UCI, MATRIX, report).replay("INC0000045", source, number=7, sla=lambda _: None)
    accounted(report, len(source))


def test_new_after_a_resolution_is_a_counted_reopen_not_a_dropped_row():
    # INC0000137: New, Resolved, then New again before its Closed
    incident, _events, report = replay(
        rows({}, {"incident_state": "Resolved"}, {"incident_state": "New"})
    )
    assert incident.reopen_count == 1
    assert report.approximated["New after a resolution: recorded as a reopen"] == 1
    assert not report.skipped


def test_in_an_activity_log_without_an_agent_column_who_takes_it_in_charge_is_the_agent():
    helpdesk = shipped("helpdesk")
    source = [
        SourceRow(
            2 + i,
            {
                "Case ID": "Case 1",
                "Activity": activity,
                "Resource": f"Value {i}",
                "Complete Timestamp": f"2012/10/09 14:5{i}:00.000",
                "customer": "Value 1",
                "product": "Value 1",
                "service_type": "Value 1",
                "workgroup": "Value 1",
                "seriousness_2": "Value 1",
                "service_level": "Value 2",
            },
        )
        for i, activity in enumerate(["Assign seriousness", "Take in charge ticket"])
    ]
    report = ImportReport()
    incident = CaseReplay(helpdesk, MATRIX, report).replay(
        "Case 1", source, number=1, sla=lambda _: None
    )
    assert incident is not None
    assert incident.agent == "helpdesk-it:Value 1"
    assert report.approximated_rows == 0
