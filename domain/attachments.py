"""Files on a record (screenshots, logs, signed forms): what the record says of each.

The record's history names each file by what it is: its SHA-256, size, content type and a
sanitised name. The bytes are not in the event: they live in a content-addressed store
(infra/blobs.py), written before the event, so the audit chain covers every file by its hash and
an event never names bytes the store lacks. A file removed for privacy leaves its hash and a
removal event (with the reason) in the record; its bytes are deleted from the store.

One road for every kind that takes files (incidents, service requests, problems, changes): a kind
mixes in `Attachable` and names its three events, as `SlaAlerted` does for SLA alerts:

    class Incident(SlaAlerted, Attachable, attachments=(AttachmentAdded,
                   InternalAttachmentAdded, AttachmentRemoved)): ...

and its commands include `ATTACHMENT_COMMANDS` (application/kinds.py). An internal attachment
(one that goes with a work note) is an event type of its own, so that domain/visibility.py keeps
it from callers as it keeps work notes, by type.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, Field

from domain.actors import Role
from domain.aggregate import Aggregate
from domain.command_base import ActionCommand, by_action
from domain.context import Context
from domain.errors import AttachmentAlreadyRemoved, AttachmentNotFound, NotFound, NotPermitted
from domain.examples import example
from domain.fields import Name, Reason
from domain.legal_hold import check_not_held
from domain.session import Session

#: What a file may be, told from its bytes (never its name): pictures of a screen, a scanned or
#: signed form (PDF), and plain text (logs, exports as UTF-8). Archives, office documents and
#: executables are refused: they may carry code, and a helpdesk needs none of them to work.
ALLOWED_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"}
)
#: The longest name kept, in characters (longer ones are cut, keeping the extension).
MAX_NAME = 120
#: A name that is nothing once sanitised.
UNNAMED = "attachment"

Sha256 = Field(pattern=r"^[0-9a-f]{64}$", min_length=64, max_length=64)
ContentType = Field(pattern=r"^[a-z]+/[a-z0-9.+-]+$", max_length=100)
#: The largest file the events may name (the store's limit is a setting, smaller than this).
Size = Field(ge=1, le=1 << 40)

_SEPARATORS = re.compile(r"[/\\]")
_SPACES = re.compile(r"\s+")


def sanitised_name(raw: str) -> str:
    """A file's name as the record keeps it: its last path part (no directories: "../../x"
    is "x"), without control or format characters, spaces collapsed, no leading dots (no
    hidden files, no "..") and at most MAX_NAME characters (the extension kept); "attachment"
    when nothing is left. Unicode is kept (NFC): people name files in their own language."""
    name = _SEPARATORS.split(unicodedata.normalize("NFC", raw))[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = _SPACES.sub(" ", name).strip().lstrip(". ").strip()
    if len(name) > MAX_NAME:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and 0 < len(extension) <= 10:
            name = stem[: MAX_NAME - len(extension) - 1].rstrip() + "." + extension
        else:
            name = name[:MAX_NAME].rstrip()
    return name or UNNAMED


# -- what the events say (mixed in first: `class AttachmentAdded(Attached, IncidentEvent)`) -----


class Attached(BaseModel):
    """A file put on the record: which (its id on the record), and what its bytes are."""

    attachment_id: UUID
    name: str = Field(min_length=1, max_length=MAX_NAME)
    content_type: str = ContentType
    size: int = Size
    sha256: str = Sha256


class Detached(BaseModel):
    """A file taken off the record (for privacy): its bytes deleted, its hash kept, and why."""

    attachment_id: UUID
    sha256: str = Sha256
    reason: str = Reason


# -- the rules -----------------------------------------------------------------------------------


class Attachable(Aggregate):
    """A record that takes files. `attachments=(Added, InternalAdded, Removed)` names the kind's
    three events (an Attached, an Attached, a Detached)."""

    #: The files on the record, by id: their hashes (a removed one stays, for its removal event).
    #: Replaced, never changed in place: state is copied shallowly (Aggregate.copy).
    files: Mapping[UUID, str] = MappingProxyType({})
    removed_files: frozenset[UUID] = frozenset()
    _attachment_events: ClassVar[tuple[type[Any], type[Any], type[Any]]]

    def __init_subclass__(
        cls, *, attachments: tuple[type[Any], type[Any], type[Any]] | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        if attachments is not None:
            cls._attachment_events = attachments
        if hasattr(cls, "_attachment_events"):
            added, internal, removed = cls._attachment_events
            cls._appliers[added] = Attachable._file_attached
            cls._appliers[internal] = Attachable._file_attached
            cls._appliers[removed] = Attachable._file_removed

    def attach_file(
        self,
        ctx: Context,
        *,
        attachment_id: UUID,
        name: str,
        content_type: str,
        size: int,
        sha256: str,
        internal: bool = False,
    ) -> None:
        """Put a file on the record, in any state (a signed form may come after the work is
        done). An internal file (with a work note) is the staff's: a requester's never is."""
        if internal and ctx.actor.role is Role.REQUESTER:
            raise NotPermitted("a requester's files are on the record for the staff and for them")
        added, internal_added, _ = self._attachment_events
        event = internal_added if internal else added
        self._record(
            event(
                **self._envelope(ctx),
                attachment_id=attachment_id,
                name=sanitised_name(name),
                content_type=content_type,
                size=size,
                sha256=sha256,
            )
        )

    def remove_attachment(self, ctx: Context, *, attachment_id: UUID, reason: str) -> None:
        """Take a file off the record for privacy: its hash and this removal stay on record."""
        sha256 = self.files.get(attachment_id)
        if sha256 is None:
            raise AttachmentNotFound(f"no attachment {attachment_id} on this record")
        if attachment_id in self.removed_files:
            raise AttachmentAlreadyRemoved(f"attachment {attachment_id} is already removed")
        _, _, removed = self._attachment_events
        self._record(
            removed(
                **self._envelope(ctx), attachment_id=attachment_id, sha256=sha256, reason=reason
            )
        )

    def _file_attached(self, e: Attached) -> None:
        self.files = MappingProxyType({**self.files, e.attachment_id: e.sha256})

    def _file_removed(self, e: Detached) -> None:
        self.removed_files = self.removed_files | {e.attachment_id}


def attachable(session: Session, record_id: UUID) -> Attachable:
    """The record a file goes on, if the caller reaches it (else not found, like the record)."""
    found = session.find_any(record_id)
    if not isinstance(found, Attachable):
        raise NotFound(f"no record {record_id}", record_id)
    return session.get(type(found), record_id)


# -- the commands, one of each for every kind that takes files -----------------------------------


class AttachFile(ActionCommand):
    """Put a file on the record. Its bytes are in the store already: the entry point (an upload,
    an e-mail) stored them and names them here by hash (application/attachments.py)."""

    action: ClassVar[str] = "attach"
    summary: ClassVar[str] = "Attach a file"

    attachment_id: UUID
    name: str = Name
    content_type: str = ContentType
    size: int = Size
    sha256: str = Sha256
    internal: bool = False

    def decide(self, session: Session, ctx: Context, record_id: UUID) -> UUID:
        attachable(session, record_id).attach_file(ctx, **self.__dict__)
        return record_id


class RemoveAttachment(ActionCommand):
    """Remove a file for privacy: its bytes are deleted, its hash and the reason stay on the
    record, and a download answers 410 Gone."""

    model_config = example({"reason": "The screenshot shows a member's card number."})

    action: ClassVar[str] = "remove-attachment"
    summary: ClassVar[str] = "Remove an attachment (for privacy)"

    attachment_id: UUID
    reason: str = Reason

    def decide(self, session: Session, ctx: Context, record_id: UUID) -> UUID:
        record = attachable(session, record_id)
        check_not_held(session, record_id, "removing its files")
        record.remove_attachment(ctx, attachment_id=self.attachment_id, reason=self.reason)
        return record_id


ATTACHMENT_COMMANDS = by_action(AttachFile, RemoveAttachment)
