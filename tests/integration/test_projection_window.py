"""The runner folds a backlog in batches but commits once per window (`commit_every`), keeping
the rows in memory between batches; a view at position 0 has no rows, so a rebuild reads none
back. Whatever the batch and window, a rebuilt view equals the live one."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import commands as c
from infra.settings import Settings
from projections import PROJECTIONS
from projections.base import Projection, Row
from projections.incident_details import incident_details
from projections.runner import ProjectionRunner
from projections.store import SQLiteViewStore
from projections.view_store import ViewStore, ViewTransaction
from service.bootstrap import Services, build
from tests.conftest import Clock, context
from tests.directory_helpers import hold
from tests.integration.test_projections import AGENT, EXAMPLES, drive, log, scripts, snapshot


class Counting:
    """The real view store, counting the transactions that moved positions and the rows loaded
    back."""

    def __init__(self, store: ViewStore) -> None:
        self.store = store
        self.commits = 0
        self.loaded: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[ViewTransaction]:
        with self.store.transaction() as tx:
            counted = CountingTransaction(tx, self)
            yield counted
        self.commits += counted.moved


class CountingTransaction:
    def __init__(self, tx: ViewTransaction, counting: Counting) -> None:
        self.tx = tx
        self.counting = counting
        self.moved = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tx, name)

    def load(self, projection: Projection, keys: Iterable[str]) -> dict[str, Row]:
        wanted = list(keys)
        self.counting.loaded.extend(wanted)
        return self.tx.load(projection, wanted)

    def set_position(self, projection: Projection, position: int) -> None:
        self.moved = True
        self.tx.set_position(projection, position)


#: The group (and its agent) `work` assigns to: two events in the store before the incidents'.
KIOSK_TEAM = {"kiosk-team": ["agus"]}


@pytest.fixture
def kiosk_team(services: Services) -> None:
    hold(services, KIOSK_TEAM, people=())


def work(services: Services, incidents: int) -> None:
    """Each incident logged, assigned, started and noted: four events the views fold (and an
    incident number they do not), one after another."""
    for n in range(incidents):
        record = log(services, n)
        for command in (
            c.Assign(group="kiosk-team", agent="agus"),
            c.StartWork(),
            c.AddWorkNote(text="checked the cable"),
        ):
            services.desk.handle(context(AGENT, services.clock()), record, command)


def caught_up(services: Services) -> dict[str, dict[str, Any]]:
    """The live views once the service's runner has folded everything, and stopped."""
    services.runner.stop()
    services.runner.catch_up()
    return snapshot(services)


def rebuild(services: Services, **options: int) -> tuple[Counting, ProjectionRunner]:
    for projection in PROJECTIONS:
        services.views.reset(projection)
    counting = Counting(services.views)
    runner = ProjectionRunner(
        services.desk.recorder, services.desk.mapper, counting, PROJECTIONS, **options
    )
    counting.commits = 0  # those of setting the views up
    runner.catch_up()
    return counting, runner


@pytest.mark.usefixtures("kiosk_team")
def test_a_backlog_is_committed_once_per_window_not_once_per_batch(services: Services) -> None:
    work(services, 10)
    live = caught_up(services)

    counting, runner = rebuild(services, batch_size=2, commit_every=10)

    # 42 events (the directory's 2, the incidents' 40) read 2 at a time, committed 10 at a time
    assert counting.commits == 5
    assert snapshot(services) == live
    assert runner.position == services.desk.recorder.max_notification_id()


@pytest.mark.usefixtures("kiosk_team")
def test_a_rebuild_reads_back_no_row_of_a_view_at_position_0(services: Services) -> None:
    work(services, 5)
    live = caught_up(services)

    counting, _ = rebuild(services, batch_size=3)  # one window: every row is made in memory

    assert counting.loaded == []
    assert snapshot(services) == live


@pytest.mark.usefixtures("kiosk_team")
def test_a_view_past_position_0_reads_back_the_rows_a_window_did_not_make(
    services: Services,
) -> None:
    work(services, 4)
    live = caught_up(services)

    # a window and a half of an incident: the second window goes on with rows the first wrote
    counting, _ = rebuild(services, batch_size=2, commit_every=6)

    assert counting.loaded
    assert snapshot(services) == live


def test_a_rebuild_in_any_batches_and_windows_equals_the_live_view(
    backend: str, make_settings: Callable[[], Settings]
) -> None:
    @settings(
        max_examples=EXAMPLES[backend], deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(script=scripts, batch_size=st.integers(1, 7), commit_every=st.integers(1, 20))
    def rebuilt_equals_live(
        script: list[tuple[int, int, int]], batch_size: int, commit_every: int
    ) -> None:
        services = build(make_settings(), clock=Clock())  # a fresh store for each example
        try:
            drive(services, script)
            services.runner.catch_up()
            live = snapshot(services)
            rebuild(services, batch_size=batch_size, commit_every=commit_every)
            assert snapshot(services) == live
        finally:
            services.close()

    rebuilt_equals_live()


def test_a_rebuild_makes_each_index_of_a_view_once_its_rows_are_in(tmp_path: Path) -> None:
    services = build(Settings(data_dir=tmp_path / "var"), clock=Clock())
    try:
        hold(services, KIOSK_TEAM, people=())
        work(services, 3)
        live = caught_up(services)
        views = services.views
        assert isinstance(views, SQLiteViewStore)
        for projection in PROJECTIONS:
            views.reset(projection)
        runner = ProjectionRunner(services.desk.recorder, services.desk.mapper, views, PROJECTIONS)
        statements: list[str] = []
        views._writer.set_trace_callback(statements.append)

        runner.catch_up()

        inserted = max(i for i, s in enumerate(statements) if 'INTO "view_incident_details"' in s)
        indexed = [
            i
            for i, s in enumerate(statements)
            if s.startswith('CREATE INDEX IF NOT EXISTS "ix_incident_details_')
        ]
        assert len(indexed) == len(incident_details.indexes)
        assert min(indexed) > inserted
        assert snapshot(services) == live
        assert views._writer.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        services.close()
