"""Kafka mode: a message on the events topic that the projections cannot decode is passed over
(to the dead-letter topic) and the stream goes on, but never silently. The views lack whatever it
carried, so the consumer records it in the view store, with the positions it advances, and every
process serving those views answers /readyz 503 naming it and counts it in /metrics, while reads
are still served. On a real broker, over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import orjson
import pytest
from click.testing import CliRunner
from kafka import KafkaProducer

from cli.main import main
from infra.cloudevents import published_type
from infra.settings import Settings
from projections import PROJECTIONS
from service.bootstrap import Services, build
from service.kafka_mode import dead_letter_topic
from tests.conftest import Clock
from tests.directory_helpers import hold
from tests.integration.conftest import serving
from tests.integration.test_api import new_incident
from tests.integration.test_metrics import samples
from tests.kafka_harness import wait_for

pytestmark = pytest.mark.slow

COMMENTED = "Incident.CommentAdded"


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite; the first test also runs on PostgreSQL (the rebuild's CLI reads its settings from
    the environment, which names no database)."""
    chosen: str = request.param
    return chosen


@pytest.fixture
def settings(make_settings: Callable[[], Settings], kafka_bootstrap: str) -> Settings:
    """Kafka mode on a topic of its own with one partition, so the bad messages lie between the
    good ones (the `services` fixture builds and starts the service on these)."""
    unique = uuid4().hex[:12]
    return make_settings().model_copy(
        update={
            "kafka_bootstrap": kafka_bootstrap,
            "kafka_topic": f"itsm.events.{unique}",
            "kafka_audit_topic": f"itsm.audit.checkpoints.{unique}",
            "kafka_projections_group": f"itsm.projections.{unique}",
            "kafka_partitions": 1,
        }
    )


def publish(settings: Settings, *values: bytes) -> list[int]:
    """Put messages on the events topic as another producer could; their offsets."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        sent = [producer.send(settings.kafka_topic, value=v, partition=0) for v in values]
        return [future.get(timeout=30).offset for future in sent]
    finally:
        producer.close()


def spoilt_comment(incident_id: str, position: int) -> bytes:
    """A well-formed envelope whose event breaks its schema (a comment without who or when)."""
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"{incident_id}/99",
            "source": "urn:itsm:deployment:elsewhere",
            "type": published_type(COMMENTED),
            "position": position,
            "data": {"text": "a comment without who, when or whose"},
        }
    )


def skipped_gauge(text: str) -> float | None:
    return samples(text).get(("itsm_projection_skipped_events", ()))


@pytest.mark.usefixtures("directory")
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kafka_mode_names_the_messages_its_projections_could_not_decode_and_serves_reads(
    services: Services, settings: Settings, clock: Clock
) -> None:
    with serving(services) as api, api.client() as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, 60, "the consumer to join")
        before = new_incident(client)
        junk, spoilt = publish(settings, b"{not json", spoilt_comment(before["id"], 999_999))
        after = new_incident(client)  # answered once the views hold it: past the bad two
        ready = client.get("/readyz")
        listed = client.get("/api/v1/incidents")
        detail = client.get(f"/api/v1/incidents/{after['id']}")
        metrics = client.get("/metrics").text

    assert ready.status_code == 503, ready.text
    assert ready.headers["content-type"] == "application/problem+json"
    body = ready.json()
    assert body["code"] == "not-ready"
    dlq = dead_letter_topic(settings.kafka_topic, "projections")
    stuck = {s["offset"]: s for s in body["stuck"]}
    assert set(stuck) == {junk, spoilt}
    assert all(s["follower"] == "projections" for s in stuck.values())
    assert all(s["partition"] == 0 for s in stuck.values())
    assert all(s["dead_letter_topic"] == dlq for s in stuck.values())
    assert stuck[junk]["position"] is None
    assert stuck[junk]["event"] is None
    assert stuck[junk]["reason"].startswith("not JSON")
    assert stuck[spoilt]["position"] == 999_999
    assert stuck[spoilt]["event"] == f"{before['id']}/99"
    assert stuck[spoilt]["topic"] == COMMENTED
    assert COMMENTED in stuck[spoilt]["reason"]
    assert "999999" in body["detail"]
    assert dlq in body["detail"]

    assert listed.status_code == 200
    assert {i["id"] for i in listed.json()["items"]} == {before["id"], after["id"]}
    assert detail.status_code == 200
    assert skipped_gauge(metrics) == 2

    # a restart, or another process serving the same views without consuming, knows them too
    other = build(
        settings.model_copy(update={"kafka_consume": False, "kafka_relay": False}),
        clock=clock,
    )
    other.start()
    try:
        with serving(other) as api, api.client() as client:
            again: dict[str, Any] = client.get("/readyz").json()
            metrics_again = client.get("/metrics").text
    finally:
        other.close()
    assert {s["offset"] for s in again["stuck"]} == {junk, spoilt}
    assert skipped_gauge(metrics_again) == 2


def test_rebuilding_the_views_from_the_store_clears_what_they_skipped_and_folds_nothing_twice(
    settings: Settings, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator's way out (docs/kafka.md, "Skipped messages"): with the consumers stopped,
    `itsm projections rebuild NAME` folds each view again from the event store, the system of
    record, so it lacks nothing the topic's consumer passed over; the consumers then go on after
    what the store gave it, without reading the topic again into it."""
    services = build(settings, clock=clock)
    services.start()
    try:
        hold(services)
        with serving(services) as api, api.client() as client:
            wait_for(lambda: client.get("/readyz").status_code == 200, 60, "the consumer to join")
            incident = new_incident(client)
            publish(settings, b"{not json")
            commented = client.post(
                f"/api/v1/incidents/{incident['id']}/add-comment", json={"text": "looking"}
            )
            assert commented.status_code == 200, commented.text
            before = client.get(f"/api/v1/incidents/{incident['id']}").json()
            assert client.get("/readyz").status_code == 503
    finally:
        services.close()

    for name, value in {
        "KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "KAFKA_TOPIC": settings.kafka_topic,
        "KAFKA_AUDIT_TOPIC": settings.kafka_audit_topic,
        "KAFKA_PROJECTIONS_GROUP": settings.kafka_projections_group,
        "KAFKA_PARTITIONS": str(settings.kafka_partitions),
    }.items():
        monkeypatch.setenv(f"ITSM_{name}", str(value))
    for projection in PROJECTIONS:
        rebuilt = CliRunner().invoke(
            main,
            ["projections", "rebuild", "--data-dir", str(settings.data_dir), projection.name],
            catch_exceptions=False,
        )
        assert rebuilt.exit_code == 0, rebuilt.output

    services = build(settings, clock=clock)
    services.start()
    try:
        with serving(services) as api, api.client() as client:
            assert services.kafka is not None
            assert services.kafka.consumer is not None
            wait_for(services.kafka.consumer.assigned.is_set, 60, "the consumer to join")
            again = new_incident(client)  # the consumer folds on after the rebuild
            ready = client.get("/readyz")
            after = client.get(f"/api/v1/incidents/{incident['id']}").json()
            listed = client.get("/api/v1/incidents").json()["items"]
            metrics = client.get("/metrics").text
    finally:
        services.close()

    assert ready.status_code == 200, ready.text
    assert after == before  # nothing folded twice
    assert {i["id"] for i in listed} == {incident["id"], again["id"]}
    assert skipped_gauge(metrics) == 0
