"""JSON Schemas of what leaves the service: the CloudEvents envelope and each event's `data`.

The files under docs/schemas/ are generated from the code (`itsm schemas export`), and a test
fails when they drift, so what other systems read is always what the service writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from domain import (  # noqa: F401  (each registers its event types)
    audit_schedule,
    calendar,
    change,
    change_policy,
    change_schedule,
    circulation,
    configuration_item,
    disclosure,
    document,
    improvement,
    incident,
    internal_audit,
    issued_report,
    knowledge,
    legal_hold,
    major_incident,
    nonconformity,
    priority,
    problem,
    record_numbers,
    records,
    service_request,
    sla,
    supplier,
)
from domain.events import EVENT_TYPES
from infra.cloudevents import PUBLISHED, SCHEMA_BASE, SPEC_VERSION, data_schema, published_type

DRAFT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = SCHEMA_BASE

_uuid = {"type": "string", "format": "uuid"}


def envelope_schema() -> dict[str, Any]:
    return {
        "$schema": DRAFT,
        "$id": ID_BASE + "cloudevent",
        "title": "ITSM CloudEvent",
        "description": "CloudEvents 1.0 JSON envelope of every message on the service's topics.",
        "type": "object",
        "required": [*PUBLISHED, "aggregateversion", "actorid", "actorrole", "correlationid"],
        "properties": {
            "specversion": {"const": SPEC_VERSION},
            "id": {
                "type": "string",
                "description": "<aggregate id>/<aggregate version>: stable when re-published",
            },
            "source": {
                "type": "string",
                "format": "uri",
                "description": "an absolute URI naming the deployment (ITSM_EVENT_SOURCE)",
            },
            "type": {
                "enum": [published_type(name) for name in sorted(EVENT_TYPES)],
                "description": "the event's permanent stored type name behind the reverse-DNS"
                " prefix " + published_type(""),
            },
            "subject": {**_uuid, "description": "the aggregate id (also the Kafka key)"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "dataschema": {
                "type": "string",
                "format": "uri",
                "pattern": "^" + data_schema("").replace(".", "\\."),
                "description": "the $id of the schema of `data`: " + data_schema("<stored type>"),
            },
            "data": {"type": "object"},
            "position": {
                "type": "integer",
                "minimum": 1,
                "description": "global position in the event store",
            },
            "aggregateversion": {"type": "integer", "minimum": 1},
            "actorid": {"type": "string", "minLength": 1},
            "actorrole": {"type": "string"},
            "correlationid": _uuid,
        },
        "additionalProperties": False,
    }


def event_schema(type_name: str) -> dict[str, Any]:
    schema = EVENT_TYPES[type_name].model_json_schema(mode="serialization")
    return {"$schema": DRAFT, "$id": data_schema(type_name), **schema}


def all_schemas() -> dict[str, dict[str, Any]]:
    """Every schema by its path under the schema directory."""
    from audit import publish  # the checkpoint topic's messages

    found = {
        "cloudevent.schema.json": envelope_schema(),
        "audit-checkpoint.schema.json": publish.schema(DRAFT, ID_BASE),
    }
    for type_name in sorted(EVENT_TYPES):
        found[f"events/{type_name}.schema.json"] = event_schema(type_name)
    found.update(circulation_schemas())
    return found


def circulation_schemas() -> dict[str, dict[str, Any]]:
    """What circulation systems send (docs/circulation.md), generated from the contract table
    the ingest validator runs on."""
    base = ID_BASE + "circulation:"
    found = {
        "circulation/cloudevent.schema.json": {
            "$schema": DRAFT,
            "$id": base + "cloudevent",
            **circulation.envelope_schema(),
        }
    }
    for name, event_type in sorted(circulation.TYPES.items()):
        found[f"circulation/events/{name}.schema.json"] = {
            "$schema": DRAFT,
            "$id": base + f"event:{name}",
            **circulation.data_schema(event_type),
        }
    return found


def render(schema: dict[str, Any]) -> bytes:
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def export(directory: Path) -> list[Path]:
    """Write every schema under `directory`; the paths written."""
    written = []
    for relative, schema in all_schemas().items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render(schema))
        written.append(path)
    return written
