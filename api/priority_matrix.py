"""The versioned priority matrix: read any version; service managers revise it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.routing import ResourceRouter
from api.rule_routes import add_rule_routes
from domain.examples import example
from domain.fields import Reason
from domain.priority import Cells

router = ResourceRouter(prefix="/priority-matrix", tags=["priority matrix"])


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


add_rule_routes(
    router,
    noun="priority matrix",
    answer=MatrixOut,
    revision=MatrixRevision,
    read=lambda desk, version: desk.priority_matrix(version),
    shown=lambda matrix: MatrixOut(version=matrix.version, cells=matrix.cells),
    revise=lambda desk, ctx, body, expected: desk.revise_priority_matrix(
        ctx, body.cells, body.reason, expected_version=expected
    ),
    names=("get_matrix", "revise_matrix"),
    summaries=("The matrix in force, or an earlier version", "Revise the matrix"),
)
