"""GET /api/v1/management-review: the inputs of a management review (ISO/IEC 20000-1 9.3) for a
period, as one JSON answer read from the views (application/management_review.py)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import Field

from api.deps import ServicesDep, authorised
from api.disclosures import disclosed
from api.models import Answer
from api.problem_details import ApiProblem
from api.routing import ResourceRouter
from application.management_review import review
from domain.actors import Role
from domain.context import Context
from domain.disclosure import DisclosureKind
from domain.internal_audit import OFFICE_ZONE

router = ResourceRouter(prefix="/management-review", tags=["internal audits"])

REVIEWERS = frozenset({Role.SERVICE_MANAGER, Role.AUDITOR, Role.ADMIN})
ReviewerDep = Annotated[Context, authorised(REVIEWERS, "read the management review's inputs")]
Part = dict[str, Any]


class ManagementReview(Answer):
    period: Part = Field(description="from and to, whole days in Asia/Jakarta")
    today: str
    previous_actions: list[Part] = Field(
        description="decisions recorded on reports before the period, their actions, and the"
        " state of the improvement each opened"
    )
    audits: list[Part] = Field(description="audits planned in the period, with their findings")
    nonconformities: Part = Field(
        description="open, raised and closed in the period, and the overdue ones"
    )
    improvements: Part = Field(description="the register by state and by source")
    satisfaction: Part = Field(description="ratings given in the period: count, mean, low")
    reports: list[Part] = Field(description="service reports issued for the period: code, digest")


@router.get(
    "",
    response_model=ManagementReview,
    summary="The inputs of a management review for a period (9.3): actions from earlier"
    " reviews, audits and findings, nonconformities, improvements, satisfaction, reports",
)
def management_review(
    request: Request,
    services: ServicesDep,
    ctx: ReviewerDep,
    from_: Annotated[date, Query(alias="from")],
    to: Annotated[date, Query()],
) -> ManagementReview:
    if to < from_:
        raise ApiProblem(422, "invalid-period", "the period ends before it begins")
    today = services.clock().astimezone(OFFICE_ZONE).date()
    inputs = ManagementReview.model_validate(review(services.views, ctx, from_, to, today))
    disclosed(request, ctx, DisclosureKind.MANAGEMENT_REVIEW, record=f"{from_}/{to}")
    return inputs
