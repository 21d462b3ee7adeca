"""Service requests in the console (docs/console.md, "Service requests"): a requester asks for
something from the catalogue and follows it; staff approve, fulfil and close it. The request's
page is the one road every kind takes (console/records.py); what differs is declared here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from api.deps import services_of, writer_of
from api.service_requests import REQUESTS
from application.kinds import SERVICE_REQUEST
from application.pipeline import Submission
from console import auth
from console.forms import Form, command_from, form_of
from console.records import RecordPage, add_record_routes, by_state, to_new_record
from console.render import render
from domain.errors import DomainError, NotFound
from domain.request_commands import REQUEST_COMMANDS, SubmitServiceRequest
from domain.service_request import RequestState
from projections.service_requests import catalogue, service_request_details

router = APIRouter(prefix="/console", include_in_schema=False)

S = RequestState
STAFF: dict[str, tuple[str, ...]] = {
    S.SUBMITTED: ("start-fulfilment", "cancel"),
    S.AWAITING_APPROVAL: ("approve", "reject", "cancel"),
    S.APPROVED: ("start-fulfilment", "cancel"),
    S.IN_FULFILMENT: ("complete-step", "await-requester", "fulfil", "cancel"),
    S.AWAITING_REQUESTER: ("cancel",),
    S.FULFILLED: ("close",),
}
REQUESTER: dict[str, tuple[str, ...]] = {
    S.SUBMITTED: ("cancel",),
    S.AWAITING_APPROVAL: ("cancel",),
    S.APPROVED: ("cancel",),
    S.IN_FULFILMENT: ("cancel",),
    S.AWAITING_REQUESTER: ("record-response", "cancel"),
    S.FULFILLED: ("close",),
    S.CLOSED: ("rating",),
}
#: What a requester may send at all: what the API lets them (RequestCommand.requesters_too).
REQUESTER_MAY = frozenset(
    action for action, command in REQUEST_COMMANDS.items() if command.requesters_too
)


def _facts(row: dict[str, Any], _: str) -> list[tuple[str, Any, str]]:
    approval = row.get("approval") or {}
    given = f"{len(approval.get('given') or [])} / {approval.get('needed')}"
    done = sum(1 for step in row.get("steps") or [] if step.get("done"))
    return [
        ("State", row["state"], "state"),
        ("Priority", row["priority"], "priority"),
        ("field.catalogue_item", row["catalogue_item"], "text"),
        ("field.requester", row["requester"], "text"),
        ("Approvals", given if approval.get("required") else None, "text"),
        ("Steps done", f"{done} / {len(row.get('steps') or [])}", "text"),
        ("Group", row.get("fulfilment_group"), "text"),
        ("Submitted", row["submitted_at"], "moment"),
    ]


REQUEST_PAGE = RecordPage(
    kind=SERVICE_REQUEST,
    path="requests",
    readable=REQUESTS,
    view=service_request_details,
    commands=REQUEST_COMMANDS,
    offer=by_state(STAFF, REQUESTER),
    requester_may=REQUESTER_MAY,
    facts=_facts,
    body="details",
)


@router.get("/requests/new")
async def new_request(
    request: Request, item: Annotated[str | None, Query(max_length=40)] = None
) -> Response:
    who = await auth.visitor(request)
    return render(request, "request_new.html", who, **_form(request, who, chosen=item))


@router.post("/requests/new")
async def submit_request(request: Request) -> Response:
    who, posted = await auth.posted(request)
    form = form_of(SubmitServiceRequest, "request")
    assert form is not None
    values = {
        name: value[:10_000]
        for name in ("catalogue_item", "title", "details")
        if isinstance(value := posted.get(name), str) and value.strip()
    }
    made = command_from(SubmitServiceRequest, form, values)
    if isinstance(made, Form):
        context = _form(request, who, made, values.get("catalogue_item"))
        return render(request, "request_new.html", who, status=422, **context)
    try:
        outcome = await writer_of(request).submit(Submission(who.ctx, made, SERVICE_REQUEST))
    except DomainError as refused:
        status = 422 if isinstance(refused, NotFound) else 409
        context = _form(request, who, replace(form, values=values), values.get("catalogue_item"))
        return render(request, "request_new.html", who, status=status, refused=refused, **context)
    return await to_new_record(request, outcome, REQUEST_PAGE, "request")


def _form(
    request: Request, who: auth.Visitor, form: Form | None = None, chosen: str | None = None
) -> dict[str, Any]:
    made = form or form_of(SubmitServiceRequest, "request")
    assert made is not None
    items = catalogue.rows(services_of(request).views, who.ctx)
    inputs = {i.name: i for i in made.inputs}
    return {
        "form": made,
        "items": sorted(items, key=lambda item: item["title"]),
        "chosen": chosen or made.values.get("catalogue_item", ""),
        "inputs": [inputs["title"], inputs["details"]],
        "refused": None,
    }


add_record_routes(router, REQUEST_PAGE)
