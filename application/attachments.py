"""A file received for a record, from any entry point (an upload, an inbound e-mail): checked,
stored, and turned into the command that puts it on the record.

The order is the guarantee: the bytes are checked (size, then type from the bytes), stored under
their hash (infra/blobs.py), and only then named by a command, whose event the pipeline writes.
An event never names bytes the store lacks; a refused command, or a crash before the write,
leaves a blob no event names.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from domain.attachments import ALLOWED_TYPES, AttachFile, sanitised_name
from domain.errors import FileTooLarge, UnsupportedFileType
from infra.blobs import BlobStore
from infra.content_types import detected_type


def checked(data: bytes, *, limit: int) -> str:
    """The file's content type, if it is within the limit and of an allowed type; else the
    refusal (FileTooLarge: 413, UnsupportedFileType: 415)."""
    if len(data) > limit:
        raise FileTooLarge(f"a file may hold at most {limit} bytes; this one holds {len(data)}")
    if not data:
        raise UnsupportedFileType("the file is empty")
    content_type = detected_type(data)
    if content_type not in ALLOWED_TYPES:
        allowed = ", ".join(sorted(ALLOWED_TYPES))
        found = content_type or "of no type known"
        raise UnsupportedFileType(f"the file's bytes are {found}; allowed: {allowed}")
    return content_type


def received(
    store: BlobStore,
    name: str,
    data: bytes,
    *,
    limit: int,
    internal: bool = False,
    attachment_id: UUID | None = None,
) -> AttachFile:
    """Check and store a file; the command that puts it on a record (its bytes already stored)."""
    content_type = checked(data, limit=limit)
    sha256 = store.put(data)
    return AttachFile(
        attachment_id=attachment_id or uuid4(),
        name=sanitised_name(name),
        content_type=content_type,
        size=len(data),
        sha256=sha256,
        internal=internal,
    )
