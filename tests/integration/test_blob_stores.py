"""The attachments' store keeps one contract on both back ends (infra/blobs.py): the directory of
the embedded mode, and PostgreSQL's table at scale (the one the service opens on each backend)."""

from __future__ import annotations

import hashlib

import pytest

from infra.blobs import DirectoryBlobStore, PostgresBlobStore
from service.bootstrap import Services

SCREEN = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def test_bytes_are_kept_under_their_hash_once_and_deleted_for_good(
    services: Services, backend: str
) -> None:
    store = services.blobs
    expected = PostgresBlobStore if backend == "postgres" else DirectoryBlobStore
    assert isinstance(store, expected)
    sha256 = hashlib.sha256(SCREEN).hexdigest()
    assert not store.has(sha256)
    assert store.get(sha256) is None
    assert store.put(SCREEN) == sha256
    assert store.put(SCREEN) == sha256  # storing the same bytes again changes nothing
    assert store.has(sha256)
    assert store.get(sha256) == SCREEN
    store.delete(sha256)
    assert store.get(sha256) is None
    assert not store.has(sha256)
    store.delete(sha256)  # deleting what is gone is no error


def test_a_name_that_is_no_hash_is_refused(services: Services) -> None:
    for name in ("../../etc/passwd", "A" * 64, "' OR 1=1 --"):
        with pytest.raises(ValueError, match="SHA-256"):
            services.blobs.get(name)
