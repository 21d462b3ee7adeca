"""Kafka mode's composition: the relay that publishes the store, and the projection consumers
that build the read models from the topic, each built from the same Settings as the API."""

from __future__ import annotations

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from consumers.projections import ProjectionConsumer
from domain.service_desk import ServiceDesk
from infra import kafka_clients
from infra.bootstrap import event_store_env, open_view_store
from infra.kafka_clients import KEEP_FOREVER, TopicSpec
from infra.locks import InterProcessLock
from infra.relay import AdvisoryRelayLock, FileRelayLock, Relay, RelayLock
from infra.serialisation import TypedMapper
from infra.settings import Settings
from projections import PROJECTIONS


def topics(settings: Settings) -> dict[str, TopicSpec]:
    """Every topic the service writes, with its partition count and settings."""
    return {
        settings.kafka_topic: TopicSpec(settings.kafka_partitions, KEEP_FOREVER),
        dead_letter_topic(settings.kafka_topic, "projections"): TopicSpec(1, KEEP_FOREVER),
    }


def dead_letter_topic(topic: str, consumer: str) -> str:
    return f"{topic}.{consumer}.dlq"


def build_relay(settings: Settings, bootstrap: str) -> tuple[Relay, RelayLock]:
    """A relay over the configured event store, and the lock that keeps it the only one."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    factory = InfrastructureFactory.construct(
        Environment(ServiceDesk.name, event_store_env(settings))
    )
    relay = Relay(
        factory.application_recorder(),
        factory.tracking_recorder(),
        factory.mapper(mapper_class=TypedMapper),
        lambda: kafka_clients.producer(bootstrap, client_id="itsm-relay"),
        topic=settings.kafka_topic,
        source=settings.event_source,
        # SQLite: the tracking write queues with the desk's writers on the same file lock
        tracking_lock=(
            InterProcessLock(settings.data_dir / "events.lock")
            if settings.database_url is None
            else None
        ),
    )
    lock: RelayLock = (
        FileRelayLock(settings.data_dir / "relay.lock")
        if settings.database_url is None
        else AdvisoryRelayLock(settings.database_url)
    )
    return relay, lock


def build_projection_consumer(
    settings: Settings, bootstrap: str, instance_id: str | None = None
) -> ProjectionConsumer:
    """A consumer folding the topic into the configured view store."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return ProjectionConsumer(
        lambda: kafka_clients.consumer(
            bootstrap,
            settings.kafka_projections_group,
            client_id="itsm-projections",
            instance_id=instance_id,
        ),
        open_view_store(settings),
        PROJECTIONS,
        topic=settings.kafka_topic,
        dead_letters=lambda: kafka_clients.producer(bootstrap, client_id="itsm-dead-letters"),
        dead_letter_topic=dead_letter_topic(settings.kafka_topic, "projections"),
        group_id=settings.kafka_projections_group,
    )
