"""Kafka mode benchmark: the relay against a bare producer, the projection consumer against a bare
consumer, and the end-to-end latency from a REST command to a Kafka-fed view.

    .venv/bin/python -m benchmarks.kafka [--quick] [--kafka BOOTSTRAP] [--out F]

Without --kafka it starts the project's own local broker in a temporary directory. Every
measurement runs in this one invocation against the same broker and the same stored events, so
the ratios mean something on a noisy shared machine. One JSON object per line goes to stdout (and
to --out); progress goes to stderr.

    producer_bare     kafka-python's producer sending the relay's own messages (same settings)
    relay             the relay publishing the same store (read, wrap, send, acknowledge, record)
    consumer_bare     kafka-python's consumer reading the relay's topic to its end
    consumer_views    the projection consumer folding the same topic into a fresh view store
                      (both also give the process's CPU time per event: on a busy machine the
                      ratio of those is steadier than the ratio of rates)
    consumer_breakdown  the CPU time per event the projection consumer adds to the bare one,
                      split: decoding the CloudEvents into events (validated), then folding them
                      and writing the views (the bare polls replayed without Kafka)
    e2e               `itsm serve`, `itsm relay` and `itsm consume projections` as processes:
                      POST /incidents at a fixed rate, time until the incident is in the Kafka-fed
                      view store (polled every 2 ms)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
from kafka import KafkaConsumer, TopicPartition

from consumers.projections import decode
from domain.actors import Actor, Role
from domain.commands import AddWorkNote, Assign, LogIncident, StartWork
from domain.context import Context
from infra import cloudevents, kafka_clients
from infra.clock import utcnow
from infra.kafka_broker import KafkaBroker
from infra.settings import Settings
from projections.runner import collector_paused
from service.bootstrap import build
from service.kafka_mode import build_projection_consumer, build_relay, topics
from service.stores import FROM_TOPIC, open_view_store
from tests.directory_helpers import hold
from tests.kafka_harness import view_differences, views_of

from ._expect import UNLIMITED_ENV, expect
from ._lines import Report, per_event_us, rate, say
from .circulation_group import run_group, views_settings

ROOT = Path(__file__).resolve().parent.parent
ITSM = Path(sys.prefix) / "bin" / "itsm"
AGENT = Actor(id="bench", role=Role.AGENT)

TARGET_RELAY_RATIO = 0.5
TARGET_CONSUMER_RATIO = 0.5
TARGET_E2E_P99_MS = 250.0
TARGET_E2E_RATE = 200.0


# -- a store full of events ----------------------------------------------------------------------


def fill_store(settings: Settings, incidents: int) -> int:
    """Log incidents and take each through a few steps; the number of stored events."""
    services = build(settings)
    try:
        hold(services, {"library-ict": ()}, people=())  # the group work is assigned to
        for i in range(incidents):
            ctx = Context(actor=AGENT, at=utcnow(), correlation_id=uuid4())
            command = LogIncident(
                title=f"Gate {i} rejects member cards",
                service="kiosks-gates",
                caller="budi",
                impact="medium",
                urgency="high",
            )
            record = services.desk.log_incident(ctx, command).record_id
            for step in (Assign(group="library-ict"), StartWork(), AddWorkNote(text="on site")):
                services.desk.handle(ctx, record, step)
            if i % 1000 == 999:
                say(f"  stored {i + 1}/{incidents} incidents")
        return services.desk.recorder.max_notification_id() or 0
    finally:
        services.close()


def with_topic(settings: Settings, bootstrap: str, label: str) -> Settings:
    own = settings.model_copy(
        update={
            "kafka_topic": f"bench.{label}.{uuid4().hex[:8]}",
            "kafka_projections_group": f"bench.{label}.{uuid4().hex[:8]}",
        }
    )
    kafka_clients.ensure_topics(bootstrap, topics(own))
    return own


# -- producer: bare against relay ----------------------------------------------------------------


def bench_producers(
    settings: Settings, bootstrap: str, events: int, report: Report
) -> tuple[str, int]:
    """The relay's topic and the number of messages on it (the store's events less the
    bookkeeping the relay keeps off it)."""
    relay, _ = build_relay(with_topic(settings, bootstrap, "warmup"), bootstrap)
    # the messages the relay sends (the domain's facts, not the bookkeeping), built once, for
    # the bare producer to send as they are
    messages = [
        (str(n.originator_id).encode(), cloudevents.envelope(n.id, n.topic, n.state))
        for n in relay.recorder.select_notifications(start=0, limit=events + 1)
        if cloudevents.is_public(n.topic)
    ]
    bare_settings = with_topic(settings, bootstrap, "bare")
    producer = kafka_clients.producer(bootstrap, client_id="bench-bare")
    started = time.perf_counter()
    futures = [
        producer.send(bare_settings.kafka_topic, value=v, key=k, headers=cloudevents.HEADERS)
        for k, v in messages
    ]
    producer.flush()
    for future in futures:
        future.get(timeout=0)
    bare_seconds = time.perf_counter() - started
    producer.close()
    report("producer_bare", events=len(messages), events_per_s=rate(len(messages), bare_seconds))

    relay_settings = with_topic(settings, bootstrap, "relay")
    relay, _ = build_relay(relay_settings, bootstrap)
    started = time.perf_counter()
    relay.drain(timeout=600)
    relay_seconds = time.perf_counter() - started
    # store events a second (the bookkeeping among them read and passed over, not sent)
    report("relay", events=events, messages=len(messages), events_per_s=rate(events, relay_seconds))
    relay.close()
    return relay_settings.kafka_topic, len(messages)


# -- consumer: bare against projections ----------------------------------------------------------


def bench_consumers(
    settings: Settings, bootstrap: str, topic: str, events: int, report: Report
) -> Path:
    """The bare consumer, then the projection consumer, each alone on the topic; the projection
    consumer's data directory (its views)."""
    # The same poll size as the projection consumer's (infra/kafka_clients.consumer), so both
    # wait on the broker alike and the difference is what each does with a record.
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=5000
    )
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    read, first, started, cpu = 0, 0, 0.0, 0.0
    polls = []  # kept for the breakdown below (not timed: a list append per poll)
    while read < events:
        poll = consumer.poll(timeout_ms=500)
        got = sum(len(batch) for batch in poll.values())
        if got and not started:  # timed after the first batch, like the projection consumer
            started, cpu, first = time.perf_counter(), time.process_time(), got
        read += got
        if poll:
            polls.append(poll)
    bare_seconds, bare_cpu = time.perf_counter() - started, time.process_time() - cpu
    consumer.close()
    report(
        "consumer_bare",
        events=read - first,
        events_per_s=rate(read - first, bare_seconds),
        cpu_us_per_event=per_event_us(bare_cpu, read - first),
    )

    fed = settings.model_copy(
        update={
            "data_dir": settings.data_dir.parent / f"views-{uuid4().hex[:6]}",
            "subject_keys": settings.subject_keys_at,  # the service's, for people's sealed data
            "kafka_topic": topic,
            "kafka_projections_group": f"bench.views.{uuid4().hex[:8]}",
        }
    )
    projections = build_projection_consumer(fed, bootstrap)
    folded, first, started, cpu = 0, 0, 0.0, 0.0
    while folded < events:
        # The first records arrive once the consumer has joined its group (seconds): the
        # group join is not part of the folding rate, so the clock starts after that batch.
        got = projections.poll_once(timeout_ms=500)
        if got and not started:
            started, cpu, first = time.perf_counter(), time.process_time(), got
        folded += got
    projections.flush()  # the last poll's write too: the clock stops once the views hold it all
    seconds, views_cpu = time.perf_counter() - started, time.process_time() - cpu
    projections.close()
    report(
        "consumer_views",
        events=folded - first,
        events_per_s=rate(folded - first, seconds),
        cpu_us_per_event=per_event_us(views_cpu, folded - first),
    )
    consumer_breakdown(fed, bootstrap, polls, report)
    return fed.data_dir


def bench_consumer_groups(
    settings: Settings, bootstrap: str, topic: str, events: int, alone: Path, report: Report
) -> None:
    """2 bare consumer processes in a group, then 2 projection consumer processes in a group
    sharing one view store, over the same topic; the group's views must be those the consumer
    alone folded (`alone`), or there is no line."""
    base, partitions = settings.data_dir.parent, settings.kafka_partitions
    bare, _ = run_group("bare", bootstrap, topic, partitions, events, base / "group-bare", base)
    report("consumer_group_bare", **bare)
    shared = base / "group-views"
    store = open_view_store(views_settings(shared, topic, "-"))  # made once, before the members
    store.ensure(FROM_TOPIC)
    store.close()
    views, _ = run_group("views", bootstrap, topic, partitions, events, shared, base)
    differ = view_differences(
        views_of(Settings(data_dir=shared)), views_of(Settings(data_dir=alone))
    )
    if differ:
        raise RuntimeError(f"the group's views differ from the consumer's alone: {differ}")
    report("consumer_group_views", **views)


def consumer_breakdown(
    settings: Settings, bootstrap: str, polls: list[Any], report: Report
) -> None:
    """Where the projection consumer's time per event goes beyond the bare consumer's: the same
    polls (as the bare consumer read them) decoded, then folded and written into a fresh view
    store, each step timed on its own, without Kafka."""
    fresh = settings.model_copy(
        update={
            "data_dir": settings.data_dir.parent / f"views-{uuid4().hex[:6]}",
            "subject_keys": settings.subject_keys_at,
        }
    )
    projections = build_projection_consumer(fresh, bootstrap)  # its Kafka clients never start
    events = sum(len(batch) for poll in polls for batch in poll.values())
    decode_cpu = apply_cpu = 0.0
    for poll in polls:  # a poll at a time, as the consumer does (holding them all costs more)
        with collector_paused():
            started = time.process_time()
            batch = decode(poll, projections.reader)
            decoded = time.process_time()
            projections.apply(batch)
            decode_cpu += decoded - started
            apply_cpu += time.process_time() - decoded
    projections.close()
    report(
        "consumer_breakdown",
        events=events,
        decode_cpu_us_per_event=per_event_us(decode_cpu, events),
        fold_and_write_cpu_us_per_event=per_event_us(apply_cpu, events),
    )


# -- end to end ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def process(*args: str, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(
        [str(ITSM), *args], cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL
    )
    try:
        yield child
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()


def wait_until_serving(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("itsm serve did not become ready")


def bench_end_to_end(
    base: Path, bootstrap: str, per_second: float, seconds: float, report: Report
) -> None:
    api_dir, views_dir = base / "e2e-api", base / "e2e-views"
    settings = Settings(data_dir=api_dir)
    settings = with_topic(settings, bootstrap, "e2e")
    token = build_token(api_dir)
    port = free_port()
    common = {
        "ITSM_KAFKA_TOPIC": settings.kafka_topic,
        "ITSM_KAFKA_PROJECTIONS_GROUP": settings.kafka_projections_group,
        "ITSM_LOG_LEVEL": "warning",
    }
    # The rate limits off: the measured load is not to be refused (the report line says so).
    api_env = {**common, **UNLIMITED_ENV, "ITSM_DATA_DIR": str(api_dir), "ITSM_PORT": str(port)}
    views_env = {**common, "ITSM_DATA_DIR": str(views_dir)}
    with (
        process("serve", env=api_env),
        process("relay", "--kafka", bootstrap, env=api_env),
        process("consume", "projections", "--kafka", bootstrap, env=views_env),
    ):
        wait_until_serving(port)
        watcher = Watcher(port, token, views_dir / "views.db")
        asyncio.run(watcher.run(per_second, seconds))
    if not watcher.latencies:
        raise RuntimeError("no command reached the Kafka-fed view")
    seen, answered = sorted(watcher.latencies), sorted(watcher.answers)
    report(
        "e2e",
        commands=len(seen),
        lost=len(watcher.pending),
        rate=per_second,
        p50_ms=ms(seen, 0.50),
        p90_ms=ms(seen, 0.90),
        p99_ms=ms(seen, 0.99),
        max_ms=ms(seen, 1.0),
        api_answer_p50_ms=ms(answered, 0.50),
        api_answer_p99_ms=ms(answered, 0.99),
        server_settings="rate limits off: " + ", ".join(f"{k}=''" for k in UNLIMITED_ENV),
    )


def ms(ordered: list[float], q: float) -> float:
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


def build_token(data_dir: Path) -> str:
    services = build(Settings(data_dir=data_dir))
    try:
        return services.tokens.issue(AGENT, at=utcnow(), issued_by="benchmark").token
    finally:
        services.close()


class Watcher:
    """Sends incidents over REST and notes when each appears in the Kafka-fed view store."""

    BODY = orjson.dumps(
        {
            "title": "Gate rejects cards",
            "service": "kiosks-gates",
            "caller": "budi",
            "impact": "low",
            "urgency": "low",
        }
    )

    def __init__(self, port: int, token: str, views_db: Path) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.views_db = views_db
        self.pending: dict[str, float] = {}
        self.latencies: list[float] = []
        self.answers: list[float] = []
        self.lock = threading.Lock()

    def post(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = time.perf_counter()
        connection.request("POST", "/api/v1/incidents", body=self.BODY, headers=self.headers)
        answer = connection.getresponse()
        body = answer.read()
        connection.close()
        # Only a logged incident is an answer to count; any other stops the run.
        expect("POST /api/v1/incidents", answer.status, (201, 202), body)
        payload = orjson.loads(body)
        with self.lock:
            self.answers.append(time.perf_counter() - sent)
            self.pending[payload["id"]] = sent

    def look(self, conn: sqlite3.Connection) -> None:
        with self.lock:
            wanted = list(self.pending)
        if not wanted:
            return
        marks = ",".join("?" * len(wanted))
        sql = f"SELECT key FROM view_incident_details WHERE key IN ({marks})"
        try:
            found = conn.execute(sql, wanted).fetchall()
        except sqlite3.OperationalError:
            return  # the consumer has not created its tables yet
        now = time.perf_counter()
        with self.lock:
            for (key,) in found:
                self.latencies.append(now - self.pending.pop(key))

    def watch(self, until: threading.Event) -> None:
        conn: sqlite3.Connection | None = None
        while not (until.is_set() and not self.pending):
            time.sleep(0.002)
            if conn is None and self.views_db.exists():
                conn = sqlite3.connect(self.views_db)
            if conn is not None:
                self.look(conn)

    async def burst(self, per_second: float, seconds: float) -> None:
        """POST at a fixed rate (open loop: a slow answer does not delay the next send)."""
        loop = asyncio.get_running_loop()
        interval = 1.0 / per_second
        started = time.perf_counter()
        tasks = []
        for i in range(int(per_second * seconds)):
            delay = started + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(loop.run_in_executor(None, self.post))
        await asyncio.gather(*tasks)

    async def run(self, per_second: float, seconds: float, warmup: float = 2.0) -> None:
        done = threading.Event()
        watcher = threading.Thread(target=self.watch, args=(done,), daemon=True)
        watcher.start()
        await self.burst(per_second, warmup)  # until the consumer has joined and is folding
        deadline = time.monotonic() + 60
        while self.pending and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.latencies.clear()
        self.answers.clear()
        await self.burst(per_second, seconds)
        done.set()
        await asyncio.get_running_loop().run_in_executor(None, watcher.join, 60)
        if self.pending:
            say(f"  e2e: {len(self.pending)} incidents never reached the view")


# -- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--kafka", help="an existing broker; default: start a local one")
    parser.add_argument("--incidents", type=int, default=None)
    parser.add_argument("--out", type=argparse.FileType("a"), default=None)
    args = parser.parse_args(argv)
    # (quick: enough that the topic, which carries no bookkeeping, takes more than one poll of
    # 5,000: the consumers' clocks start after their first)
    incidents = args.incidents or (1500 if args.quick else 5000)
    report = Report(args.out)
    with tempfile.TemporaryDirectory(prefix="itsm-bench-kafka-") as tmp:
        base = Path(tmp)
        broker: KafkaBroker | None = None
        bootstrap = args.kafka
        if not bootstrap:
            say("starting a local Kafka broker")
            broker = KafkaBroker(base / "kafka").up()
            bootstrap = broker.bootstrap
        try:
            settings = Settings(data_dir=base / "store")
            say(f"filling a store with {incidents} incidents")
            events = fill_store(settings, incidents)
            say(f"{events} events; bare producer, then the relay")
            topic, published = bench_producers(settings, bootstrap, events, report)
            say(f"bare consumer, then the projection consumer ({published} messages)")
            alone = bench_consumers(settings, bootstrap, topic, published, report)
            say("2 bare consumers, then 2 projection consumers, in groups")
            bench_consumer_groups(settings, bootstrap, topic, published, alone, report)
            say(f"end to end at {TARGET_E2E_RATE:.0f} commands/s")
            bench_end_to_end(base, bootstrap, TARGET_E2E_RATE, 5 if args.quick else 20, report)
        finally:
            if broker:
                broker.down()
    lines = report.lines
    relay_ratio = lines["relay"]["events_per_s"] / lines["producer_bare"]["events_per_s"]
    consumer_ratio = (
        lines["consumer_views"]["events_per_s"] / lines["consumer_bare"]["events_per_s"]
    )
    report(
        "summary",
        relay_over_bare_producer=round(relay_ratio, 2),
        relay_target=TARGET_RELAY_RATIO,
        relay_met=relay_ratio >= TARGET_RELAY_RATIO,
        consumer_over_bare_consumer=round(consumer_ratio, 2),
        consumer_cpu_bare_over_views=round(
            lines["consumer_bare"]["cpu_us_per_event"]
            / lines["consumer_views"]["cpu_us_per_event"],
            2,
        ),
        consumer_target=TARGET_CONSUMER_RATIO,
        # At the target, the consumer could spend as much CPU per event as the bare one on top
        # of it; this is what it spends on top, decoding then folding and writing.
        consumer_cpu_allowance_us=lines["consumer_bare"]["cpu_us_per_event"],
        consumer_cpu_added_us=round(
            lines["consumer_breakdown"]["decode_cpu_us_per_event"]
            + lines["consumer_breakdown"]["fold_and_write_cpu_us_per_event"],
            2,
        ),
        consumer_met=consumer_ratio >= TARGET_CONSUMER_RATIO,
        consumer_group_over_bare_group=round(
            lines["consumer_group_views"]["events_per_s"]
            / lines["consumer_group_bare"]["events_per_s"],
            2,
        ),
        e2e_p99_ms=lines["e2e"]["p99_ms"],
        e2e_target_p99_ms=TARGET_E2E_P99_MS,
        e2e_met=lines["e2e"]["p99_ms"] < TARGET_E2E_P99_MS,
    )


if __name__ == "__main__":
    main()
