"""The versioned change policy: every reader reads any version; service managers revise it
(docs/change-policy.md)."""

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
from domain.change_policy import DEFAULT_TERMS, ChangePolicy, ChangePolicyTerms
from domain.context import Context
from domain.examples import example
from domain.fields import Reason

router = ResourceRouter(prefix="/change-policy", tags=["change policy"])

POLICY_KEEPERS = authorised(
    frozenset({Role.SERVICE_MANAGER, Role.ADMIN}), "revise the change policy"
)


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


def _out(policy: ChangePolicy) -> ChangePolicyOut:
    return ChangePolicyOut(version=policy.version, terms=policy.terms)


@router.get("", response_model=ChangePolicyOut, summary="The change policy in force, or a version")
def get_change_policy(
    services: ServicesDep, _: ReaderDep, version: Version = None
) -> ChangePolicyOut:
    try:
        return _out(services.desk.change_policy(version))
    except LookupError:
        raise ApiProblem(404, "not-found", f"no change policy version {version}") from None


@router.post(
    "/revisions",
    response_model=ChangePolicyOut,
    status_code=201,
    summary="Revise the change policy: the approval matrix, the criteria of major impact, what"
    " is under change control (a service manager)",
    openapi_extra=documented(IF_MATCH, CORRELATION_ID),
)
def revise_change_policy(
    request: Request,
    revision: ChangePolicyRevision,
    ctx: Annotated[Context, POLICY_KEEPERS],
) -> ChangePolicyOut:
    desk = services_of(request).desk
    desk.revise_change_policy(
        ctx, revision.terms, revision.reason, expected_version=expected_version(request)
    )
    return _out(desk.change_policy())
