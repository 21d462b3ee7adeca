"""A real PostgreSQL for the tests, and a fresh empty database for each test that asks.

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
from collections.abc import Callable, Iterator
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql

from infra.postgres_server import PostgresServer, PostgresUnavailable, ensure_binaries

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
    try:
        yield url
    finally:
        server.down()
        shutil.rmtree(directory, ignore_errors=True)


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


@pytest.fixture
def postgres_databases(postgres_server_url: str) -> Iterator[Callable[[], str]]:
    """Make fresh empty databases (their URLs) on the test server; all dropped afterwards."""
    made: list[str] = []

    def make() -> str:
        name = f"itsm_test_{uuid4().hex[:16]}"
        with psycopg.connect(postgres_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        made.append(name)
        return with_database(postgres_server_url, name)

    yield make
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        for name in made:
            # FORCE: a test that failed half-way may have left connections open.
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def postgres_database_url(postgres_databases: Callable[[], str]) -> str:
    """A fresh empty database for this test, dropped afterwards."""
    return postgres_databases()
