"""The views' write-ahead log stays bounded while a writer commits back to back (a rebuild, a
catch-up): the checkpoint thread's checkpoints never let it be rewound then, so a 500k rebuild
left a 10 GB log beside a 3 GB database and filled the disk (projections/store.py
WAL_LIMIT_BYTES); and bounding it never makes the writer wait for a reader."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from projections.base import Column, Projection
from projections.checkpoints import Checkpointer
from projections.store import WAL_LIMIT_BYTES, SQLiteViewStore

VIEW = Projection(name="notes", version=1, folds={}, columns=(Column("n", "INTEGER"),))


def test_past_its_limit_the_log_is_checkpointed_and_rewound(tmp_path: Path) -> None:
    # Given a view store whose checkpoint thread is slow to come (as it is behind a busy writer)
    path = tmp_path / "views.db"
    store = SQLiteViewStore(path, checkpoints=Checkpointer(str(path), every=3600))
    store.wal_limit = 256 * 1024
    store.ensure([VIEW])
    sizes = []
    try:
        # When it commits many transactions back to back, each of about 100 kB
        for batch in range(40):
            with store.transaction() as tx:
                rows = {f"{batch}-{i}": {"n": i, "text": "x" * 100} for i in range(1000)}
                tx.write(VIEW, rows)
            sizes.append(os.stat(f"{path}-wal").st_size)
        # Then the log never held much more than its limit and one transaction's pages
        assert max(sizes) < 2 * store.wal_limit, sizes
        # and every row is there
        assert len(store.rows(VIEW)) == 40_000
    finally:
        store.close()
    assert WAL_LIMIT_BYTES <= 1024**3


def test_past_its_limit_the_writer_does_not_wait_for_a_long_reader(tmp_path: Path) -> None:
    # Given a view store whose log is past its limit, and a reader holding an old snapshot (a
    # backup's copy holds one for minutes)
    path = tmp_path / "views.db"
    store = SQLiteViewStore(path, checkpoints=Checkpointer(str(path), every=3600))
    store.wal_limit = 64 * 1024
    store.ensure([VIEW])
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        with store.transaction() as tx:
            tx.write(VIEW, {f"a-{i}": {"n": i, "text": "x" * 100} for i in range(1000)})
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM view_notes").fetchall()

        # When the writer commits on
        began = time.monotonic()
        for batch in range(5):
            with store.transaction() as tx:
                tx.write(VIEW, {f"{batch}-{i}": {"n": i} for i in range(100)})

        # Then it did not wait for the reader (its checkpoint copies what the reader allows)
        assert time.monotonic() - began < 5
        # and the reader still reads its own snapshot
        assert reader.execute("SELECT count(*) FROM view_notes").fetchone() == (1000,)
    finally:
        reader.close()
        store.close()
