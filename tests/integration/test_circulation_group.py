"""Circulation ingest by a consumer group (a real broker): two consumer processes in one group
over six partitions keep each source's events in order and apply each event once, through a
rebalance when the second joins half way and a producer's re-sends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import orjson
from kafka import KafkaProducer

from infra.circulation_store import CirculationStore
from infra.kafka_clients import ensure_topics
from infra.settings import Settings
from processes.circulation import circulation_topics
from processes.simulator import envelope
from service.bootstrap import build
from tests.directory_helpers import hold

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 6
MEMBER = [sys.executable, "-m", "tests.integration.circulation_member"]
SOURCES = [f"/kiosk-monitor/branch-{n}" for n in range(12)]
START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def heartbeats(source: str, first: int, count: int) -> list[bytes]:
    """A source's heartbeats `first`..`first + count - 1`: ids that sort in the order sent."""
    branch = source.rsplit("/", 1)[1]
    return [
        orjson.dumps(
            envelope(
                "device.heartbeat",
                source,
                f"{branch}-{n:05d}",
                START + timedelta(seconds=n),
                branch=branch,
                device=f"{branch}-kiosk-1",
                device_kind="kiosk",
            )
        )
        for n in range(first, first + count)
    ]


def send(bootstrap: str, topic: str, per_source: dict[str, list[bytes]]) -> None:
    """Each source's messages in order, keyed by the source (the topic's contract), the sources
    interleaved."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    longest = max(len(messages) for messages in per_source.values())
    for i in range(longest):
        for source, messages in per_source.items():
            if i < len(messages):
                producer.send(topic, value=messages[i], key=source.encode())
    producer.flush()
    producer.close()


def member(settings: Settings, bootstrap: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *MEMBER,
            str(settings.data_dir),
            bootstrap,
            settings.circulation_topic,
            settings.circulation_group,
            str(PARTITIONS),
            str(log),
        ],
        cwd=ROOT,
        env={**os.environ, "ITSM_LOG_LEVEL": "warning"},
    )


def applied(log: Path) -> list[tuple[int, str, str]]:
    if not log.exists():
        return []
    return [tuple(orjson.loads(line)) for line in log.read_bytes().splitlines()]  # type: ignore[misc]


def wait_for(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:.0f} s for {what}")
        time.sleep(0.2)


def test_two_consumer_processes_in_one_group_keep_each_sources_order_and_apply_each_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "var",
        kafka_partitions=PARTITIONS,
        circulation_topic=f"circulation.events.{uuid4().hex[:10]}",
        circulation_group=f"itsm.circulation.{uuid4().hex[:10]}",
    )
    ensure_topics(kafka_bootstrap, circulation_topics(settings))
    services = build(settings.model_copy(update={"kafka_bootstrap": None}))
    hold(services)  # the groups the rules assign to; made once, before both processes start
    services.close()
    first = {s: heartbeats(s, 0, 150) for s in SOURCES}
    # the second half, with a producer's re-send of the tail of the first before it
    second = {s: first[s][-20:] + heartbeats(s, 150, 150) for s in SOURCES}
    unique = {(s, f"{s.rsplit('/', 1)[1]}-{n:05d}") for s in SOURCES for n in range(300)}
    logs = [tmp_path / "one.jsonl", tmp_path / "two.jsonl"]

    send(kafka_bootstrap, settings.circulation_topic, first)
    members = [member(settings, kafka_bootstrap, logs[0])]
    try:
        wait_for(lambda: len(applied(logs[0])) >= 600, 90, "the first member to apply some")
        members.append(member(settings, kafka_bootstrap, logs[1]))  # a rebalance half way
        # the second half while the second member starts and the group rebalances
        for n in range(0, 170, 5):
            send(
                kafka_bootstrap,
                settings.circulation_topic,
                {s: m[n : n + 5] for s, m in second.items()},
            )
            time.sleep(0.5)
        wait_for(lambda: sum(len(applied(log)) for log in logs) >= len(unique), 120, "every event")
        time.sleep(2.0)  # time for any repeat still in flight to be (wrongly) applied
    finally:
        for process in members:
            process.send_signal(signal.SIGTERM)
        for process in members:
            process.wait(30)

    lines = sorted(line for log in logs for line in applied(log))
    # each event applied once, by one of the two members
    assert len(lines) == len(unique)
    assert {(source, event) for _, source, event in lines} == unique
    store = CirculationStore(settings.circulation_db)
    try:
        assert store.seen_count() == len(unique)
    finally:
        store.close()
    # both members applied events: the group shared the partitions out
    assert all(applied(log) for log in logs)
    # in the order each source sent them, across both processes
    by_source: dict[str, list[str]] = defaultdict(list)
    for _, source, event in lines:
        by_source[source].append(event)
    assert all(events == sorted(events) for events in by_source.values())
