"""The records' retention schedule (ISO/IEC 20000-1 7.5.3): each kind of record the service keeps,
its retention class, and who reads it for how long after it ends. Records are never deleted;
what expires is access. The schedule is data (domain/retention_schedule.json), served at
GET /api/v1/retention and explained in docs/retention.md; tests/unit/test_retention_schedule.py
checks that every kind of record in application/kinds.py has an entry.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RetentionClass(_Data):
    code: str = Field(pattern=r"^[a-z-]+$", max_length=40)
    meaning: str = Field(min_length=1, max_length=2_000)


class Access(_Data):
    """Who reads a record of this kind, what of it, and for how many years after it ends (null:
    for as long as the service runs; 0: only while it is in force)."""

    who: str = Field(min_length=1, max_length=200)
    reads: str = Field(min_length=1, max_length=400)
    years_after_end: int | None = Field(ge=0, le=100)


class Entry(_Data):
    record: str = Field(min_length=1, max_length=200)
    #: The kinds of application/kinds.py this entry covers (none: a record kept outside them,
    #: as the audit ledger or the attachments' bytes).
    kinds: list[str]
    #: The retention class's code.
    class_: str = Field(alias="class", pattern=r"^[a-z-]+$", max_length=40)
    clauses: list[str]
    access: list[Access] = Field(min_length=1)
    ends: str = Field(min_length=1, max_length=400)


class Schedule(_Data):
    rule: str = Field(min_length=1, max_length=2_000)
    classes: list[RetentionClass]
    records: list[Entry]

    def covered_kinds(self) -> set[str]:
        return {kind for entry in self.records for kind in entry.kinds}


def years_before(moment: datetime, years: int) -> datetime:
    """The same moment `years` earlier (28 February for a 29th in a year without one)."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


@cache
def requester_years(kind: str) -> int | None:
    """How many years after a record of `kind` ends its requester still reads it (None: no
    limit the schedule states)."""
    for entry in schedule().records:
        if kind in entry.kinds:
            for access in entry.access:
                if access.who == "requester":
                    return access.years_after_end
    return None


@cache
def schedule() -> Schedule:
    """The schedule as the repository states it."""
    text = resources.files("domain").joinpath("retention_schedule.json").read_bytes()
    found = Schedule.model_validate_json(text)
    codes = {c.code for c in found.classes}
    unknown = {e.class_ for e in found.records} - codes
    if unknown:
        raise ValueError(f"retention classes not defined: {sorted(unknown)}")
    return found
