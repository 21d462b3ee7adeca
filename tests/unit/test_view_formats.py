"""The text views store for times: the projections format them quickly, and exactly as
`datetime.isoformat()` would, whether the time comes from a command or from a stored event."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from pydantic import AwareDatetime, BaseModel

from projections.base import iso


class Stamped(BaseModel):
    at: AwareDatetime


@given(moment=st.datetimes(timezones=st.just(UTC)))
def test_a_time_is_written_as_isoformat_writes_it(moment: datetime) -> None:
    decoded = Stamped.model_validate_json(Stamped(at=moment).model_dump_json()).at

    assert iso(moment) == moment.isoformat()
    assert iso(decoded) == decoded.isoformat() == moment.isoformat()
