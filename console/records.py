"""A record's page and its actions, one road for every kind the console shows this way (incidents,
service requests): what the kind declares (`RecordPage`: its reader, view, commands, the actions
each state offers to staff and to requesters, the facts its page lists) is all that differs.

- `GET /console/{path}/{ref}`: the record as the visitor reads it (the API's reader, in their
  context: out of reach answers 404), its SLA clocks when the kind runs them, its timeline newest
  first (events a caller never reads marked *Internal*, and never shown to callers), and a form
  for each action its state offers to the visitor, read off the command (console/forms.py).
- `POST /console/{path}/{ref}/{action}`: the command decided by the one writer, with the version
  the page showed (a later change answers 409 with what changed since, what was typed kept); a
  field's error 422 beside it, a refusal 409 in words; then the page again, once the views hold
  the change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.responses import RedirectResponse, Response

from api.attachments import ATTACHABLE, REMOVERS, attachment_on, removed, served
from api.deps import services_of, writer_of
from api.problem_details import status_of
from api.reads import Readable, record_events
from api.record_answers import written_row
from api.scoping import reads_internal
from api.sla import clock_body
from application.attachments import received
from application.kinds import Kind
from application.outcome import Outcome
from application.pipeline import Submission
from console import auth
from console.forms import Form, command_from, form_of
from console.render import render
from domain import visibility
from domain.actors import Role
from domain.attachments import RemoveAttachment
from domain.errors import AttachmentGone, DomainError, NotFound, VersionConflict
from domain.events import EVENT_TYPES
from projections.attachments import on_record
from projections.base import Projection, Row

#: The events a caller never reads (domain/visibility.py): marked *Internal* on a timeline.
INTERNAL = frozenset(
    name for name, cls in EVENT_TYPES.items() if not visibility.audience(cls).caller
)
#: What a fact of a record's page is: its label's message key, its value, and how it is shown
#: ("text", or "priority" for a P1-P5 badge).
Fact = tuple[str, Any, str]


@dataclass(frozen=True)
class RecordPage:
    kind: Kind
    path: str  # under /console/: "incidents"
    readable: Readable
    view: Projection
    commands: Mapping[str, type[BaseModel]]
    #: The actions the page offers the visitor on the record as it is, most likely first (the
    #: domain still decides: a refusal is said in words).
    offer: Callable[[auth.Visitor, Row], tuple[str, ...]]
    #: What the page lists of the record: (label's message key, value, how it is shown).
    facts: Callable[[Row, str], list[Fact]]
    #: The row's field of free text shown under the facts (an incident's description).
    body: str
    #: Who may open the record's page at all (None: every console role, the reader deciding
    #: reach) and send its actions: anyone else is answered 403, as over the API.
    readers: frozenset[Role] | None = None
    actors: frozenset[Role] | None = None
    #: The actions a requester may send at all (as the API's routes let them).
    requester_may: frozenset[str] = frozenset()
    #: The prefix of the kind's own message keys (its states', events', actions', fields').
    words: str = ""
    #: A template of the kind's own sections, shown under its facts.
    extra: str | None = None
    #: An event's fields of text a timeline shows.
    said: tuple[str, ...] = ("text", "notes", "note")
    #: Whether a timeline marks what callers never read (for a kind callers read at all).
    marks_internal: bool = True

    def may(self, who: auth.Visitor, action: str) -> bool:
        return who.staff or action in self.requester_may


def by_state(
    staff: Mapping[str, tuple[str, ...]], requester: Mapping[str, tuple[str, ...]]
) -> Callable[[auth.Visitor, Row], tuple[str, ...]]:
    """What a page offers: by the record's state, the staff's actions or the requester's."""

    def offer(who: auth.Visitor, row: Row) -> tuple[str, ...]:
        return (staff if who.staff else requester).get(row["state"], ())

    return offer


def add_record_routes(router: APIRouter, page: RecordPage) -> None:
    """The record's page and its actions' POST route, for this kind."""

    async def read(
        request: Request,
        ref: Annotated[str, Path(max_length=60)],
        done: Annotated[str | None, Query(max_length=40)] = None,
    ) -> Response:
        who = await auth.visitor(request)
        return await record_page(request, who, page, ref, done=done)

    async def act(
        request: Request,
        ref: Annotated[str, Path(max_length=60)],
        action: Annotated[str, Path(max_length=40)],
    ) -> Response:
        return await acted(request, page, ref, action)

    async def attach(request: Request, ref: Annotated[str, Path(max_length=60)]) -> Response:
        return await attached(request, page, ref)

    async def download(
        request: Request, ref: Annotated[str, Path(max_length=60)], attachment_id: UUID
    ) -> Response:
        who = await auth.visitor(request)
        services = services_of(request)
        try:
            record_id = page.readable.record_of(page.readable.row(services, who.ctx, ref))
            row = attachment_on(services, who.ctx, record_id, attachment_id)
            return served(services, row)
        except NotFound:
            return render(request, "error.html", who, status=404, problem="not-found")
        except AttachmentGone:
            return render(request, "error.html", who, status=410, problem="file-gone")

    async def remove(
        request: Request, ref: Annotated[str, Path(max_length=60)], attachment_id: UUID
    ) -> Response:
        return await removed_file(request, page, ref, attachment_id)

    name = page.kind.name
    read.__name__, act.__name__ = f"{name}_page", f"{name}_action"
    attach.__name__, download.__name__ = f"{name}_attach", f"{name}_file"
    remove.__name__ = f"{name}_remove_file"
    router.add_api_route(f"/{page.path}/{{ref}}", read, methods=["GET"])
    router.add_api_route(f"/{page.path}/{{ref}}/files", attach, methods=["POST"])
    router.add_api_route(f"/{page.path}/{{ref}}/files/{{attachment_id}}", download, methods=["GET"])
    router.add_api_route(
        f"/{page.path}/{{ref}}/files/{{attachment_id}}/remove", remove, methods=["POST"]
    )
    router.add_api_route(f"/{page.path}/{{ref}}/{{action}}", act, methods=["POST"])


#: What a record's page says it did, besides its kind's actions.
DONE = ("log", "request", "attach", "remove-file")
#: Who reads a kind's files and who attaches them (api/attachments.py: as over the API).
FILES = {kind.name: (readers, writers) for kind, _, readers, writers in ATTACHABLE}


async def attached(request: Request, page: RecordPage, ref: str) -> Response:
    """A file put on the record (multipart: `file`, and `internal` from the staff)."""
    who, posted = await auth.posted(request, FILES[page.kind.name][1])
    upload = posted.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await record_page(
            request, who, page, ref, status=422, refused=NoFileChosen("choose a file to attach")
        )
    services = services_of(request)
    try:
        record_id = page.readable.record_of(page.readable.row(services, who.ctx, ref))
    except NotFound:
        return render(request, "error.html", who, status=404, problem="not-found")
    limit = services.settings.max_attachment_bytes
    data = await upload.read(limit + 1)  # one byte more tells a file too large
    internal = who.staff and posted.get("internal") is not None
    try:
        command = await run_in_threadpool(
            received, services.blobs, upload.filename, data, limit=limit, internal=internal
        )
        submission = Submission(who.ctx, command, page.kind, ref=record_id)
        outcome = await writer_of(request).submit(submission)
    except DomainError as refused:
        return await record_page(
            request, who, page, ref, status=status_of(refused), refused=refused
        )
    await written_row(services, outcome, page.view, str(outcome.record_id))
    return RedirectResponse(f"/console/{page.path}/{ref}?done=attach", status_code=303)


async def removed_file(
    request: Request, page: RecordPage, ref: str, attachment_id: UUID
) -> Response:
    """A file taken off the record for privacy by the staff, saying why (the API's removal:
    recorded, then its bytes deleted; its hash and the reason stay on record)."""
    who, posted = await auth.posted(request, REMOVERS)
    if page.kind.name not in FILES:
        return render(request, "error.html", who, status=403, problem="forbidden")
    services = services_of(request)
    try:
        record_id = page.readable.record_of(page.readable.row(services, who.ctx, ref))
        row = attachment_on(services, who.ctx, record_id, attachment_id)
    except NotFound:
        return render(request, "error.html", who, status=404, problem="not-found")
    reason = posted.get("reason")
    try:
        command = RemoveAttachment(
            attachment_id=attachment_id, reason=reason.strip() if isinstance(reason, str) else ""
        )
    except ValidationError:
        refused = NoReasonGiven("say why the file is removed")
        return await record_page(request, who, page, ref, status=422, refused=refused)
    submission = Submission(who.ctx, command, page.kind, ref=record_id)
    try:
        await removed(request, submission, row)
    except DomainError as refused:
        return await record_page(
            request, who, page, ref, status=status_of(refused), refused=refused
        )
    return RedirectResponse(f"/console/{page.path}/{ref}?done=remove-file", status_code=303)


class NoReasonGiven(DomainError):
    """A file's removal was sent without saying why."""

    code = "no-reason-given"


class NoFileChosen(DomainError):
    """The upload form was sent without a file."""

    code = "no-file-chosen"


async def acted(request: Request, page: RecordPage, ref: str, action: str) -> Response:
    who, posted = await auth.posted(request, page.actors)
    command_type = page.commands.get(action)
    form = (
        form_of(command_type, action)
        if command_type is not None and page.may(who, action)
        else None
    )
    if command_type is None or form is None:
        return render(request, "error.html", who, status=404, problem="not-found")
    made = command_from(command_type, form, posted)
    if isinstance(made, Form):
        return await record_page(request, who, page, ref, status=422, failed=made)
    seen = _version(posted)
    submission = Submission(who.ctx, made, page.kind, ref=ref, expected_version=seen)
    try:
        outcome = await writer_of(request).submit(submission)
    except VersionConflict:
        kept = _kept(form, posted)
        return await record_page(request, who, page, ref, status=409, conflict=seen, failed=kept)
    except DomainError as refused:
        status, kept = 404 if isinstance(refused, NotFound) else 409, _kept(form, posted)
        return await record_page(
            request, who, page, ref, status=status, refused=refused, failed=kept
        )
    # the page that follows shows the change: wait (briefly) for the views to hold it
    await written_row(services_of(request), outcome, page.view, str(outcome.record_id))
    return RedirectResponse(f"/console/{page.path}/{ref}?done={action}", status_code=303)


async def record_page(
    request: Request,
    who: auth.Visitor,
    page: RecordPage,
    ref: str,
    *,
    status: int = 200,
    done: str | None = None,
    failed: Form | None = None,
    refused: DomainError | None = None,
    conflict: int | None = None,
) -> Response:
    if page.readers is not None and who.role not in page.readers:
        return render(request, "error.html", who, status=403, problem="forbidden")
    services = services_of(request)
    try:
        row = page.readable.read(services, who.ctx, ref)
    except NotFound:
        return render(request, "error.html", who, status=404, problem="not-found")
    record_id = page.readable.record_of(row)
    events = record_events(services, record_id)
    history = page.readable.history_of(services, who.ctx, record_id, events)
    sla = None
    if page.kind.sla is not None:
        rules, clock = services.desk.rulebook.judge(page.kind.sla.ticket(events), services.clock())
        sla = clock_body(page.kind.name, row["ref"], str(record_id), rules, clock)
    forms = []
    offered = page.offer(who, row) if page.actors is None or who.role in page.actors else ()
    for action in offered:
        command_type = page.commands.get(action)
        made = form_of(command_type, action) if command_type is not None else None
        if made is not None:
            forms.append(failed if failed is not None and failed.action == action else made)
    changed = (
        [e for e in history["events"] if e["version"] > conflict] if conflict is not None else []
    )
    readers, writers = FILES.get(page.kind.name, (frozenset(), frozenset()))
    files = (
        on_record(services.views, str(record_id), internal=reads_internal(who.ctx))
        if who.role in readers
        else []
    )
    return render(
        request,
        "record.html",
        who,
        status=status,
        page=page,
        row=row,
        facts=page.facts(row, who.lang),
        events=history["events"],
        internal=INTERNAL if page.marks_internal else frozenset(),
        sla=sla,
        forms=forms,
        refused=refused,
        conflict=conflict,
        changed=changed,
        files=files,
        may_attach=who.role in writers,
        may_remove=who.role in REMOVERS and who.role in readers,
        done=done if done in page.commands or done in DONE else None,
    )


async def to_new_record(
    request: Request, outcome: Outcome, page: RecordPage, done: str
) -> Response:
    """The page of a record the console just made, once the views hold it (by its id if they
    lag: the reader finds it either way)."""
    row = await written_row(services_of(request), outcome, page.view, str(outcome.record_id))
    shown = row["ref"] if row is not None else outcome.record_id
    return RedirectResponse(f"/console/{page.path}/{shown}?done={done}", status_code=303)


def _kept(form: Form, posted: FormData) -> Form:
    """The form with what was typed, to show again beside a refusal."""
    return replace(form, values={k: v for k, v in posted.items() if isinstance(v, str)})


def _version(posted: FormData) -> int | None:
    given = posted.get("version")
    if isinstance(given, str) and given.isdigit() and len(given) < 12:
        return int(given)
    return None
