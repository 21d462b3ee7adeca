"""How rows of the UCI ServiceNow log become incident events (import_mappings/servicenow.toml).

Given the rows of one case / When they are replayed / Then these events, or this count of what
could not be represented."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.actors import Role
from domain.incident import (
    Assigned,
    ClosureBasis,
    HoldReason,
    Incident,
    IncidentState,
    Logged,
    PutOnHold,
    Reopened,
    Reprioritised,
    Resolved,
    WorkStarted,
)
from domain.priority import DEFAULT_CELLS, Impact, PriorityMatrix, Urgency
from processes.import_mapping import shipped
from processes.importer import CaseReplay, ImportReport, SourceRow, incident_id, source_correlation
from tests.conftest import AGENT, context

UCI = shipped("servicenow")
MATRIX = PriorityMatrix.define(context(AGENT), DEFAULT_CELLS)
BASE = {
    "number": "INC0000045",
    "caller_id": "Caller 2403",
    "opened_by": "Opened by  8",
    "opened_at": "29/2/2016 01:16",
    "contact_type": "Phone",
    "location": "Location 143",
    "category": "Category 55",
    "subcategory": "Subcategory 170",
    "u_symptom": "Symptom 72",
    "cmdb_ci": "?",
    "impact": "2 - Medium",
    "urgency": "2 - Medium",
    "assignment_group": "Group 56",
    "assigned_to": "?",
    "closed_code": "code 5",
    "resolved_by": "Resolved by 149",
    "resolved_at": "29/2/2016 11:29",
}


def rows(*changes: dict[str, str]) -> list[SourceRow]:
    """One row per change, each an update a minute later than the one before."""
    out = []
    for i, change in enumerate(changes):
        values = {
            **BASE,
            "incident_state": "New",
            "sys_updated_by": f"Updated by {i}",
            "sys_updated_at": f"29/2/2016 02:{i:02d}",
            "sys_mod_count": str(i),
            **change,
        }
        out.append(SourceRow(line=i + 2, values=values))
    return out


def replay(source: list[SourceRow]) -> tuple[Incident, list[object], ImportReport]:
    report = ImportReport()
    incident = CaseReplay(UCI, MATRIX, report).replay(
        "INC0000045", source, number=7, sla=lambda _: None
    )
    assert incident is not None
    return incident, list(incident.collect_events()), report


def test_the_first_row_logs_the_incident_at_opened_at_by_its_opener_with_the_source():
    _incident, events, _ = replay(rows({}))
    logged = events[0]
    assert isinstance(logged, Logged)
    assert logged.timestamp == datetime(2016, 2, 29, 1, 16, tzinfo=UTC)
    assert logged.actor.id == "servicenow:Opened by  8"
    assert logged.actor.role is Role.AGENT
    assert logged.caller == "servicenow:Caller 2403"
    assert logged.title == "INC0000045: Category 55 / Subcategory 170 / Symptom 72"
    assert logged.service == "Category 55"
    assert logged.configuration_item is None
    assert (logged.impact, logged.urgency) == (Impact.MEDIUM, Urgency.MEDIUM)
    assert logged.source is not None
    assert (logged.source.case, logged.source.line) == (
        "INC0000045",
        2,
    )
    assert logged.originator_id == incident_id("servicenow", "INC0000045")
    assert logged.number == 7


def test_control_characters_in_a_foreign_row_are_dropped_not_imported():
    _incident, events, report = replay(
        rows(
            {"caller_id": "Caller\x00 2403", "opened_by": "Opened\x1b by  8", "category": "Cat\x07"}
        )
    )
    logged = events[0]
    assert isinstance(logged, Logged)
    assert logged.caller == "servicenow:Caller 2403"
    assert logged.actor.id == "servicenow:Opened by  8"
    assert logged.title.startswith("INC0000045: Cat / ")
    assert not report.failed


def test_new_with_a_group_assigns_it_at_the_rows_time_by_the_updater():
    incident, events, _ = replay(rows({"incident_state": "New"}))
    assigned = events[1]
    assert isinstance(assigned, Assigned)
    assert assigned.group == "Group 56"
    assert assigned.actor.id == "servicenow:Updated by 0"
    assert assigned.timestamp == datetime(2016, 2, 29, 2, 0, tzinfo=UTC)
    assert assigned.correlation_id == source_correlation("servicenow", "INC0000045", 2)
    assert incident.state is IncidentState.ASSIGNED


def test_active_starts_work_with_the_assigned_agent():
    incident, events, _ = replay(
        rows({}, {"incident_state": "Active", "assigned_to": "Resolver 89"})
    )
    assert isinstance(events[-1], WorkStarted)
    assert events[-1].agent == "servicenow:Resolver 89"
    assert incident.state is IncidentState.IN_PROGRESS


def test_each_awaiting_state_is_a_hold_with_its_reason():
    expected = {
        "Awaiting User Info": HoldReason.AWAITING_CALLER,
        "Awaiting Evidence": HoldReason.AWAITING_CALLER,
        "Awaiting Vendor": HoldReason.AWAITING_SUPPLIER,
        "Awaiting Problem": HoldReason.AWAITING_CHANGE,
    }
    for state, reason in expected.items():
        incident, events, _ = replay(
            rows({}, {"incident_state": "Active"}, {"incident_state": state})
        )
        hold = events[-1]
        assert isinstance(hold, PutOnHold), state
        assert hold.reason is reason, state
        assert incident.state is IncidentState.ON_HOLD


def test_resolved_records_the_resolution_with_the_closed_code_and_resolver():
    incident, events, _ = replay(rows({}, {"incident_state": "Resolved"}))
    resolved = events[-1]
    assert isinstance(resolved, Resolved)
    assert "Resolved by 149" in resolved.notes
    assert "code 5" in resolved.notes
    assert incident.state is IncidentState.RESOLVED


def test_closed_after_the_reopen_window_is_closed_as_the_window_elapsed():
    incident, events, report = replay(
        [
            *rows({}, {"incident_state": "Resolved"}, {"incident_state": "Closed"})[:2],
            SourceRow(
                9,
                {
                    **rows({})[0].values,
                    "incident_state": "Closed",
                    "sys_updated_at": "5/3/2016 12:00",
                    "sys_mod_count": "9",
                },
            ),
        ]
    )
    assert incident.state is IncidentState.CLOSED
    assert events[-1].basis is ClosureBasis.WINDOW_ELAPSED  # type: ignore[attr-defined]
    assert not any("closed" in reason for reason in report.approximated)


def test_closed_inside_the_reopen_window_is_counted_as_an_approximation():
    _incident, events, report = replay(
        rows({}, {"incident_state": "Resolved"}, {"incident_state": "Closed"})
    )
    assert events[-1].basis is ClosureBasis.CONFIRMED_BY_CALLER  # type: ignore[attr-defined]
    assert (
        report.approximated["closed inside the reopen window: recorded as confirmed by the caller"]
        == 1
    )


def test_active_after_resolved_within_the_window_reopens():
    incident, events, _ = replay(
        rows({}, {"incident_state": "Resolved"}, {"incident_state": "Active"})
    )
    assert any(isinstance(e, Reopened) for e in events)
    assert incident.state is IncidentState.IN_PROGRESS
    assert incident.reopen_count == 1


def test_a_reopen_after_our_window_is_applied_with_the_window_widened_and_counted():
    late = rows({}, {"incident_state": "Resolved"})
    late.append(
        SourceRow(
            9,
            {
                **late[0].values,
                "incident_state": "Active",
                "sys_updated_at": "20/3/2016 09:00",
                "sys_mod_count": "9",
            },
        )
    )
    incident, _, report = replay(late)
    assert incident.state is IncidentState.IN_PROGRESS
    assert incident.reopen_count == 1
    assert not report.skipped
    assert report.approximated["reopened after our reopen window: the window widened to it"] == 1


def test_a_state_the_mapping_does_not_know_is_skipped_and_counted():
    incident, _, report = replay(rows({}, {"incident_state": "-100"}))
    assert incident.state is IncidentState.ASSIGNED
    assert report.skipped == {"incident_state '-100' is not in the mapping's states": 1}


def test_a_change_of_impact_or_urgency_reprioritises_by_the_matrix():
    _, events, _ = replay(rows({}, {"urgency": "1 - High", "impact": "1 - High"}))
    change = events[-1]
    assert isinstance(change, Reprioritised)
    assert change.priority == MATRIX.priority(Impact.HIGH, Urgency.HIGH)


def test_a_change_of_group_reassigns():
    incident, events, _ = replay(rows({}, {"assignment_group": "Group 70"}))
    assert isinstance(events[-1], Assigned)
    assert incident.group == "Group 70"


def test_the_channel_follows_contact_type():
    _, events, _ = replay(rows({"contact_type": "Self service"}))
    assert events[0].channel == "portal"  # type: ignore[attr-defined]


@settings(max_examples=30, deadline=None)
@given(st.randoms(use_true_random=False))
def test_rows_are_replayed_in_time_then_update_count_order_whatever_the_file_order(
    shuffle: random.Random,
) -> None:
    source = rows(
        {},
        {"incident_state": "Active", "assigned_to": "Resolver 89"},
        {"incident_state": "Awaiting User Info"},
        {"incident_state": "Active"},
        {"incident_state": "Resolved"},
        {"incident_state": "Closed"},
    )
    # two updates in the same minute: the update counter orders them
    source[3] = SourceRow(source[3].line, {**source[3].values, "sys_updated_at": "29/2/2016 02:02"})
    _, in_order, _ = replay(source)
    shuffled = list(source)
    shuffle.shuffle(shuffled)
    _, replayed, _ = replay(shuffled)
    assert replayed == in_order
