"""Projections: rebuild from zero equals the live view; rows and position move together."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.main import main
from domain import commands as c
from domain.actors import Actor, Role
from domain.errors import DomainError
from infra.settings import Settings
from projections import PROJECTIONS, incident_details, open_work_by_group
from projections.base import Projection
from projections.runner import ProjectionRunner
from service.bootstrap import Services, build
from tests.conftest import Clock, context

AGENT = Actor(id="siti.rahma", role=Role.AGENT)

ACTIONS: list[c.IncidentCommand] = [
    c.Assign(group="kiosk-team"),
    c.Assign(group="network-team", agent="agus"),
    c.StartWork(),
    c.PutOnHold(reason="awaiting_supplier", note="vendor ticket 77"),
    c.Resume(),
    c.AddWorkNote(text="checked the cable"),
    c.AddComment(text="we are on it"),
    c.Reprioritise(impact="high", urgency="high", reason="whole branch"),
    c.Reprioritise(impact="low", urgency="low", reason="one kiosk"),
    c.Escalate(kind="functional", reason="network", to_group="network-team"),
    c.Escalate(kind="hierarchical", reason="budget", to_manager="kepala.upt"),
    c.DeclareMajor(manager="dewi.lestari", reason="all branches"),
    c.StandDownMajor(reason="contained"),
    c.ResolveIncident(code="fixed", notes="replaced"),
    c.Reopen(reason="again"),
    c.ConfirmResolution(),
    c.Close(),
    c.CancelIncident(reason="logged_in_error"),
]


def log(services: Services, n: int, **overrides: Any) -> Any:
    command = c.LogIncident(
        title=f"Incident {n}",
        service="kiosks-gates",
        caller="budi",
        impact="medium",
        urgency="medium",
        **overrides,
    )
    return services.desk.log_incident(context(AGENT, services.clock()), command).record_id


def drive(services: Services, script: list[tuple[int, int, int]], after_each: Any = None) -> None:
    """Log incidents and run (incident, action, minutes later) steps; rejected ones are skipped."""
    ids = [log(services, n) for n in range(3)]
    for which, action, minutes in script:
        services.clock.advance(minutes=minutes)  # type: ignore[attr-defined]
        with contextlib.suppress(DomainError):
            services.desk.handle(context(AGENT, services.clock()), ids[which], ACTIONS[action])
        if after_each:
            after_each()


def snapshot(services: Services) -> dict[str, dict[str, Any]]:
    return {p.name: services.views.rows(p) for p in PROJECTIONS}


def rebuild_all(services: Services) -> None:
    for projection in PROJECTIONS:
        services.views.reset(projection)
    ProjectionRunner(
        services.desk.recorder, services.desk.mapper, services.views, PROJECTIONS
    ).catch_up()


scripts = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, len(ACTIONS) - 1), st.integers(0, 60 * 24 * 3)),
    max_size=40,
)


#: Examples per backend: each builds a fresh store, which costs a new database on PostgreSQL.
EXAMPLES = {"sqlite": 25, "postgres": 8}


def test_rebuilt_projections_equal_incremental_ones(
    backend: str, make_settings: Callable[[], Settings]
) -> None:
    @settings(
        max_examples=EXAMPLES[backend], deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(script=scripts, batch_size=st.integers(1, 7))
    def rebuild_equals_incremental(script: list[tuple[int, int, int]], batch_size: int) -> None:
        services = build(make_settings(), clock=Clock())  # a fresh store for each example
        try:
            incremental = ProjectionRunner(
                services.desk.recorder,
                services.desk.mapper,
                services.views,
                PROJECTIONS,
                batch_size=batch_size,
            )

            def fold_and_check_the_written_rows() -> None:
                incremental.run_once()
                for projection in PROJECTIONS:  # as new as the view: a write may answer with them
                    for key, row in services.views.rows(projection).items():
                        assert incremental.written(projection, key) in (None, row)

            drive(services, script, after_each=fold_and_check_the_written_rows)
            incremental.catch_up()
            live = snapshot(services)
            rebuild_all(services)
            assert snapshot(services) == live
            assert len(live["incident_details"]) == 3
        finally:
            services.close()

    rebuild_equals_incremental()


def test_live_view_follows_commands_and_equals_a_rebuild(services: Services) -> None:
    drive(services, [(i % 3, (i * 7) % len(ACTIONS), 30) for i in range(60)])
    assert services.runner.wait_for(services.desk.recorder.max_notification_id(), 10)
    live = snapshot(services)
    services.runner.stop()
    rebuild_all(services)
    assert snapshot(services) == live


def test_a_failing_fold_commits_neither_rows_nor_position(services: Services) -> None:
    services.runner.stop()
    log(services, 1)
    before = services.views.positions()

    def broken(row: Any, event: Any) -> Any:
        raise RuntimeError("disk on fire")

    faulty = Projection(
        name=incident_details.name,
        version=incident_details.version,
        folds={**incident_details.folds, **dict.fromkeys(incident_details.folds, broken)},
        columns=incident_details.columns,
        indexes=incident_details.indexes,
    )
    runner = ProjectionRunner(
        services.desk.recorder, services.desk.mapper, services.views, [open_work_by_group, faulty]
    )
    with pytest.raises(RuntimeError, match="disk on fire"):
        runner.run_once()
    assert services.views.positions() == before
    assert services.views.rows(open_work_by_group) == {}


def test_a_following_runner_retries_a_failing_batch_and_never_moves_past_it(
    services: Services,
) -> None:
    services.runner.stop()
    log(services, 1)
    before = services.views.positions()
    head = services.desk.recorder.max_notification_id() or 0
    failing = threading.Event()
    failing.set()
    attempts: list[int] = []
    folds = incident_details.folds

    def fails_while_set(row: Any, event: Any) -> Any:
        if failing.is_set():
            attempts.append(1)
            raise RuntimeError("database is locked")
        return folds[type(event)](row, event)

    runner = ProjectionRunner(
        services.desk.recorder,
        services.desk.mapper,
        services.views,
        [open_work_by_group, with_fold(incident_details, fails_while_set)],
    )
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while len(attempts) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(attempts) >= 3, "the failing batch is tried again"
        assert services.views.positions() == before
        assert runner.position < head
        failing.clear()
        assert runner.wait_for(head, 10)
    finally:
        runner.stop()
    positions = services.views.positions()
    assert positions[incident_details.name] == positions[open_work_by_group.name] == head
    assert len(services.views.rows(incident_details)) == 1


def with_fold(projection: Projection, fold: Any) -> Projection:
    return dataclasses.replace(projection, folds=dict.fromkeys(projection.folds, fold))


def test_events_no_projection_folds_are_passed_over_to_the_head(services: Services) -> None:
    services.runner.stop()
    before = services.runner.position
    log(services, 1)  # Incident.Logged, then IncidentNumber.Allocated: the head is not folded
    head = services.desk.recorder.max_notification_id()
    runner = ProjectionRunner(
        services.desk.recorder, services.desk.mapper, services.views, PROJECTIONS
    )

    assert runner.catch_up() == head - before == 2
    assert runner.position == head
    assert set(services.views.positions().values()) == {head}
    assert runner.run_once() == 0  # nothing new: nothing read, nothing moved


def test_the_garbage_collector_is_paused_while_a_batch_folds_and_then_restored(
    services: Services,
) -> None:
    services.runner.stop()
    log(services, 1)
    seen: list[bool] = []

    def watching(row: Any, event: Any) -> Any:
        seen.append(gc.isenabled())
        return incident_details.fold(row, event)

    def broken(row: Any, event: Any) -> Any:
        raise RuntimeError("disk on fire")

    def runner(projection: Projection) -> ProjectionRunner:
        services.views.reset(projection)
        return ProjectionRunner(
            services.desk.recorder, services.desk.mapper, services.views, [projection]
        )

    assert gc.isenabled()
    runner(with_fold(incident_details, watching)).catch_up()
    assert seen == [False]
    assert gc.isenabled()
    with pytest.raises(RuntimeError, match="disk on fire"):
        runner(with_fold(incident_details, broken)).catch_up()
    assert gc.isenabled()
    gc.disable()  # turned off by someone else: it stays off
    try:
        runner(with_fold(incident_details, watching)).catch_up()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_new_fold_version_drops_the_stored_view_and_rebuilds_it(services: Services) -> None:
    log(services, 1)
    services.runner.wait_for(services.desk.recorder.max_notification_id(), 10)
    services.runner.stop()
    bumped = Projection(
        name=incident_details.name,
        version=incident_details.version + 1,
        folds=incident_details.folds,
        columns=incident_details.columns,
        indexes=incident_details.indexes,
    )
    runner = ProjectionRunner(
        services.desk.recorder, services.desk.mapper, services.views, [bumped]
    )
    assert services.views.positions()[bumped.name] == 0
    assert services.views.rows(bumped) == {}
    runner.catch_up()
    assert len(services.views.rows(bumped)) == 1


def test_the_rebuild_command_replays_a_projection_with_progress(settings: Settings) -> None:
    services = build(settings, clock=Clock())
    services.start()
    drive(services, [(i % 3, (i * 5) % len(ACTIONS), 45) for i in range(30)])
    services.runner.wait_for(services.desk.recorder.max_notification_id(), 10)
    live = snapshot(services)
    services.close()

    # The command finds the store as a deployment would: --data-dir, or ITSM_DATABASE_URL.
    data_dir = ["--data-dir", str(settings.data_dir)]
    env = {"ITSM_DATABASE_URL": settings.database_url or ""}
    cli = CliRunner(env=env)
    result = cli.invoke(main, ["projections", "rebuild", "incident_details", *data_dir])
    assert result.exit_code == 0, result.output
    assert "rebuilt incident_details" in result.output
    assert "events/s" in result.output

    reopened = build(settings, clock=Clock())
    assert snapshot(reopened) == live
    status = cli.invoke(main, ["projections", "status", *data_dir])
    assert status.exit_code == 0, status.output
    assert "incident_details" in status.output
    reopened.close()


def test_rebuilding_an_unknown_projection_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["projections", "rebuild", "nonesuch", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "incident_details" in result.output
