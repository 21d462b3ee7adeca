"""The versioned major-incident criteria: everyone reads any version (a rule of record, as the
priority matrix); service managers and admins revise them (domain/major_incident.py,
docs/incidents.md#major-incidents)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request
from pydantic import BaseModel, Field

from api.deps import (
    CORRELATION_ID,
    IF_MATCH,
    ReaderDep,
    ServicesDep,
    authorised,
    documented,
    expected_version,
    services_of,
)
from api.params import Version
from api.problem_details import ApiProblem
from api.routing import ResourceRouter
from domain.actors import Role
from domain.context import Context
from domain.examples import example
from domain.fields import Reason
from domain.major_incident import Criteria, MajorIncidentCriteria

router = ResourceRouter(prefix="/major-incident-criteria", tags=["major incidents"])

CRITERIA_KEEPERS = authorised(
    frozenset({Role.SERVICE_MANAGER, Role.ADMIN}), "revise the major-incident criteria"
)


class CriteriaOut(BaseModel):
    version: int
    criteria: Criteria = Field(description="what proposes an incident as a major incident")


class CriteriaRevision(BaseModel):
    model_config = example(
        {
            "criteria": {
                "critical_services": ["batupusaka", "circulation"],
                "critical_priority": 1,
                "related_reports": 5,
                "within_minutes": 30,
                "organisation_wide_priority": None,
            },
            "reason": "Renewals and circulation are what every member uses",
        },
        extra="forbid",
    )
    criteria: Criteria
    reason: str = Reason


def _out(rule: MajorIncidentCriteria | None, version: int | None = None) -> CriteriaOut:
    if rule is None:
        said = "in force" if version is None else f"version {version}"
        raise ApiProblem(404, "not-found", f"no major-incident criteria {said}")
    return CriteriaOut(version=rule.version, criteria=rule.criteria)


@router.get(
    "", response_model=CriteriaOut, summary="The major-incident criteria in force, or a version"
)
def get_criteria(services: ServicesDep, _: ReaderDep, version: Version = None) -> CriteriaOut:
    return _out(services.desk.major_incident_criteria(version), version)


@router.post(
    "/revisions",
    response_model=CriteriaOut,
    status_code=201,
    summary="Revise the major-incident criteria, saying why",
    openapi_extra=documented(IF_MATCH, CORRELATION_ID),
)
def revise_criteria(
    request: Request,
    revision: CriteriaRevision,
    ctx: Annotated[Context, CRITERIA_KEEPERS],
) -> CriteriaOut:
    desk = services_of(request).desk
    desk.revise_major_incident_criteria(
        ctx, revision.criteria, revision.reason, expected_version=expected_version(request)
    )
    return _out(desk.major_incident_criteria())
