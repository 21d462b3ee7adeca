"""A moment given from outside (a query's `as_of`, a change's window): `Timestamp`.

It is an ISO 8601 string with a zone, and nothing else: pydantic would also read a number, or a
string of one, as seconds since 1970 (`?to=0.5`), which no client means. And it lies in the
supported range: a moment near year 1 or 9999 overflows as soon as it is moved to UTC or a day is
added to it, and no record of this service lies there.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field
from pydantic_core import PydanticCustomError

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
#: The first moment past the range.
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
DESCRIPTION = (
    "ISO 8601 with a zone, e.g. 2026-03-02T09:00:00+07:00; from 1970-01-01T00:00:00Z"
    " up to (not including) 3000-01-01T00:00:00Z"
)
_ISO_8601 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{1,9})?)?"
    r"([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)"
)


def _iso_8601(value: Any) -> Any:
    if isinstance(value, datetime):  # from Python: already a moment
        return value
    if isinstance(value, str) and len(value) <= 40 and _ISO_8601.fullmatch(value):
        return value
    raise PydanticCustomError(
        "moment_format",
        "a moment is an ISO 8601 string with a zone, e.g. 2026-03-02T09:00:00+07:00",
    )


def _in_range(moment: datetime) -> datetime:
    # Aware moments compare by their UTC instant, without converting (which could overflow).
    if not EARLIEST <= moment < LATEST:
        raise PydanticCustomError(
            "moment_range", "a moment must lie from 1970-01-01T00:00:00Z up to 3000-01-01T00:00:00Z"
        )
    return moment


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_8601),
    AfterValidator(_in_range),
    Field(description=DESCRIPTION, examples=["2026-03-02T09:00:00+07:00"]),
]
