"""Restoring a service that ran in Kafka mode (docs/operations.md, "Restore on a fresh machine",
Kafka mode): the old topic holds events published after the backup, whose positions the restored
store gives again to new events. Pointed at a new topic and group, with the Kafka-fed views
rebuilt from the store (`itsm projections rebuild NAME`), the restored service's views hold what
its store holds: nothing of the lost events, each new event once."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from click.testing import CliRunner

from cli.main import main
from infra.settings import Settings
from projections import PROJECTIONS
from projections.runner import ProjectionRunner
from projections.store import SQLiteViewStore
from service.backup import backup, restore
from service.bootstrap import Services, build
from service.kafka_mode import FROM_TOPIC
from tests.conftest import Clock
from tests.directory_helpers import hold
from tests.kafka_harness import on_own_topic, view_differences, wait_for, work

pytestmark = pytest.mark.empty_database  # a restore's target is an empty database


def views(services: Services) -> dict[str, Any]:
    return {p.name: services.views.rows(p) for p in PROJECTIONS}


def folded(services: Services, scratch: Path) -> dict[str, Any]:
    """Every view folded from the service's store alone, in a view store of its own."""
    store = SQLiteViewStore(scratch / f"folded-{uuid4().hex[:8]}.db")
    try:
        desk = services.desk
        ProjectionRunner(desk.recorder, desk.mapper, store, PROJECTIONS).catch_up()
        return {p.name: store.rows(p) for p in PROJECTIONS}
    finally:
        store.close()


def caught_up(services: Services, scratch: Path, what: str) -> None:
    wait_for(
        lambda: views(services) == folded(services, scratch),
        90,
        what,
        explain=lambda: str(view_differences(views(services), folded(services, scratch))),
    )


def kafka_env(settings: Settings) -> dict[str, str]:
    return {
        "ITSM_DATA_DIR": str(settings.data_dir),
        "ITSM_DATABASE_URL": settings.database_url or "",
        "ITSM_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "",
        "ITSM_KAFKA_TOPIC": settings.kafka_topic,
        "ITSM_KAFKA_PROJECTIONS_GROUP": settings.kafka_projections_group,
        "ITSM_KAFKA_PARTITIONS": str(settings.kafka_partitions),
    }


def test_a_kafka_mode_service_restored_onto_a_new_topic_holds_its_store_and_nothing_lost(
    make_settings: Callable[[], Settings],
    kafka_bootstrap: str,
    clock: Clock,
    tmp_path: Path,
) -> None:
    lost = on_own_topic(make_settings(), kafka_bootstrap)
    with closing(build(lost, clock=clock)) as services:
        services.start()
        hold(services)
        work(services, 30, seed=21)
        caught_up(services, tmp_path, "the first service's views")
        manifest = backup(services.settings, tmp_path / "backup")
        work(services, 30, seed=22)  # published to the old topic, lost with the disk
        caught_up(services, tmp_path, "the events after the backup on the old topic")
        lost_head = services.desk.recorder.max_notification_id() or 0
    assert lost_head > manifest.position

    target = make_settings()
    restore(tmp_path / "backup", target)
    again = on_own_topic(target, kafka_bootstrap)
    for projection in FROM_TOPIC:  # as operations.md has it: each view the topic feeds
        rebuilt = CliRunner().invoke(
            main, ["projections", "rebuild", projection.name], env=kafka_env(again)
        )
        assert rebuilt.exit_code == 0, rebuilt.output
    with closing(build(again, clock=clock)) as services:
        services.start()
        assert services.desk.recorder.max_notification_id() == manifest.position
        work(services, 30, seed=23)  # the positions the lost events had, given again
        assert (services.desk.recorder.max_notification_id() or 0) > manifest.position
        caught_up(services, tmp_path, "the restored service's views")
