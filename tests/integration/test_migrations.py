"""The tables that are not views evolve through versioned migrations (infra/migrations.py),
applied in order and recorded, on SQLite and PostgreSQL: a database the start-up code before
migrations made is brought to the current schema with its rows, a second run changes nothing, and
processes starting at once on one PostgreSQL database all succeed, each step taken once."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from audit.store import POSTGRES_EVENTS, SQLITE_EVENTS
from domain.actors import Actor, Role
from infra.circulation_store import CirculationStore
from infra.migrations import TABLE, migrate_sqlite, migrations
from infra.pg import open_pool
from infra.settings import Settings
from infra.tokens import PostgresTokenStore, SQLiteTokenStore, TokenStore
from tests.conftest import Clock
from tests.integration.test_sla import log
from tests.integration.test_undecodable_event import started

AT = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
#: api_tokens as the first release made it, before the start-up ALTERs added expiry and scope.
FIRST_RELEASE = (
    "CREATE TABLE api_tokens (token_id TEXT PRIMARY KEY, secret_sha256 {binary} NOT NULL,"
    " actor_id TEXT NOT NULL, role TEXT NOT NULL, issued_at TEXT NOT NULL,"
    " issued_by TEXT NOT NULL)"
)
OLD_ROW = ("oldtoken", hashlib.sha256(b"s3cret").digest(), "siti.rahma", "agent", AT.isoformat())


@pytest.fixture(params=["sqlite", "postgres"])
def engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Callable[[], TokenStore], Callable[[str], list[Any]]]]:
    """(open the token store, run a query) on a database made by the first release's code."""
    if request.param == "sqlite":
        path = tmp_path / "tokens.db"
        with sqlite3.connect(path) as conn:
            conn.execute(FIRST_RELEASE.format(binary="BLOB"))
            conn.execute("INSERT INTO api_tokens VALUES (?, ?, ?, ?, ?, 'tests')", OLD_ROW)

        def query(sql: str) -> list[Any]:
            with sqlite3.connect(path) as conn:
                return conn.execute(sql).fetchall()

        yield (lambda: SQLiteTokenStore(path)), query
        return
    url = request.getfixturevalue("postgres_database_url")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(FIRST_RELEASE.format(binary="BYTEA"))
        conn.execute("INSERT INTO api_tokens VALUES (%s, %s, %s, %s, %s, 'tests')", OLD_ROW)

    def pg_query(sql: str) -> list[Any]:
        with psycopg.connect(url, autocommit=True) as conn:
            return conn.execute(sql).fetchall()

    yield (lambda: PostgresTokenStore(open_pool(url, max_size=2, name="tokens"))), pg_query


@contextmanager
def opened(open_store: Callable[[], TokenStore]) -> Iterator[TokenStore]:
    store = open_store()
    try:
        yield store
    finally:
        store.close()


def columns(query: Callable[[str], list[Any]]) -> list[str]:
    """api_tokens's columns in order (each engine answers the other's catalogue query with an
    error or nothing)."""
    for sql in (
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_name = 'api_tokens' ORDER BY ordinal_position",
        "SELECT name FROM pragma_table_info('api_tokens') ORDER BY cid",
    ):
        try:
            found = [name for (name,) in query(sql)]
        except (sqlite3.Error, psycopg.Error):
            continue
        if found:
            return found
    raise AssertionError("no api_tokens table")


def test_a_token_table_made_before_migrations_is_migrated_and_keeps_its_rows(
    engine: tuple[Callable[[], TokenStore], Callable[[str], list[Any]]],
) -> None:
    open_store, query = engine
    with opened(open_store) as store:
        old = store.verify("itsm_oldtoken_s3cret", at=AT)
        new = store.issue(
            Actor(id="rina.wati", role=Role.CHANGE_MANAGER),
            at=AT,
            issued_by="tests",
            organisation="dispusip-serang",
        )
        scoped = store.verify(new.token, at=AT)
        records = {r.token_id: r for r in store.records()}
        revoked = store.revoke("oldtoken", at=AT, revoked_by="tests", reason="moved on")

    assert old.actor == Actor(id="siti.rahma", role=Role.AGENT)
    assert records["oldtoken"].expires_at is None  # a first-release token never expired
    assert scoped.organisation == "dispusip-serang"
    assert revoked
    assert columns(query)[-3:] == ["expires_at", "organisation", "all_organisations"]
    recorded = query(f"SELECT version, name FROM {TABLE} WHERE store = 'tokens' ORDER BY version")
    assert [tuple(row) for row in recorded] == [
        (1, "api tokens"),
        (2, "expiry"),
        (3, "revocations"),
        (4, "organisation"),
        (5, "all organisations"),
    ]


def test_running_the_migrations_twice_changes_nothing(
    engine: tuple[Callable[[], TokenStore], Callable[[str], list[Any]]],
) -> None:
    open_store, query = engine

    def schema() -> tuple[list[str], list[Any], list[Any]]:
        return (
            columns(query),
            sorted(tuple(r) for r in query(f"SELECT store, version, applied_at FROM {TABLE}")),
            sorted(tuple(r) for r in query("SELECT token_id, actor_id FROM api_tokens")),
        )

    with opened(open_store):
        pass
    first = schema()
    with opened(open_store):
        pass

    assert schema() == first


def test_a_step_that_fails_leaves_nothing_behind_and_records_nothing(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    plan = migrations(
        "demo",
        ("one", ["CREATE TABLE one (a INTEGER)"]),
        ("two", ["CREATE TABLE two (a INTEGER)", "CREATE TABLE one (b INTEGER)"]),
    )

    with pytest.raises(sqlite3.OperationalError):
        migrate_sqlite(conn, plan)
    tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    fixed = migrations("demo", ("one", plan[1][0].step), ("two", ["CREATE TABLE two (a INTEGER)"]))
    applied = migrate_sqlite(conn, fixed)
    again = migrate_sqlite(conn, fixed)

    assert tables == set()  # not even the record: the whole run is one transaction
    assert applied == [1, 2]
    assert again == []


MIGRATE_AT_ONCE = """
import sys
from infra.pg import open_pool
from infra.tokens import PostgresTokenStore
print("ready", flush=True)
sys.stdin.readline()
PostgresTokenStore(open_pool(sys.argv[1], max_size=1, name="tokens")).close()
"""


def test_processes_migrating_one_postgres_database_at_once_all_succeed(
    postgres_database_url: str,
) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE_AT_ONCE, postgres_database_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    for process in processes:  # each has imported everything before any is told to go
        assert process.stdout is not None
        assert process.stderr is not None
        assert process.stdout.readline() == b"ready\n", process.stderr.read()
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        process.stdin.flush()
    results = [(p.wait(timeout=60), p.stderr.read() if p.stderr else b"") for p in processes]

    assert [code for code, _ in results] == [0, 0, 0, 0], results
    with psycopg.connect(postgres_database_url, autocommit=True) as conn:
        recorded = conn.execute(
            f"SELECT version, count(*) FROM {TABLE} WHERE store = 'tokens' GROUP BY version"
            " ORDER BY version"
        ).fetchall()
    assert recorded == [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1)]


def recorded_migrations(settings: Settings) -> set[tuple[str, str, int, str]]:
    """(database, store, version, applied at) for every step the service's databases record."""
    if settings.database_url is not None:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            rows = conn.execute(f"SELECT store, version, applied_at FROM {TABLE}").fetchall()
        return {("postgres", *row) for row in rows}
    found = set()
    for path in settings.data_dir.glob("*.db"):
        with sqlite3.connect(path) as conn:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (TABLE,)).fetchone():
                rows = conn.execute(f"SELECT store, version, applied_at FROM {TABLE}").fetchall()
                found |= {(path.name, *row) for row in rows}
    return found


@pytest.mark.empty_database
def test_every_store_of_the_service_records_its_steps_once_and_a_restart_adds_none(
    settings: Settings, clock: Clock
) -> None:
    with started(settings, clock):
        pass
    first = recorded_migrations(settings)
    with started(settings, clock):
        pass

    assert recorded_migrations(settings) == first
    stores = {(database, store) for database, store, _, _ in first}
    # No token tables: a new store keeps its tokens in the event store (application/api_tokens.py)
    if settings.database_url is not None:
        assert stores == {("postgres", "view-positions"), ("postgres", "audit")}
    else:
        assert stores == {("views.db", "view-positions"), ("audit.db", "audit")}


def test_the_circulation_store_records_its_tables_once(tmp_path: Path) -> None:
    CirculationStore(tmp_path / "circulation.db").close()
    CirculationStore(tmp_path / "circulation.db").close()

    with sqlite3.connect(tmp_path / "circulation.db") as conn:
        rows = conn.execute(f"SELECT store, version, name FROM {TABLE}").fetchall()
    assert rows == [("circulation", 1, "circulation tables")]


def test_a_token_table_the_last_start_up_code_made_is_adopted_as_it_is(tmp_path: Path) -> None:
    """Every column already added by the old ALTERs and nothing recorded: the guarded steps add
    nothing, record themselves, and the rows stay."""
    path = tmp_path / "auth.db"
    with sqlite3.connect(path) as conn:
        conn.execute(FIRST_RELEASE.format(binary="BLOB"))
        for column in ("expires_at TEXT", "organisation TEXT"):
            conn.execute(f"ALTER TABLE api_tokens ADD COLUMN {column}")
        conn.execute(
            "ALTER TABLE api_tokens ADD COLUMN all_organisations INTEGER NOT NULL DEFAULT 0"
        )
        conn.execute(
            "CREATE TABLE api_token_revocations (token_id TEXT PRIMARY KEY, revoked_at TEXT NOT"
            " NULL, revoked_by TEXT NOT NULL, reason TEXT NOT NULL)"
        )
        conn.execute(
            "INSERT INTO api_tokens VALUES (?, ?, ?, ?, ?, 'tests', NULL, 'dpk-banten', 1)", OLD_ROW
        )

    store = SQLiteTokenStore(path)
    try:
        identity = store.verify("itsm_oldtoken_s3cret", at=AT)
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        recorded = conn.execute(f"SELECT version FROM {TABLE} ORDER BY version").fetchall()

    assert identity.organisation == "dpk-banten"
    assert identity.all_organisations
    assert recorded == [(1,), (2,), (3,), (4,), (5,)]


def test_an_append_only_trigger_dropped_between_starts_is_put_back(
    settings: Settings, clock: Clock
) -> None:
    """The guards are not migrated once: each start puts them back (docs/audit.md)."""
    with started(settings, clock) as services:
        log(services)
    if settings.database_url is not None:
        url = settings.database_url
        drop = f"DROP TRIGGER {POSTGRES_EVENTS}_append_only ON {POSTGRES_EVENTS}"
        update = f"UPDATE {POSTGRES_EVENTS} SET topic = topic"

        def run(sql: str) -> None:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(sql)

        refused: tuple[type[Exception], ...] = (psycopg.Error,)
    else:
        drop = f"DROP TRIGGER {SQLITE_EVENTS}_no_update"
        update = f"UPDATE {SQLITE_EVENTS} SET topic = topic"

        def run(sql: str) -> None:
            conn = sqlite3.connect(settings.events_db, isolation_level=None)
            try:
                conn.execute(sql)
            finally:
                conn.close()

        refused = (sqlite3.Error,)
    run(drop)
    run(update)  # nothing guards the events now

    with started(settings, clock):
        pass

    with pytest.raises(refused, match="append-only"):
        run(update)
