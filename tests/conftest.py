"""Shared fixtures: a clock the test controls, actors, and a service on a fresh store, once on
SQLite (a temp directory) and once on PostgreSQL (a fresh database)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from hypothesis import settings as hypothesis_settings

from domain.actors import Actor, Role
from domain.calendar import CalendarSpec, Span
from domain.context import Context
from infra.settings import Settings
from service.bootstrap import Services, build
from tests.directory_helpers import hold
from tests.engines.dovecot import dovecot, imap_account  # noqa: F401
from tests.engines.kafka import kafka_bootstrap, kafka_broker, kafka_engine  # noqa: F401
from tests.engines.postgres import (  # noqa: F401
    DatabaseMaker,
    postgres_data_dir,
    postgres_database_maker,
    postgres_database_url,
    postgres_databases,
    postgres_server_url,
    postgres_service_database_maker,
    postgres_service_databases,
    postgres_service_template,
    with_database,
)

# No per-example deadline: the tests run on shared machines beside each other (xdist), where an
# example that takes 200 ms once under load is no finding, and speed is the benchmarks' to
# measure (benchmarks/). Every other setting stays the test's own.
hypothesis_settings.register_profile("itsm", deadline=None)
hypothesis_settings.load_profile("itsm")

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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "empty_database: the test is about the service's first start, so on PostgreSQL its"
        " service gets an empty database, not a copy of the one holding the schema already",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The Kafka tests first, then the other long ones, then the rest in collection order.
    `make test` runs xdist's `--dist worksteal`: the first worker starts with the first half of
    this list and the other takes tests off its tail, so the Kafka tests run on one worker (one
    broker start-up a session, not one a worker: a JVM on a 2-core machine), and no worker is
    left running a long test at the end while the other has nothing to do."""
    items.sort(key=lambda item: _ORDER.index(_kind(item)))


_ORDER = ("kafka", "slow", "other")


def _kind(item: pytest.Item) -> str:
    if "kafka_engine" in item.fixturenames:
        return "kafka"
    return "slow" if item.get_closest_marker("slow") else "other"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """The service's backend: every test that builds the service runs on both."""
    backend: str = request.param
    return backend


@pytest.fixture
def make_settings(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[[], Settings]:
    """Settings for a fresh, empty service on this test's backend, each time it is called. On
    PostgreSQL its database already holds the service's schema (tests/engines/postgres.py,
    postgres_service_template), unless the test is marked empty_database."""
    made = itertools.count(1)
    databases = (
        "postgres_databases"
        if request.node.get_closest_marker("empty_database")
        else "postgres_service_databases"
    )

    def make() -> Settings:
        database_url = None
        if backend == "postgres":
            database_url = request.getfixturevalue(databases)()
        return service_settings(tmp_path / f"var{next(made)}", database_url)

    return make


def service_settings(data_dir: Path, database_url: str | None) -> Settings:
    return Settings(data_dir=data_dir, database_url=database_url, read_your_writes_timeout=10.0)


@pytest.fixture
def settings(make_settings: Callable[[], Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def services(settings: Settings, clock: Clock) -> Iterator[Services]:
    built = build(settings, clock=clock)
    built.start()
    yield built
    built.close()


@pytest.fixture
def directory(services: Services) -> None:
    """The usual groups and people in this test's directory, for tests that assign work to
    them (tests/directory_helpers.py)."""
    hold(services)


@contextmanager
def shared_service(
    backend: str, request: pytest.FixtureRequest, clock: Clock
) -> Iterator[Services]:
    """A started service on a fresh store of this backend, for a fixture wider than a test: the
    tests of a module that only read what one set-up wrote share it instead of each building and
    seeding their own. Its database comes from the session's maker as a test's does (holding the
    schema), and is dropped when the fixture ends."""
    data_dir: Path = request.getfixturevalue("tmp_path_factory").mktemp("shared")
    maker: DatabaseMaker | None = None
    name = database_url = None
    if backend == "postgres":
        maker = request.getfixturevalue("postgres_service_database_maker")
        name = maker.take()
        database_url = with_database(maker.server_url, name)
    try:
        services = build(service_settings(data_dir, database_url), clock=clock)
        try:
            services.start()
            yield services
        finally:
            services.close()
    finally:
        if maker is not None and name is not None:
            maker.drop(name)


class Steps:
    """The cost of calendar arithmetic, counted rather than timed: each local day whose working
    windows the business calendar works out is one step (its only work that grows with a span)."""

    def __init__(self) -> None:
        self.days = 0

    def since(self, before: int) -> int:
        return self.days - before


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> Steps:
    """Every step the business calendar takes in this test (servers in this process too)."""
    counted = Steps()
    spans = CalendarSpec._spans

    def counting(self: CalendarSpec, day: date) -> tuple[Span, ...]:
        counted.days += 1
        return spans(self, day)

    monkeypatch.setattr(CalendarSpec, "_spans", counting)
    return counted
