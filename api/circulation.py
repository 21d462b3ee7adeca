"""Circulation streams over HTTP: an NDJSON batch of CloudEvents in, service health out.

Embedded, a batch goes through the pipeline in this process (one transaction) and the answer
says what became of each line. In Kafka mode the API is a gateway: the lines are published to
`circulation.events` as they are, and the circulation consumer applies them, as it applies
everything else on the topic, so there is one applier whatever the entry point.
"""

from __future__ import annotations

import threading
from typing import Annotated

import orjson
from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import READ_ROLES, authorised, services_of
from api.models import IngestReport, ServiceHealth
from api.problem_details import ApiProblem
from api.record_answers import json_response as _json
from api.routing import ResourceRouter
from consumers.circulation import CirculationPipeline
from domain.actors import Role
from domain.context import Context
from infra import cloudevents
from projections.service_health import service_health
from service.bootstrap import Services

router = ResourceRouter(tags=["circulation"])

MAX_LINES = 10_000
_building = threading.Lock()

IntegrationDep = Annotated[
    Context, authorised(frozenset({Role.INTEGRATION, Role.ADMIN}), "ingest circulation events")
]
HealthReaderDep = Annotated[
    Context, authorised(READ_ROLES | {Role.INTEGRATION}, "read service health")
]

NDJSON_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-ndjson": {
                "schema": {"type": "string"},
                "example": orjson.dumps(
                    {
                        "specversion": "1.0",
                        "id": "serang-20260302-000123",
                        "source": "/inlislite/kota-serang",
                        "type": "id.go.bantenprov.library.loan.checked_out",
                        "time": "2026-03-02T09:15:00+07:00",
                        "data": {
                            "branch": "kota-serang",
                            "patron": "KSRG000417",
                            "item": "B0001234",
                        },
                    }
                ).decode(),
            }
        },
    }
}


def pipeline_of(request: Request) -> CirculationPipeline:
    """The process's pipeline, built on first use (its store is closed with the services)."""
    pipeline: CirculationPipeline | None = getattr(request.app.state, "circulation", None)
    if pipeline is None:
        with _building:
            pipeline = getattr(request.app.state, "circulation", None)
            if pipeline is None:
                from processes.circulation import build_pipeline

                services: Services = services_of(request)
                pipeline = build_pipeline(services.settings, services.desk, clock=services.clock)
                services.closing.append(pipeline.store.close)
                request.app.state.circulation = pipeline
    return pipeline


@router.post(
    "/ingest/circulation",
    response_model=IngestReport,
    summary="Ingest a batch of circulation CloudEvents (NDJSON, one event per line)",
    openapi_extra=NDJSON_BODY,
)
async def ingest_circulation(request: Request, _: IntegrationDep) -> Response:
    body = await request.body()
    lines = [line for line in body.split(b"\n") if line.strip()]
    if len(lines) > MAX_LINES:
        raise ApiProblem(422, "invalid-input", f"at most {MAX_LINES} events per batch")
    services = services_of(request)
    if services.kafka is not None and services.settings.kafka_bootstrap:
        published = await run_in_threadpool(_publish, request, lines)
        return _json({"received": len(lines), "published": published}, 202)
    pipeline = pipeline_of(request)
    result = await run_in_threadpool(pipeline.ingest, lines, "http")
    if result.accepted:
        # read-your-writes, as every write's answer: the records the batch made (a card request
        # becomes a service request) are in the views when the caller reads them next
        head = services.desk.recorder.max_notification_id() or 0
        await services.runner.reached(head, services.settings.read_your_writes_timeout)
    return _json(
        {
            "received": result.received,
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "dead_letters": [{"line": d.index + 1, "reason": d.reason} for d in result.dead],
        },
        200,
    )


def _publish(request: Request, lines: list[bytes]) -> int:
    producer = getattr(request.app.state, "circulation_producer", None)
    services = services_of(request)
    if producer is None:
        from infra import kafka_clients

        assert services.settings.kafka_bootstrap is not None
        producer = kafka_clients.producer(
            services.settings.kafka_bootstrap, client_id="itsm-circulation-gateway"
        )
        request.app.state.circulation_producer = producer
        services.closing.append(producer.close)
    topic = services.settings.circulation_topic
    futures = [producer.send(topic, value=line, headers=cloudevents.HEADERS) for line in lines]
    producer.flush()
    for future in futures:
        future.get(timeout=30)
    return len(futures)


@router.get(
    "/circulation/health",
    response_model=ServiceHealth,
    summary="Service health per service and configuration item",
)
def get_service_health(request: Request, _: HealthReaderDep) -> Response:
    pipeline = pipeline_of(request)
    threshold = pipeline.rules.failure_rate.threshold
    return _json(service_health(pipeline.store, threshold), 200)
