"""The event store's pool and insert (audit/sealing.py) follow one eventsourcing release."""

from __future__ import annotations

import importlib.metadata

from audit import sealing


def test_the_store_pool_follows_the_installed_eventsourcing_release() -> None:
    """`_StorePool` and `_insert_committed` repeat what the library's pool and insert do, with
    two differences. A new release may do more: read them against it before moving this."""
    assert importlib.metadata.version("eventsourcing") == sealing.LIBRARY_FOLLOWED
