"""Bulk actions on incidents: assign, add a comment, resolve or close up to N records at once, named
by reference or found by a saved filter (docs/bulk-and-filters.md).

A bulk action is many ordinary commands, not a new kind of write: each record gets its own
Submission, decided on its own with its own events (the pipeline's group commit,
`execute_batch`, saves them together), so a refusal of one changes nothing of it and holds up no
other, and each record's answer is what the single action would have answered. An Idempotency-Key
on the request becomes one key per record (`item_key`), so a retry answers every record done the
first time as it was answered then, and does the rest.

N is the `bulk_max_records` setting, itself bounded by BULK_CEILING, which the request's schema
states: a list longer is refused by validation, a saved filter that finds more is refused whole
(rather than acting on an arbitrary first N).
"""

from __future__ import annotations

from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from application.kinds import INCIDENT
from application.pipeline import Submission
from domain.commands import AddComment, Assign, Close, IncidentCommand, ResolveIncident
from domain.context import Context
from domain.examples import example

#: The most records one bulk action names, whatever the setting: one page of a list.
BULK_CEILING = 200

IncidentRef = Annotated[str, Field(min_length=1, max_length=40, examples=["INC-000042"])]


class BulkTargets(BaseModel):
    """Which incidents: named (`incidents`, numbers or ids) or found by a saved filter (`filter`,
    its id), one or the other."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    incidents: list[IncidentRef] | None = Field(default=None, min_length=1, max_length=BULK_CEILING)
    filter: UUID | None = None

    @model_validator(mode="after")
    def _one_or_the_other(self) -> Self:
        if (self.incidents is None) == (self.filter is None):
            raise ValueError("name the incidents, or a saved filter (filter), not both")
        return self

    def command(self) -> IncidentCommand:
        """The action's command, the same for every record."""
        raise NotImplementedError


class BulkAssign(BulkTargets):
    model_config = example(
        {
            "action": "assign",
            "incidents": ["INC-000041", "INC-000042"],
            "assign": {"group": "kiosk-team"},
        }
    )

    action: Literal["assign"]
    assign: Assign

    def command(self) -> IncidentCommand:
        return self.assign


class BulkComment(BulkTargets):
    action: Literal["add-comment"]
    add_comment: AddComment

    def command(self) -> IncidentCommand:
        return self.add_comment


class BulkResolve(BulkTargets):
    action: Literal["resolve"]
    resolve: ResolveIncident

    def command(self) -> IncidentCommand:
        return self.resolve


class BulkClose(BulkTargets):
    action: Literal["close"]

    def command(self) -> IncidentCommand:
        return Close()


BulkAction = Annotated[
    BulkAssign | BulkComment | BulkResolve | BulkClose, Field(discriminator="action")
]


def item_key(key: str | None, ref: str | UUID) -> str | None:
    """The Idempotency-Key of one record's command in a bulk action keyed `key`."""
    return None if key is None else f"{key}\n{ref}"


def submissions(
    ctx: Context, command: IncidentCommand, refs: list[str | UUID], key: str | None
) -> list[Submission]:
    """One command per record (each named once), each its own decision with its own
    Idempotency-Key."""
    operation = f"incident:bulk-{command.action}"
    return [
        Submission(
            ctx,
            command,
            INCIDENT,
            ref=ref,
            operation=operation,
            idempotency_key=item_key(key, ref),
        )
        for ref in dict.fromkeys(refs)
    ]
