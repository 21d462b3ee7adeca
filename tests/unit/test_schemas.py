"""The published JSON Schemas match the code, and every event the service can write validates
against them, inside its CloudEvents envelope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from domain.events import EVENT_TYPES, DomainEvent
from infra import cloudevents
from infra.serialisation import encode
from service import schemas
from tests.strategies import STRATEGIES

PUBLISHED = Path(__file__).resolve().parents[2] / "docs" / "schemas"
FORMATS = FormatChecker()


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FORMATS)


ENVELOPE = validator(schemas.envelope_schema())
EVENTS = {name: validator(schemas.event_schema(name)) for name in EVENT_TYPES}


def test_the_published_schemas_are_the_ones_the_code_generates() -> None:
    expected = schemas.all_schemas()
    on_disk = {
        str(path.relative_to(PUBLISHED)) for path in PUBLISHED.rglob("*.json") if path.is_file()
    }
    assert on_disk == set(expected), "run `itsm schemas export` and commit docs/schemas"
    for relative, schema in expected.items():
        assert (PUBLISHED / relative).read_bytes() == schemas.render(schema), (
            f"{relative} is stale: run `itsm schemas export` and commit docs/schemas"
        )


def test_every_event_type_has_a_schema_and_the_envelope_lists_every_type() -> None:
    assert set(EVENTS) == set(EVENT_TYPES)
    assert schemas.envelope_schema()["properties"]["type"]["enum"] == [
        f"id.go.bantenprov.dpk.itsm.{name}" for name in sorted(EVENT_TYPES)
    ]


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_every_event_validates_against_its_schema_inside_a_valid_envelope(
    type_name: str, data: st.DataObject
) -> None:
    event: DomainEvent = data.draw(STRATEGIES[EVENT_TYPES[type_name]])
    position = data.draw(st.integers(min_value=1, max_value=2**62))
    message = orjson.loads(cloudevents.envelope(position, type_name, encode(event)))

    ENVELOPE.validate(message)
    EVENTS[type_name].validate(message["data"])
    assert message["subject"] == str(event.originator_id)
    assert message["id"] == f"{event.originator_id}/{event.originator_version}"


@settings(max_examples=5)
@given(event=STRATEGIES[EVENT_TYPES["Incident.Closed"]])
def test_a_message_missing_its_actor_does_not_validate(event: DomainEvent) -> None:
    message = orjson.loads(cloudevents.envelope(7, "Incident.Closed", encode(event)))
    del message["data"]["actor"]
    assert not EVENTS["Incident.Closed"].is_valid(message["data"])
    del message["actorid"]
    assert not ENVELOPE.is_valid(message)
