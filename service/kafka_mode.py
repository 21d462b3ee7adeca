"""Kafka mode's composition: the relay that publishes the store, and the projection consumers
that build the read models from the topic, each built from the same Settings as the API."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from application.desk import ServiceDesk
from consumers.projections import ProjectionConsumer, partition_of
from infra import kafka_clients
from infra.kafka_clients import KEEP_FOREVER, TopicSpec
from infra.locks import InterProcessLock
from infra.serialisation import TypedMapper
from infra.settings import Settings
from infra.subject_keys import Sealer, open_subject_keys
from processes.relay import AdvisoryRelayLock, FileRelayLock, Relay, RelayLock
from projections.base import Projection
from projections.runner import settle
from projections.view_store import ViewStore
from service.stores import FROM_TOPIC, event_store_env, open_view_store

log = logging.getLogger(__name__)


def topics(settings: Settings) -> dict[str, TopicSpec]:
    """Every topic the service writes, with its partition count and settings."""
    return {
        settings.kafka_topic: TopicSpec(settings.kafka_partitions, KEEP_FOREVER),
        dead_letter_topic(settings.kafka_topic, "projections"): TopicSpec(1, KEEP_FOREVER),
        # One partition: checkpoints in the order they were signed.
        settings.kafka_audit_topic: TopicSpec(1, KEEP_FOREVER),
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
        FROM_TOPIC,
        topic=settings.kafka_topic,
        dead_letters=lambda: kafka_clients.producer(bootstrap, client_id="itsm-dead-letters"),
        dead_letter_topic=dead_letter_topic(settings.kafka_topic, "projections"),
        group_id=settings.kafka_projections_group,
        unseal=Sealer(open_subject_keys(settings.subject_keys_at)).unseal,
    )


def folded_from_store(views: ViewStore, projection: Projection, partitions: int) -> None:
    """A Kafka-fed view just rebuilt from the event store (`itsm projections rebuild`, with the
    consumers stopped) holds every event up to its recorded position, whichever partition it
    travels on: record that position for every partition, so the consumers go on after it
    instead of reading the topic again from its beginning into the view (and folding it twice)."""
    with views.transaction() as tx:
        position = tx.positions().get(projection.name, 0)
        tx.set_partition_positions(projection, dict.fromkeys(range(partitions), position))


class ViewsFollower:
    """Read-your-writes in Kafka mode: wait until the Kafka-fed views have folded a position.

    The views may be written by consumers in other processes, so this watches the positions the
    view store records per partition: an aggregate's events all travel on one partition, so its
    write is visible once every projection has folded that partition up to the write's position.
    One thread polls (every few milliseconds, and only while someone waits) for all waiters.
    """

    def __init__(self, views: ViewStore, partitions: int, interval: float = 0.005) -> None:
        self.views = views
        self.partitions = partitions
        self.interval = interval
        self._waiters: list[tuple[int, int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="views-follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.ident is not None:  # it may never have been started
            self._thread.join(5)

    @property
    def is_following(self) -> bool:
        return self._thread.is_alive()

    def folded(self, partition: int) -> int:
        """The position every projection has folded from a partition (0 if one has not)."""
        return min(
            (self.views.partition_positions(p).get(partition, 0) for p in FROM_TOPIC), default=0
        )

    async def reached(self, aggregate_id: UUID, position: int, timeout: float) -> bool:
        partition = partition_of(aggregate_id, self.partitions)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self._waiters.append((partition, position, loop, future))
        self._wake.set()
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            with self._lock:
                self._waiters = [w for w in self._waiters if w[3] is not future]
            return False
        return True

    def _watch(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                waiting = list(self._waiters)
            if not waiting:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                folded = {p: self.folded(p) for p in {w[0] for w in waiting}}
            except Exception:
                log.warning("could not read the views' positions", exc_info=True)
                folded = {}
            due = [w for w in waiting if folded.get(w[0], 0) >= w[1]]
            if due:
                with self._lock:
                    self._waiters = [w for w in self._waiters if w not in due]
                for _, _, loop, future in due:
                    loop.call_soon_threadsafe(settle, future)
            self._stopping.wait(self.interval)


@dataclass
class KafkaMode:
    """What `itsm serve --kafka` runs beside the API: the relay, the projection consumer (each
    optional, as they may run as processes of their own) and the read-your-writes follower."""

    follower: ViewsFollower
    #: where the projection consumers send what they cannot decode (/readyz names it)
    dead_letter_topic: str
    relay: tuple[Relay, RelayLock] | None = None
    consumer: ProjectionConsumer | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        if self.relay is not None:
            relay, lock = self.relay
            self._spawn("relay", relay.run, self._stop, lock)
        if self.consumer is not None:
            self._spawn("projection-consumer", self.consumer.run, self._stop)
        self.follower.start()

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def wake_relay(self) -> None:
        if self.relay is not None:
            self.relay[0].wake()

    @property
    def is_running(self) -> bool:
        """Every part is alive, and the consumer (if here) has been given its partitions."""
        joined = self.consumer is None or self.consumer.assigned.is_set()
        return joined and self.follower.is_following and all(t.is_alive() for t in self._threads)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(20)
        self.follower.stop()


def kafka_mode(
    settings: Settings, views: ViewStore, *, relay: bool = True, consume: bool = True
) -> KafkaMode:
    """Kafka mode beside an API process, on the same settings (and the API's view store)."""
    bootstrap = settings.kafka_bootstrap
    if not bootstrap:
        raise ValueError("Kafka mode needs a bootstrap address (--kafka or ITSM_KAFKA_BOOTSTRAP)")
    kafka_clients.ensure_topics(bootstrap, topics(settings), settings.kafka_replication)
    return KafkaMode(
        follower=ViewsFollower(views, settings.kafka_partitions),
        dead_letter_topic=dead_letter_topic(settings.kafka_topic, "projections"),
        relay=build_relay(settings, bootstrap) if relay else None,
        consumer=build_projection_consumer(settings, bootstrap) if consume else None,
    )
