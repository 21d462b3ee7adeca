"""Controlled documents (ISO/IEC 20000-1 7.5): the policies, plans, procedures, the service
catalogue, SLAs, contracts and documents of external origin the service management system holds,
each with its versions, their approval, review dates, retention and disposition.

    document:  draft -> published -> withdrawn          draft -> withdrawn
    a version: draft -> submitted -> approved -> published -> superseded | withdrawn
                        submitted -> draft (returned, with the reason)

A document is registered with its first version as a draft: its title, kind, owner (a person),
the clauses it answers, its origin (internal, or external: then its source and the source's own
version, as Perpusnas' INLISLite guide v3.2), its format or medium ("PDF", "paper in the
archive"), how often it is reviewed and how long a version is kept once it is superseded or
withdrawn, and what then becomes of it (archived or destroyed). A version's content is a file on
the document (domain/attachments.py) or a link.

A draft is submitted for approval; a service manager (or an admin) who is not one of its authors
(whoever drafted it or set its content: segregation of duties) approves it, or returns it with a
reason. Only an approved version is published: it becomes current, the one before it is
superseded (kept, never deleted), and its next review falls `review_months` after the day it was
published (Asia/Jakarta). A review that changes nothing is recorded and moves the next review
date; a change is a new version, a draft of the next number. A document is withdrawn with a
reason; its versions stay on record.

When a superseded or withdrawn version's retention has run, a service manager records its
disposition (`Document.VersionDisposed`): archived, or destroyed, which also removes its file as a
file is removed for privacy (its bytes deleted, its hash and the events kept). Nothing is disposed
of without that event, and nothing before its time.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Any, ClassVar
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.actors import Role
from domain.aggregate import LifecycleAggregate, applies
from domain.attachments import Attachable, Attached, Detached
from domain.context import Context
from domain.errors import (
    AttachmentAlreadyRemoved,
    AttachmentNotFound,
    DomainError,
    NothingChanged,
    NotPermitted,
    RecordIllegalTransition,
)
from domain.events import DomainEvent
from domain.fields import Name, Number, OptionalReason, Reasoned

#: The office's day: review dates and retention are counted in Asia/Jakarta dates.
JAKARTA = ZoneInfo("Asia/Jakarta")
#: Who approves a version, returns it, withdraws a document and disposes of a version.
APPROVERS = frozenset({Role.SERVICE_MANAGER, Role.ADMIN})
#: How many days ahead a review counts as due (GET /api/v1/documents?review=due).
REVIEW_NOTICE_DAYS = 30

#: A clause of ISO/IEC 20000-1 a document answers ("8.5.1.1", "7.5").
Clause = Annotated[str, Field(pattern=r"^([4-9]|10)(\.[0-9]{1,2}){0,3}$", max_length=16)]
Clauses: Any = Field(default_factory=list, max_length=30)
#: Where a version's content is, when it is not a file on the document.
Link = Field(default=None, pattern=r"^https?://[^\s]+$", max_length=2_000)
#: The format or medium: "PDF", "web page", "paper in the archive".
Medium = Field(min_length=1, max_length=100)
ReviewMonths = Field(ge=1, le=120)
KeepMonths = Field(ge=0, le=1_200)


class DocumentKind(StrEnum):
    POLICY = "policy"
    PLAN = "plan"
    PROCEDURE = "procedure"
    WORK_INSTRUCTION = "work_instruction"
    SERVICE_CATALOGUE = "service_catalogue"
    SLA = "sla"
    CONTRACT = "contract"
    EXTERNAL = "external"
    RECORD_TEMPLATE = "record_template"
    OTHER = "other"


#: The kinds the office publishes to its customers: a requester reads these once published.
CUSTOMER_KINDS = frozenset({DocumentKind.SERVICE_CATALOGUE, DocumentKind.SLA, DocumentKind.POLICY})


class Origin(StrEnum):
    INTERNAL = "internal"
    EXTERNAL = "external"


class Disposal(StrEnum):
    """What becomes of a version once its retention has run."""

    ARCHIVE = "archive"
    DESTROY = "destroy"


class DocumentState(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class VersionState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    PUBLISHED = "published"
    SUPERSEDED = "superseded"
    WITHDRAWN = "withdrawn"


#: A version still being made: the one a document has open at most.
OPEN_VERSION = (VersionState.DRAFT, VersionState.SUBMITTED, VersionState.APPROVED)
#: A version no longer in force: kept for its retention, then disposed of.
ENDED_VERSION = (VersionState.SUPERSEDED, VersionState.WITHDRAWN)


class Source(BaseModel):
    """Where a document of external origin comes from: its publisher and their own version."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    publisher: str = Name
    version: str = Field(min_length=1, max_length=40)


class Retention(BaseModel):
    """How long a version is kept once superseded or withdrawn, and what then becomes of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    keep_months: int = KeepMonths
    then: Disposal


class ContentRef(BaseModel):
    """A version's content: a file on the document (by its attachment id) or a link."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    attachment_id: UUID | None = None
    link: str | None = Link

    @model_validator(mode="after")
    def _one_of(self) -> ContentRef:
        if (self.attachment_id is None) == (self.link is None):
            raise ValueError("a version's content is a file (attachment_id) or a link: one")
        return self


# -- errors --------------------------------------------------------------------------------------


class AuthorCannotApprove(NotPermitted):
    """Segregation of duties: whoever drafted a version, or set its content, does not approve it."""

    code = "author-cannot-approve"


class ContentMissing(DomainError):
    """A version is submitted for approval with nothing in it."""

    code = "content-missing"


class RetentionNotElapsed(DomainError):
    """A version's disposition asked before its retention has run."""

    code = "retention-not-elapsed"


class NotDisposable(DomainError):
    """A disposition of a version still in force, still being made, or disposed of already."""

    code = "not-disposable"


class ControlledFile(NotPermitted):
    """A version's file taken off outside its disposition."""

    code = "controlled-file"


# -- dates ---------------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same day `months` later; the month's last day when it is shorter (31 January and a
    month is 28 or 29 February)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def office_day(moment: datetime) -> date:
    """The day a moment falls on in the office (Asia/Jakarta)."""
    return moment.astimezone(JAKARTA).date()


def review_due(next_review: date | None, today: date) -> bool:
    """Whether a review falls within REVIEW_NOTICE_DAYS of today, or is overdue."""
    return next_review is not None and (next_review - today).days <= REVIEW_NOTICE_DAYS


# -- events ----------------------------------------------------------------------------------------


class DocumentEvent(DomainEvent):
    """A fact in a controlled document's history."""


class Registered(DocumentEvent):
    """A document registered, its first version a draft (with its content, if given)."""

    type_name: ClassVar[str] = "Document.Registered"
    number: int = Number
    title: str = Name
    kind: DocumentKind
    owner: str = Name
    clauses: list[Clause] = Clauses
    origin: Origin
    source: Source | None = None
    medium: str = Medium
    review_months: int = ReviewMonths
    retention: Retention
    link: str | None = Link
    note: str | None = OptionalReason


class VersionDrafted(DocumentEvent):
    """A new version started, a draft of the next number (with its content, if given)."""

    type_name: ClassVar[str] = "Document.VersionDrafted"
    version: int = Number
    link: str | None = Link
    note: str | None = OptionalReason


class ContentSet(DocumentEvent):
    """A draft's content named: a file on the document, or a link."""

    type_name: ClassVar[str] = "Document.ContentSet"
    version: int = Number
    attachment_id: UUID | None = None
    link: str | None = Link


class SubmittedForApproval(DocumentEvent):
    type_name: ClassVar[str] = "Document.SubmittedForApproval"
    version: int = Number


class Approved(DocumentEvent):
    """A version approved: the approver and the time are the event's actor and timestamp."""

    type_name: ClassVar[str] = "Document.Approved"
    version: int = Number
    comment: str | None = OptionalReason


class Returned(Reasoned, DocumentEvent):
    """A submitted version sent back to its authors, a draft again, with the reason."""

    type_name: ClassVar[str] = "Document.Returned"
    version: int = Number


class Published(DocumentEvent):
    """An approved version made current; the one before it (if any) superseded."""

    type_name: ClassVar[str] = "Document.Published"
    version: int = Number
    supersedes: int | None = Field(default=None, ge=1)
    next_review: date


class Reviewed(DocumentEvent):
    """The current version reviewed and found to hold: no new version, a new review date."""

    type_name: ClassVar[str] = "Document.Reviewed"
    version: int = Number
    next_review: date
    note: str | None = OptionalReason


class ReviewDueNoticed(DocumentEvent):
    """The service noticed a review falling due (processes/document_reviews.py): once per date."""

    type_name: ClassVar[str] = "Document.ReviewDueNoticed"
    version: int = Number
    due: date


class Withdrawn(Reasoned, DocumentEvent):
    """A document withdrawn: its current version (and a version being made) end, kept on record."""

    type_name: ClassVar[str] = "Document.Withdrawn"


class VersionDisposed(DocumentEvent):
    """A superseded or withdrawn version's disposition once its retention has run: archived, or
    destroyed (its file removed, its hash and this event kept)."""

    type_name: ClassVar[str] = "Document.VersionDisposed"
    version: int = Number
    disposal: Disposal
    attachment_id: UUID | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    note: str | None = OptionalReason


class AttachmentAdded(Attached, DocumentEvent):
    """A file put on a document (domain/attachments.py), to be named as a version's content."""

    type_name: ClassVar[str] = "Document.AttachmentAdded"


class InternalAttachmentAdded(Attached, DocumentEvent):
    """A file for the staff only."""

    type_name: ClassVar[str] = "Document.InternalAttachmentAdded"


class AttachmentRemoved(Detached, DocumentEvent):
    """A file removed: a draft's for privacy, or a version's destroyed at its disposition."""

    type_name: ClassVar[str] = "Document.AttachmentRemoved"


def transition(state: DocumentState | None, event: DocumentEvent) -> DocumentState:
    """The document's state after an event: shared by the aggregate and the view."""
    match event:
        case Registered():
            return DocumentState.DRAFT
        case Published():
            return DocumentState.PUBLISHED
        case Withdrawn():
            return DocumentState.WITHDRAWN
    assert state is not None, "a document's history starts with Document.Registered"
    return state


# -- the aggregate ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Version:
    """What the decisions need of one version."""

    number: int
    state: VersionState
    authors: frozenset[str]
    content: ContentRef | None = None
    ended_on: date | None = None
    disposed: bool = False


class Document(
    Attachable,
    LifecycleAggregate[DocumentState],
    events=DocumentEvent,
    transition=transition,
    noun="document",
    attachments=(AttachmentAdded, InternalAttachmentAdded, AttachmentRemoved),
):
    KIND: ClassVar[str] = "document"

    number: int
    state: DocumentState
    owner: str
    review_months: int
    retention: Retention
    versions: Mapping[int, Version]
    current: int | None
    review_noticed: date | None

    @classmethod
    def register(
        cls,
        ctx: Context,
        *,
        id: UUID,
        number: int,
        title: str,
        kind: DocumentKind,
        owner: str,
        clauses: list[str],
        origin: Origin,
        source: Source | None,
        medium: str,
        review_months: int,
        retention: Retention,
        link: str | None = None,
        note: str | None = None,
    ) -> Document:
        if (origin is Origin.EXTERNAL) != (source is not None):
            raise ValueError("an external document names its source; an internal one none")
        return cls._begin(
            ctx,
            id,
            Registered,
            number=number,
            title=title,
            kind=kind,
            owner=owner,
            clauses=clauses,
            origin=origin,
            source=source,
            medium=medium,
            review_months=review_months,
            retention=retention,
            link=link,
            note=note,
        )

    # -- versions --------------------------------------------------------------------------------

    @property
    def open_version(self) -> Version | None:
        """The version being made (a draft, submitted or approved), if any."""
        found = [v for v in self.versions.values() if v.state in OPEN_VERSION]
        return found[0] if found else None

    def draft_version(
        self, ctx: Context, *, link: str | None = None, note: str | None = None
    ) -> int:
        """Start the next version, a draft, while the document is published and none is open."""
        self._require("draft_version", DocumentState.PUBLISHED)
        if self.open_version is not None:
            raise NothingChanged(f"version {self.open_version.number} is being made already")
        number = max(self.versions) + 1
        self._record(VersionDrafted(**self._envelope(ctx), version=number, link=link, note=note))
        return number

    def set_content(self, ctx: Context, content: ContentRef) -> None:
        """Name the draft's content: a file on the document, or a link."""
        draft = self._open(VersionState.DRAFT, "set the content of")
        if content.attachment_id is not None:
            if content.attachment_id not in self.files:
                raise AttachmentNotFound(f"no attachment {content.attachment_id} on this document")
            if content.attachment_id in self.removed_files:
                raise AttachmentAlreadyRemoved(f"attachment {content.attachment_id} was removed")
            if any(
                v.content == content for v in self.versions.values() if v.number != draft.number
            ):
                raise NothingChanged("that file is another version's content: each has its own")
        if draft.content == content:
            raise NothingChanged(f"version {draft.number} has that content already")
        self._record(
            ContentSet(
                **self._envelope(ctx),
                version=draft.number,
                attachment_id=content.attachment_id,
                link=content.link,
            )
        )

    def submit_for_approval(self, ctx: Context) -> None:
        draft = self._open(VersionState.DRAFT, "submit")
        if draft.content is None:
            raise ContentMissing(f"version {draft.number} has no content: a file or a link")
        self._record(SubmittedForApproval(**self._envelope(ctx), version=draft.number))

    def approve(self, ctx: Context, *, comment: str | None = None) -> None:
        submitted = self._open(VersionState.SUBMITTED, "approve")
        self._approver(ctx, submitted, "approve")
        self._record(Approved(**self._envelope(ctx), version=submitted.number, comment=comment))

    def return_version(self, ctx: Context, *, reason: str) -> None:
        submitted = self._open(VersionState.SUBMITTED, "return")
        self._approver(ctx, submitted, "return")
        self._record(Returned(**self._envelope(ctx), version=submitted.number, reason=reason))

    def publish(self, ctx: Context) -> None:
        """Make the approved version current; the current one is superseded."""
        approved = self._open(VersionState.APPROVED, "publish")
        self._owner_or_approver(ctx, "publish")
        self._record(
            Published(
                **self._envelope(ctx),
                version=approved.number,
                supersedes=self.current,
                next_review=add_months(office_day(ctx.at), self.review_months),
            )
        )

    def review(self, ctx: Context, *, note: str | None = None) -> None:
        """Record a review of the current version that changes nothing: its next review date."""
        self._require("review", DocumentState.PUBLISHED)
        self._owner_or_approver(ctx, "review")
        assert self.current is not None
        self._record(
            Reviewed(
                **self._envelope(ctx),
                version=self.current,
                next_review=add_months(office_day(ctx.at), self.review_months),
                note=note,
            )
        )

    def notice_review_due(self, ctx: Context, *, due: date) -> None:
        """Record that the current version's review falls due (once per due date)."""
        self._require("notice_review_due", DocumentState.PUBLISHED)
        if self.review_noticed == due:
            raise NothingChanged(f"the review due on {due} is noticed already")
        assert self.current is not None
        self._record(ReviewDueNoticed(**self._envelope(ctx), version=self.current, due=due))

    def withdraw(self, ctx: Context, *, reason: str) -> None:
        self._require("withdraw", DocumentState.DRAFT, DocumentState.PUBLISHED)
        self._approver(ctx, None, "withdraw")
        self._record(Withdrawn(**self._envelope(ctx), reason=reason))

    def dispose(self, ctx: Context, *, version: int, note: str | None = None) -> None:
        """Record the disposition of an ended version whose retention has run: archived, or
        destroyed with its file (the removal is recorded beside it)."""
        self._approver(ctx, None, "dispose of")
        found = self.versions.get(version)
        if found is None or found.state not in ENDED_VERSION or found.disposed:
            state = "missing" if found is None else "disposed" if found.disposed else found.state
            raise NotDisposable(f"version {version} is {state}: only an ended one is disposed of")
        assert found.ended_on is not None
        until = self.disposable_on(found)
        today = office_day(ctx.at)
        if today < until:
            raise RetentionNotElapsed(f"version {version} is kept until {until.isoformat()}")
        disposal = self.retention.then
        attachment_id = found.content.attachment_id if found.content is not None else None
        sha256 = None if attachment_id is None else self.files[attachment_id]
        self._record(
            VersionDisposed(
                **self._envelope(ctx),
                version=version,
                disposal=disposal,
                attachment_id=attachment_id,
                sha256=sha256,
                note=note,
            )
        )
        if (
            disposal is Disposal.DESTROY
            and attachment_id is not None
            and attachment_id not in self.removed_files
        ):
            assert sha256 is not None
            self._record(
                AttachmentRemoved(
                    **self._envelope(ctx),
                    attachment_id=attachment_id,
                    sha256=sha256,
                    reason=f"destroyed at the disposition of version {version}",
                )
            )

    def disposable_on(self, version: Version) -> date:
        """The first day an ended version may be disposed of."""
        assert version.ended_on is not None
        return add_months(version.ended_on, self.retention.keep_months)

    def remove_attachment(self, ctx: Context, *, attachment_id: UUID, reason: str) -> None:
        """A file that is a submitted version's content goes only by that version's disposition."""
        for v in self.versions.values():
            named = v.content is not None and v.content.attachment_id == attachment_id
            if named and v.state is not VersionState.DRAFT:
                raise ControlledFile(
                    f"the file is version {v.number}'s content: it goes by its disposition"
                )
        super().remove_attachment(ctx, attachment_id=attachment_id, reason=reason)

    # -- helpers --------------------------------------------------------------------------------

    def _open(self, state: VersionState, action: str) -> Version:
        """The version being made, if it is in `state`; else the action is refused."""
        found = self.open_version
        if self.state is DocumentState.WITHDRAWN or found is None or found.state is not state:
            now = (
                "withdrawn"
                if self.state is DocumentState.WITHDRAWN
                else "none"
                if found is None
                else found.state.value
            )
            raise RecordIllegalTransition("version being made", action, now)
        return found

    def _approver(self, ctx: Context, version: Version | None, action: str) -> None:
        if ctx.actor.role not in APPROVERS:
            raise NotPermitted(f"only a service manager may {action} a document's version")
        if version is not None and ctx.actor.id in version.authors:
            raise AuthorCannotApprove(
                f"{ctx.actor.id} is an author of version {version.number}: another must {action} it"
            )

    def _owner_or_approver(self, ctx: Context, action: str) -> None:
        if ctx.actor.role not in APPROVERS and ctx.actor.id != self.owner:
            raise NotPermitted(f"only its owner or a service manager may {action} a document")

    def _version(self, number: int, **changes: Any) -> None:
        self.versions = MappingProxyType(
            {**self.versions, number: replace(self.versions[number], **changes)}
        )

    def _added(self, version: Version) -> None:
        self.versions = MappingProxyType({**self.versions, version.number: version})

    @applies(Registered)
    def _registered(self, e: Registered) -> None:
        self.number = e.number
        self.owner = e.owner
        self.review_months = e.review_months
        self.retention = e.retention
        self.versions = MappingProxyType({})
        self.current = None
        self.review_noticed = None
        content = None if e.link is None else ContentRef(link=e.link)
        self._added(Version(1, VersionState.DRAFT, frozenset({e.actor.id}), content))

    @applies(VersionDrafted)
    def _version_drafted(self, e: VersionDrafted) -> None:
        content = None if e.link is None else ContentRef(link=e.link)
        self._added(Version(e.version, VersionState.DRAFT, frozenset({e.actor.id}), content))

    @applies(ContentSet)
    def _content_set(self, e: ContentSet) -> None:
        authors = self.versions[e.version].authors | {e.actor.id}
        content = ContentRef(attachment_id=e.attachment_id, link=e.link)
        self._version(e.version, content=content, authors=authors)

    @applies(SubmittedForApproval)
    def _submitted(self, e: SubmittedForApproval) -> None:
        self._version(e.version, state=VersionState.SUBMITTED)

    @applies(Approved)
    def _approved(self, e: Approved) -> None:
        self._version(e.version, state=VersionState.APPROVED)

    @applies(Returned)
    def _returned(self, e: Returned) -> None:
        self._version(e.version, state=VersionState.DRAFT)

    @applies(Published)
    def _published(self, e: Published) -> None:
        if e.supersedes is not None:
            self._version(
                e.supersedes, state=VersionState.SUPERSEDED, ended_on=office_day(e.timestamp)
            )
        self._version(e.version, state=VersionState.PUBLISHED)
        self.current = e.version

    @applies(Reviewed)
    def _reviewed(self, e: Reviewed) -> None:
        pass  # the next review date is the view's; decisions take it from the clock

    @applies(ReviewDueNoticed)
    def _review_due(self, e: ReviewDueNoticed) -> None:
        self.review_noticed = e.due

    @applies(Withdrawn)
    def _withdrawn(self, e: Withdrawn) -> None:
        ended = office_day(e.timestamp)
        for v in list(self.versions.values()):
            if v.state is VersionState.PUBLISHED or v.state in OPEN_VERSION:
                self._version(v.number, state=VersionState.WITHDRAWN, ended_on=ended)
        self.current = None

    @applies(VersionDisposed)
    def _disposed(self, e: VersionDisposed) -> None:
        self._version(e.version, disposed=True)
