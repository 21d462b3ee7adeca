"""The internal audit programme: plan an audit, read, list (by state, lead auditor), history, and
one POST per step of its lifecycle. Service managers plan and manage audits; the audit's auditors
record its findings (the domain checks they are its auditors). Naming an auditor who worked in a
process in scope during the audited period is 409 `auditor-not-impartial`, worked out from the
record (application/impartiality.py). The staff's only: a requester reaches none.
"""

# No `from __future__ import annotations`: the per-action routes are built in a loop, and FastAPI
# must see each route's real body type.

from typing import Annotated

from fastapi import Query

from api.deps import StaffReaderDep, authorised
from api.models import InternalAuditDetails, InternalAuditList
from api.params import record_ref
from api.reads import Readable, numbered
from api.record_routes import RecordRoutes
from api.routing import ResourceRouter
from application.kinds import INTERNAL_AUDIT
from domain.actors import Role
from domain.change_commands import RecordCommand
from domain.internal_audit import MANAGERS, AuditState
from domain.internal_audit_commands import (
    INTERNAL_AUDIT_COMMANDS,
    PlanInternalAudit,
    RecordFinding,
    ReportAudit,
    StartAudit,
)
from domain.record_numbers import RecordKind
from projections.internal_audits import internal_audits

router = ResourceRouter(prefix="/internal-audits", tags=["internal audits"])

AuditRef = Annotated[str, record_ref(RecordKind.INTERNAL_AUDIT.value)]
AUDITS = Readable(internal_audits, "internal audit", numbered(RecordKind.INTERNAL_AUDIT))
#: An audit's auditors work on it (the domain checks they are its auditors): its lead starts
#: and reports it, each records findings.
AUDITORS = MANAGERS | {Role.AUDITOR}
BY_AUDITORS = (StartAudit, RecordFinding, ReportAudit)


def _roles(command: type[RecordCommand]) -> frozenset[Role]:
    return AUDITORS if command in BY_AUDITORS else MANAGERS


ROUTES = RecordRoutes(
    router, AUDITS, INTERNAL_AUDIT, InternalAuditDetails, ref=AuditRef, reader=StaffReaderDep
)
ROUTES.add_create(
    PlanInternalAudit,
    name="plan_internal_audit",
    caller=authorised(MANAGERS, "plan internal audits"),
    summary="Plan an internal audit (a service manager): scope, criteria, method, dates, the"
    " audited period and its auditors, each checked impartial against the record",
)
ROUTES.add_list(
    name="list_internal_audits",
    model=InternalAuditList,
    summary="The audit programme, newest first",
    filters={
        "state": AuditState | None,
        "lead_auditor": Annotated[str | None, Query(max_length=200)],
    },
)
ROUTES.add_read(name="get_internal_audit", summary="Read an audit by id or number (AUD-000001)")
ROUTES.add_actions(INTERNAL_AUDIT_COMMANDS.values(), roles_of=_roles)
