"""What-if runs (docs/whatif.md): a period's incidents judged again under other rules, beside the
rules of record. Asynchronous: POST answers 202 with the job's Location; GET answers its status,
and the report once it is done. Service managers (who answer for the SLAs) and auditors ask;
admins too. The record and the live views are only read."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Response

from api.deps import ServicesDep, authorised
from api.models import LOCATION, WhatIfJob, WhatIfStarted
from api.problem_details import NOT_FOUND, ApiProblem
from api.record_answers import json_response
from api.routing import ResourceRouter
from domain.actors import Role
from domain.context import Context
from processes.whatif import WhatIf

router = ResourceRouter(prefix="/whatif", tags=["what-if"])

ANALYSTS = frozenset({Role.SERVICE_MANAGER, Role.AUDITOR, Role.ADMIN})
AnalystDep = Annotated[Context, authorised(ANALYSTS, "run what-if comparisons")]


@router.post(
    "",
    response_model=WhatIfStarted,
    responses={202: {"headers": LOCATION}},
    status_code=202,
    summary="Start a what-if: judge a period's incidents under other rules, beside the record",
    description="Any subset of policy terms, calendars (each standing in for the one of its"
    " name) and matrix cells, in the shapes of the rule endpoints; `from`/`to` are the first and"
    " last office days of logging. Answers 202 with the job's Location.",
)
def start_whatif(whatif: WhatIf, services: ServicesDep, ctx: AnalystDep) -> Response:
    job = services.whatif_jobs.submit(ctx, whatif)
    location = f"/api/v1/whatif/{job}"
    return json_response(
        {"id": job, "status": "running", "location": location}, 202, {"Location": location}
    )


@router.get(
    "/{job}",
    response_model=WhatIfJob,
    summary="A what-if's status, and its report once done",
    responses=NOT_FOUND,
    description="`status` is running, done (with `report`) or failed (with `error`).",
)
def get_whatif(job: UUID, services: ServicesDep, _: AnalystDep) -> Response:
    found = services.whatif_jobs.get(job)
    if found is None:
        raise ApiProblem(404, "not-found", f"no what-if {job}")
    return json_response(found)
