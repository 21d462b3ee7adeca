"""The register of controlled documents (ISO/IEC 20000-1 7.5): register, read with every version,
list (by kind, state, owner, clause, and `review=due`: a review within 30 days or overdue),
history, and one POST per step of a version's life (projections/documents.py says who reads
what). A version's file is uploaded to /documents/{ref}/attachments (api/attachments.py) and named
as its content; its disposition, when the rule is to destroy, deletes the file's bytes once the
disposition is on record, as a removal for privacy does.
"""

# No `from __future__ import annotations`: the per-action routes are built in a loop, and FastAPI
# must see each route's real body type.

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Body, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import (
    AGENT_ROLES,
    ReaderDep,
    ServicesDep,
    StaffReaderDep,
    authorised,
    expected_version,
    idempotency_key,
)
from api.models import DocumentDetails, DocumentList
from api.pages import Cursor, Limit, decode_cursor, page_body
from api.params import record_ref
from api.reads import Readable, numbered, shown_row
from api.record_answers import add_action_route, answer, json_response, submitted
from api.record_routes import RecordRoutes
from api.routing import ResourceRouter
from application.kinds import DOCUMENT
from application.pipeline import Submission
from domain.change_commands import RecordCommand
from domain.context import Context
from domain.document import (
    APPROVERS,
    REVIEW_NOTICE_DAYS,
    Disposal,
    DocumentKind,
    DocumentState,
    VersionDisposed,
    office_day,
)
from domain.document_commands import (
    DOCUMENT_COMMANDS,
    DisposeDocumentVersion,
    RegisterDocument,
)
from domain.record_numbers import RecordKind
from projections.documents import clause_index, documents
from projections.queries import Filter

router = ResourceRouter(prefix="/documents", tags=["documents"])

DocumentRef = Annotated[str, record_ref(RecordKind.DOCUMENT.value)]
DOCUMENTS = Readable(documents, "document", numbered(RecordKind.DOCUMENT))
#: The steps any staff member may take (the domain checks authorship and ownership); approving,
#: returning, withdrawing and disposing are a service manager's.
MAKERS = frozenset({"draft-version", "set-content", "submit-for-approval", "publish", "review"})


class ReviewFilter(StrEnum):
    DUE = "due"


def _roles(command: type[RecordCommand]) -> frozenset[Any]:
    return AGENT_ROLES if command.action in MAKERS else APPROVERS


ROUTES = RecordRoutes(
    router, DOCUMENTS, DOCUMENT, DocumentDetails, ref=DocumentRef, reader=ReaderDep
)
ROUTES.add_create(
    RegisterDocument,
    name="register_document",
    caller=authorised(AGENT_ROLES, "register documents"),
    summary="Register a controlled document, its first version a draft",
)


@router.get(
    "",
    response_model=DocumentList,
    summary="The register of controlled documents, newest first (review=due: a review within"
    f" {REVIEW_NOTICE_DAYS} days or overdue)",
)
def list_documents(
    services: ServicesDep,
    ctx: ReaderDep,
    kind: DocumentKind | None = None,
    state: DocumentState | None = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    clause: Annotated[
        str | None, Query(pattern=r"^([4-9]|10)(\.[0-9]{1,2}){0,3}$", max_length=16)
    ] = None,
    review: ReviewFilter | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    due_by = None
    if review is ReviewFilter.DUE:
        due_by = (office_day(ctx.at) + timedelta(days=REVIEW_NOTICE_DAYS)).isoformat()
        state = state or DocumentState.PUBLISHED
    kept = Filter(
        equal={"kind": kind, "state": state, "owner": owner},
        contains={"clause_index": None if clause is None else clause_index([clause])},
        at_most={"next_review": due_by},
    )
    after = None if cursor is None else decode_cursor(cursor, documents.order)
    page = documents.page(services.views, ctx, kept, limit=limit, after=after)
    projection = documents.projection
    return json_response(page_body(page, lambda row: shown_row(services, ctx, projection, row)))


ROUTES.add_read(
    name="get_document",
    summary="Read a controlled document by id or number (DOC-000001), with every version",
    history_reader=StaffReaderDep,
)
ROUTES.add_actions(
    (c for c in DOCUMENT_COMMANDS.values() if c is not DisposeDocumentVersion), roles_of=_roles
)

_disposer = authorised(APPROVERS, "dispose of documents' versions")


async def dispose_document(
    request: Request,
    ref: DocumentRef,
    ctx: Annotated[Context, _disposer],
    command: Annotated[DisposeDocumentVersion, Body()],
) -> Response:
    services, outcome = await submitted(
        request,
        Submission(
            ctx,
            command,
            DOCUMENT,
            ref=ref,
            operation="document:dispose",
            expected_version=expected_version(request),
            idempotency_key=idempotency_key(request),
        ),
    )
    # The disposition is on record: now a destroyed version's bytes go. A crash between leaves
    # bytes no download serves (the file reads removed), which `itsm attachments sweep` deletes.
    for event in services.desk.events_until(outcome.record_id, outcome.version):
        if not isinstance(event, VersionDisposed) or event.version != command.version:
            continue
        if event.disposal is Disposal.DESTROY and event.sha256 is not None:
            await run_in_threadpool(services.blobs.delete, event.sha256)
    location = f"/api/v1/documents/{outcome.record_id}"
    return await answer(services, outcome, documents.projection, location, 200, ctx=ctx)


add_action_route(
    router, DisposeDocumentVersion, dispose_document, name="dispose_document", model=DocumentDetails
)
