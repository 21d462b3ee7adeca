"""How the sweep judges each blob (processes/attachment_sweep.py `survey`): what a file on a
record names is kept however old; what no file needs is a stray once older than the cutoff, and
counted as too young before. The sweep itself runs on both real stores in
tests/integration/test_attachment_sweep.py."""

from __future__ import annotations

from datetime import datetime, timedelta

from infra.blobs import HeldBlob
from processes.attachment_sweep import Why, survey
from tests.conftest import T0

OLD, NEW = T0 - timedelta(days=2), T0 + timedelta(hours=1)


def blob(name: str, stored_at: datetime, partial: bool = False) -> HeldBlob:
    """A blob of 10 bytes: `name` repeated into a hash, or a partial write's file name."""
    return HeldBlob(name if partial else name * 64, 10, stored_at, partial)


def test_each_blob_is_named_a_stray_or_too_young() -> None:
    files = {"a" * 64: True, "b" * 64: False, "e" * 64: True}
    held = [
        blob("a", OLD),  # named by a file on a record: kept, however old
        blob("b", OLD),  # a file naming it removed, and none named it since
        blob("c", OLD),  # named by no event
        blob("d", NEW),  # named by no event, but stored after the cutoff (an upload in flight)
        blob(".incoming-x1", OLD, partial=True),
        blob(".incoming-x2", NEW, partial=True),
        blob("e", NEW),
    ]

    found = survey(held, files, T0)

    assert [(s.blob.name[:1], s.why) for s in found.strays] == [
        (".", Why.PARTIAL),
        ("b", Why.REMOVED),
        ("c", Why.UNNAMED),
    ]
    assert (found.named, found.young, found.stray_bytes) == (2, 2, 30)
