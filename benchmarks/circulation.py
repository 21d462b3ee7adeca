"""Circulation ingest through Kafka: the pipeline's consumer beside a bare kafka-python consumer.

    .venv/bin/python -m benchmarks.circulation [--quick] [--kafka BOOTSTRAP] [--events N]

In one run against one broker: simulated circulation events are put on a fresh topic; a bare
kafka-python consumer reads them all (records unpacked, nothing else); then the circulation
consumer reads the same topic in its own group and applies every event (validation,
pseudonymisation, dedupe set, health counters, rules, one transaction per poll, offsets
committed after it). Both are timed from their first batch, so the group join is not counted.
Then the same with consumer groups (benchmarks/circulation_group.py): 2 bare consumer processes
in one group, then 2 circulation consumer processes in another, over the topic's partitions (its
events keyed by their source, as the topic's contract says). Then the time from a kiosk's offline
signal being sent to its incident existing in the event store (threshold 0, always open), with
the consumer running live. Prints JSON lines.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from application.seed import seed
from benchmarks._lines import Report, rate, say
from benchmarks.circulation_group import MEMBERS, bench_group
from domain.commands import LogIncident
from domain.context import Context
from infra.kafka_broker import KafkaBroker
from infra.kafka_clients import ensure_topics
from infra.settings import Settings
from processes.circulation import DeskIncidents, build_circulation_consumer, circulation_topics
from processes.simulator import Simulator, envelope, start_of_day
from service.bootstrap import build
from tests.directory_helpers import hold

TARGET_RATE = 20_000.0
TARGET_RATIO = 0.3


def fill_topic(bootstrap: str, topic: str, events: int) -> int:
    simulator = Simulator(start=start_of_day(datetime(2026, 3, 2, tzinfo=UTC)), seed=7)
    messages = list(itertools.islice(simulator.messages(), events))
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, batch_size=512 * 1024, acks=1
    )
    for message in messages:
        # keyed by the sender, as the topic's contract says (docs/circulation.md): a source's
        # events on one partition, in order (an unreadable message has no key)
        producer.send(topic, value=message, key=_source(message))
    producer.flush()
    producer.close()
    return len(messages)


def _source(message: bytes) -> bytes | None:
    try:
        source = orjson.loads(message).get("source")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return source.encode() if isinstance(source, str) else None


def bench_bare(bootstrap: str, topic: str, events: int, report: Report) -> None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    read, first, started = 0, 0, 0.0
    while read < events:
        got = sum(len(batch) for batch in consumer.poll(timeout_ms=500).values())
        if got and not started:
            started, first = time.perf_counter(), got
        read += got
    seconds = time.perf_counter() - started
    consumer.close()
    report("circulation_bare", events=read - first, events_per_s=rate(read - first, seconds))


def bench_pipeline(settings: Settings, bootstrap: str, events: int, report: Report) -> None:
    services = build(settings)
    seed(services.desk)  # the catalogue: member-card requests become service requests
    consumer = build_circulation_consumer(settings, bootstrap, services.desk)
    read, first, started = 0, 0, 0.0
    try:
        while read < events:
            got = consumer.poll_once(timeout_ms=500)
            if got and not started:
                started, first = time.perf_counter(), got
            read += got
        seconds = time.perf_counter() - started
    finally:
        consumer.close()
        consumer.pipeline.store.close()
        services.close()
    report(
        "circulation_pipeline",
        events=read - first,
        applied=consumer.applied,
        events_per_s=rate(read - first, seconds),
    )


class Timed(DeskIncidents):
    """The desk's port, noting when each incident was opened."""

    opened: dict[str, float]

    def open(self, ctx: Context, command: LogIncident, key: str) -> str:
        incident = super().open(ctx, command, key)
        assert command.configuration_item is not None
        self.opened[command.configuration_item] = time.perf_counter()
        return incident


def bench_latency(settings: Settings, bootstrap: str, kiosks: int, report: Report) -> None:
    live = settings.model_copy(
        update={
            "data_dir": settings.data_dir.parent / "latency",
            "circulation_topic": f"circulation.latency.{uuid4().hex[:8]}",
            "circulation_group": f"bench.latency.{uuid4().hex[:8]}",
            "circulation_offline_threshold": timedelta(0),
            "circulation_opening_hours": "mon-sun 00:00-23:59",
        }
    )
    ensure_topics(bootstrap, circulation_topics(live))
    services = build(live)
    hold(services)  # the groups the rules assign to (the kiosk team)
    consumer = build_circulation_consumer(live, bootstrap, services.desk)
    timed = Timed(services.desk)
    timed.opened = {}
    consumer.pipeline.incidents = timed
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    consumer.assigned.wait(30)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks=1)
    sent: dict[str, float] = {}
    at = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    try:
        for n in range(kiosks):
            device = f"bench-kiosk-{n}"
            message = envelope(
                "device.status_changed",
                "/kiosk-monitor/bench",
                f"offline-{n}",
                at + timedelta(minutes=n),
                branch="bench",
                device=device,
                device_kind="kiosk",
                status="offline",
            )
            sent[device] = time.perf_counter()
            producer.send(live.circulation_topic, value=orjson.dumps(message)).get(10)
            deadline = time.perf_counter() + 10
            while device not in timed.opened and time.perf_counter() < deadline:
                time.sleep(0.001)
            time.sleep(0.05)
    finally:
        producer.close()
        stop.set()
        thread.join(20)
        consumer.pipeline.store.close()
        services.close()
    missing = sorted(d for d in sent if d not in timed.opened)
    if missing:  # a latency left out is not a faster benchmark: the run is void
        raise RuntimeError(f"{len(missing)} of {len(sent)} offline kiosks opened no incident")
    latencies = sorted((timed.opened[d] - sent[d]) * 1000 for d in sent)
    report(
        "kiosk_offline_to_incident",
        kiosks=kiosks,
        opened=len(latencies),
        p50_ms=round(statistics.median(latencies), 1),
        max_ms=round(latencies[-1], 1),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--kafka", help="an existing broker; default: start a local one")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--out", type=argparse.FileType("a"), default=None)
    args = parser.parse_args(argv)
    events = args.events or (50_000 if args.quick else 300_000)
    report = Report(args.out)
    with tempfile.TemporaryDirectory(prefix="itsm-bench-circulation-") as tmp:
        base = Path(tmp)
        broker: KafkaBroker | None = None
        bootstrap = args.kafka
        if not bootstrap:
            say("starting a local Kafka broker")
            broker = KafkaBroker(base / "kafka").up()
            bootstrap = broker.bootstrap
        try:
            settings = Settings(
                data_dir=base / "store",
                circulation_topic=f"circulation.bench.{uuid4().hex[:8]}",
                circulation_group=f"bench.circulation.{uuid4().hex[:8]}",
            )
            ensure_topics(bootstrap, circulation_topics(settings))
            say(f"putting {events:,} simulated events on {settings.circulation_topic}")
            events = fill_topic(bootstrap, settings.circulation_topic, events)
            say("bare consumer")
            bench_bare(bootstrap, settings.circulation_topic, events, report)
            say("circulation consumer")
            bench_pipeline(settings, bootstrap, events, report)
            say(f"consumer groups: {MEMBERS} processes over {settings.kafka_partitions} partitions")
            bench_group(
                bootstrap,
                settings.circulation_topic,
                settings.kafka_partitions,
                events,
                base,
                report,
            )
            say("kiosk offline -> incident")
            bench_latency(settings, bootstrap, 5 if args.quick else 20, report)
        finally:
            if broker:
                broker.down()
    lines = report.lines
    pipeline = lines["circulation_pipeline"]["events_per_s"]
    ratio = pipeline / lines["circulation_bare"]["events_per_s"]
    group = lines["circulation_group_pipeline"]
    if group["applied"] != lines["circulation_pipeline"]["applied"]:  # the same topic, once each
        raise RuntimeError(f"the group applied {group['applied']}, one consumer more or fewer")
    report(
        "summary",
        pipeline_events_per_s=pipeline,
        rate_target=TARGET_RATE,
        rate_met=pipeline >= TARGET_RATE,
        pipeline_over_bare=round(ratio, 2),
        ratio_target=TARGET_RATIO,
        ratio_met=ratio >= TARGET_RATIO,
        group_pipeline_events_per_s=group["events_per_s"],
        group_over_bare_group=round(
            group["events_per_s"] / lines["circulation_group_bare"]["events_per_s"], 2
        ),
        group_over_one_pipeline=round(group["events_per_s"] / pipeline, 2),
    )
    print(file=sys.stderr)


if __name__ == "__main__":
    main()
