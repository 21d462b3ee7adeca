"""What the record resources (configuration items, changes, ...) share: answering a write with
the view a following GET returns (read-your-writes), ETags, and history entries."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
from fastapi import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.problems import problem
from domain.context import Context
from domain.events import DomainEvent
from domain.records_desk import Decision
from domain.service_desk import Outcome
from infra.bootstrap import Services
from projections.base import Projection

ENVELOPE = frozenset(
    {"originator_id", "originator_version", "timestamp", "actor", "correlation_id"}
)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def etag(version: int) -> str:
    return f'"{version}"'


async def answer(
    services: Services,
    outcome: Outcome,
    projection: Projection,
    location: str,
    status: int,
    key: str | None = None,
) -> Response:
    """The record's row once the views include the write; 202 if they lag behind."""
    position = outcome.position
    if position is None:  # a replayed retry: the views show it already, or soon
        embedded = services.kafka is None
        position = (services.desk.recorder.max_notification_id() or 0) if embedded else 0
    key = key or str(outcome.record_id)
    timeout = services.settings.read_your_writes_timeout
    row = None
    if await services.caught_up(outcome.record_id, position, timeout):
        row = services.views.get(projection, key)
    if row is None:
        return problem(
            202,
            "projection-lag",
            "the change is recorded; the views will show it shortly",
            headers={"Location": location},
            id=str(outcome.record_id),
            version=outcome.version,
        )
    headers = {"Location": location}
    if "version" in row:
        headers["ETag"] = etag(row["version"])
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(row, status, headers)


async def run(
    services: Services,
    ctx: Context,
    operation: str,
    command: BaseModel,
    decide: Decision,
    **options: Any,
) -> Outcome:
    """Run one command in a worker thread: its reads and its write (an fsync) do not hold up
    the event loop, which serves every other request meanwhile."""
    return await run_in_threadpool(services.records.run, ctx, operation, command, decide, **options)


def history(record_id: UUID, events: list[DomainEvent]) -> dict[str, Any]:
    return {"record_id": str(record_id), "events": [history_entry(e) for e in events]}


def history_entry(event: DomainEvent) -> dict[str, Any]:
    return {
        "version": event.originator_version,
        "type": event.type_name,
        "at": event.timestamp.isoformat(),
        "actor": {"id": event.actor.id, "role": event.actor.role.value},
        "correlation_id": str(event.correlation_id),
        "data": event.model_dump(mode="json", exclude=set(ENVELOPE)),
    }
