"""Consumer groups of 2 processes over a topic's partitions, beside 2 bare kafka-python consumers
in a group of their own, in one run: circulation ingest (part of `benchmarks.circulation`) and the
projection consumer (part of `benchmarks.kafka`).

Each member is its own process (`python -m benchmarks.circulation_group MEMBER ...`). The members
join their group with every partition they are given paused, and say how many they hold; once
the group has settled (every partition held, each member holding some, no rebalance for 2 s)
the benchmark tells them to go, and each reads until the topic has been quiet for a while. The
group's rate is every event read over the time from the go to the last member's last event: the
join is not counted, as the single consumers' first batch is not.

    bare       kafka-python's consumer in a group: records unpacked, nothing else
    pipeline   the circulation consumer (`itsm consume circulation`'s): validate, pseudonymise,
               dedupe, health counters, rules, one transaction per poll of the one circulation
               store the members share, offsets committed after it
    views      the projection consumer (`itsm consume projections`'s): decode, fold, write the
               views of the one view store the members share, each member its partitions' rows
               and positions, offsets committed after the write
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
from kafka import KafkaConsumer
from kafka.consumer.subscription_state import ConsumerRebalanceListener

from benchmarks._lines import Report, rate, say
from infra.circulation_store import CirculationStore
from infra.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
MEMBERS = 2
MEMBER = [sys.executable, "-m", "benchmarks.circulation_group"]
#: A member stops once it has read nothing for this long (the others still reading by then
#: would have given it a partition back only after a rebalance, which a settled group has not).
QUIET_S = 3.0


class Gate(ConsumerRebalanceListener):  # type: ignore[misc]
    """Pauses what the group assigns until the benchmark says go, and says what it holds: the
    number of partitions (none from a revocation until the next assignment) and how many
    assignments it has had, so that a rebalance under way is seen (`settle`)."""

    def __init__(self, status: Path, go: Path, inner: Any = None) -> None:
        self.status, self.go = status, go
        self.inner = inner  # the consumer's own listener, called first
        self.consumer: Any = None
        self.assignments = 0

    def on_partitions_revoked(self, revoked: Any) -> None:
        if self.inner is not None:
            self.inner.on_partitions_revoked(revoked)
        self._say(0)

    def on_partitions_assigned(self, assigned: Any) -> None:
        if self.inner is not None:
            self.inner.on_partitions_assigned(assigned)
        if not self.go.exists():
            self.consumer.pause(*assigned)
        self.assignments += 1
        self._say(len(assigned))

    def _say(self, held: int) -> None:
        said = self.status.with_suffix(".tmp")
        said.write_bytes(
            orjson.dumps({"assigned": held, "assignments": self.assignments, "pid": os.getpid()})
        )
        said.replace(self.status)


@dataclass
class Reading:
    """What a member reads with: its Kafka consumer, a poll (the number of records it took),
    and a close, which says what it applied (where that is counted) and when its effect was
    last stored (where that comes after the read: the views' writer thread)."""

    kafka: Any
    poll: Callable[[], int]
    close: Callable[[], tuple[int | None, float | None]]


def bare(bootstrap: str, topic: str, group: str, gate: Gate) -> Reading:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=5000,
    )
    consumer.subscribe([topic], listener=gate)

    def close() -> tuple[int | None, float | None]:
        consumer.close()
        return None, None

    return Reading(
        consumer,
        lambda: sum(len(batch) for batch in consumer.poll(timeout_ms=500).values()),
        close,
    )


def circulation(bootstrap: str, topic: str, group: str, gate: Gate, data_dir: Path) -> Reading:
    from processes.circulation import build_circulation_consumer
    from service.bootstrap import build

    settings = Settings(data_dir=data_dir, circulation_topic=topic, circulation_group=group)
    services = build(settings.model_copy(update={"kafka_bootstrap": None}))
    pipeline = build_circulation_consumer(settings, bootstrap, services.desk)
    pipeline.listener = lambda: gate  # type: ignore[method-assign]
    pipeline._consumer = pipeline._connect()

    def close() -> tuple[int | None, float | None]:
        pipeline.close()
        pipeline.pipeline.store.close()
        services.close()
        return pipeline.applied, None

    return Reading(pipeline._consumer, lambda: pipeline.poll_once(timeout_ms=500), close)


def projections(bootstrap: str, topic: str, group: str, gate: Gate, data_dir: Path) -> Reading:
    from service.kafka_mode import build_projection_consumer

    views = build_projection_consumer(views_settings(data_dir, topic, group), bootstrap)
    gate.inner = views.listener()  # its own (rewinding what a view has not read) first
    views.listener = lambda: gate  # type: ignore[method-assign]
    views._consumer = views._connect()
    write, written = views.write, [0.0]

    def timed(folded: Any) -> Any:  # on the writer thread: the views hold a poll once it ends
        done = write(folded)
        written[0] = time.time()
        return done

    views.write = timed  # type: ignore[method-assign]

    def close() -> tuple[int | None, float | None]:
        views.close()  # waits for the last write
        views.store.close()
        return None, written[0]

    return Reading(views._consumer, lambda: views.poll_once(timeout_ms=500), close)


def member(kind: str, bootstrap: str, topic: str, group: str, data_dir: Path, run: Path) -> None:
    """One member of a group: join paused, wait for the go, read until quiet, say what it read."""
    gate = Gate(run / f"{os.getpid()}.status", run / "go")
    if kind == "bare":
        reading = bare(bootstrap, topic, group, gate)
    elif kind == "views":
        reading = projections(bootstrap, topic, group, gate, data_dir)
    else:
        reading = circulation(bootstrap, topic, group, gate, data_dir)
    kafka = gate.consumer = reading.kafka
    while not gate.go.exists():
        if kafka.poll(timeout_ms=100):
            raise RuntimeError("a paused member read records before the go")
    started = time.time()
    kafka.resume(*kafka.assignment())
    read, last = 0, started
    while time.time() - last < QUIET_S:
        got = reading.poll()
        if got:
            read, last = read + got, time.time()
    applied, stored = reading.close()
    if stored is not None:  # the effect of the last poll counts: the clock stops once stored
        last = max(last, stored)
    said = {"read": read, "started": started, "last": last, "applied": applied}
    print(orjson.dumps(said).decode())


def bench_group(
    bootstrap: str, topic: str, partitions: int, events: int, base: Path, report: Report
) -> dict[str, dict[str, Any]]:
    """The bare group, then the circulation consumers' group, over the same topic; their lines."""
    lines = {}
    for kind in ("bare", "pipeline"):
        data_dir = base / f"group-{kind}"
        if kind == "pipeline":
            prepare(data_dir, topic)
        line, said = run_group(kind, bootstrap, topic, partitions, events, data_dir, base)
        if kind == "pipeline":
            line["applied"] = sum(s["applied"] for s in said)
            line["deduped_set"] = seen(data_dir)
            if line["applied"] != line["deduped_set"]:
                raise RuntimeError(f"applied {line['applied']}, the dedupe set holds more or fewer")
        report(f"circulation_group_{kind}", **line)
        lines[kind] = line
    return lines


def run_group(
    kind: str, bootstrap: str, topic: str, partitions: int, events: int, data_dir: Path, base: Path
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """MEMBERS processes of `kind` in a group of their own over the topic, from its beginning:
    the group's line, and what each member said. Each event read once by the group, or no line."""
    run = base / f"group-run-{kind}-{uuid4().hex[:6]}"
    run.mkdir(parents=True)
    group = f"bench.group.{kind}.{uuid4().hex[:8]}"
    say(f"{kind}: {MEMBERS} processes in the group {group}")
    members = [
        subprocess.Popen(
            [*MEMBER, kind, bootstrap, topic, group, str(data_dir), str(run)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        for _ in range(MEMBERS)
    ]
    try:
        settle(run, members, partitions)
        (run / "go").touch()
        said = [orjson.loads(m.communicate(timeout=3600)[0].splitlines()[-1]) for m in members]
    finally:
        for m in members:
            if m.poll() is None:
                m.kill()
    if any(m.returncode for m in members):
        raise RuntimeError(f"a {kind} member failed: {[m.returncode for m in members]}")
    read = sum(s["read"] for s in said)
    if read != events:  # each event read once by the group: anything else voids the run
        raise RuntimeError(f"the {kind} group read {read} of {events} events")
    seconds = max(s["last"] for s in said) - min(s["started"] for s in said)
    line: dict[str, Any] = {
        "processes": MEMBERS,
        "partitions": partitions,
        "events": read,
        "events_per_s": rate(read, seconds),
        "per_process": [s["read"] for s in said],
    }
    return line, said


def prepare(data_dir: Path, topic: str) -> None:
    """The members' shared data directory, made once before they start (the catalogue seeded,
    as for the single consumer), so that they do not both make it at once."""
    from application.seed import seed
    from service.bootstrap import build

    services = build(Settings(data_dir=data_dir, circulation_topic=topic, kafka_bootstrap=None))
    try:
        seed(services.desk)
    finally:
        services.close()


#: How long the group's assignment must stay as it is before the go. A group's first assignment
#: is often followed by a second rebalance, about 0.2 s later: one member rejoins at once, and
#: the other hears of it at its next heartbeat, up to 3 s later. A go given meanwhile (when only
#: the held partitions were watched) timed the rebalance too: a quarter of the group's rate, in 5
#: of 12 runs. The member that rejoins says so at once (its revocation), so this need only
#: outlast the 0.2 s.
STEADY_S = 2.0


def settle(
    run: Path, members: list[subprocess.Popen[bytes]], partitions: int, steady_s: float = STEADY_S
) -> None:
    """Wait until every partition is held, every member holds some, and no member has been
    assigned or has lost partitions for `steady_s`."""
    deadline = time.monotonic() + 120
    last: list[tuple[int, int]] | None = None
    since = time.monotonic()
    while True:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the group did not settle in 2 minutes: its members said {last}")
        if any(m.poll() is not None for m in members):
            raise RuntimeError("a member stopped before the go")
        time.sleep(0.25)
        said = [orjson.loads(s.read_bytes()) for s in sorted(run.glob("*.status"))]
        now = [(s["assigned"], s["assignments"]) for s in said]
        held = [assigned for assigned, _ in now]
        fair = len(held) == len(members) and sum(held) == partitions and all(held)
        if now != last or not fair:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= steady_s:
            return


def seen(data_dir: Path) -> int:
    store = CirculationStore(Settings(data_dir=data_dir).circulation_db)
    try:
        with store.transaction() as db:
            count: int = db.execute("SELECT count(*) FROM seen").fetchone()[0]
            return count
    finally:
        store.close()


def views_settings(data_dir: Path, topic: str, group: str) -> Settings:
    """The projection consumers' settings: the view store they share, their topic and group."""
    return Settings(data_dir=data_dir, kafka_topic=topic, kafka_projections_group=group)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one member of a benchmark's consumer group")
    parser.add_argument("kind", choices=("bare", "pipeline", "views"))
    parser.add_argument("bootstrap")
    parser.add_argument("topic")
    parser.add_argument("group")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("run", type=Path)
    args = parser.parse_args(argv)
    member(args.kind, args.bootstrap, args.topic, args.group, args.data_dir, args.run)


if __name__ == "__main__":
    main()
