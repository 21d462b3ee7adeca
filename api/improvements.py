"""The improvement register: propose, read, list (by state, source, owner, or the unowned), history,
and one POST per step of an improvement's lifecycle. The staff's only: a requester reaches none
(projections/improvements.py). A low rating opens an improvement itself (domain/satisfaction.py).
"""

# No `from __future__ import annotations`: the per-action routes are built in a loop, and FastAPI
# must see each route's real body type.

from typing import Annotated

from fastapi import Query

from api.deps import AGENT_ROLES, StaffReaderDep, authorised
from api.models import ImprovementDetails, ImprovementList
from api.params import record_ref
from api.reads import Readable, numbered
from api.record_routes import RecordRoutes
from api.routing import ResourceRouter
from application.kinds import IMPROVEMENT
from domain.actors import Role
from domain.change_commands import RecordCommand
from domain.improvement import MANAGERS, ImprovementSource, ImprovementState
from domain.improvement_commands import (
    IMPROVEMENT_COMMANDS,
    CompleteImprovement,
    ProposeImprovement,
    StartImprovement,
)
from domain.record_numbers import RecordKind
from projections.improvements import improvements

router = ResourceRouter(prefix="/improvements", tags=["improvements"])

ImprovementRef = Annotated[str, record_ref(RecordKind.IMPROVEMENT.value)]
IMPROVEMENTS = Readable(improvements, "improvement", numbered(RecordKind.IMPROVEMENT))
#: The owner of an improvement does its work: any staff role may start and complete one (the
#: domain checks they own it, or manage the service).
WORKERS = (StartImprovement, CompleteImprovement)


def _roles(command: type[RecordCommand]) -> frozenset[Role]:
    return AGENT_ROLES if command in WORKERS else MANAGERS


ROUTES = RecordRoutes(
    router, IMPROVEMENTS, IMPROVEMENT, ImprovementDetails, ref=ImprovementRef, reader=StaffReaderDep
)
ROUTES.add_create(
    ProposeImprovement,
    name="propose_improvement",
    caller=authorised(MANAGERS, "propose improvements"),
    summary="Propose an improvement (a service manager): its source, owner, benefit and due date",
)
ROUTES.add_list(
    name="list_improvements",
    model=ImprovementList,
    summary="The improvement register, newest first (owned=false: the unowned ones)",
    filters={
        "state": ImprovementState | None,
        "source": ImprovementSource | None,
        "owner": Annotated[str | None, Query(max_length=200)],
        "owned": bool | None,
    },
)
ROUTES.add_read(name="get_improvement", summary="Read an improvement by id or number (IMP-000001)")
ROUTES.add_actions(IMPROVEMENT_COMMANDS.values(), roles_of=_roles)
