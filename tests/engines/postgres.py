"""A real PostgreSQL for the tests, and a fresh database for each test that asks: empty, or a
copy of a template holding the service's schema (for the tests that start the service on it).

The server comes from, in this order: the URL in ITSM_TEST_DATABASE_URL (its role must be allowed
to create databases); a testcontainers PostgresContainer when a Docker engine answers; else a
local server from Debian's postgresql package (infra/postgres_server.py, installing the package
when it is missing and we are root), in a temporary directory, stopped when the session ends.
Without any of these, the PostgreSQL tests are skipped, except under CI=true, where they fail:
CI must never pass by not testing the scale backend.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql

from application.desk import ServiceDesk
from infra.postgres_server import SUPERUSER, PostgresServer, PostgresUnavailable, ensure_binaries
from infra.settings import Settings
from service.bootstrap import build

IMAGE = "postgres:16"


def _docker_answers() -> bool:
    """Whether a Docker engine answers, quickly; any failure at all means no."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _no_engine(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"no PostgreSQL for the tests under CI: {reason}")
    pytest.skip(f"no PostgreSQL for the tests: {reason}")


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """The URL of a PostgreSQL server whose role may create databases."""
    given = os.environ.get("ITSM_TEST_DATABASE_URL")
    if given:
        yield given
        return
    if _docker_answers():
        from testcontainers.community.postgres import PostgresContainer

        with PostgresContainer(IMAGE, driver=None) as container:
            yield container.get_connection_url()
        return
    # Directly under the system temp directory: when we are root the server runs as the
    # postgres OS user, which must be able to reach it (pytest's own temp dirs are private).
    directory = tempfile.mkdtemp(prefix="itsm-test-postgres-")
    server = PostgresServer(directory)
    try:
        url = server.up()
    except PostgresUnavailable as error:
        shutil.rmtree(directory, ignore_errors=True)
        _no_engine(str(error))
    _without_flushes(url)
    try:
        yield url
    finally:
        server.down()
        shutil.rmtree(directory, ignore_errors=True)


def _without_flushes(url: str) -> None:
    """The tests' own server flushes nothing to disk: a test outlives no machine crash, and every
    test starts a service whose schema (a few dozen tables, each created in a transaction of its
    own) would otherwise wait for a disk flush each time (a quarter of its start-up). Data still
    reaches the OS at each commit, so a server process that dies loses nothing. (The service's
    own servers keep the durable configuration: tests/integration/test_postgres_server.py.)"""
    parts = urlsplit(url)
    superuser = urlunsplit(
        parts._replace(netloc=f"{SUPERUSER}@{parts.hostname}:{parts.port}", path="/postgres")
    )
    with psycopg.connect(superuser, autocommit=True) as conn:
        for setting in ("fsync", "full_page_writes"):
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = off").format(sql.Identifier(setting)))
        conn.execute("SELECT pg_reload_conf()")


@pytest.fixture
def postgres_data_dir() -> Iterator[str]:
    """An empty directory for a local server of the test's own; any server left running in it
    is stopped afterwards. Skipped (failed under CI) when PostgreSQL cannot be installed."""
    try:
        ensure_binaries()
    except PostgresUnavailable as error:
        _no_engine(str(error))
    directory = tempfile.mkdtemp(prefix="itsm-test-postgres-")  # reachable by postgres, see above
    try:
        yield directory
    finally:
        PostgresServer(directory).down()
        shutil.rmtree(directory, ignore_errors=True)


def with_database(url: str, name: str) -> str:
    """The same server URL, naming another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


class DatabaseMaker:
    """Creates databases (empty, or copies of a template) on the test server one step ahead of
    the tests that take them, and drops used ones behind them, on a thread of its own: a CREATE
    or DROP DATABASE costs tenths of a second, which tests would otherwise wait for in every
    setup and teardown."""

    def __init__(self, server_url: str, template: str | None = None) -> None:
        self.server_url = server_url
        self.template = template
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-databases")
        self._next = self._worker.submit(self._create)
        self._drops: list[Future[None]] = []

    def take(self) -> str:
        """A fresh database's name; the maker starts on the next one."""
        name = self._next.result()
        self._next = self._worker.submit(self._create)
        return name

    def drop(self, name: str) -> None:
        self._drops.append(self._worker.submit(self._drop, name))

    def close(self) -> None:
        """Drop the database made ahead too; wait for every drop, and report one that failed."""
        self.drop(self._next.result())
        self._worker.shutdown(wait=True)
        for dropped in self._drops:
            dropped.result()

    def _create(self) -> str:
        name = f"itsm_test_{uuid4().hex[:16]}"
        create_database(self.server_url, name, self.template)
        return name

    def _drop(self, name: str) -> None:
        drop_database(self.server_url, name)


def create_database(server_url: str, name: str, template: str | None = None) -> None:
    """An empty database, or a copy of `template` (a database no one is connected to)."""
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    _execute(server_url, create)


def drop_database(server_url: str, name: str) -> None:
    # FORCE: a test that failed half-way may have left connections open. FORCE may not end an
    # autovacuum worker's session (it belongs to no role the test role is a member of), and
    # such a worker is done within moments: try again for a while.
    statement = sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
    deadline = time.monotonic() + 30
    while True:
        try:
            _execute(server_url, statement)
            return
        except psycopg.errors.InsufficientPrivilege:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _execute(server_url: str, statement: sql.Composable) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture(scope="session")
def postgres_database_maker(postgres_server_url: str) -> Iterator[DatabaseMaker]:
    maker = DatabaseMaker(postgres_server_url)
    try:
        yield maker
    finally:
        maker.close()


@pytest.fixture(scope="session")
def postgres_service_template(
    postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database holding the service's schema and no rows, by name: an empty one on which the
    service started once, as it starts on any database, less the records its first start defines
    (the priority matrix, the calendars, the SLA policy, the service catalogue, the change policy,
    the major-incident criteria, the record that the old token tables were imported), which each
    test's service defines then at the test's own clock, as on SQLite. Dropped when the session
    ends.

    The service's start-up on a copy of it is its start-up on any database but a new one: its
    CREATE ... IF NOT EXISTS statements find their tables, and its migrations are recorded as
    taken. Creating some forty tables, about half of a PostgreSQL service's start-up, is done
    once a session, not once a test. No one connects to the template again: a database being
    copied must have no sessions."""
    name = f"itsm_test_template_{uuid4().hex[:16]}"
    create_database(postgres_server_url, name)
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("postgres-template"),
        database_url=with_database(postgres_server_url, name),
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ServiceDesk, "ensure_priority_matrix", lambda self, ctx: None)
        patch.setattr(ServiceDesk, "ensure_sla_rules", lambda self, ctx: None)
        patch.setattr(ServiceDesk, "ensure_service_catalogue", lambda self, ctx: None)
        patch.setattr(ServiceDesk, "ensure_change_policy", lambda self, ctx: None)
        patch.setattr(ServiceDesk, "ensure_major_incident_criteria", lambda self, ctx: None)
        patch.setattr("service.bootstrap.import_token_tables", lambda desk, rows, at: 0)
        services = build(settings)
        services.start()
        services.close()
    _execute(
        postgres_server_url,
        sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(name)),
    )
    try:
        yield name
    finally:
        drop_database(postgres_server_url, name)


@pytest.fixture(scope="session")
def postgres_service_database_maker(
    postgres_server_url: str, postgres_service_template: str
) -> Iterator[DatabaseMaker]:
    maker = DatabaseMaker(postgres_server_url, template=postgres_service_template)
    try:
        yield maker
    finally:
        maker.close()


def _databases(maker: DatabaseMaker) -> Iterator[Callable[[], str]]:
    made: list[str] = []

    def make() -> str:
        made.append(maker.take())
        return with_database(maker.server_url, made[-1])

    yield make
    for name in made:
        maker.drop(name)


@pytest.fixture
def postgres_databases(postgres_database_maker: DatabaseMaker) -> Iterator[Callable[[], str]]:
    """Make fresh empty databases (their URLs) on the test server; all dropped afterwards."""
    yield from _databases(postgres_database_maker)


@pytest.fixture
def postgres_service_databases(
    postgres_service_database_maker: DatabaseMaker,
) -> Iterator[Callable[[], str]]:
    """Make fresh databases holding the service's schema and no rows (their URLs) on the test
    server, copies of postgres_service_template; all dropped afterwards."""
    yield from _databases(postgres_service_database_maker)


@pytest.fixture
def postgres_database_url(postgres_databases: Callable[[], str]) -> str:
    """A fresh empty database for this test, dropped afterwards."""
    return postgres_databases()
