"""Crash soak for Kafka mode: many more SIGKILL rounds than the suite runs, checked as it goes.

    .venv/bin/python -m benchmarks.soak [--rounds 200] [--check-every 5] [--kafka HOST:PORT]
                                        [--postgres URL] [--seed N] [--rate STEPS_PER_S]

Commands flow into an event store all the time (a writer thread of this process, the same mix
as the crash tests). `itsm relay` publishes it to a topic of the soak's own and `itsm consume
projections` (static member `soak-a`) builds the read models from that topic into a view store
of its own, each as a child process, as deployed. Each round SIGKILLs one of them at a random
moment after it has made progress, and restarts it:

    relay      the relay (a new one takes over from the recorded position)
    consumer   consumer `soak-a` (it rejoins under its instance id and takes its partitions back)
    rebalance  a second consumer `soak-b-N` joins; once the group is stable with both, one of
               the two is killed, and `soak-b-N` always by the end of the round (`soak-a` is
               restarted), so the group rebalances back to one

Every `--check-every` rounds, and after the last, the writer is held and the soak checks, on a
quiet store: every stored event reached the topic; per partition, ignoring re-sends, positions
grow and each aggregate's versions come one by one; the Kafka-fed views equal the embedded fold
of the same history (an effect lost or applied twice shows as a row missing, extra or unequal).
Each failed check is a violation. Progress goes to stderr; the end is a table, and a JSON line on
stdout. The exit status is 1 on any violation.

Without --kafka a local broker is started in a temporary directory. With --postgres URL the event
store (with the embedded views) and the Kafka-fed views are two fresh databases on that server,
dropped at the end; otherwise SQLite files in the temporary directory.
The harness is shared with the crash tests (tests/kafka_harness.py).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson

from infra.kafka_broker import KafkaBroker
from infra.kafka_clients import ensure_topics
from infra.settings import Settings
from projections import PROJECTIONS
from service.bootstrap import Services, build
from service.kafka_mode import build_relay, topics
from service.stores import open_view_store
from tests.kafka_harness import (
    Pause,
    Process,
    TopicFollower,
    expected_views,
    group_members,
    keep_working,
    published_positions,
    view_differences,
    views_of,
    wait_for,
)

KINDS = ("relay", "consumer", "rebalance")
CONSUMER_A = "soak-a"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s"


@dataclass
class Tally:
    rounds: Counter[str] = field(default_factory=Counter)
    kills: Counter[str] = field(default_factory=Counter)
    checks: int = 0
    violations: list[str] = field(default_factory=list)


@dataclass
class Soak:
    """The processes under test and the handles the checks read through."""

    services: Services
    kafka: Settings  # the store's settings, with the topic and the broker
    fed: Settings  # the Kafka-fed consumers' settings: their own view store
    bootstrap: str
    rng: random.Random
    tally: Tally = field(default_factory=Tally)

    def __post_init__(self) -> None:
        self.probe, _ = build_relay(self.kafka, self.bootstrap)  # reads the relay's position
        self.views = open_view_store(self.fed)
        self.views.ensure(PROJECTIONS)
        self.topic = TopicFollower(self.bootstrap, self.kafka.kafka_topic)
        self.relay = self.start_relay()
        self.consumer = self.start_consumer(CONSUMER_A)

    def start_relay(self) -> Process:
        return Process(self.kafka, "relay", "--kafka", self.bootstrap)

    def start_consumer(self, instance: str) -> Process:
        args = ("consume", "projections", "--kafka", self.bootstrap, "--instance-id", instance)
        return Process(self.fed, *args)

    # -- progress signals ----------------------------------------------------------------------

    def folded(self) -> int:
        """How far the Kafka-fed views have got: their positions summed over partitions."""
        return sum(self.views.partition_positions(PROJECTIONS[0]).values())

    def after_progress(self, measure: Callable[[], int], what: str) -> None:
        """Wait until `measure` has grown, then a random moment more (up to 0.3 s)."""
        before = measure()
        wait_for(lambda: measure() > before, 90, what)
        time.sleep(self.rng.uniform(0, 0.3))

    # -- rounds --------------------------------------------------------------------------------

    def round(self, number: int) -> str:
        kind = self.rng.choice(KINDS)
        getattr(self, f"_{kind}")(number)
        self.tally.rounds[kind] += 1
        return kind

    def _relay(self, number: int) -> None:
        self.after_progress(self.probe.published, "the relay to publish")
        self.relay.kill()
        self.tally.kills["relay"] += 1
        self.relay = self.start_relay()

    def _consumer(self, number: int) -> None:
        self.after_progress(self.folded, "the consumer to fold")
        self.consumer.kill()
        self.tally.kills["consumer"] += 1
        self.consumer = self.start_consumer(CONSUMER_A)

    def _rebalance(self, number: int) -> None:
        second = f"soak-b-{number}"
        joined = self.start_consumer(second)
        try:
            group = self.kafka.kafka_projections_group
            both = sorted([CONSUMER_A, second])
            wait_for(lambda: group_members(self.bootstrap, group) == both, 120, "two members")
            self.after_progress(self.folded, "two consumers to fold")
            if self.rng.random() < 0.5:
                self.consumer.kill()  # the first goes; it rejoins, the second keeps folding
                self.tally.kills["consumer"] += 1
                self.consumer = self.start_consumer(CONSUMER_A)
                self.after_progress(self.folded, "the consumers to fold")
        finally:
            joined.kill()
            self.tally.kills["second consumer"] += 1

    # -- checks --------------------------------------------------------------------------------

    def check(self, quiet: AbstractContextManager[Any], timeout: float = 180.0) -> list[str]:
        """Within `quiet` (the writer held, or stopped): once the relay and the consumers have
        caught up with the store, the topic and the views must be what its history says."""
        found: list[str] = []
        with quiet:
            head = self.services.desk.recorder.max_notification_id() or 0
            try:
                wait_for(lambda: self.probe.published() >= head, timeout, "the relay")
            except TimeoutError:
                found.append(f"relay stuck at {self.probe.published()} of {head}")
            ledger = self.topic.catch_up()
            if missing := ledger.missing(published_positions(self.services)):
                found.append(f"{len(missing)} events never reached the topic, e.g. {missing[:3]}")
            if ledger.disorder:
                found.append(f"out of order on the topic: {ledger.disorder[:3]}")
                ledger.disorder.clear()
            expected = expected_views(self.services)
            deadline = time.monotonic() + timeout
            while (actual := views_of(self.fed)) != expected and time.monotonic() < deadline:
                time.sleep(0.5)
            found.extend(view_differences(actual, expected))
        self.tally.checks += 1
        self.tally.violations.extend(found)
        return found

    def close(self) -> None:
        for process in (self.relay, self.consumer):
            with contextlib.suppress(Exception):
                process.stop()
        self.topic.close()
        self.views.close()
        self.probe.close()


@contextlib.contextmanager
def engines(args: argparse.Namespace, base: Path) -> Iterator[tuple[str, list[str | None]]]:
    """The broker's address, and two database URLs (the store with its embedded views, the
    Kafka-fed views), both None on SQLite."""
    broker: KafkaBroker | None = None
    bootstrap = args.kafka
    if not bootstrap:
        say("starting a local Kafka broker")
        broker = KafkaBroker(base / "kafka").up()
        bootstrap = broker.bootstrap
    maker: Any = None
    urls: list[str | None] = [None, None]
    try:
        if args.postgres:
            from tests.engines.postgres import DatabaseMaker, with_database

            maker = DatabaseMaker(args.postgres)
            urls = [with_database(args.postgres, maker.take()) for _ in range(2)]
        yield bootstrap, urls
    finally:
        if maker is not None:
            for url in urls:
                maker.drop(str(url).rsplit("/", 1)[-1])
            maker.close()
        if broker is not None:
            broker.down()


def run(args: argparse.Namespace, base: Path, bootstrap: str, urls: list[str | None]) -> Tally:
    settings = Settings(data_dir=base / "store", database_url=urls[0])
    kafka = settings.model_copy(
        update={
            "kafka_bootstrap": bootstrap,
            "kafka_topic": f"soak.events.{uuid4().hex[:8]}",
            "kafka_projections_group": f"soak.projections.{uuid4().hex[:8]}",
            "kafka_partitions": args.partitions,
        }
    )
    fed = kafka.model_copy(update={"data_dir": base / "views", "database_url": urls[1]})
    ensure_topics(bootstrap, topics(kafka))
    services = build(settings)
    services.start()
    stop, paused = threading.Event(), Pause()
    writer = threading.Thread(
        target=keep_working,
        args=(services, stop, args.seed, paused, 5 / args.rate),
        name="writer",
        daemon=True,
    )
    writer.start()
    soak = Soak(services, kafka, fed, bootstrap, random.Random(args.seed))
    started = time.monotonic()
    try:
        for number in range(1, args.rounds + 1):
            try:
                kind = soak.round(number)
            except TimeoutError as stuck:  # a process that never made progress: a violation
                kind = "stuck"
                soak.tally.violations.append(f"round {number}: {stuck}")
            last = number == args.rounds
            checked = ""
            if last:  # the final check covers everything the writer ever wrote
                stop.set()
                writer.join(30)
            if number % args.check_every == 0 or last:
                found = soak.check(contextlib.nullcontext() if last else paused.held())
                checked = f", check {'FAILED: ' + '; '.join(found) if found else 'ok'}"
            elapsed = time.monotonic() - started
            eta = elapsed / number * (args.rounds - number)
            events = services.desk.recorder.max_notification_id() or 0
            say(
                f"round {number}/{args.rounds} {kind}: {events:,} events, "
                f"{number / elapsed * 60:.1f} rounds/min, ETA {duration(eta)}{checked}"
            )
    finally:
        stop.set()
        writer.join(30)
        soak.close()
        soak.tally.rounds["events"] = services.desk.recorder.max_notification_id() or 0
        soak.tally.rounds["topic messages"] = soak.topic.ledger.messages
        soak.tally.rounds["re-sent"] = soak.topic.ledger.repeats
        soak.tally.rounds["seconds"] = int(time.monotonic() - started)
        services.close()
    return soak.tally


def report(tally: Tally) -> None:
    rounds = sum(tally.rounds[k] for k in KINDS)
    by_kind = ", ".join(f"{tally.rounds[k]} {k}" for k in KINDS)
    killed = ", ".join(f"{n} {k}" for k, n in tally.kills.items())
    rows = [
        ("rounds", f"{rounds} ({by_kind})"),
        ("kills (SIGKILL)", f"{sum(tally.kills.values())} ({killed})"),
        ("events stored", f"{tally.rounds['events']:,}"),
        ("messages read from the topic", f"{tally.rounds['topic messages']:,}"),
        ("re-sent by a relay (ignored)", f"{tally.rounds['re-sent']:,}"),
        ("checks", str(tally.checks)),
        ("violations", str(len(tally.violations))),
        ("time", duration(tally.rounds["seconds"])),
    ]
    width = max(len(name) for name, _ in rows)
    say("")
    for name, value in rows:
        say(f"  {name:<{width}}  {value}")
    for violation in tally.violations:
        say(f"  VIOLATION: {violation}")
    line = {
        "bench": "soak",
        "rounds": dict(tally.rounds),
        "kills": dict(tally.kills),
        "checks": tally.checks,
        "violations": tally.violations,
    }
    print(orjson.dumps(line).decode(), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--check-every", type=int, default=5, help="rounds between checks")
    parser.add_argument("--kafka", help="an existing broker; default: start a local one")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to use")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=100.0, help="command steps per second")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="itsm-soak-") as tmp,
        engines(args, Path(tmp)) as (bootstrap, urls),
    ):
        tally = run(args, Path(tmp), bootstrap, urls)
    report(tally)
    return 1 if tally.violations else 0


if __name__ == "__main__":
    sys.exit(main())
