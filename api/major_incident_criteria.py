"""The versioned major-incident criteria: everyone reads any version (a rule of record, as the
priority matrix); service managers and admins revise them (domain/major_incident.py,
docs/incidents.md#major-incidents)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.routing import ResourceRouter
from api.rule_routes import add_rule_routes
from domain.examples import example
from domain.fields import Reason
from domain.major_incident import Criteria

router = ResourceRouter(prefix="/major-incident-criteria", tags=["major incidents"])


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


add_rule_routes(
    router,
    noun="major-incident criteria",
    answer=CriteriaOut,
    revision=CriteriaRevision,
    read=lambda desk, version: desk.major_incident_criteria(version),
    shown=lambda rule: CriteriaOut(version=rule.version, criteria=rule.criteria),
    revise=lambda desk, ctx, body, expected: desk.revise_major_incident_criteria(
        ctx, body.criteria, body.reason, expected_version=expected
    ),
    names=("get_criteria", "revise_criteria"),
    summaries=(
        "The major-incident criteria in force, or a version",
        "Revise the major-incident criteria, saying why",
    ),
)
