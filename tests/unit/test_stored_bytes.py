"""An event is stored as exactly its own JSON, as pydantic writes it (and, for a versioned type,
its version first), however the encoder gets there."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.events import VERSION_KEY, DomainEvent
from infra.serialisation import encode
from tests.strategies import STRATEGIES


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=st.one_of(*STRATEGIES.values()))
def test_an_event_is_stored_as_its_own_json(event: DomainEvent) -> None:
    state = event.model_dump_json().encode()
    version = event.class_version
    expected = (
        state if version == 1 else b'{"%s":%d,%s' % (VERSION_KEY.encode(), version, state[1:])
    )

    assert encode(event) == expected
