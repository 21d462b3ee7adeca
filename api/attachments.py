"""Files on incidents, service requests, problems, changes and controlled documents: upload,
list, download, remove.

The same four routes under each kind's path (`/incidents/{ref}/attachments`, ...), built once
here from the kinds that take files (application/kinds.py `ATTACHABLE`):

- POST   .../{ref}/attachments                       a multipart upload (`file`, and `internal`)
- GET    .../{ref}/attachments                       the files the caller reads
- GET    .../{ref}/attachments/{attachment_id}       the bytes (410 Gone once removed)
- POST   .../{ref}/attachments/{attachment_id}/remove  remove for privacy, with the reason

Each first finds the record within the caller's reach (a record out of reach answers 404, and
so do its files), so no byte of an upload is stored for a record the caller cannot see. An
upload's bytes are checked and stored before its event is written (application/attachments.py).
"""

# No `from __future__ import annotations`: the routes are built in a loop, and FastAPI must see
# each route's real parameter types.

import base64
import hashlib
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID, uuid5

from fastapi import APIRouter, Form, Path, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.changes import CHANGES
from api.deps import (
    AGENT_ROLES,
    CORRELATION_ID,
    IDEMPOTENCY_KEY,
    READ_ROLES,
    STAFF_READ_ROLES,
    authorised,
    documented,
    idempotency_key,
    services_of,
)
from api.documents import DOCUMENTS
from api.incidents import INCIDENTS
from api.models import AttachmentList, AttachmentOut
from api.params import record_ref
from api.problem_details import CONFLICT, NOT_FOUND, problem
from api.problem_records import PROBLEMS
from api.reads import Readable
from api.record_answers import json_response, submitted, written_row
from api.scoping import reads_internal
from api.service_requests import REQUESTS
from application.attachments import received
from application.kinds import CHANGE, DOCUMENT, INCIDENT, PROBLEM, SERVICE_REQUEST, Kind
from application.pipeline import Submission
from domain.actors import Role
from domain.attachments import ALLOWED_TYPES, RemoveAttachment
from domain.command_base import Command
from domain.context import Context
from domain.errors import AttachmentAlreadyRemoved, AttachmentGone, AttachmentNotFound
from domain.examples import example
from domain.fields import Reason
from domain.record_numbers import RecordKind
from projections.attachments import attachments, on_record, on_record_by_id
from projections.base import Row
from service.bootstrap import Services

#: The path segment the uploads go to (api/guards.py lets their bodies be as large as a file).
SEGMENT = "attachments"
AttachmentId = Annotated[UUID, Path(description="the attachment's id")]


class Upload(BaseModel):
    """An upload: the file, and whether it is for the staff only. Its type is read from its
    bytes and its name sanitised, whatever the client says of them."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"file": "(the file's bytes)", "internal": False}]},
    )

    file: UploadFile = Field(
        description="the file (at most ITSM_MAX_ATTACHMENT_BYTES)",
        json_schema_extra={"format": "binary"},
    )
    internal: bool = Field(
        default=False, description="for the staff only (with a work note); never a requester's"
    )


class Removal(Command):
    """Why a file is removed (for privacy): kept on the record with its hash."""

    model_config = example({"reason": "The screenshot shows a member's card number."})

    reason: str = Reason


#: (kind, how its records are read, who reads its files, who attaches files to it).
ATTACHABLE: tuple[tuple[Kind, Readable, frozenset[Role], frozenset[Role]], ...] = (
    (INCIDENT, INCIDENTS, READ_ROLES, AGENT_ROLES | {Role.REQUESTER}),
    (SERVICE_REQUEST, REQUESTS, READ_ROLES, AGENT_ROLES | {Role.REQUESTER}),
    (PROBLEM, PROBLEMS, STAFF_READ_ROLES, AGENT_ROLES),
    (CHANGE, CHANGES, STAFF_READ_ROLES, AGENT_ROLES),
    (DOCUMENT, DOCUMENTS, STAFF_READ_ROLES, AGENT_ROLES),
)

ROUTERS: list[APIRouter] = []


def _attachment_id(record_id: UUID, data: bytes, key: str | None) -> UUID | None:
    """A retried upload (the same Idempotency-Key, the same bytes) names the same attachment, so
    that the pipeline finds the first request's outcome; without a key, a new id."""
    if key is None:
        return None
    return uuid5(record_id, f"{hashlib.sha256(data).hexdigest()}:{key}")


def content_disposition(name: str) -> str:
    """`attachment` (never shown inline), with the name as ASCII and as UTF-8 (RFC 6266)."""
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def _add_routes(
    kind: Kind, readable: Readable, readers: frozenset[Role], writers: frozenset[Role]
) -> None:
    noun = readable.noun
    slug = noun.replace(" ", "_")
    assert kind.prefix is not None
    Ref = Annotated[str, record_ref(kind.prefix)]
    reader = authorised(readers, f"read {noun}s' attachments")
    writer = authorised(writers, f"attach files to {noun}s")
    remover = authorised(REMOVERS, f"remove {noun}s' attachments")
    router = APIRouter(prefix=kind.path, tags=["attachments"])

    def record_id_of(services: Services, ctx: Context, ref: str) -> UUID:
        return readable.record_of(readable.row(services, ctx, ref))

    async def upload(
        request: Request,
        ref: Ref,
        ctx: Annotated[Context, writer],
        form: Annotated[Upload, Form(media_type="multipart/form-data")],
    ) -> Response:
        file, internal = form.file, form.internal
        services = services_of(request)
        record_id = record_id_of(services, ctx, ref)
        limit = services.settings.max_attachment_bytes
        data = await file.read(limit + 1)  # one byte more tells a file too large
        key = idempotency_key(request)
        command = await run_in_threadpool(
            received,
            services.blobs,
            file.filename or "",
            data,
            limit=limit,
            internal=internal,
            attachment_id=_attachment_id(record_id, data, key),
        )
        services, outcome = await submitted(
            request,
            Submission(
                ctx,
                command,
                kind,
                ref=record_id,
                operation=f"{slug}:attach",
                idempotency_key=key,
            ),
        )
        attachment = str(command.attachment_id)
        location = f"/api/v1{kind.path}/{record_id}/{SEGMENT}/{attachment}"
        row = await written_row(services, outcome, attachments, attachment)
        if row is None:
            return problem(
                202,
                "projection-lag",
                "the file is recorded; the views will show it shortly",
                headers={"Location": location},
                id=attachment,
            )
        return json_response(row, 201, {"Location": location})

    def listed(request: Request, ref: Ref, ctx: Annotated[Context, reader]) -> Response:
        services = services_of(request)
        record_id = record_id_of(services, ctx, ref)
        rows = on_record(services.views, str(record_id), internal=reads_internal(ctx))
        return json_response({"items": rows})

    def download(
        request: Request, ref: Ref, attachment_id: AttachmentId, ctx: Annotated[Context, reader]
    ) -> Response:
        services = services_of(request)
        row = attachment_on(services, ctx, record_id_of(services, ctx, ref), attachment_id)
        return served(services, row)

    async def remove(
        request: Request,
        ref: Ref,
        attachment_id: AttachmentId,
        body: Removal,
        ctx: Annotated[Context, remover],
    ) -> Response:
        services = services_of(request)
        record_id = record_id_of(services, ctx, ref)
        row = attachment_on(services, ctx, record_id, attachment_id)
        command = RemoveAttachment(attachment_id=attachment_id, reason=body.reason)
        submission = Submission(
            ctx,
            command,
            kind,
            ref=record_id,
            operation=f"{slug}:remove-attachment",
            idempotency_key=idempotency_key(request),
        )
        written = await removed(request, submission, row)
        return json_response(written or row)

    _register(router, noun, upload, listed, download, remove)
    ROUTERS.append(router)


async def removed(request: Request, submission: Submission, row: Row) -> Row | None:
    """A file removed for privacy (the API's route and the console's): the removal recorded,
    then its bytes deleted; the file's row once the views hold the removal. A crash between
    leaves bytes no download serves (the row says removed), deleted when it is asked again."""
    try:
        services, outcome = await submitted(request, submission)
    except AttachmentAlreadyRemoved:
        # a crash after an earlier removal was recorded may have left its bytes: not now
        await run_in_threadpool(services_of(request).blobs.delete, row["sha256"])
        raise
    await run_in_threadpool(services.blobs.delete, row["sha256"])
    return await written_row(services, outcome, attachments, str(row["id"]))


#: Who removes a kind's files for privacy (the staff, as over the API).
REMOVERS = AGENT_ROLES


def _register(router: APIRouter, noun: str, *routes: Callable[..., Any]) -> None:
    """The four routes (upload, list, download, remove) of one kind on its router."""
    upload, listed, download, remove = routes
    slug = noun.replace(" ", "_")
    path = f"/{{ref}}/{SEGMENT}"
    names = f"{slug}_attachment"
    write = documented(IDEMPOTENCY_KEY, CORRELATION_ID)
    router.add_api_route(
        path,
        upload,
        methods=["POST"],
        status_code=201,
        response_model=AttachmentOut,
        responses={**NOT_FOUND, **_UPLOAD_PROBLEMS},
        summary=f"Attach a file to a {noun} (multipart)",
        openapi_extra=write,
        name=f"attach_{names}",
    )
    router.add_api_route(
        path,
        listed,
        methods=["GET"],
        response_model=AttachmentList,
        responses=NOT_FOUND,
        summary=f"The files on a {noun}",
        name=f"list_{names}s",
    )
    router.add_api_route(
        f"{path}/{{attachment_id}}",
        download,
        methods=["GET"],
        response_class=Response,
        responses={
            200: {
                "description": "the file's bytes, of the type read from them",
                "content": {
                    content_type: {"schema": {"type": "string", "format": "binary"}}
                    for content_type in sorted(ALLOWED_TYPES)
                },
            },
            **NOT_FOUND,
            410: {"description": "removed for privacy"},
        },
        summary=f"Download a file of a {noun}",
        name=f"download_{names}",
    )
    router.add_api_route(
        f"{path}/{{attachment_id}}/remove",
        remove,
        methods=["POST"],
        response_model=AttachmentOut,
        responses={**NOT_FOUND, **CONFLICT},
        summary=f"Remove a file of a {noun} for privacy (its hash stays on record)",
        openapi_extra=write,
        name=f"remove_{names}",
    )


_UPLOAD_PROBLEMS: dict[int | str, dict[str, Any]] = {
    413: {"description": "the file is larger than the limit (ITSM_MAX_ATTACHMENT_BYTES)"},
    415: {"description": "the file's bytes are of no allowed type"},
}


def served(services: Services, row: Any) -> Response:
    """A file's bytes, as a download (never shown inline), unless removed (410)."""
    attachment_id = row["id"]
    if row["removed"] is not None:
        raise AttachmentGone(f"attachment {attachment_id} was removed for privacy")
    data = services.blobs.get(row["sha256"])
    if data is None:  # the same bytes were removed from another record
        raise AttachmentGone(f"the bytes of attachment {attachment_id} were removed")
    digest = base64.b64encode(bytes.fromhex(row["sha256"])).decode()
    return Response(
        data,
        media_type=row["content_type"],
        headers={
            "Content-Disposition": content_disposition(row["name"]),
            "ETag": f'"{row["sha256"]}"',
            "Repr-Digest": f"sha-256=:{digest}:",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "private, no-store",
        },
    )


def attachment_on(services: Services, ctx: Context, record_id: UUID, attachment_id: UUID) -> Any:
    """The row of a file on the record, if the caller reads it (a requester: not the staff's)."""
    row = on_record_by_id(
        services.views, str(record_id), str(attachment_id), internal=reads_internal(ctx)
    )
    if row is None:
        raise AttachmentNotFound(f"no attachment {attachment_id} on this record")
    return row


for _kind, _readable, _readers, _writers in ATTACHABLE:
    _add_routes(_kind, _readable, _readers, _writers)


# -- a controlled document's current content, for everyone who reads the document ---------------

_documents = APIRouter(prefix=DOCUMENT.path, tags=["documents"])
DocumentRef = Annotated[str, record_ref(RecordKind.DOCUMENT.value)]
_document_reader = authorised(READ_ROLES, "read documents")


def document_content(
    request: Request, ref: DocumentRef, ctx: Annotated[Context, _document_reader]
) -> Response:
    """The content of the version in force: its file, or a redirect to its link. Whoever reads
    the document reads this (a requester, a published customer document: docs/documents.md),
    though only staff read the document's other files."""
    services = services_of(request)
    row = DOCUMENTS.row(services, ctx, ref)
    current = row["current_version"]
    content = next((v["content"] for v in row["versions"] if v["number"] == current), None)
    if content is None:
        raise AttachmentNotFound(f"{row['ref']} has no version in force")
    if content["link"] is not None:
        return Response(status_code=303, headers={"Location": content["link"]})
    file = on_record_by_id(services.views, row["id"], content["attachment_id"], internal=True)
    if file is None:
        raise AttachmentNotFound(f"the file of {row['ref']} is not on record yet")
    return served(services, file)


_documents.add_api_route(
    "/{ref}/content",
    document_content,
    methods=["GET"],
    response_class=Response,
    responses={
        200: {
            "description": "the file of the version in force",
            "content": {
                content_type: {"schema": {"type": "string", "format": "binary"}}
                for content_type in sorted(ALLOWED_TYPES)
            },
        },
        303: {"description": "the version in force is a link: Location names it"},
        **NOT_FOUND,
        410: {"description": "destroyed, or removed"},
    },
    summary="The content of a document's version in force: its file, or a redirect to its link",
    name="get_document_content",
)
ROUTERS.append(_documents)
