"""SQLite views: a commit leaves copying the write-ahead log into the database file (and its
fsyncs) to the checkpointer's thread, which does it soon after, without the writer waiting."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from projections.base import Projection
from projections.checkpoints import Checkpointer
from projections.store import SQLiteViewStore

VIEW = Projection(name="bulky", version=1, folds={})
ROWS = {f"row-{i}": {"text": "x" * 2000, "n": i} for i in range(3000)}  # some 1,500 pages


class Woken(Checkpointer):
    """A checkpointer that only counts the commits that woke it."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.woken = 0

    def due(self) -> None:
        self.woken += 1


def checkpointed(path: Path) -> bool:
    """Whether the rows reach the database file itself within ten seconds."""
    deadline = time.monotonic() + 10
    while path.stat().st_size < 5_000_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    return path.stat().st_size >= 5_000_000


def test_a_commit_past_a_thousand_log_pages_does_not_checkpoint_on_the_writer(
    tmp_path: Path,
) -> None:
    path = tmp_path / "views.db"
    woken = Woken(str(path))
    store = SQLiteViewStore(path, checkpoints=woken)
    try:
        store.ensure([VIEW])
        with store.transaction() as tx:
            tx.write(VIEW, ROWS)

        assert woken.woken >= 2  # ensure's commit, then the rows'
        assert path.stat().st_size < 1_000_000  # the rows are still only in the log
        assert len(store.rows(VIEW)) == len(ROWS)  # which readers read
    finally:
        store.close()


def test_the_checkpointer_copies_the_log_into_the_database_soon_after_a_commit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "views.db"
    store = SQLiteViewStore(path)
    try:
        store.ensure([VIEW])
        with store.transaction() as tx:
            tx.write(VIEW, ROWS)

        assert checkpointed(path)
    finally:
        store.close()
    assert not [t for t in threading.enumerate() if t.name == f"checkpoints {path}"]


def test_a_commit_starts_the_checkpointer_again_if_its_thread_has_gone(tmp_path: Path) -> None:
    path = tmp_path / "views.db"
    checkpoints = Checkpointer(str(path))
    store = SQLiteViewStore(path, checkpoints=checkpoints)
    try:
        store.ensure([VIEW])
        gone = checkpoints._thread
        assert gone is not None
        checkpoints.close()  # as a forked child finds it: the thread not running
        checkpoints._closing.clear()

        with store.transaction() as tx:
            tx.write(VIEW, ROWS)

        assert checkpoints._thread is not gone
        assert checkpointed(path)
    finally:
        store.close()
