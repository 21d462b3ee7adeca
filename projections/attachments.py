"""The files on each record, as the attachment routes list and serve them: `attachments`, one row
per file (its record, name, type, size, SHA-256, whether it is the staff's only, who added it and
when, and whether it was removed for privacy, by whom, when and why).

The bytes are not here: they are in the blob store under the row's hash (infra/blobs.py). The
reach is the record's: a route finds the record within the caller's reach first (api/reads.py),
then asks this view for its files (`on_record`, `on_record_by_id`).
"""

from __future__ import annotations

from typing import Any, get_args

from domain import change, problem
from domain import document as doc
from domain import incident as i
from domain import service_request as r
from domain.events import DomainEvent
from projections.base import Column, Projection, Row, at, by, folds_of
from projections.view_store import ViewStore

Added = (
    i.AttachmentAdded
    | r.AttachmentAdded
    | problem.AttachmentAdded
    | change.AttachmentAdded
    | doc.AttachmentAdded
    | i.InternalAttachmentAdded
    | r.InternalAttachmentAdded
    | problem.InternalAttachmentAdded
    | change.InternalAttachmentAdded
    | doc.InternalAttachmentAdded
)
Removed = (
    i.AttachmentRemoved
    | r.AttachmentRemoved
    | problem.AttachmentRemoved
    | change.AttachmentRemoved
    | doc.AttachmentRemoved
)
#: The stored type names of the events that put a file on a record, and that remove one.
ADDED_TYPES = frozenset(t.type_name for t in get_args(Added))
REMOVED_TYPES = frozenset(t.type_name for t in get_args(Removed))
INTERNAL = frozenset(
    {
        i.InternalAttachmentAdded,
        r.InternalAttachmentAdded,
        problem.InternalAttachmentAdded,
        change.InternalAttachmentAdded,
        doc.InternalAttachmentAdded,
    }
)


def _added(_: Row | None, ev: Added) -> Row:
    return {
        "id": str(ev.attachment_id),
        "record_id": str(ev.originator_id),
        "record_kind": ev.type_name.partition(".")[0],
        "name": ev.name,
        "content_type": ev.content_type,
        "size": ev.size,
        "sha256": ev.sha256,
        "internal": type(ev) in INTERNAL,
        "added_at": at(ev),
        "added_by": by(ev),
        "removed": None,
        "version": ev.originator_version,
    }


def _removed(row: Row, ev: Removed) -> Row:
    row["removed"] = {"at": at(ev), "by": by(ev), "reason": ev.reason}
    row["version"] = ev.originator_version
    return row


def _attachment_key(event: DomainEvent) -> str:
    attachment_id: Any = getattr(event, "attachment_id")  # noqa: B009 (every folded event has one)
    return str(attachment_id)


attachments = Projection(
    name="attachments",
    version=1,
    folds=folds_of(_added, _removed),
    columns=(Column("record_id", "TEXT"), Column("added_at", "TEXT")),
    indexes=(("record_id", "added_at"),),
    key_of=_attachment_key,
)


# -- look-ups -----------------------------------------------------------------------------------


def on_record(views: ViewStore, record_id: str, *, internal: bool) -> list[Row]:
    """The files on a record, oldest first; with the staff's own (`internal`) or without."""
    rows = views.select(attachments, '"record_id" = ?', (record_id,), 'ORDER BY "added_at", "key"')
    return [row for row in rows if internal or not row["internal"]]


def on_record_by_id(
    views: ViewStore, record_id: str, attachment_id: str, *, internal: bool
) -> Row | None:
    """One file of a record, if it is on that record (and, unless `internal`, not the staff's)."""
    row = views.get(attachments, attachment_id)
    if row is None or row["record_id"] != record_id or (row["internal"] and not internal):
        return None
    return row
