"""Kafka mode against the real broker: the relay publishes every event once and in order, the
projection consumers build the same read models as the embedded mode, and neither a SIGKILL of
the relay or of a consumer, nor a broker restart, loses or doubles an effect.

Each test has a topic of its own, so tests sharing the session's broker never see each other.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest
from kafka import KafkaProducer

from application.kinds import PERSON
from application.pipeline import Submission
from consumers.projections import ProjectionConsumer, partition_of
from domain.actors import Actor, Role
from domain.context import Context
from domain.directory import RegisterPerson
from infra.settings import Settings
from processes.notify import Notify
from service.bootstrap import Services, build
from service.kafka_mode import build_projection_consumer, build_relay, dead_letter_topic
from tests.conftest import T0, Clock
from tests.directory_helpers import hold
from tests.engines import smtp
from tests.engines.smtp import SmtpServer
from tests.integration.conftest import serving
from tests.integration.test_api import new_incident
from tests.integration.test_webhook_endpoints import BOT
from tests.kafka_harness import (
    Process,
    assert_every_event_once_in_order,
    assert_same_views,
    expected_views,
    group_state,
    kafka_mode_lag,
    keep_working,
    on_own_topic,
    published_positions,
    read_topic,
    relay_thread,
    stable_members,
    views_of,
    wait_for,
    work,
)

pytestmark = pytest.mark.slow


# -- set-up -----------------------------------------------------------------------------------


smtp_servers = smtp.smtp_servers


@pytest.fixture
def kafka_settings(settings: Settings, kafka_bootstrap: str) -> Settings:
    """The test's settings with a topic of its own, created with three partitions."""
    return on_own_topic(settings, kafka_bootstrap)


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """Kafka mode is exercised on SQLite; the first two tests also run on PostgreSQL."""
    chosen: str = request.param
    return chosen


@pytest.fixture
def fed(kafka_settings: Settings, backend: str, request: pytest.FixtureRequest) -> Settings:
    """Settings for a Kafka-fed consumer with a view store of its own: another data directory,
    and on PostgreSQL another database."""
    update: dict[str, Any] = {
        "data_dir": kafka_settings.data_dir.parent / "consumer",
        # people's sealed data opens with the service's keys (docs/privacy.md)
        "subject_keys": kafka_settings.subject_keys_at,
    }
    if backend == "postgres":
        update["database_url"] = request.getfixturevalue("postgres_databases")()
    return kafka_settings.model_copy(update=update)


def fold_until_equal(
    consumer: ProjectionConsumer, fed: Settings, expected: dict[str, Any], timeout: float = 60
) -> None:
    """Poll until the consumer's views equal the expected ones; show the difference if not."""
    deadline = time.monotonic() + timeout
    while views_of(fed) != expected and time.monotonic() < deadline:
        consumer.poll_once()
    assert_same_views(views_of(fed), expected)


# -- the tests --------------------------------------------------------------------------------


@pytest.mark.usefixtures("directory")
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_relay_publishes_every_event_once_in_order_as_cloudevents(
    services: Services, kafka_settings: Settings
) -> None:
    work(services, 60, seed=1)
    head = services.desk.recorder.max_notification_id() or 0
    relay, _ = build_relay(kafka_settings, kafka_settings.kafka_bootstrap or "")

    assert relay.drain() == head
    records = read_topic(kafka_settings.kafka_bootstrap or "", kafka_settings.kafka_topic)

    expected = published_positions(services)
    assert len(records) == len(expected)
    assert_every_event_once_in_order(records, expected)
    for record in records:
        message = orjson.loads(record.value)
        assert record.key == message["subject"].encode()
        assert message["specversion"] == "1.0"
        assert message["source"] == kafka_settings.event_source


@pytest.mark.usefixtures("directory")
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kafka_fed_projections_equal_the_embedded_ones(
    services: Services, kafka_settings: Settings, fed: Settings
) -> None:
    work(services, 80, seed=2)
    relay, _ = build_relay(kafka_settings, kafka_settings.kafka_bootstrap or "")
    relay.drain()
    consumer = build_projection_consumer(fed, kafka_settings.kafka_bootstrap or "")
    expected = expected_views(services)
    try:
        fold_until_equal(consumer, fed, expected)
    finally:
        consumer.close()

    assert views_of(fed) == expected
    assert expected["incident_details"], "the history produced incidents"


@pytest.mark.usefixtures("directory")
def test_a_message_that_cannot_be_decoded_goes_to_the_dead_letter_topic(
    services: Services, kafka_settings: Settings, fed: Settings
) -> None:
    bootstrap = kafka_settings.kafka_bootstrap or ""
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(kafka_settings.kafka_topic, key=b"junk", value=b"{not json", partition=0)
    producer.flush()
    producer.close()
    work(services, 10, seed=3)
    build_relay(kafka_settings, bootstrap)[0].drain()
    consumer = build_projection_consumer(fed, bootstrap)
    expected = expected_views(services)
    try:
        fold_until_equal(consumer, fed, expected)
    finally:
        consumer.close()

    dead = read_topic(bootstrap, dead_letter_topic(kafka_settings.kafka_topic, "projections"))
    assert [r.value for r in dead] == [b"{not json"]
    headers = dict(dead[0].headers)
    assert headers["dlq.reason"].startswith(b"not JSON")
    assert headers["dlq.topic"] == kafka_settings.kafka_topic.encode()
    assert headers["dlq.partition"] == b"0"
    assert headers["dlq.offset"] == b"0"


@pytest.mark.usefixtures("directory")
def test_sigkilled_relays_lose_and_reorder_nothing(
    services: Services, kafka_settings: Settings, fed: Settings
) -> None:
    rng = random.Random(4)
    bootstrap = kafka_settings.kafka_bootstrap or ""
    stop = threading.Event()
    writer = threading.Thread(target=keep_working, args=(services, stop, 100), daemon=True)
    writer.start()
    relay, _ = build_relay(kafka_settings, bootstrap)
    try:
        for _ in range(20):
            before = relay.published()
            process = Process(kafka_settings, "relay", "--kafka", bootstrap)
            # kill it while it publishes: once it has made progress, at a random moment after
            wait_for(lambda: relay.published() > before, 30, "the relay to publish")  # noqa: B023
            time.sleep(rng.uniform(0, 0.3))
            process.kill()
    finally:
        stop.set()
        writer.join(30)
    head = services.desk.recorder.max_notification_id() or 0
    last = Process(kafka_settings, "relay", "--kafka", bootstrap)
    try:
        wait_for(lambda: relay.published() >= head, 60, "the relay to publish everything")
    finally:
        last.stop()

    records = read_topic(bootstrap, kafka_settings.kafka_topic)
    assert_every_event_once_in_order(records, published_positions(services))
    consumer = build_projection_consumer(fed, bootstrap)
    expected = expected_views(services)
    try:
        fold_until_equal(consumer, fed, expected)
    finally:
        consumer.close()


@pytest.mark.usefixtures("directory")
def test_sigkilled_consumers_apply_every_event_exactly_once(
    services: Services, kafka_settings: Settings, fed: Settings
) -> None:
    rng = random.Random(5)
    bootstrap = kafka_settings.kafka_bootstrap or ""
    stop = threading.Event()
    writer = threading.Thread(target=keep_working, args=(services, stop, 200), daemon=True)
    relaying = relay_thread(kafka_settings)
    next(relaying)
    writer.start()
    args = ("consume", "projections", "--kafka", bootstrap, "--instance-id", "crash-test")
    try:
        for _ in range(20):
            before = views_of(fed)
            consumer = Process(fed, *args)
            # kill it while it folds: once it has made progress, at a random moment after
            wait_for(lambda: views_of(fed) != before, 30, "the consumer to fold")  # noqa: B023
            time.sleep(rng.uniform(0, 0.3))
            consumer.kill()
    finally:
        stop.set()
        writer.join(30)
    expected = expected_views(services)
    last = Process(fed, *args)
    try:
        wait_for(lambda: views_of(fed) == expected, 90, "the consumer to catch up")
    finally:
        last.stop()
        next(relaying, None)
    assert views_of(fed) == expected


@pytest.mark.usefixtures("directory")
def test_a_rebalance_between_two_consumers_applies_every_event_exactly_once(
    services: Services, kafka_settings: Settings, fed: Settings
) -> None:
    bootstrap = kafka_settings.kafka_bootstrap or ""
    group = kafka_settings.kafka_projections_group
    relaying = relay_thread(kafka_settings)
    next(relaying)
    first = Process(fed, "consume", "projections", "--kafka", bootstrap)
    try:
        work(services, 40, seed=6)
        wait_for(lambda: stable_members(bootstrap, group) == 1, 60, "the first consumer")
        second = Process(fed, "consume", "projections", "--kafka", bootstrap)
        wait_for(lambda: stable_members(bootstrap, group) == 2, 60, "a rebalance to two")
        work(services, 40, seed=7)
        expected = expected_views(services)
        wait_for(
            lambda: views_of(fed) == expected,
            60,
            "two consumers to catch up",
            explain=lambda: kafka_mode_lag(services, kafka_settings, fed),
        )
        second.kill()  # its partitions move back to the first once the group notices
        work(services, 40, seed=8)
        expected = expected_views(services)
        wait_for(
            lambda: views_of(fed) == expected,
            90,
            "the surviving consumer to catch up",
            explain=lambda: survivor(first, services, kafka_settings, fed),
        )
        # The views can be whole before the group notices the kill (its session times out after
        # 10 s) when the last events fell to the survivor's own partitions: wait, don't assume.
        wait_for(lambda: stable_members(bootstrap, group) == 1, 60, "the group to shrink to one")
    finally:
        first.stop()
        next(relaying, None)


def survivor(process: Process, services: Services, settings: Settings, fed: Settings) -> str:
    """Where a consumer left alone stops: whether it still runs, what it said, and the lag."""
    said = process.stderr()[-3000:] or "nothing"
    return (
        f"survivor exit code {process.returncode}; its stderr: {said}; "
        f"{kafka_mode_lag(services, settings, fed)}"
    )


@pytest.mark.usefixtures("directory")
def test_relay_and_consumer_recover_by_themselves_when_the_broker_restarts(
    services: Services, kafka_settings: Settings, kafka_broker: Any, fed: Settings
) -> None:
    consumer: ProjectionConsumer = build_projection_consumer(
        fed, kafka_settings.kafka_bootstrap or ""
    )
    stop = threading.Event()
    consuming = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    relaying = relay_thread(kafka_settings)
    next(relaying)
    consuming.start()
    try:
        work(services, 30, seed=9)
        kafka_broker.down()
        work(services, 30, seed=10)  # commands go on while the broker is away
        kafka_broker.up()
        work(services, 30, seed=11)
        expected = expected_views(services)
        wait_for(
            lambda: views_of(fed) == expected,
            120,
            "recovery after the broker restart",
            explain=lambda: kafka_mode_lag(services, kafka_settings, fed),
        )
    finally:
        stop.set()
        consuming.join(30)
        next(relaying, None)


def test_serve_in_kafka_mode_answers_writes_from_the_kafka_fed_views(
    kafka_settings: Settings,
) -> None:
    settings = kafka_settings.model_copy(update={"data_dir": kafka_settings.data_dir / "serve"})
    services = build(settings, clock=Clock())
    services.start()
    try:
        assert services.kafka is not None
        hold(services)
        with serving(services) as api, api.client() as client:
            wait_for(lambda: client.get("/readyz").status_code == 200, 60, "the consumer to join")
            try:
                logged = new_incident(client)
            except AssertionError as lagging:  # e.g. 202: say where the way through Kafka stops
                raise AssertionError(
                    f"{lagging}; {kafka_mode_lag(services, settings, settings)}"
                ) from lagging
            assert logged["state"] == "assigned"
            started = client.post(f"/api/v1/incidents/{logged['ref']}/start-work", json={})
            assert started.status_code == 200, started.text
            assert started.json()["state"] == "in_progress"
            # a private record (never published) is folded from the store, in Kafka mode too
            admin = api.client("admin.dpk", Role.ADMIN)
            registered = admin.post("/api/v1/webhook-endpoints", json=BOT)
            assert registered.status_code == 201, registered.text
            listed = admin.get("/api/v1/webhook-endpoints").json()["items"]
            assert [e["code"] for e in listed] == [BOT["code"]]
            # what a lag's explanation says of the group (see above), once it is whole: stable,
            # its one consumer holding every partition (a rebalance may still be settling)
            group = settings.kafka_projections_group
            whole = f"group {group}: Stable, members ['itsm-projections-"
            wait_for(
                lambda: (
                    (state := group_state(settings.kafka_bootstrap or "", group)).startswith(whole)
                    and " [0, 1, 2]" in state
                ),
                30,
                "the group's state to show its one member with every partition",
                explain=lambda: group_state(settings.kafka_bootstrap or "", group),
            )
        # the views the API answered from were fed by Kafka: the topic holds every domain event
        records = read_topic(settings.kafka_bootstrap or "", settings.kafka_topic)
        positions = {orjson.loads(r.value)["position"] for r in records}
        assert positions == published_positions(services)
        partition = partition_of(UUID(logged["id"]), settings.kafka_partitions)
        assert services.kafka.follower.folded(partition) >= max(positions) - 1
    finally:
        services.close()


def test_in_kafka_mode_the_notifier_sends_from_the_kafka_fed_view(
    kafka_settings: Settings, smtp_servers: Callable[..., SmtpServer]
) -> None:
    # The notifier decides from the store, whose order is global (as the audit ledger does),
    # and sends what the `notifications` view says is due: here a view fed from Kafka.
    mail = smtp_servers()
    settings = kafka_settings.model_copy(
        update={
            "data_dir": kafka_settings.data_dir / "notify",
            "smtp_host": mail.host,
            "smtp_port": mail.port,
            "smtp_security": "none",
            "smtp_from": "layanan@dpk-banten.example",
        }
    )
    services = build(settings, clock=Clock())
    services.start()
    try:
        hold(services)
        ctx = Context(actor=Actor(id="admin.dpk", role=Role.ADMIN), at=T0, correlation_id=uuid4())
        services.desk.execute(
            Submission(
                ctx,
                RegisterPerson(
                    actor_id="budi.santoso", name="Budi", email="budi@perpus-serang.example"
                ),
                PERSON,
            )
        )
        Notify(services).start()  # stopped with the services
        with serving(services) as api, api.client() as client:
            wait_for(lambda: client.get("/readyz").status_code == 200, 60, "the consumer to join")
            logged = new_incident(client)
        (received,) = mail.wait_for(1, timeout=30)
        assert received.rcpt_tos == ("budi@perpus-serang.example",)
        assert f"[{logged['ref']}]" in received.data.decode()
    finally:
        services.close()
