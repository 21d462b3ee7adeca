"""The official CloudEvents SDKs read every message the service writes, on every topic, from a
real broker: the Python SDK (its Kafka binding) here, and the Java SDK's Kafka deserializer (what
Spring, Quarkus and Knative use) through the small check in tests/cloudevents_java/.

The service runs in Kafka mode over HTTP and writes each of its topics the way it does in use:
the relay publishes the commands' events (made with Idempotency-Keys, for every kind of record),
the audit ledger publishes signed checkpoints, the circulation gateway forwards an NDJSON batch,
the circulation consumer dead-letters the one line the contract refuses, `itsm dlq replay` puts
it back, and the circulation simulator sends its stream. The topic of the
domain's events carries no bookkeeping event and no client's key.

A message as the service wrote it before (no `content-type` header) is read too, on a topic of
its own: both SDKs must refuse it ("Unknown encoding" in Java), which shows the checks can fail.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, from_structured
from cloudevents.core.formats.json import JSONFormat
from kafka import KafkaProducer

from application.seed import seed
from cli.circulation import _kafka_sender
from domain.actors import Role
from infra.cloudevents import TYPE_PREFIX, data_schema, is_public, stored_type
from infra.kafka_clients import TopicSpec, ensure_topics
from infra.settings import Settings
from processes.circulation import build_circulation_consumer, circulation_topics, dead_letter_topic
from processes.circulation_replay import KafkaReplay
from processes.simulator import Simulator
from service.bootstrap import Services, build
from service.kafka_mode import dead_letter_topic as kafka_dead_letter_topic
from tests.conftest import Clock
from tests.integration.conftest import serving
from tests.integration.test_circulation_entry_points import (
    MONDAY,
    card_requests,
    chosen_requester,
)
from tests.integration.test_organisations import KINDS, SERANG, made
from tests.kafka_harness import read_topic, wait_for

pytestmark = pytest.mark.slow

JAVA_CHECK = Path(__file__).resolve().parents[1] / "cloudevents_java"
MAIN_CLASS = "id.go.bantenprov.dpk.itsm.check.ReadEveryMessage"
SOURCE = "https://itsm.test.example/serang"
RAW_KEYS = [f"front-desk-{kind.replace(' ', '-')}-7f3a9c" for kind in KINDS]


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """The envelope does not depend on the store: one backend is enough."""
    chosen: str = request.param
    return chosen


@pytest.fixture
def kafka_service(settings: Settings, kafka_bootstrap: str, clock: Clock) -> Iterator[Services]:
    """The service in Kafka mode (relay and projection consumer in-process), on topics of its
    own; the audit ledger is caught up by hand."""
    unique = uuid4().hex[:12]
    own = settings.model_copy(
        update={
            "kafka_bootstrap": kafka_bootstrap,
            "kafka_topic": f"itsm.events.{unique}",
            "kafka_audit_topic": f"itsm.audit.checkpoints.{unique}",
            "kafka_projections_group": f"itsm.projections.{unique}",
            "circulation_topic": f"circulation.events.{unique}",
            "circulation_group": f"itsm.circulation.{unique}",
            "kafka_partitions": 2,
            "audit_follow": False,
            "audit_checkpoint_every": 4,
            "event_source": SOURCE,
        }
    )
    ensure_topics(kafka_bootstrap, circulation_topics(own))
    services = build(own, clock=clock)
    services.start()
    yield services
    services.close()


def write_every_topic(services: Services) -> list[str]:
    """Use the service as its users do, so that it writes each of its topics; the topics."""
    settings = services.settings
    bootstrap = settings.kafka_bootstrap or ""
    seed(services.desk)  # the catalogue items service requests are made from
    with serving(services) as api:
        agent = api.client("helpdesk", Role.AGENT, organisation=SERANG)
        for (name, kind), key in zip(KINDS.items(), RAW_KEYS, strict=True):
            first = made(agent.post(kind.path, json=kind.body, headers={"Idempotency-Key": key}))
            again = agent.post(kind.path, json=kind.body, headers={"Idempotency-Key": key})
            assert again.json()["id"] == first["id"], name
        lines = [chosen_requester("h1", "siti.rahma"), *card_requests("h2", "h3")]
        with api.client("slims-serang", Role.INTEGRATION) as integration:
            sent = integration.post("/api/v1/ingest/circulation", content=b"\n".join(lines))
        assert sent.status_code == 202, sent.text
    assert services.audit is not None
    services.audit.ledger.catch_up()  # signs checkpoints, published on the audit topic
    kafka = services.kafka
    assert kafka is not None
    assert kafka.relay is not None
    relay = kafka.relay[0]
    head = services.desk.recorder.max_notification_id() or 0
    wait_for(lambda: relay.published() >= head, 60, "the relay")
    circulation = build_circulation_consumer(settings, bootstrap, services.desk)
    circulation_dlq = dead_letter_topic(settings)
    try:
        wait_for(
            lambda: circulation.poll_once() >= 0 and bool(read_topic(bootstrap, circulation_dlq)),
            60,
            "the circulation consumer to dead-letter the refused line",
        )
    finally:
        circulation.close()
    assert KafkaReplay(settings, bootstrap).run() == 1  # `itsm dlq replay`: back on the topic
    simulate = _kafka_sender(bootstrap, settings.circulation_topic)  # `itsm simulate circulation`
    simulate(list(itertools.islice(Simulator(start=MONDAY, faults=False).messages(), 20)))
    simulate([])
    return [
        settings.kafka_topic,
        kafka_dead_letter_topic(settings.kafka_topic, "projections"),
        settings.kafka_audit_topic,
        settings.circulation_topic,
        circulation_dlq,
    ]


def as_before(bootstrap: str, record: Any) -> str:
    """A topic holding one message as the relay wrote it before: the same bytes, no header."""
    topic = f"itsm.events.as-before.{uuid4().hex[:12]}"
    ensure_topics(bootstrap, {topic: TopicSpec(1)})
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(topic, key=record.key, value=record.value).get(timeout=30)
    producer.close()
    return topic


def read_with_python_sdk(record: Any) -> Any:
    """The event the Python SDK reads from a record, in the mode the binding says: structured
    when `content-type` names a CloudEvents format, else binary."""
    headers = dict(record.headers or ())
    message = KafkaMessage(headers=headers, key=record.key, value=record.value)
    structured = headers.get("content-type", b"").startswith(b"application/cloudevents")
    read = from_structured if structured else from_binary
    return read(message, JSONFormat())


def test_the_cloudevents_sdks_read_every_message_on_every_topic(
    kafka_service: Services, kafka_bootstrap: str
) -> None:
    topics = write_every_topic(kafka_service)
    events_topic = kafka_service.settings.kafka_topic

    read: dict[str, list[Any]] = {}
    where: dict[tuple[str, str], str] = {}  # (partition, offset) on the events topic -> type
    for topic in topics:
        records = read_topic(kafka_bootstrap, topic)
        read[topic] = [read_with_python_sdk(record) for record in records]  # raises if it can't
        if topic == events_topic:
            where = {
                (str(r.partition), str(r.offset)): e.get_type()
                for r, e in zip(records, read[topic], strict=True)
            }
        for record in records:
            assert dict(record.headers)["content-type"] == (
                b"application/cloudevents+json; charset=UTF-8"
            ), topic
            for key in RAW_KEYS:
                assert key.encode() not in record.value, f"a client's key on {topic}"
    assert all(read[t] for t in topics if ".projections.dlq" not in t), "every topic was written"

    for event in [*read[events_topic], *read[kafka_service.settings.kafka_audit_topic]]:
        assert event.get_type().startswith(TYPE_PREFIX)
        assert event.get_source() == SOURCE
        assert event.get_dataschema().startswith("urn:itsm:schema:")
    for event in read[events_topic]:
        stored = stored_type(event.get_type())
        assert is_public(stored), f"bookkeeping on the public topic: {stored}"
        assert event.get_dataschema() == data_schema(stored)
    published = {stored_type(e.get_type()) for e in read[events_topic]}
    assert {"Incident.Logged", "Problem.Logged", "Change.Raised"} <= published, published

    before = as_before(kafka_bootstrap, read_topic(kafka_bootstrap, events_topic)[0])
    (old,) = read_topic(kafka_bootstrap, before)
    with pytest.raises(Exception):  # noqa: B017,PT011  (the SDK's own kind of refusal)
        read_with_python_sdk(old)

    java = run_java_check(kafka_bootstrap, [*topics, before])
    assert java.returncode == 1, java.stderr[-2000:]
    lines = [line.split("\t") for line in java.stdout.splitlines()]
    counts = {line[1]: int(line[2]) for line in lines if line[0] == "READ"}
    assert counts == {**{t: len(read[t]) for t in topics}, before: 1}
    unreadable = [line for line in lines if line[0] == "UNREADABLE"]
    assert [u[1] for u in unreadable] == [before], unreadable
    assert "Unknown encoding" in unreadable[0][4]
    java_events = [line for line in lines if line[0] == "EVENT" and line[1] == events_topic]
    assert {(e[2], e[3]): e[4] for e in java_events} == where
    assert {e[5] for e in java_events} == {SOURCE}


# -- the Java check ---------------------------------------------------------------------------


def run_java_check(bootstrap: str, topics: list[str]) -> subprocess.CompletedProcess[str]:
    """Build tests/cloudevents_java with Maven (offline once its jars are fetched) and run it."""
    tools = {tool: shutil.which(tool) for tool in ("java", "mvn")}
    missing = [tool for tool, path in tools.items() if path is None]
    if missing:
        reason = f"the Java check needs {' and '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} under CI", pytrace=False)
        pytest.skip(reason)
    build = [
        "mvn",
        "-q",
        "-B",
        "compile",
        "dependency:build-classpath",
        "-Dmdep.outputFile=target/classpath.txt",
    ]
    offline = subprocess.run(
        [*build[:3], "-o", *build[3:]], check=False, cwd=JAVA_CHECK, capture_output=True, text=True
    )
    if offline.returncode != 0:  # the first run: Maven fetches the SDK's jars
        fetched = subprocess.run(build, check=False, cwd=JAVA_CHECK, capture_output=True, text=True)
        assert fetched.returncode == 0, fetched.stdout[-3000:] + fetched.stderr[-3000:]
    classpath = (JAVA_CHECK / "target" / "classpath.txt").read_text().strip()
    return subprocess.run(
        [
            "java",
            "-cp",
            f"{JAVA_CHECK / 'target' / 'classes'}{os.pathsep}{classpath}",
            MAIN_CLASS,
            bootstrap,
            *topics,
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
