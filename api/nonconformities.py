"""Nonconformities and their corrective actions: raise one (a service manager or an auditor; an
audit finding raises its own), read, list (by state, owner, source; the overdue ones), history,
and one POST per step. Owners of a nonconformity or of its actions do the work, whatever their
role (the domain checks they own it); someone who owned none of it verifies effectiveness. The
staff's only: a requester reaches none.
"""

# No `from __future__ import annotations`: the per-action routes are built in a loop, and FastAPI
# must see each route's real body type.

from typing import Annotated

from fastapi import Query

from api.deps import AGENT_ROLES, ServicesDep, StaffReaderDep, authorised
from api.models import NonconformityDetails, NonconformityList, OverdueNonconformities
from api.params import record_ref
from api.reads import Readable, numbered
from api.record_routes import RecordRoutes
from api.routing import ResourceRouter
from application.kinds import NONCONFORMITY
from domain.actors import Role
from domain.change_commands import RecordCommand
from domain.internal_audit import OFFICE_ZONE
from domain.nonconformity import RAISERS, NonconformitySource, NonconformityState
from domain.nonconformity_commands import (
    NONCONFORMITY_COMMANDS,
    RaiseNonconformity,
    VerifyEffectiveness,
)
from domain.record_numbers import RecordKind
from projections import nonconformities as view

router = ResourceRouter(prefix="/nonconformities", tags=["nonconformities"])

NonconformityRef = Annotated[str, record_ref(RecordKind.NONCONFORMITY.value)]
NONCONFORMITIES = Readable(
    view.nonconformities, "nonconformity", numbered(RecordKind.NONCONFORMITY)
)


def _roles(command: type[RecordCommand]) -> frozenset[Role]:
    """Verification is the managers' and auditors'; the rest is the owners' work, whatever
    their role (and a service manager's)."""
    return RAISERS if command is VerifyEffectiveness else AGENT_ROLES | RAISERS


ROUTES = RecordRoutes(
    router,
    NONCONFORMITIES,
    NONCONFORMITY,
    NonconformityDetails,
    ref=NonconformityRef,
    reader=StaffReaderDep,
)
ROUTES.add_create(
    RaiseNonconformity,
    name="raise_nonconformity",
    caller=authorised(RAISERS, "raise nonconformities"),
    summary="Raise a nonconformity (a service manager or an auditor): clause, grade, what it"
    " is, where it came from, its owner and due date",
)
ROUTES.add_list(
    name="list_nonconformities",
    model=NonconformityList,
    summary="Nonconformities, newest first",
    filters={
        "state": NonconformityState | None,
        "source": NonconformitySource | None,
        "owner": Annotated[str | None, Query(max_length=200)],
    },
)


@router.get(
    "/overdue",
    response_model=OverdueNonconformities,
    summary="The open nonconformities with something overdue today (Asia/Jakarta): the"
    " nonconformity itself or a corrective action not done, the most overdue first",
)
def list_overdue_nonconformities(
    services: ServicesDep, ctx: StaffReaderDep
) -> OverdueNonconformities:
    today = services.clock().astimezone(OFFICE_ZONE).date()
    rows = view.overdue(services.views, ctx, today)
    return OverdueNonconformities.model_validate({"today": today.isoformat(), "items": rows})


ROUTES.add_read(
    name="get_nonconformity", summary="Read a nonconformity by id or number (NC-000001)"
)
ROUTES.add_actions(NONCONFORMITY_COMMANDS.values(), roles_of=_roles)
