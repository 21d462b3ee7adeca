"""Priority from impact x urgency, through a versioned priority matrix (ISO/IEC 20000-1 8.6.1).

The matrix is an aggregate of its own. Each revision is a new version; old versions stay
readable, and every incident records the version it was judged by.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID, uuid5

from domain.aggregate import Aggregate, applies
from domain.context import Context
from domain.errors import InvalidRule
from domain.events import DomainEvent
from domain.fields import Reasoned


class Impact(StrEnum):
    HIGH = "high"  # many users, or a whole service (e.g. the union catalogue is down)
    MEDIUM = "medium"  # a branch, a group, or a service degraded
    LOW = "low"  # one user or one device


class Urgency(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


Priority = int  # 1 (P1, most urgent) .. 5 (P5)

#: cells[impact][urgency] -> priority
Cells = dict[Impact, dict[Urgency, int]]

DEFAULT_CELLS: Cells = {
    Impact.HIGH: {Urgency.HIGH: 1, Urgency.MEDIUM: 2, Urgency.LOW: 3},
    Impact.MEDIUM: {Urgency.HIGH: 2, Urgency.MEDIUM: 3, Urgency.LOW: 4},
    Impact.LOW: {Urgency.HIGH: 3, Urgency.MEDIUM: 4, Urgency.LOW: 5},
}


def priority_label(priority: int) -> str:
    return f"P{priority}"


class MatrixEvent(DomainEvent):
    """The matrix's cells, as defined or as a revision leaves them."""

    cells: Cells


class MatrixDefined(MatrixEvent):
    type_name: ClassVar[str] = "PriorityMatrix.Defined"


class MatrixRevised(Reasoned, MatrixEvent):
    type_name: ClassVar[str] = "PriorityMatrix.Revised"


def _validated(cells: Cells) -> Cells:
    for impact in Impact:
        row = cells.get(impact)
        if row is None or set(row) != set(Urgency):
            raise InvalidRule(f"the matrix needs a priority for every urgency at impact {impact}")
        for urgency, priority in row.items():
            if not 1 <= priority <= 5:
                raise InvalidRule(f"priority at {impact}/{urgency} must be 1..5, not {priority}")
    return {impact: dict(cells[impact]) for impact in Impact}


class PriorityMatrix(Aggregate):
    """There is one matrix; its versions are its history."""

    ID: ClassVar[UUID] = uuid5(UUID("1d3b5a8e-2c4f-4e6a-9b0d-7f1e3c5a9b2d"), "priority-matrix")

    cells: Cells

    @classmethod
    def define(cls, ctx: Context, cells: Cells) -> PriorityMatrix:
        return cls._begin(ctx, cls.ID, MatrixDefined, cells=_validated(cells))

    def revise(self, ctx: Context, cells: Cells, reason: str) -> None:
        new = _validated(cells)
        if new == self.cells:
            raise InvalidRule("the revised matrix is the same as the current one")
        self._record(MatrixRevised(**self._envelope(ctx), cells=new, reason=reason))

    def priority(self, impact: Impact, urgency: Urgency) -> int:
        return self.cells[impact][urgency]

    @applies(MatrixDefined, MatrixRevised)
    def _defined(self, event: MatrixEvent) -> None:
        self.cells = event.cells


def checked_cells(cells: Cells) -> Cells:
    """Cells checked as a matrix revision checks them (a what-if's matrix); InvalidRule if not."""
    return _validated(cells)
