"""Problems: log, read, list, history, one POST per lifecycle action and link; the known error
database; and the report of incidents recurring after a problem was closed."""

# No `from __future__ import annotations`: the per-action routes are built in a loop, and FastAPI
# must see each route's real body type.

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from api.deps import (
    AGENT_ROLES,
    CORRELATION_ID,
    IDEMPOTENCY_KEY,
    ServicesDep,
    StaffReaderDep,
    authorised,
    documented,
)
from api.models import (
    READ,
    KnownErrorList,
    ProblemDetails,
    ProblemList,
    RecordHistory,
    RecurrenceList,
    written,
)
from api.params import ProblemRef
from api.record_answers import (
    add_actions,
    answer,
    decided,
    etag,
    json_response,
    numbered_history,
    numbered_row,
)
from api.scoping import Scoped, where
from domain.context import Context
from domain.errors import RecordNotFound
from domain.problem import Logged, ProblemState
from domain.problem_commands import PROBLEM_COMMANDS, LogProblem
from domain.record_numbers import RecordKind
from domain.records import incident_number_label
from infra.bootstrap import Services
from projections import incident_occurrences, known_errors, problem_details

router = APIRouter(prefix="/problems", tags=["problems"])
known = APIRouter(prefix="/known-errors", tags=["problems"])

PROBLEM_ACTORS = AGENT_ROLES
#: Problems are the staff's: a requester reaches none.
PROBLEMS = Scoped(RecordNotFound, "problem")


@router.post(
    "",
    response_model=ProblemDetails,
    responses=written(201),
    status_code=201,
    summary="Log a problem, on its own or from incidents (each linked both ways)",
    openapi_extra=documented(IDEMPOTENCY_KEY, CORRELATION_ID),
)
async def log_problem(
    request: Request,
    ctx: Annotated[Context, authorised(PROBLEM_ACTORS, "log problems")],
    command: LogProblem,
) -> Response:
    services, outcome = await decided(request, ctx, "log_problem", command)
    location = f"/api/v1/problems/{outcome.record_id}"
    return await answer(services, outcome, problem_details, location, 201, ctx=ctx)


@router.get("", response_model=ProblemList, summary="List problems, newest first")
def list_problems(
    services: ServicesDep,
    ctx: StaffReaderDep,
    state: ProblemState | None = None,
    service: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    clauses, params = PROBLEMS.where(ctx)
    for column, value in (("state", state), ("service", service)):
        if value is not None:
            clauses.append(f'"{column}" = ?')
            params.append(str(value))
    rows = services.views.select(
        problem_details, " AND ".join(clauses), params, f'ORDER BY "number" DESC LIMIT {limit}'
    )
    return json_response({"items": rows})


@router.get(
    "/recurrence",
    response_model=RecurrenceList,
    summary="Incidents on a closed problem's service or items, logged after it closed",
)
def get_recurrence(
    services: ServicesDep, ctx: StaffReaderDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> Response:
    # the caller's problems, and of the incidents after them, those the caller reaches
    clauses, params = PROBLEMS.where(ctx)
    closed = services.views.select(
        problem_details,
        " AND ".join(['"state" = ?', *clauses]),
        [ProblemState.CLOSED.value, *params],
        f'ORDER BY "number" DESC LIMIT {limit}',
    )
    return json_response({"items": [_recurrence(services, ctx, row) for row in closed]})


def _recurrence(services: Services, ctx: Context, problem: dict[str, Any]) -> dict[str, Any]:
    where_: list[str] = []
    params: list[Any] = []
    if problem["service"]:
        where_.append('"service" = ?')
        params.append(problem["service"])
    items = problem["configuration_items"]
    if items:
        where_.append(f'"configuration_item" IN ({", ".join("?" for _ in items)})')
        params.extend(items)
    incidents: list[dict[str, Any]] = []
    if where_:
        linked = {entry["id"] for entry in problem["incidents"]}
        reach, reach_params = where(ctx)
        rows = services.views.select(
            incident_occurrences,
            " AND ".join([f"({' OR '.join(where_)})", '"logged_at" > ?', *reach]),
            [*params, problem["closed_at"], *reach_params],
            'ORDER BY "logged_at"',
        )
        incidents = [
            {**row, "ref": incident_number_label(row["number"])}
            for row in rows
            if row["id"] not in linked
        ]
    return {
        "problem": problem["ref"],
        "id": problem["id"],
        "title": problem["title"],
        "service": problem["service"],
        "configuration_items": items,
        "closed_at": problem["closed_at"],
        "recurrences": len(incidents),
        "incidents": incidents,
    }


@router.get(
    "/{ref}",
    response_model=ProblemDetails,
    responses=READ,
    summary="Read a problem by id or number (PRB-000001)",
)
def get_problem(ref: ProblemRef, services: ServicesDep, ctx: StaffReaderDep) -> Response:
    row = numbered_row(services, RecordKind.PROBLEM, problem_details, ref, ctx, PROBLEMS)
    return json_response(row, headers={"ETag": etag(row["version"])})


@router.get(
    "/{ref}/history",
    response_model=RecordHistory,
    name="get_problem_history",
    summary="Every event, in order, with actor and time",
)
def get_history(ref: ProblemRef, services: ServicesDep, ctx: StaffReaderDep) -> Response:
    kind = RecordKind.PROBLEM
    return json_response(numbered_history(services, kind, Logged, ref, ctx, PROBLEMS))


add_actions(
    router,
    PROBLEM_COMMANDS.values(),
    kind=RecordKind.PROBLEM,
    projection=problem_details,
    noun="problem",
    roles_of=lambda _: PROBLEM_ACTORS,
    model=ProblemDetails,
)


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
    q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    reach, reach_params = PROBLEMS.where(ctx)
    clauses: list[str] = ['"published" = ?', *reach]
    params: list[Any] = [1, *reach_params]
    if service is not None:
        clauses.append('"service" = ?')
        params.append(service)
    if ci is not None:
        clauses.append('"items" LIKE ?')
        params.append(f"%|{ci}|%")
    if q is not None:
        # the text is matched literally: LIKE's wildcards in it are escaped
        escaped = q.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")
        clauses.append('"text" LIKE ? ESCAPE ?')
        params.extend((f"%{escaped}%", "!"))
    rows = services.views.select(
        known_errors, " AND ".join(clauses), params, f'ORDER BY "number" DESC LIMIT {limit}'
    )
    hidden = ("items", "text", "published")
    return json_response({"items": [{k: v for k, v in r.items() if k not in hidden} for r in rows]})
