"""The versioned change policy: every reader reads any version; service managers revise it
(docs/change-policy.md)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.routing import ResourceRouter
from api.rule_routes import add_rule_routes
from domain.change_policy import DEFAULT_TERMS, ChangePolicyTerms
from domain.examples import example
from domain.fields import Reason

router = ResourceRouter(prefix="/change-policy", tags=["change policy"])


class ChangePolicyOut(BaseModel):
    version: int
    terms: ChangePolicyTerms = Field(
        description="approval: by kind (normal, emergency) and risk, the roles that approve and"
        " the least quorum; major: the criteria for changes of major impact; control: the"
        " configuration item types and services under change control"
    )


class ChangePolicyRevision(BaseModel):
    model_config = example(
        {
            "terms": DEFAULT_TERMS.model_dump(mode="json"),
            "reason": "High-risk normal changes need two approvers",
        },
        extra="forbid",
    )
    terms: ChangePolicyTerms
    reason: str = Reason


add_rule_routes(
    router,
    noun="change policy",
    answer=ChangePolicyOut,
    revision=ChangePolicyRevision,
    read=lambda desk, version: desk.change_policy(version),
    shown=lambda policy: ChangePolicyOut(version=policy.version, terms=policy.terms),
    revise=lambda desk, ctx, body, expected: desk.revise_change_policy(
        ctx, body.terms, body.reason, expected_version=expected
    ),
    names=("get_change_policy", "revise_change_policy"),
    summaries=(
        "The change policy in force, or a version",
        "Revise the change policy: the approval matrix, the criteria of major impact, what"
        " is under change control (a service manager)",
    ),
)
