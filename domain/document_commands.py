"""Commands on the register of controlled documents (domain/document.py): register one, and one
action per step of a version's life, a review, a withdrawal and a disposition."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import model_validator

from domain.change_commands import RecordCommand
from domain.command_base import Command, by_action
from domain.context import Context
from domain.directory import responsible
from domain.document import (
    Clause,
    Clauses,
    ContentRef,
    Document,
    DocumentKind,
    Link,
    Medium,
    Origin,
    Retention,
    ReviewMonths,
    Source,
)
from domain.examples import example
from domain.fields import Name, Number, OptionalReason, Reasoned
from domain.legal_hold import check_not_held
from domain.record_numbers import RecordKind
from domain.session import Session


class RegisterDocument(Command):
    model_config = example(
        {
            "title": "Panduan INLISLite v3.2",
            "kind": "external",
            "owner": "andi.wijaya",
            "clauses": ["8.5.1.1", "7.5.3"],
            "origin": "external",
            "source": {"publisher": "Perpustakaan Nasional RI", "version": "3.2"},
            "medium": "PDF",
            "review_months": 12,
            "retention": {"keep_months": 60, "then": "archive"},
            "link": "https://inlislite.perpusnas.go.id/panduan-3.2.pdf",
        }
    )

    title: str = Name
    kind: DocumentKind
    owner: str = Name
    clauses: list[Clause] = Clauses
    origin: Origin = Origin.INTERNAL
    source: Source | None = None
    medium: str = Medium
    review_months: int = ReviewMonths
    retention: Retention
    link: str | None = Link
    note: str | None = OptionalReason

    @model_validator(mode="after")
    def _source_of_external(self) -> RegisterDocument:
        if (self.origin is Origin.EXTERNAL) != (self.source is not None):
            raise ValueError(
                "an external document names its source (publisher, version); an"
                " internal one names none"
            )
        return self

    def decide(self, session: Session, ctx: Context) -> UUID:
        responsible(session, self.owner, "own a document")
        document_id = session.new_id()
        session.add(
            Document.register(
                ctx,
                id=document_id,
                number=session.allocate(RecordKind.DOCUMENT, document_id),
                title=self.title,
                kind=self.kind,
                owner=self.owner,
                clauses=list(dict.fromkeys(self.clauses)),
                origin=self.origin,
                source=self.source,
                medium=self.medium,
                review_months=self.review_months,
                retention=self.retention,
                link=self.link,
                note=self.note,
            )
        )
        return document_id


class DocumentCommand(RecordCommand):
    """An action on one document: POST /api/v1/documents/{ref}/{action}."""

    def decide(self, session: Session, ctx: Context, document_id: UUID) -> UUID:
        self.execute(session.get(Document, document_id), session, ctx)
        return document_id

    def execute(self, document: Document, session: Session, ctx: Context) -> None:
        self.call_action(document, ctx)


class DraftDocumentVersion(DocumentCommand):
    model_config = example({"note": "Kiosk restarts moved to the night"})

    action = "draft-version"
    summary = "Start the next version of a published document, a draft"
    link: str | None = Link
    note: str | None = OptionalReason


class SetDocumentContent(DocumentCommand):
    model_config = example({"attachment_id": "0b6f5a52-4f0e-4a43-8c1f-71e2f6d9c3a4"})

    action = "set-content"
    summary = "Name the draft's content: a file attached to the document, or a link"
    attachment_id: UUID | None = None
    link: str | None = Link

    @model_validator(mode="after")
    def _one_of(self) -> SetDocumentContent:
        if (self.attachment_id is None) == (self.link is None):
            raise ValueError("a version's content is a file (attachment_id) or a link: one")
        return self

    def execute(self, document: Document, session: Session, ctx: Context) -> None:
        document.set_content(ctx, ContentRef(attachment_id=self.attachment_id, link=self.link))


class SubmitDocumentVersion(DocumentCommand):
    model_config = example({})

    action = "submit-for-approval"
    summary = "Submit the draft for approval by a service manager who is not its author"

    def execute(self, document: Document, session: Session, ctx: Context) -> None:
        document.submit_for_approval(ctx)


class ApproveDocumentVersion(DocumentCommand):
    model_config = example({"comment": "Sesuai dengan kebijakan layanan"})

    action = "approve"
    summary = "Approve the submitted version (a service manager, not its author)"
    comment: str | None = OptionalReason


class ReturnDocumentVersion(Reasoned, DocumentCommand):
    model_config = example({"reason": "Name the kiosk team as the owner of step 3"})

    action = "return"
    summary = "Send the submitted version back to its authors, a draft again, saying why"

    def execute(self, document: Document, session: Session, ctx: Context) -> None:
        document.return_version(ctx, reason=self.reason)


class PublishDocumentVersion(DocumentCommand):
    model_config = example({})

    action = "publish"
    summary = "Publish the approved version: it becomes current, the one before it superseded"


class ReviewDocument(DocumentCommand):
    model_config = example({"note": "Still holds: no change of kiosk supplier"})

    action = "review"
    summary = "Record a review of the current version that changes nothing, and its next date"
    note: str | None = OptionalReason


class WithdrawDocument(Reasoned, DocumentCommand):
    model_config = example({"reason": "The e-book platform's contract ended"})

    action = "withdraw"
    summary = "Withdraw a document, saying why (its versions stay on record)"


class DisposeDocumentVersion(DocumentCommand):
    model_config = example({"version": 1, "note": "Retention of five years has run"})

    action = "dispose"
    summary = (
        "Record the disposition of a superseded or withdrawn version once its retention has run:"
        " archived, or destroyed with its file, as the document's retention rule says"
    )
    version: int = Number
    note: str | None = OptionalReason

    def execute(self, document: Document, session: Session, ctx: Context) -> None:
        check_not_held(session, document.id, "its disposition")
        self.call_action(document, ctx)


class NoticeDocumentReviewDue(Command):
    """The service's own: a document's review falls due (processes/document_reviews.py)."""

    due: date

    def decide(self, session: Session, ctx: Context, document_id: UUID) -> UUID:
        session.get(Document, document_id).notice_review_due(ctx, due=self.due)
        return document_id


DOCUMENT_COMMANDS = by_action(
    DraftDocumentVersion,
    SetDocumentContent,
    SubmitDocumentVersion,
    ApproveDocumentVersion,
    ReturnDocumentVersion,
    PublishDocumentVersion,
    ReviewDocument,
    WithdrawDocument,
    DisposeDocumentVersion,
)
