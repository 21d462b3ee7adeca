"""Path and query parameters the routes share, each with its bound stated in the schema, so the
OpenAPI document tells clients the limit and the server refuses anything past it with 422 before
a route runs (a number past the stores' 64-bit integers used to reach SQLite and answer 500)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query

from domain.moments import DESCRIPTION as MOMENT
from domain.moments import Timestamp
from domain.records import NUMBER_DIGITS

_UUID = "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
#: The largest version, sequence or seed a client may name: what a 64-bit integer holds.
MAX_INT = 2**63 - 1


def _any_case(prefix: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" for c in prefix)


def record_ref(prefix: str) -> Any:
    """A path parameter naming a numbered record: its id (a UUID) or its number (INC-000042)."""
    return Path(
        pattern=rf"^({_any_case(prefix)}-[0-9]{{1,{NUMBER_DIGITS}}}|{_UUID})$",
        max_length=36,
        description=f"the record's id (a UUID) or its number, e.g. {prefix}-000001",
        examples=[f"{prefix}-000001"],
    )


IncidentRef = Annotated[str, record_ref("INC")]
ChangeRef = Annotated[str, record_ref("CHG")]
RequestRef = Annotated[str, record_ref("REQ")]
ProblemRef = Annotated[str, record_ref("PRB")]

#: A code (a configuration item, template, catalogue item, blackout window) in a path.
CodePath = Annotated[str, Path(min_length=1, max_length=80)]
#: A name (a calendar, a read model, a problem code) in a path.
NamePath = Annotated[str, Path(min_length=1, max_length=100)]

#: A version of a versioned rule (policy, calendar, matrix): absent means the one in force.
Version = Annotated[
    int | None, Query(ge=1, le=MAX_INT, description="a version; absent: the one in force")
]

AsOf = Annotated[
    Timestamp | None,
    Query(description=f"time travel: as it stood at this moment ({MOMENT})"),
]
Since = Annotated[
    Timestamp | None, Query(alias="from", description=f"period start, inclusive ({MOMENT})")
]
Until = Annotated[
    Timestamp | None, Query(alias="to", description=f"period end, exclusive ({MOMENT})")
]
