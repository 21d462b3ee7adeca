"""The tests' PostgreSQL databases: a test's service starts on a copy of a template that holds
the service's schema (tests/engines/postgres.py), and what it then holds is what a service on an
empty database holds; a test about the first start (marker empty_database) gets an empty one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from infra.settings import Settings
from tests.conftest import Clock
from tests.integration.test_sla import log
from tests.integration.test_undecodable_event import started

#: Everything the service's start-up makes in a database, and what it writes there; not when.
SCHEMA = {
    "columns": "SELECT table_name, column_name, data_type, is_nullable, column_default"
    " FROM information_schema.columns WHERE table_schema = 'public'",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
    " FROM pg_constraint WHERE connamespace = 'public'::regnamespace",
    "triggers": "SELECT event_object_table, trigger_name, event_manipulation, action_statement"
    " FROM information_schema.triggers WHERE trigger_schema = 'public'",
    "functions": "SELECT proname, prosrc FROM pg_proc WHERE pronamespace = 'public'::regnamespace",
    "sequences": "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'",
    "migrations": "SELECT store, version, name FROM schema_migrations",
    "events": "SELECT originator_version, topic FROM servicedesk_events",
}


@pytest.fixture
def backend() -> str:
    return "postgres"


def tables(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {name for (name,) in rows}


def described(url: str) -> dict[str, Any]:
    """The database's schema, each table's row count, and its events (not their times)."""
    with psycopg.connect(url, autocommit=True) as conn:
        found: dict[str, Any] = {
            what: sorted(map(repr, conn.execute(query).fetchall()))  # type: ignore[arg-type]
            for what, query in SCHEMA.items()
        }
        for table in sorted(tables(url)):
            found[f"rows in {table}"] = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    return found


def test_a_service_on_a_copy_of_the_template_holds_what_one_on_an_empty_database_holds(
    postgres_databases: Callable[[], str],
    make_settings: Callable[[], Settings],
    tmp_path: Any,
) -> None:
    copied = make_settings()
    empty = copied.model_copy(
        update={"data_dir": tmp_path / "empty", "database_url": postgres_databases()}
    )
    assert copied.database_url is not None
    assert empty.database_url is not None
    assert "servicedesk_events" in tables(copied.database_url)  # before its service starts
    assert tables(empty.database_url) == set()

    stored: list[list[tuple[int, str, Any]]] = []
    for settings in (copied, empty):
        with started(settings, Clock()) as services:
            log(services)
            last = services.desk.recorder.max_notification_id() or 0
            assert services.runner.wait_for(last, 10)  # the views hold it too
            notifications = services.desk.recorder.select_notifications(start=1, limit=last)
            events = map(services.desk.mapper.to_domain_event, notifications)
            stored.append(
                [(e.originator_version, type(e).__qualname__, e.timestamp) for e in events]
            )

    assert described(copied.database_url) == described(empty.database_url)
    assert stored[0] == stored[1]  # the records of a first start too, at the test's own clock


@pytest.mark.empty_database
def test_a_test_about_the_first_start_gets_an_empty_database(settings: Settings) -> None:
    assert settings.database_url is not None
    assert tables(settings.database_url) == set()
