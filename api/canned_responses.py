"""Canned responses: the helpdesk's careful words, kept by the agents (any staff member who works
tickets creates, revises and retires them) and read by staff; a requester never sees them, only
the comment one becomes. Using one is an incident's action, `POST /api/v1/incidents/{ref}/reply`
(docs/incidents.md, "Canned responses")."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from api.deps import AGENT_ROLES, STAFF_READ_ROLES, authorised
from api.directory import add_coded_actions, by_code
from api.models import CannedResponseDetails, CannedResponseList
from api.reads import Readable, coded
from api.record_routes import RecordRoutes
from api.routing import ResourceRouter
from application.kinds import CANNED_RESPONSE
from domain.canned_response import (
    CANNED_RESPONSE_COMMANDS,
    CreateCannedResponse,
    ResponseState,
    UnknownCannedResponse,
    canned_response_id,
)
from domain.context import Context
from domain.directory import CODE_PATTERN
from projections.canned_responses import canned_responses
from projections.queries import BY_CODE, SHARED, View

router = ResourceRouter(prefix="/canned-responses", tags=["canned responses"])

CodePath = Annotated[
    str, Path(min_length=1, max_length=80, pattern=CODE_PATTERN, examples=["kartu-hilang"])
]
#: Every response to the staff, by code.
RESPONSES = Readable(
    View(canned_responses, SHARED, BY_CODE),
    "canned response",
    coded(canned_response_id),
    not_found=UnknownCannedResponse,
)
StaffReaderDep = Annotated[Context, authorised(STAFF_READ_ROLES, "read canned responses")]

ROUTES = RecordRoutes(
    router,
    RESPONSES,
    CANNED_RESPONSE,
    CannedResponseDetails,
    ref=CodePath,
    reader=StaffReaderDep,
    param="ref",
)
ROUTES.add_create(
    CreateCannedResponse,
    name="create_canned_response",
    caller=authorised(AGENT_ROLES, "keep canned responses"),
    summary="Create a canned response (its words may name {{ caller_name }}, {{ number }}, ...)",
    located=by_code,
)
ROUTES.add_list(
    name="list_canned_responses",
    model=CannedResponseList,
    summary="List canned responses by code",
    filters={"state": ResponseState | None},
)
ROUTES.add_read(
    name="get_canned_response",
    summary="Read a canned response by code (as it is now, or as of a moment)",
    history_name="get_canned_response_history",
)
add_coded_actions(ROUTES, CANNED_RESPONSE_COMMANDS.values(), AGENT_ROLES)
