"""Processes that open a new ledger file at once all open it: switching a new SQLite file to WAL
does not wait for a busy database as statements do, so before each opener tried again, all but
one of them could fail with "database is locked" (a CI preview's flake, in
test_token_record.py's processes starting at once). The race is a matter of timing: without the
retry, about one round in thirty of twelve openers failed here; sixty rounds make it likely to
show."""

from __future__ import annotations

import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from audit.store import SQLiteAuditStore
from infra.settings import Settings
from service.bootstrap import build
from tests.conftest import Clock


@pytest.fixture(scope="module")
def event_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An event store as the service makes it (its ledger beside it is not used)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("store"))
    build(settings, clock=Clock()).close()
    return settings.events_db


@pytest.mark.parametrize("round_", range(60))
def test_openers_of_a_new_ledger_at_once_all_open_it(
    event_store: Path, tmp_path: Path, round_: int
) -> None:
    openers = 12
    barrier = threading.Barrier(openers)
    events, ledger = tmp_path / "events.db", tmp_path / "ledger.db"
    shutil.copy(event_store, events)

    def open_it(_: int) -> SQLiteAuditStore:
        barrier.wait(timeout=30)
        return SQLiteAuditStore(events, ledger)

    with ThreadPoolExecutor(max_workers=openers) as pool:
        stores = list(pool.map(open_it, range(openers)))
    try:
        for store in stores:
            assert store.head() == (0, store.head()[1])
    finally:
        for store in stores:
            store.close()
