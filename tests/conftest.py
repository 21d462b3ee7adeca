"""Shared fixtures: a clock the test controls, actors, and a service built on a temp directory."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from domain.actors import Actor, Role
from domain.context import Context
from infra.bootstrap import Services, build
from infra.settings import Settings
from tests.engines.kafka import kafka_bootstrap, kafka_broker, kafka_engine  # noqa: F401

T0 = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)  # a Monday morning in Serang (15:30 WIB)

AGENT = Actor(id="siti.rahma", role=Role.AGENT)
CALLER = Actor(id="budi.santoso", role=Role.REQUESTER)
MANAGER = Actor(id="dewi.lestari", role=Role.SERVICE_MANAGER)


class Clock:
    """A clock that only moves when a test moves it."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def context(actor: Actor = AGENT, at: datetime = T0) -> Context:
    return Context(actor=actor, at=at, correlation_id=uuid4())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", read_your_writes_timeout=10.0)


@pytest.fixture
def services(settings: Settings, clock: Clock) -> Iterator[Services]:
    built = build(settings, clock=clock)
    built.start()
    yield built
    built.close()
