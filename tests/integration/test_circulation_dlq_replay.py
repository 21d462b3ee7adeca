"""`itsm dlq replay` ends, even while a consumer turns what it replays into new dead letters:
it replays a snapshot (the dead letters there were when it began), records its progress with
what it publishes, and a replay killed half way resumes where it stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from consumers.circulation import REPLAY_SEAL, CirculationConsumer, Pseudonymiser
from infra.kafka_clients import ensure_topics
from infra.settings import Settings
from processes.circulation import build_circulation_consumer, circulation_topics, dead_letter_topic
from processes.simulator import envelope
from service.bootstrap import build

ITSM = Path(sys.executable).with_name("itsm")


def failing_for_ever(count: int) -> list[bytes]:
    """Dead letters that fail again on every replay: a channel the contract does not know."""
    return [
        orjson.dumps(
            envelope(
                "loan.returned",
                "/slims/kota-serang",
                f"r{i}",
                datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
                branch="kota-serang",
                item=f"B{i}",
                channel="pigeon",
            )
        )
        for i in range(count)
    ]


def end_offset(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed")
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def replayed_on(bootstrap: str, topic: str) -> list[bytes]:
    """The messages on the topic a replay published (sealed), as a consumer of committed
    messages sees them (what a killed replay had not committed is not there)."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        consumer_timeout_ms=3000,
    )
    try:
        return [r.value for r in consumer if any(name == REPLAY_SEAL for name, _ in r.headers)]
    finally:
        consumer.close()


def wait_for(condition: object, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.2)


@pytest.fixture
def replay_settings(tmp_path: Path) -> Settings:
    suffix = uuid4().hex[:10]
    return Settings(
        data_dir=tmp_path / "var",
        kafka_partitions=2,
        circulation_topic=f"circulation.events.{suffix}",
        circulation_group=f"itsm.circulation.{suffix}",
    )


@pytest.fixture
def running_consumer(
    kafka_bootstrap: str, replay_settings: Settings
) -> Iterator[CirculationConsumer]:
    """A circulation consumer at work, sending what fails again back to the dead letters."""
    ensure_topics(kafka_bootstrap, circulation_topics(replay_settings))
    services = build(replay_settings)
    consumer = build_circulation_consumer(replay_settings, kafka_bootstrap, services.desk)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield consumer
    finally:
        stop.set()
        thread.join(20)
        consumer.pipeline.store.close()
        services.close()


def replay(bootstrap: str, settings: Settings, *extra: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "ITSM_CIRCULATION_TOPIC": settings.circulation_topic,
        "ITSM_CIRCULATION_GROUP": settings.circulation_group,
        "ITSM_DATA_DIR": str(settings.data_dir),
    }
    return subprocess.Popen(
        [str(ITSM), "dlq", "replay", "--kafka", bootstrap, *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_replay_of_dead_letters_that_fail_again_ends_and_publishes_each_once(
    kafka_bootstrap: str, replay_settings: Settings, running_consumer: CirculationConsumer
) -> None:
    topic, dlq = replay_settings.circulation_topic, dead_letter_topic(replay_settings)
    count = 3
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for message in failing_for_ever(count):
        producer.send(topic, value=message)
    producer.flush()
    producer.close()
    wait_for(lambda: end_offset(kafka_bootstrap, dlq) == count)

    # When the dead letters are replayed while the consumer runs: the replay ends
    first = replay(kafka_bootstrap, replay_settings)
    output, _ = first.communicate(timeout=90)
    assert first.returncode == 0, output
    assert f"re-published {count} dead letters" in output
    assert len(replayed_on(kafka_bootstrap, topic)) == count
    # and each failed again once: N new dead letters, and no more come
    wait_for(lambda: end_offset(kafka_bootstrap, dlq) == 2 * count)
    time.sleep(3)
    assert end_offset(kafka_bootstrap, dlq) == 2 * count

    # A new replay takes the dead letters there are now (the N that failed again), and ends
    second = replay(kafka_bootstrap, replay_settings)
    output, _ = second.communicate(timeout=90)
    assert second.returncode == 0, output
    assert f"re-published {count} dead letters" in output
    assert len(replayed_on(kafka_bootstrap, topic)) == 2 * count


def test_a_killed_replay_resumes_where_it_stopped_and_publishes_nothing_twice(
    kafka_bootstrap: str, replay_settings: Settings, running_consumer: CirculationConsumer
) -> None:
    topic, dlq = replay_settings.circulation_topic, dead_letter_topic(replay_settings)
    count = 400
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    letters = failing_for_ever(count)
    for message in letters:
        producer.send(topic, value=message)
    producer.flush()
    producer.close()
    wait_for(lambda: end_offset(kafka_bootstrap, dlq) == count)

    # Given a replay killed once it has committed some of its dead letters
    first = replay(kafka_bootstrap, replay_settings, "--batch", "4")
    assert first.stdout is not None
    for line in first.stdout:
        if line.startswith("replayed"):  # its first progress line: some are committed
            break
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    done = len(replayed_on(kafka_bootstrap, topic))
    assert 0 < done < count
    # (the consumer meanwhile dead-letters those again: they must not join the resumed replay)
    wait_for(lambda: end_offset(kafka_bootstrap, dlq) >= count + done)

    # When it is started again: it resumes, and ends with each dead letter published once
    second = replay(kafka_bootstrap, replay_settings)
    output, _ = second.communicate(timeout=120)
    assert second.returncode == 0, output
    assert "resuming" in output
    published = replayed_on(kafka_bootstrap, topic)
    assert sorted(published) == sorted(letters)


def test_a_dead_letter_replayed_fixed_carries_its_patron_ref_onto_the_topic_and_is_applied(
    kafka_bootstrap: str,
    replay_settings: Settings,
    running_consumer: CirculationConsumer,
    tmp_path: Path,
) -> None:
    topic, dlq = replay_settings.circulation_topic, dead_letter_topic(replay_settings)
    request = envelope(
        "member.card_requested",
        "/slims/kota-serang",
        "c1",
        datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
        branch="kota-serang",
        patron="SERA000888",
        request="lost",
    )
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(topic, value=orjson.dumps(request))
    producer.flush()
    producer.close()
    wait_for(lambda: end_offset(kafka_bootstrap, dlq) == 1)
    reader = KafkaConsumer(
        dlq,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    (letter,) = list(reader)
    reader.close()
    kept = orjson.loads(letter.value)
    hashed = Pseudonymiser(replay_settings.circulation_pseudonym_key)("SERA000888")
    assert kept["data"] == {"branch": "kota-serang", "patron_ref": hashed, "request": "lost"}

    kept["data"]["request"] = "reprint"
    fixed = tmp_path / "fixed.ndjson"
    fixed.write_bytes(orjson.dumps({"seq": letter.offset, "event": kept}) + b"\n")
    run = replay(kafka_bootstrap, replay_settings, "--fixed", str(fixed))
    output, _ = run.communicate(timeout=90)
    assert run.returncode == 0, output
    wait_for(lambda: running_consumer.applied == 1)
    time.sleep(1)
    assert end_offset(kafka_bootstrap, dlq) == 1  # taken, with the hash it was kept with
