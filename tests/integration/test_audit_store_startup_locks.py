"""A process starting while another writes: on PostgreSQL the ledger's store puts its guards
back at each start (triggers on the events and seals tables, the seals' index), and a sealed
write locks the events table, then the seals table. A start that locked the seals first (their
index) and then waited for the events table (its trigger) deadlocked with a write under way (a
CI preview's failure, in test_token_record.py's processes starting at once). The start now takes
them in the writer's order: it waits for the write, and the write does not wait for it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg

from audit import sealing
from audit.service import open_audit_store
from audit.store import POSTGRES_EVENTS
from infra.settings import Settings
from service.bootstrap import build
from tests.conftest import Clock


def _waiting(url: str) -> bool:
    """Whether some session waits for a table lock."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'relation'"
        ).fetchone()
    return bool(row and row[0])


def test_a_start_during_a_sealed_write_waits_for_it_without_a_deadlock(
    postgres_database_url: str, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, database_url=postgres_database_url)
    build(settings, clock=Clock()).close()  # the tables, as a first start makes them
    failures: list[BaseException] = []

    def start() -> None:
        try:
            open_audit_store(settings).close()
        except BaseException as error:
            failures.append(error)

    with psycopg.connect(postgres_database_url) as writer:
        # a sealed write under way: the events table locked as the library's insert locks it
        writer.execute(f"LOCK TABLE {POSTGRES_EVENTS} IN EXCLUSIVE MODE")
        starting = threading.Thread(target=start)
        starting.start()
        deadline = time.monotonic() + 10
        while not _waiting(postgres_database_url):  # the start waits for the events table
            assert time.monotonic() < deadline, "the start never waited for the write"
            time.sleep(0.05)
        # ... and the write goes on to its seal, as a sealed insert does
        writer.execute(f"LOCK TABLE {sealing.TABLE} IN ROW EXCLUSIVE MODE")
        writer.commit()
    starting.join(timeout=30)
    assert not starting.is_alive()
    assert failures == []
