"""The versioned priority matrix: read any version; service managers revise it."""

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
from domain.priority import Cells, PriorityMatrix

router = ResourceRouter(prefix="/priority-matrix", tags=["priority matrix"])

MATRIX_KEEPERS = authorised(
    frozenset({Role.SERVICE_MANAGER, Role.ADMIN}), "revise the priority matrix"
)


class MatrixOut(BaseModel):
    version: int
    cells: Cells = Field(description="priority (1..5) by impact, then urgency")


class MatrixRevision(BaseModel):
    model_config = example(
        {
            "cells": {"high": {"high": 1, "medium": 2, "low": 3}},
            "reason": "High impact, high urgency is P1",
        },
        extra="forbid",
    )
    cells: Cells
    reason: str = Reason


def _out(matrix: PriorityMatrix) -> MatrixOut:
    return MatrixOut(version=matrix.version, cells=matrix.cells)


@router.get("", response_model=MatrixOut, summary="The matrix in force, or an earlier version")
def get_matrix(
    services: ServicesDep,
    _: ReaderDep,
    version: Version = None,
) -> MatrixOut:
    try:
        return _out(services.desk.priority_matrix(version))
    except LookupError:
        raise ApiProblem(404, "not-found", f"no priority matrix version {version}") from None


@router.post(
    "/revisions",
    response_model=MatrixOut,
    status_code=201,
    summary="Revise the matrix",
    openapi_extra=documented(IF_MATCH, CORRELATION_ID),
)
def revise_matrix(
    request: Request,
    revision: MatrixRevision,
    ctx: Annotated[Context, MATRIX_KEEPERS],
) -> MatrixOut:
    desk = services_of(request).desk
    desk.revise_priority_matrix(
        ctx, revision.cells, revision.reason, expected_version=expected_version(request)
    )
    return _out(desk.priority_matrix())
