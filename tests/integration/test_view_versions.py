"""View schemas rebuild by version: a projection whose declared fold version changed is rebuilt
from the store because the version changed, not because someone remembered, and the view folded
by the old version keeps answering until the new one is swapped in (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest

import service.bootstrap
from infra.pg import open_pool
from infra.settings import Settings
from projections import PROJECTIONS, incident_details
from projections.base import Projection
from projections.pg_store import PostgresViewStore
from projections.shadow import rebuild_changed
from projections.store import SQLiteViewStore
from projections.view_store import ViewStore
from service.bootstrap import build
from tests.conftest import Clock
from tests.integration.test_sla import log
from tests.integration.test_undecodable_event import started

#: What an older fold wrote into a row, which the current one never writes.
OLD_FOLD = {"title": "as the old fold had it"}


def bumped(projection: Projection) -> Projection:
    return replace(projection, version=projection.version + 1)


def with_old_fold(settings: Settings, clock: Clock) -> tuple[list[str], dict[str, Any]]:
    """Three incidents, folded; one row then changed as if another fold had made it. The keys,
    and the rows as the current fold makes them."""
    with started(settings, clock) as services:
        keys = [str(log(services)) for _ in range(3)]
        assert services.runner.wait_for(services.desk.recorder.max_notification_id() or 0, 10)
        fresh = {key: services.views.get(incident_details, key) for key in keys}
        with services.views.transaction() as tx:
            tx.write(incident_details, {keys[0]: {**fresh[keys[0]], **OLD_FOLD}})  # type: ignore[dict-item]
    return keys, fresh


def test_a_view_whose_fold_version_changed_is_rebuilt_while_the_old_one_answers(
    settings: Settings, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys, fresh = with_old_fold(settings, clock)
    new = bumped(incident_details)
    with started(settings, clock) as services:
        views = services.views
        answered_meanwhile: list[Any] = []
        swap_in = views.swap_in

        def watched(shadow: Projection, live: Projection) -> bool:
            answered_meanwhile.append(views.get(live, keys[0]))
            return swap_in(shadow, live)

        monkeypatch.setattr(views, "swap_in", watched)
        unchanged = rebuild_changed(
            services.desk.recorder, services.desk.mapper, views, PROJECTIONS
        )
        rebuilt = rebuild_changed(services.desk.recorder, services.desk.mapper, views, [new])
        again = rebuild_changed(services.desk.recorder, services.desk.mapper, views, [new])
        rows = {key: views.get(new, key) for key in keys}
        stale_after = views.stale([new])

    assert unchanged == []  # the same version: nothing to rebuild
    assert rebuilt == [incident_details.name]
    assert answered_meanwhile == [{**fresh[keys[0]], **OLD_FOLD}]  # the old view, to the swap
    assert rows == fresh  # what the fold makes from the events
    assert again == []
    assert stale_after == []


def test_a_service_started_with_a_new_fold_version_serves_the_view_it_folds(
    settings: Settings, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys, fresh = with_old_fold(settings, clock)
    new = bumped(incident_details)
    monkeypatch.setattr(
        service.bootstrap,
        "PROJECTIONS",
        [new if p is incident_details else p for p in PROJECTIONS],
    )

    services = build(settings, clock=clock)  # not started: nothing follows the store yet
    try:
        served = {key: services.views.get(new, key) for key in keys}
        stale = services.views.stale([new])
    finally:
        services.close()
    with started(settings, clock) as services:  # and the next start rebuilds nothing
        again = services.views.get(new, keys[0])

    assert served == fresh
    assert stale == []
    assert again == fresh[keys[0]]


def second_view_store(settings: Settings) -> ViewStore:
    """Another handle on the service's views, as another process would open them."""
    if settings.database_url is not None:
        return PostgresViewStore(open_pool(settings.database_url, max_size=4, name="other"))
    return SQLiteViewStore(settings.views_db)


def test_processes_starting_at_once_with_a_new_fold_version_rebuild_it_once(
    settings: Settings, clock: Clock
) -> None:
    keys, fresh = with_old_fold(settings, clock)
    new = bumped(incident_details)
    with started(settings, clock) as services:
        stores = [services.views, second_view_store(settings)]
        start = threading.Barrier(len(stores))
        rebuilt: list[list[str]] = []

        def rebuild(store: ViewStore) -> None:
            start.wait()
            rebuilt.append(
                rebuild_changed(services.desk.recorder, services.desk.mapper, store, [new])
            )

        threads = [threading.Thread(target=rebuild, args=(store,)) for store in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        rows = {key: services.views.get(new, key) for key in keys}
        stores[1].close()

    assert sorted(rebuilt) == [[], [incident_details.name]]
    assert rows == fresh
