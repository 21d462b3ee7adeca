"""Auditing the views on both backends: every view rebuilt from the events in a scratch store
equals the served one, and an attacker's edit of a view table (a cell, an indexed column, a
deleted or an inserted row) is named exactly: the view, the row's key, the field, both values."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.seed import seed
from audit.views import Difference, ViewCheck, ViewsReport
from infra.settings import Settings
from projections import PROJECTIONS, incident_details, open_work_by_group
from projections.runner import ProjectionRunner
from service.bootstrap import Services, build
from tests.conftest import Clock, shared_service
from tests.integration.audit_tamper import Attacker
from tests.integration.conftest import serving
from tests.integration.test_audit_ledger import audit
from tests.integration.test_projections import drive, log, scripts
from tests.integration.test_reads import LIFECYCLES, make

#: Three incidents driven through a few steps: every incident view has rows to edit.
SCRIPT = [(0, 0, 5), (1, 2, 30), (2, 13, 60), (0, 5, 10), (1, 7, 20)]


@pytest.fixture
def served(make_settings: Callable[[], Settings], clock: Clock) -> Iterator[Services]:
    with closing(build(make_settings(), clock=clock)) as services:
        drive(services, SCRIPT)
        services.runner.catch_up()
        yield services


@pytest.fixture
def editor(served: Services) -> Iterator[Attacker]:
    with Attacker(served.settings) as attacker:
        yield attacker


def checked(services: Services) -> ViewsReport:
    return audit(services).audit_views(services.desk.recorder)


def view(report: ViewsReport, name: str) -> ViewCheck:
    return next(check for check in report.views if check.view == name)


def keys(services: Services) -> list[str]:
    return sorted(services.views.rows(incident_details))


def only_unmatched(report: ViewsReport) -> list[str]:
    return [check.view for check in report.views if not check.matched]


def test_an_untouched_service_matches_every_view_at_its_position(served: Services) -> None:
    report = checked(served)
    assert report.ok, report.as_json()
    assert [check.view for check in report.views] == [p.name for p in PROJECTIONS]
    head = served.desk.recorder.max_notification_id()
    assert {check.position for check in report.views} == {head}
    details = view(report, "incident_details")
    assert details.rows == details.rebuilt_rows == 3
    assert len(details.digest) == 64


def test_an_edited_cell_is_named_by_its_view_key_field_and_both_values(
    served: Services, editor: Attacker
) -> None:
    key = keys(served)[1]
    doc = editor.view_doc("incident_details", key)
    editor.set_view_doc("incident_details", key, {**doc, "title": "Nothing happened"})
    report = checked(served)
    assert only_unmatched(report) == ["incident_details"]
    details = view(report, "incident_details")
    assert details.first_difference == Difference(key, "title", "Nothing happened", doc["title"])
    assert details.differing_rows == 1
    assert details.only_served_count == details.only_rebuilt_count == 0


def test_an_edited_nested_field_is_named_by_its_path(served: Services, editor: Attacker) -> None:
    noted = [k for k in keys(served) if editor.view_doc("incident_details", k)["work_notes"]]
    key = noted[0]  # the incident the script added a work note to
    doc = editor.view_doc("incident_details", key)
    first = doc["work_notes"][0]
    doc["work_notes"][0] = {**first, "text": "nothing to see"}
    editor.set_view_doc("incident_details", key, doc)
    details = view(checked(served), "incident_details")
    assert details.first_difference == Difference(
        key, "work_notes[0].text", "nothing to see", first["text"]
    )


def test_an_edited_indexed_column_is_named_though_the_json_is_untouched(
    served: Services, editor: Attacker
) -> None:
    key = keys(served)[2]
    state = editor.sql_views("SELECT state FROM view_incident_details WHERE key = ?", (key,))[0][0]
    editor.sql_views("UPDATE view_incident_details SET state = ? WHERE key = ?", ("closed", key))
    details = view(checked(served), "incident_details")
    assert details.first_difference == Difference(key, "column state", "closed", state)


def test_a_deleted_row_is_named_as_only_in_the_rebuilt_view(
    served: Services, editor: Attacker
) -> None:
    key = keys(served)[0]
    editor.sql_views("DELETE FROM view_open_work_by_group WHERE key = ?", (key,))
    report = checked(served)
    assert only_unmatched(report) == ["open_work_by_group"]
    queue = view(report, "open_work_by_group")
    assert (queue.only_rebuilt, queue.only_rebuilt_count) == ([key], 1)
    assert queue.rows == queue.rebuilt_rows - 1
    assert queue.first_difference is None
    assert queue.only_served_count == 0


def test_an_inserted_row_is_named_as_only_in_the_served_view(
    served: Services, editor: Attacker
) -> None:
    key = keys(served)[0]
    doc = editor.view_doc("sla_clocks", key)
    forged = "ffffffff-0000-4000-8000-000000000000"
    editor.sql_views(
        "INSERT INTO view_sla_clocks (key, doc) VALUES (?, ?)",
        (forged, orjson.dumps({**doc, "id": forged})),
    )
    report = checked(served)
    assert only_unmatched(report) == ["sla_clocks"]
    clocks = view(report, "sla_clocks")
    assert (clocks.only_served, clocks.only_served_count) == ([forged], 1)
    assert clocks.rows == clocks.rebuilt_rows + 1


def test_views_that_lag_the_store_are_compared_at_their_own_positions(served: Services) -> None:
    before = served.desk.recorder.max_notification_id() or 0
    log(served, 7)  # the runner is not following: every view lags
    ProjectionRunner(
        served.desk.recorder, served.desk.mapper, served.views, [incident_details]
    ).catch_up()  # and one catches up alone
    log(served, 8)
    report = checked(served)
    assert report.ok, report.as_json()
    assert view(report, "open_work_by_group").position == before
    assert before < view(report, "incident_details").position
    assert view(report, "incident_details").rows == 4
    assert view(report, "open_work_by_group").rebuilt_rows == 3


def test_a_position_moved_past_the_head_is_reported(served: Services, editor: Attacker) -> None:
    head = served.desk.recorder.max_notification_id() or 0
    editor.sql_views(
        "UPDATE projection_positions SET position = ? WHERE name = ?",
        (head + 5, open_work_by_group.name),
    )
    queue = view(checked(served), "open_work_by_group")
    assert not queue.matched
    assert queue.problem is not None
    assert "past the event store's head" in queue.problem


def test_a_dropped_view_table_is_reported(served: Services, editor: Attacker) -> None:
    editor.sql_views("DROP TABLE view_change_calendar")
    report = checked(served)
    assert only_unmatched(report) == ["change_calendar"]
    assert view(report, "change_calendar").problem == "the view's table is missing"


#: Examples per backend: each builds a fresh store, which costs a new database on PostgreSQL.
EXAMPLES = {"sqlite": 10, "postgres": 4}


def test_over_random_lifecycles_the_rebuilt_views_equal_the_served_ones(
    backend: str, make_settings: Callable[[], Settings]
) -> None:
    @settings(
        max_examples=EXAMPLES[backend], deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(script=scripts, fold_every=st.integers(1, 6))
    def rebuilt_equals_served(script: list[tuple[int, int, int]], fold_every: int) -> None:
        services = build(make_settings(), clock=Clock())
        try:
            steps = iter(range(len(script) + 1))

            def fold_now_and_then() -> None:  # the served views fold in the runner's own steps
                if next(steps) % fold_every == 0:
                    services.runner.run_once()

            drive(services, script, after_each=fold_now_and_then)
            report = checked(services)
            assert report.ok, report.as_json()
        finally:
            services.close()

    rebuilt_equals_served()


def test_every_kinds_views_match_and_an_edit_of_any_of_them_is_named(
    backend: str, request: pytest.FixtureRequest, clock: Clock
) -> None:
    with shared_service(backend, request, clock) as services, serving(services) as api:
        seed(services.desk)
        for kind in LIFECYCLES.values():  # a record of each kind, made and changed over HTTP
            make(api, clock, kind)
        assert services.runner.wait_for(services.desk.recorder.max_notification_id() or 0, 10)
        report = checked(services)
        assert report.ok, report.as_json()
        filled = {check.view: check.rows for check in report.views if check.rows}
        assert {"incident_details", "change_details", "problem_details"} <= set(filled)
        assert {"service_request_details", "catalogue_items", "sla_clocks"} <= set(filled)
        with Attacker(services.settings) as attacker:
            for name in filled:
                key = attacker.sql_views(f"SELECT key FROM view_{name} ORDER BY key LIMIT 1")[0][0]
                forged = {**attacker.view_doc(name, key), "zz_forged": True}
                attacker.set_view_doc(name, key, forged)
                edited = view(checked(services), name)
                assert edited.first_difference == Difference(key, "zz_forged", True, None)
        assert sorted(checked(services).as_json()["not_matched"]) == sorted(filled)
