"""Inbound mail: what became of each message the helpdesk mailbox received (docs/mail-in.md),
for the admins who run the service and the auditors who check that nothing received was lost;
and the replay of a dead letter, by an admin, once its cause is gone (the sender registered,
the record reopened by staff...).
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Query, Request
from fastapi.responses import Response

from api.deps import authorised, services_of
from api.disclosures import disclosed
from api.models import InboundMailList, MailReplayOut
from api.pages import Cursor, Limit
from api.problem_details import CONFLICT, NOT_FOUND, ApiProblem
from api.record_answers import json_response
from api.routing import ResourceRouter
from application.mail_in import MailIn
from domain.actors import Role
from domain.context import Context
from domain.disclosure import DisclosureKind
from infra.kept_mail import KeptMailMissing
from projections.inbound_mail import listed

router = ResourceRouter(prefix="/inbound-mail", tags=["inbound mail"])

READERS = Annotated[
    Context, authorised(frozenset({Role.ADMIN, Role.AUDITOR}), "read the inbound mail")
]
REPLAYERS = Annotated[Context, authorised(frozenset({Role.ADMIN}), "replay inbound mail")]
State = Literal["applied", "ignored", "dead"]

_CURSOR = re.compile(rb"m:([0-9T:.+\-]{19,40})\|([0-9a-f-]{36})")
_building = threading.Lock()


def _encode(received_at: str, key: str) -> str:
    return base64.urlsafe_b64encode(f"m:{received_at}|{key}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, binascii.Error):
        raw = b""
    found = _CURSOR.fullmatch(raw)
    if found is None:
        raise ApiProblem(422, "invalid-input", "the cursor is not one this API issued")
    return found[1].decode(), found[2].decode()


def mail_in_of(request: Request) -> MailIn:
    """The application of inbound mail for this process, made on first use."""
    made: MailIn | None = getattr(request.app.state, "mail_in", None)
    if made is None:
        with _building:
            made = getattr(request.app.state, "mail_in", None)
            if made is None:
                from processes.mail_in import mail_in_of as build

                made = build(services_of(request))
                request.app.state.mail_in = made
    return made


@router.get(
    "",
    response_model=InboundMailList,
    summary="The messages the helpdesk mailbox received, newest first, and what became of each",
)
def list_inbound_mail(
    request: Request,
    ctx: READERS,
    state: Annotated[
        State | None, Query(description="only these: dead for the dead letters")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    after = None if cursor is None else _decode(cursor)
    rows = listed(services_of(request).views, state=state, after=after, limit=limit + 1)
    disclosed(request, ctx, DisclosureKind.SENSITIVE_RECORD, record="inbound_mail")
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode(rows[-1]["received_at"], rows[-1]["id"]) if more and rows else None
    return json_response({"items": rows, "next_cursor": next_cursor}, 200)


@router.post(
    "/{mail_id}/replay",
    response_model=MailReplayOut,
    summary="Apply a dead letter again from its kept bytes (Replayed, then the new outcome)",
    responses={**NOT_FOUND, **CONFLICT},
)
def replay_inbound_mail(mail_id: UUID, request: Request, ctx: REPLAYERS) -> Response:
    try:
        result = mail_in_of(request).replay(ctx, mail_id)
    except KeptMailMissing as missing:
        raise ApiProblem(409, "mail-bytes-missing", str(missing)) from None
    return json_response(
        {
            "id": str(result.mail_id),
            "outcome": result.outcome,
            "action": result.action,
            "record_ref": result.record_ref,
            "reason": result.reason,
        },
        200,
    )
