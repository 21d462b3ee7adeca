"""Problems: log, read, list, history, one POST per lifecycle action and link; the known error
database (searched by the staff, each published known error read by anyone: self-help); and the
report of incidents recurring after a problem was closed."""

# No `from __future__ import annotations`: the per-action routes are built in a loop, and FastAPI
# must see each route's real body type.

from dataclasses import replace
from datetime import UTC, timedelta
from typing import Annotated, Any

from fastapi import Query, Response

from api.deps import AGENT_ROLES, ReaderDep, ServicesDep, StaffReaderDep, authorised
from api.models import (
    KnownErrorList,
    ProblemCandidates,
    ProblemDetails,
    ProblemList,
    PublishedKnownError,
    RecurrenceList,
)
from api.pages import Cursor, Limit, decode_cursor, page_body
from api.params import ProblemRef
from api.reads import Readable, numbered
from api.record_answers import json_response
from api.record_routes import RecordRoutes
from api.routing import ResourceRouter
from api.search import ListQ, searched_keys
from application.kinds import PROBLEM
from domain.actors import Role
from domain.context import Context
from domain.problem import ProblemState
from domain.problem_candidates import (
    DEFAULT_DAYS,
    DEFAULT_THRESHOLD,
    MAX_DAYS,
    MAX_LISTED,
    MAX_THRESHOLD,
    MIN_THRESHOLD,
    Candidate,
    Occurrence,
    candidates,
)
from domain.problem_commands import PROBLEM_COMMANDS, LogProblem
from domain.record_numbers import RecordKind
from domain.records import incident_number_label
from domain.saved_filter import RecordList
from projections.base import iso
from projections.configuration_items import items
from projections.problems import (
    candidate_occurrences,
    incidents_after,
    known_error_face,
    known_error_filter,
    known_error_views,
    problem_queue,
    problems,
    problems_by_priority,
    published_known_errors,
)
from projections.queries import Filter
from service.bootstrap import Services

router = ResourceRouter(prefix="/problems", tags=["problems"])
known = ResourceRouter(prefix="/known-errors", tags=["problems"])

PROBLEM_ACTORS = AGENT_ROLES
#: How problems are read: the staff's, a requester reaches none (projections/problems.py).
PROBLEMS = Readable(problems, "problem", numbered(RecordKind.PROBLEM))
#: How a published known error is read: by anyone, by its problem's number or id.
KNOWN_ERRORS = Readable(published_known_errors, "known error", numbered(RecordKind.PROBLEM))


ROUTES = RecordRoutes(
    router, PROBLEMS, PROBLEM, ProblemDetails, ref=ProblemRef, reader=StaffReaderDep
)
ROUTES.add_create(
    LogProblem,
    name="log_problem",
    caller=authorised(PROBLEM_ACTORS, "log problems"),
    summary="Log a problem, on its own or from incidents (each linked both ways)",
)
#: A priority, as a list asks for it: 1 (P1) to 5.
PriorityParam = Annotated[int | None, Query(ge=1, le=5, description="1 (P1) to 5")]

ROUTES.add_list(
    name="list_problems",
    model=ProblemList,
    summary="List problems, newest first",
    filters={
        "state": ProblemState | None,
        "service": Annotated[str | None, Query(max_length=200)],
        "priority": PriorityParam,
    },
    searched=True,
    saved=RecordList.PROBLEMS,
)


@router.get(
    "/queue",
    response_model=ProblemList,
    summary="The open problems by priority (P1 first), then the oldest first",
)
def get_problem_queue(
    services: ServicesDep,
    ctx: StaffReaderDep,
    priority: PriorityParam = None,
    service: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    kept = Filter(equal={"priority": priority, "service": service})
    order = problems_by_priority.order
    after = None if cursor is None else str(decode_cursor(cursor, order))
    page = problem_queue(services.views, ctx, kept, limit=limit, after=after)
    return json_response(page_body(page))


#: Who reads where incidents gather, to raise problems from it: the service managers, the resolvers
#: (problem management's analysts: the service has no role of its own for it) and admins.
CANDIDATE_READERS = frozenset({Role.SERVICE_MANAGER, Role.RESOLVER, Role.ADMIN})
CandidateReaderDep = Annotated[Context, authorised(CANDIDATE_READERS, "read problem candidates")]


@router.get(
    "/candidates",
    response_model=ProblemCandidates,
    summary="Problem candidates: incidents of a window gathered by item, service and category,"
    " or title words, in clusters of at least a threshold, not yet an open problem's",
)
def get_problem_candidates(
    services: ServicesDep,
    ctx: CandidateReaderDep,
    days: Annotated[
        int, Query(ge=1, le=MAX_DAYS, description="the window: the last this many days")
    ] = DEFAULT_DAYS,
    threshold: Annotated[
        int,
        Query(ge=MIN_THRESHOLD, le=MAX_THRESHOLD, description="the fewest incidents a cluster"),
    ] = DEFAULT_THRESHOLD,
) -> Response:
    now = ctx.at.astimezone(UTC)  # the views' times are UTC, compared as text
    since = now - timedelta(days=days)
    rows, truncated = candidate_occurrences(services.views, ctx, iso(since))
    found = candidates((_occurrence(row) for row in rows), threshold)
    return json_response(
        {
            "since": iso(since),
            "until": iso(now),
            "threshold": threshold,
            "incidents_read": len(rows),
            "truncated": truncated,
            "candidates": [_candidate(services, ctx, c) for c in found],
        }
    )


def _occurrence(row: dict[str, Any]) -> Occurrence:
    return Occurrence(
        id=row["id"],
        ref=incident_number_label(row["number"]),
        title=row["title"],
        service=row["service"],
        category=row["category"],
        configuration_item=row["configuration_item"],
        logged_at=row["logged_at"],
    )


def _candidate(services: Services, ctx: Context, candidate: Candidate) -> dict[str, Any]:
    # an incident names its item as free text; a problem only items the CMDB holds
    proposal = candidate.proposal()
    proposal["configuration_items"] = [
        code
        for code in proposal["configuration_items"]
        if items.by(services.views, ctx, "code", code) is not None
    ]
    return {
        "basis": candidate.basis,
        "key": candidate.key,
        "count": len(candidate.incidents),
        "first_seen": candidate.first_seen,
        "last_seen": candidate.last_seen,
        "incidents": [
            {"id": o.id, "ref": o.ref, "title": o.title, "logged_at": o.logged_at}
            for o in candidate.incidents[:MAX_LISTED]
        ],
        "proposal": proposal,
    }


@router.get(
    "/recurrence",
    response_model=RecurrenceList,
    summary="Incidents on a closed problem's service or items, logged after it closed",
)
def get_recurrence(
    services: ServicesDep, ctx: StaffReaderDep, limit: Limit = 50, cursor: Cursor = None
) -> Response:
    # the caller's closed problems, and of the incidents after each, those the caller reaches
    closed = Filter(equal={"state": ProblemState.CLOSED})
    after = None if cursor is None else decode_cursor(cursor, problems.order)
    page = problems.page(services.views, ctx, closed, limit=limit, after=after)
    return json_response(page_body(page, lambda row: _recurrence(services, ctx, row)))


def _recurrence(services: Services, ctx: Context, problem: dict[str, Any]) -> dict[str, Any]:
    linked = {entry["id"] for entry in problem["incidents"]}
    incidents = [
        {**row, "ref": incident_number_label(row["number"])}
        for row in incidents_after(services.views, ctx, problem)
        if row["id"] not in linked
    ]
    return {
        "problem": problem["ref"],
        "id": problem["id"],
        "title": problem["title"],
        "service": problem["service"],
        "configuration_items": problem["configuration_items"],
        "closed_at": problem["closed_at"],
        "recurrences": len(incidents),
        "incidents": incidents,
    }


ROUTES.add_read(name="get_problem", summary="Read a problem by id or number (PRB-000001)")
ROUTES.add_actions(PROBLEM_COMMANDS.values(), roles_of=lambda _: PROBLEM_ACTORS)


@known.get(
    "",
    response_model=KnownErrorList,
    summary="Search the known errors by service, configuration item and text",
)
def search_known_errors(
    services: ServicesDep,
    ctx: StaffReaderDep,
    service: Annotated[str | None, Query(max_length=200)] = None,
    ci: Annotated[str | None, Query(max_length=80, pattern=r"^[a-z0-9][a-z0-9-]{0,79}$")] = None,
    q: ListQ = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    kept = replace(
        known_error_filter(service, ci, None),
        among=searched_keys(services, ctx, "known_error", q),
    )
    after = None if cursor is None else decode_cursor(cursor, known_error_views.order)
    page = known_error_views.page(services.views, ctx, kept, limit=limit, after=after)
    hidden = ("items", "text", "published")
    return json_response(page_body(page, lambda r: {k: v for k, v in r.items() if k not in hidden}))


@known.get(
    "/{ref}",
    response_model=PublishedKnownError,
    summary="Read a published known error: its symptoms and workaround (requesters too)",
)
def get_known_error(services: ServicesDep, ctx: ReaderDep, ref: ProblemRef) -> Response:
    """What a search's `known_error` hit links to: the symptoms and the workaround, for anyone,
    requesters included, in every library. The problem behind it stays the staff's (its
    description, root cause, notes: `GET /problems/{ref}`); a problem whose known error is not
    published answers as a missing one. Only the published fields are read from the row, so a
    requester reads no staff text (api/scoping.py has nothing more to take out)."""
    return json_response(known_error_face(KNOWN_ERRORS.row(services, ctx, ref)))
