"""The composition root: everything the service runs on, built from one Settings object."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import uuid4

from domain.actors import SYSTEM
from domain.context import Context
from domain.service_desk import ServiceDesk
from infra.clock import utcnow
from infra.locks import InterProcessLock
from infra.numbers import SQLiteNumberSource
from infra.settings import Settings
from infra.tokens import TokenStore
from projections import PROJECTIONS
from projections.runner import ProjectionRunner
from projections.store import SQLiteViewStore

log = logging.getLogger(__name__)


def event_store_env(settings: Settings) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(settings.events_db),
        "SQLITE_LOCK_TIMEOUT": "30",
        "MAPPER_TOPIC": "infra.serialisation:TypedMapper",
    }


@dataclass
class Services:
    settings: Settings
    desk: ServiceDesk
    views: SQLiteViewStore
    runner: ProjectionRunner
    tokens: TokenStore
    clock: Callable[[], datetime] = field(default=utcnow)

    def system_context(self) -> Context:
        return Context(actor=SYSTEM, at=self.clock(), correlation_id=uuid4())

    def start(self) -> None:
        """Catch the projections up, then let them follow the store in the background."""
        self.runner.catch_up()
        self.runner.start()

    def close(self) -> None:
        self.runner.stop()
        self.views.close()
        self.desk.close()


def build(settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    desk = ServiceDesk(
        event_store_env(settings),
        reopen_window=settings.reopen_window,
        numbers=SQLiteNumberSource(settings.data_dir / "numbers.db"),
        write_lock=InterProcessLock(settings.data_dir / "events.lock"),
        cache_size=settings.aggregate_cache_size,
    )
    views = SQLiteViewStore(settings.views_db, InterProcessLock(settings.data_dir / "views.lock"))
    runner = ProjectionRunner(desk.recorder, desk.mapper, views, PROJECTIONS)
    desk.after_commit = runner.wake
    services = Services(settings, desk, views, runner, TokenStore(settings.auth_db), clock)
    desk.ensure_priority_matrix(services.system_context())
    return services
