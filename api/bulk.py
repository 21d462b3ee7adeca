"""POST /api/v1/incidents/bulk: one action (assign, add a comment, resolve, close) on up to N
incidents, named or found by a saved filter (docs/bulk-and-filters.md).

Each record is decided on its own (application/bulk.py); the answer is 200 with one outcome per
record, in the order named (a filter's: newest first): the record's new version, or the problem
(RFC 9457 fields) its own action would have answered. A record out of the caller's reach answers
as a missing one, exactly as alone.
"""

# No `from __future__ import annotations`: FastAPI must see the body's real (union) type.

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import Body, Request, Response

from api.deps import (
    AGENT_ROLES,
    CORRELATION_ID,
    IDEMPOTENCY_KEY,
    authorised,
    documented,
    idempotency_key,
    services_of,
    writer_of,
)
from api.models import BulkOutcome
from api.problem_details import NOT_FOUND, ApiProblem, problem_body, status_of
from api.record_answers import json_response
from api.routing import ResourceRouter
from api.saved_filters import incident_filter
from application import bulk
from application.outcome import Outcome
from domain.context import Context
from domain.errors import DomainError
from projections.incident_details import incidents

router = ResourceRouter(prefix="/incidents", tags=["bulk actions"])

WorkerDep = Annotated[Context, authorised(AGENT_ROLES, "act on incidents in bulk")]
#: A body of each action, for the OpenAPI document (and the generated clients' docs).
EXAMPLES = [
    {"action": "assign", "incidents": ["INC-000041", "INC-000042"], "assign": {"group": "kiosk"}},
    {
        "action": "add-comment",
        "filter": "0b5c3a52-7d1e-4c8f-9a61-3e2f4d5c6b7a",
        "add_comment": {"text": "Teknisi menuju lokasi."},
    },
    {
        "action": "resolve",
        "incidents": ["INC-000041"],
        "resolve": {"code": "fixed", "notes": "Kiosk dinyalakan ulang."},
    },
    {"action": "close", "incidents": ["INC-000041"]},
]


def _targets(request: Request, ctx: Context, body: bulk.BulkTargets) -> list[str | UUID]:
    """The records named, or those the saved filter finds now (refused whole if more than the
    setting allows)."""
    services = services_of(request)
    most = min(services.settings.bulk_max_records, bulk.BULK_CEILING)
    if body.incidents is not None:
        if len(body.incidents) > most:
            raise ApiProblem(
                422, "too-many-records", f"a bulk action names at most {most} incidents"
            )
        return list(body.incidents)
    kept = incident_filter(services, ctx, body.filter, {})
    page = incidents.page(services.views, ctx, kept, limit=most)
    if page.after is not None:
        raise ApiProblem(
            422,
            "too-many-records",
            f"the filter finds more than {most} incidents; narrow it, or act on them by number",
        )
    return [UUID(row["id"]) for row in page.rows]


def _outcome(ref: str | UUID, result: Outcome | BaseException) -> dict[str, Any]:
    if isinstance(result, Outcome):
        return {
            "ref": str(ref),
            "id": str(result.record_id),
            "status": 200,
            "version": result.version,
        }
    assert isinstance(result, DomainError)
    return {"ref": str(ref), **problem_body(status_of(result), result.code, result.detail)}


@router.post(
    "/bulk",
    response_model=BulkOutcome,
    summary="Assign, comment on, resolve or close up to N incidents, each on its own",
    responses=NOT_FOUND,  # a saved filter named that the caller does not keep
    openapi_extra=documented(IDEMPOTENCY_KEY, CORRELATION_ID),
)
async def act_in_bulk(
    request: Request, ctx: WorkerDep, body: Annotated[bulk.BulkAction, Body(examples=EXAMPLES)]
) -> Response:
    refs = _targets(request, ctx, body)
    submissions = bulk.submissions(ctx, body.command(), refs, idempotency_key(request))
    writer = writer_of(request)
    results = await asyncio.gather(*(writer.submit(s) for s in submissions), return_exceptions=True)
    for result in results:
        if not isinstance(result, Outcome | DomainError):
            raise result  # the store failed, not a record's rule: answered as any request's
    items = [_outcome(s.ref or "", r) for s, r in zip(submissions, results, strict=True)]
    done = sum(1 for item in items if item["status"] == 200)
    return json_response(
        {"action": body.action, "succeeded": done, "failed": len(items) - done, "items": items}
    )
