"""The SQLite view store's writer keeps a page cache big enough for a rebuild's key indexes
(projections/store.py WRITER_CACHE_KIB). With SQLite's 2 MiB, a 500k rebuild wrote each row of
incident_details in 34 us against 22 us at 100k (every insert under a random key read its index
page back from the file); with 256 MiB, 22 us at both (docs/capacity.md, "Rebuild")."""

from __future__ import annotations

from pathlib import Path

from projections.store import WRITER_CACHE_KIB, SQLiteViewStore


def test_the_view_stores_writer_caches_a_rebuilds_key_indexes(tmp_path: Path) -> None:
    # Given a view store
    store = SQLiteViewStore(tmp_path / "views.db")
    try:
        # When its writer's page cache is asked for
        with store.transaction():
            (size,) = store._writer.execute("PRAGMA cache_size").fetchone()
    finally:
        store.close()
    # Then it holds 256 MiB of pages (negative: KiB), not SQLite's 2 MiB
    assert WRITER_CACHE_KIB >= 256 * 1024
    assert size == -WRITER_CACHE_KIB
