"""Blobs no file on any record needs (`itsm attachments sweep`, docs/attachments.md).

The bytes of a file are stored before the event that names them (application/attachments.py), so
a crash between the two, or a command refused after its upload was stored, leaves a blob no event
names: space taken, nothing else. The sweep finds those by reading the record itself (every
attachment event in the store, not a view that may lag) and the store's list of blobs:

- `unnamed`: no attachment event names its hash;
- `removed`: a file that named it was removed for privacy (a removal is of the content, on every
  record holding it) and no file named it since, yet the bytes are still there (a crash between
  the removal event and the deletion that follows it);
- `partial`: a write cut short (a directory store's temporary file).

Only those last stored before the grace period began are strays: an upload in flight (its bytes
stored, its event not yet written) is younger than that, and storing the same bytes again renews a
blob's time (infra/blobs.py), so the sweep never takes bytes an event is about to name. A blob
named by any file still on a record is never a stray, however old.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from application.desk import ServiceDesk
from infra.blobs import BlobStore, HeldBlob
from projections.attachments import ADDED_TYPES, REMOVED_TYPES

#: How many stored events are read at a time.
PAGE = 1_000
#: The stored types the sweep reads: every event that puts a file on a record or takes one off.
TOPICS = tuple(sorted(ADDED_TYPES | REMOVED_TYPES))


class Why(StrEnum):
    UNNAMED = "unnamed"
    REMOVED = "removed"
    PARTIAL = "partial"


@dataclass(frozen=True, slots=True)
class Stray:
    blob: HeldBlob
    why: Why


@dataclass(slots=True)
class Survey:
    """What the store holds, against what the record names, at a cutoff."""

    cutoff: datetime
    strays: list[Stray] = field(default_factory=list)
    #: Blobs a file on a record names.
    named: int = 0
    #: Blobs that would be strays but are younger than the grace period (left for now).
    young: int = 0

    @property
    def stray_bytes(self) -> int:
        return sum(stray.blob.size for stray in self.strays)


def files_on_record(
    desk: ServiceDesk, progress: Callable[[int], None] | None = None
) -> dict[str, bool]:
    """For each hash any attachment event names, whether a file on a record needs its bytes:
    the last such event put a file on a record (True), or removed one (False: a removal is of
    the content, on every record that holds it, docs/attachments.md; bytes stored again after
    it are needed again by the file that named them then). `progress` is told the position read
    up to, page by page."""
    wanted: dict[str, bool] = {}
    start = 1
    while page := desk.recorder.select_notifications(start, PAGE, topics=TOPICS):
        for notification in page:
            event = desk.mapper.to_domain_event(notification)
            sha256: str = getattr(event, "sha256")  # noqa: B009 (every one of TOPICS has one)
            wanted[sha256] = notification.topic in ADDED_TYPES
        start = page[-1].id + 1
        if progress is not None:
            progress(page[-1].id)
    return wanted


def survey(blobs: Iterable[HeldBlob], files: dict[str, bool], cutoff: datetime) -> Survey:
    """Each blob held, judged: named by a file on a record, a stray (last stored before
    `cutoff`), or one that would be a stray but is too young yet."""
    found = Survey(cutoff)
    for blob in blobs:
        if blob.partial:
            why = Why.PARTIAL
        elif files.get(blob.name):
            found.named += 1
            continue
        else:
            why = Why.REMOVED if blob.name in files else Why.UNNAMED
        if blob.stored_at < cutoff:
            found.strays.append(Stray(blob, why))
        else:
            found.young += 1
    found.strays.sort(key=lambda stray: (stray.blob.stored_at, stray.blob.name))
    return found


def sweep(store: BlobStore, found: Survey, progress: Callable[[int], None] | None = None) -> int:
    """Delete the strays a survey found, each only if it is still older than the cutoff (one
    stored again since is left); how many were deleted."""
    deleted = 0
    for n, stray in enumerate(found.strays, 1):
        deleted += store.delete_if_older(stray.blob, found.cutoff)
        if progress is not None:
            progress(n)
    return deleted
