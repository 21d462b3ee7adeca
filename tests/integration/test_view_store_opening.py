"""Processes that open a new view store at once (several services starting together) all open
it: switching a new SQLite file to WAL does not wait for a busy database as statements do."""

from __future__ import annotations

import threading
from pathlib import Path

from infra.locks import InterProcessLock
from projections.store import SQLiteViewStore


def open_at_once(directory: Path, openers: int) -> list[BaseException]:
    """`openers` threads open one new view store at the same moment; what they raised."""
    start = threading.Barrier(openers)
    opened: list[SQLiteViewStore] = []
    failed: list[BaseException] = []

    def open_store() -> None:
        start.wait(timeout=30)
        try:
            lock = InterProcessLock(directory / "views.lock")
            opened.append(SQLiteViewStore(directory / "views.db", lock))
        except BaseException as error:
            failed.append(error)

    threads = [threading.Thread(target=open_store) for _ in range(openers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in opened:
        store.close()
    return failed


def test_stores_opening_one_new_file_at_once_all_open_it(tmp_path: Path) -> None:
    # Before the switch took turns, one trial in twenty failed with "database is locked".
    for trial in range(30):
        directory = tmp_path / str(trial)
        directory.mkdir()
        assert open_at_once(directory, openers=6) == []
