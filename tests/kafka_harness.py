"""What the Kafka-mode crash tests and the soak script (benchmarks/soak.py) both need: commands
flowing, `itsm` processes to kill, and the checks that nothing was lost, reordered or applied
twice. No pytest here: the soak runs these outside a test session.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from domain import commands as c
from domain.errors import DomainError
from infra.cloudevents import is_public
from infra.kafka_clients import ensure_topics
from infra.settings import Settings
from projections import PROJECTIONS
from service.bootstrap import Services
from service.kafka_mode import build_relay, topics
from service.stores import open_view_store
from tests.conftest import AGENT, context
from tests.forked_cli import forkserver, run_itsm

# -- commands flowing ---------------------------------------------------------------------------

ACTIONS: list[Callable[[], c.IncidentCommand]] = [
    lambda: c.Assign(group=random.choice(["kiosk-team", "network-team"])),
    c.StartWork,
    lambda: c.AddWorkNote(text=f"note {random.random():.6f}"),
    lambda: c.AddComment(text="we are on it"),
    lambda: c.PutOnHold(reason="awaiting_supplier"),
    c.Resume,
    lambda: c.ResolveIncident(code="fixed", notes="replaced the reader"),
    lambda: c.Reopen(reason="again"),
]


def on_own_topic(settings: Settings, bootstrap: str) -> Settings:
    """`settings` in Kafka mode on a topic and a projections group of their own (the topic
    created with three partitions)."""
    own = settings.model_copy(
        update={
            "kafka_bootstrap": bootstrap,
            "kafka_topic": f"itsm.events.{uuid4().hex[:12]}",
            "kafka_projections_group": f"itsm.projections.{uuid4().hex[:12]}",
            "kafka_partitions": 3,
        }
    )
    ensure_topics(bootstrap, topics(own))
    return own


def work(services: Services, steps: int, seed: int) -> None:
    """A realistic mix: new incidents and lifecycle steps on earlier ones (illegal ones fail)."""
    rng = random.Random(seed)
    random.seed(seed)
    incidents: list[UUID] = []
    for _ in range(steps):
        if not incidents or rng.random() < 0.25:
            command = c.LogIncident(
                title="RFID gate at Serang branch rejects cards",
                service="kiosks-gates",
                caller="budi",
                impact=rng.choice(["low", "medium", "high"]),
                urgency=rng.choice(["low", "medium", "high"]),
                assignment_group="kiosk-team",
            )
            outcome = services.desk.log_incident(context(AGENT, services.clock()), command)
            incidents.append(outcome.record_id)
            continue
        action = rng.choice(ACTIONS)()
        with contextlib.suppress(DomainError):  # e.g. resuming what is not on hold
            services.desk.handle(context(AGENT, services.clock()), rng.choice(incidents), action)


def keep_working(
    services: Services,
    stop: threading.Event,
    seed: int,
    paused: Pause | None = None,
    interval: float = 0.01,
) -> None:
    """Commands flowing, five at a time every `interval` seconds, until `stop` is set (run in a
    thread while processes are killed); held between two steps while `paused` is held."""
    while not stop.is_set():
        if paused is not None:
            paused.wait_while_held(stop)
        work(services, 5, seed=seed)
        seed += 1
        stop.wait(interval)


class Pause:
    """Holds a writer thread between two of its steps, for a check on a quiet store."""

    def __init__(self) -> None:
        self._held = False
        self._changed = threading.Condition()
        self._idle = False

    @contextlib.contextmanager
    def held(self, timeout: float = 60.0) -> Iterator[None]:
        """Hold the writer, and return once it has finished the step it was in."""
        with self._changed:
            self._held, self._idle = True, False
            self._changed.notify_all()
            if not self._changed.wait_for(lambda: self._idle, timeout):
                raise TimeoutError("the writer did not pause")
        try:
            yield
        finally:
            with self._changed:
                self._held = False
                self._changed.notify_all()

    def wait_while_held(self, stop: threading.Event) -> None:
        with self._changed:
            while self._held and not stop.is_set():
                self._idle = True
                self._changed.notify_all()
                self._changed.wait(0.1)
            self._idle = False


# -- processes ---------------------------------------------------------------------------------


class Process:
    """An `itsm` command in a child process of its own (as the deployment runs it), forked from
    a forkserver that has the service imported (tests/forked_cli.py): the same process to
    SIGKILL, without an interpreter's start-up each time."""

    def __init__(self, settings: Settings, *args: str) -> None:
        env = {
            **os.environ,
            "ITSM_DATA_DIR": str(settings.data_dir),
            "ITSM_KAFKA_TOPIC": settings.kafka_topic,
            "ITSM_KAFKA_PROJECTIONS_GROUP": settings.kafka_projections_group,
            "ITSM_KAFKA_PARTITIONS": str(settings.kafka_partitions),
            "ITSM_LOG_LEVEL": "warning",
            "ITSM_DATABASE_URL": settings.database_url or "",
            "ITSM_SUBJECT_KEYS": settings.subject_keys or "",
        }
        with tempfile.NamedTemporaryFile(prefix="itsm-stderr-", delete=False) as file:
            self._stderr = Path(file.name)
        self.process = forkserver().Process(
            target=run_itsm, args=(env, args, str(self._stderr)), daemon=True
        )
        self.process.start()

    @property
    def returncode(self) -> int | None:
        return self.process.exitcode

    def kill(self) -> None:
        self.process.kill()
        self.process.join(10)
        self._stderr.unlink(missing_ok=True)

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(20)
        if self.process.exitcode is None:
            self.kill()
        try:
            assert self.process.exitcode in (0, -signal.SIGTERM), self.stderr()
        finally:
            self._stderr.unlink(missing_ok=True)

    def stderr(self) -> str:
        return self._stderr.read_text(errors="replace") if self._stderr.exists() else ""


def relay_thread(settings: Settings) -> Iterator[None]:
    """A relay in a thread of this process: next() starts it, next() again stops it."""
    relay, lock = build_relay(settings, settings.kafka_bootstrap or "")
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop, lock), daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(20)


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    explain: Callable[[], str] | None = None,
) -> None:
    """Wait until `condition` holds; on timeout, say what `explain` finds (where it is stuck)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            said = f": {explain()}" if explain is not None else ""
            raise TimeoutError(f"timed out waiting for {what}{said}")
        time.sleep(0.1)


def kafka_mode_lag(services: Services, settings: Settings, fed: Settings) -> str:
    """Where the way from the store through the topic to Kafka-fed views stops: positions the
    topic lacks (the relay's side), positions out of order within a partition (what a consumer
    would take for repeats), and the views that differ (the consumer's side)."""
    head = services.desk.recorder.max_notification_id() or 0
    records = read_topic(settings.kafka_bootstrap or "", settings.kafka_topic)
    on_topic: dict[int, list[int]] = {}
    for record in records:
        on_topic.setdefault(record.partition, []).append(orjson.loads(record.value)["position"])
    published = {
        n.id
        for n in services.desk.recorder.select_notifications(start=1, limit=max(head, 1))
        if is_public(n.topic)  # the relay passes over private records' events
    }
    missing = sorted(published - {p for ps in on_topic.values() for p in ps})
    backwards = {
        partition: drops[:5]
        for partition, ps in on_topic.items()
        if (drops := [b for a, b in itertools.pairwise(ps) if b < a])
    }
    differences = view_differences(views_of(fed), expected_views(services))
    return (
        f"store head {head}; {len(records)} messages on the topic; "
        f"published positions missing there: {missing[:10]} ({len(missing)}); "
        f"going backwards within a partition: {backwards}; views: {differences}; "
        f"{group_state(settings.kafka_bootstrap or '', settings.kafka_projections_group)}"
    )


def assigned(assignment: Any) -> str:
    """The partitions in a described member's assignment, or what the assignment says."""
    try:
        return str(sorted(p for t in assignment["assigned_partitions"] for p in t["partitions"]))
    except (KeyError, TypeError):
        return f"{assignment!r:.200}"


def group_state(bootstrap: str, group: str) -> str:
    """What the coordinator says of a consumer group: its state, each member and its partitions,
    and per partition the offset committed against the topic's end (the consumer's side of a
    lag: a member that lost its place in the group, a partition nobody reads)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        committed = admin.list_group_offsets(group).get(group, {})
    except KafkaError as error:
        return f"group {group}: not described ({error!r})"
    finally:
        admin.close()
    description = described(bootstrap, group)
    if description is None:
        return f"group {group}: not described (no coordinator yet?)"
    members = [
        f"{m.get('group_instance_id') or m.get('member_id')} {assigned(m.get('member_assignment'))}"
        for m in description.get("members", ())
    ]
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        ends = consumer.end_offsets(list(committed))
    finally:
        consumer.close()
    offsets = {
        tp.partition: f"{meta.offset}/{ends.get(tp)}" for tp, meta in sorted(committed.items())
    }
    return (
        f"group {group}: {description['group_state']}, members {members}, "
        f"committed/end offsets {offsets}"
    )


def group_members(bootstrap: str, group: str) -> list[str] | None:
    """The members of a consumer group that is stable (by instance id where they have one), or
    None while it rebalances or before anyone has joined."""
    description = described(bootstrap, group)
    if description is None or description["group_state"] != "Stable":
        return None
    return sorted(m.get("group_instance_id") or m["member_id"] for m in description["members"])


def described(bootstrap: str, group: str) -> dict[str, Any] | None:
    """What the coordinator says of a consumer group (None: it cannot say yet, e.g. no
    coordinator for a group nobody has joined)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        description: dict[str, Any] = admin.describe_groups([group])[group]
        return description
    except KafkaError:
        return None
    finally:
        admin.close()


def stable_members(bootstrap: str, group: str) -> int:
    """Members of a consumer group that is stable (not rebalancing), 0 otherwise."""
    return len(group_members(bootstrap, group) or ())


# -- the topic: every event, in order ------------------------------------------------------------


def read_topic(bootstrap: str, topic: str, timeout: float = 30.0) -> list[Any]:
    """Every record of a topic, partition by partition, up to its end now."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            assert time.monotonic() < deadline, "the topic could not be read to its end"
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


@dataclass
class TopicLedger:
    """What a topic has carried, read in offset order a partition at a time, and what was wrong
    with it: per partition, ignoring repeats of what was already seen (a relay's re-send after
    a crash, which consumers ignore too), positions grow and each aggregate's versions come in
    order, one by one."""

    positions: set[int] = field(default_factory=set)
    messages: int = 0
    repeats: int = 0
    disorder: list[str] = field(default_factory=list)
    _seen: dict[int, int] = field(default_factory=dict)  # partition -> highest position
    _versions: dict[str, int] = field(default_factory=dict)  # aggregate -> last version

    def add(self, partition: int, value: bytes) -> None:
        message = orjson.loads(value)
        self.messages += 1
        self.positions.add(message["position"])
        if message["position"] <= self._seen.get(partition, 0):
            self.repeats += 1
            return
        self._seen[partition] = message["position"]
        subject, version = message["subject"], message["aggregateversion"]
        if version != self._versions.get(subject, 0) + 1:
            self.disorder.append(f"{message['id']} after version {self._versions.get(subject)}")
        self._versions[subject] = version

    def missing(self, expected: Iterable[int]) -> list[int]:
        """The `expected` positions the topic has not carried."""
        return sorted(set(expected) - self.positions)


def published_positions(services: Services) -> set[int]:
    """The positions of the stored events the relay publishes: the domain's facts, not the
    store's bookkeeping (number logs, idempotency keys)."""
    recorder = services.desk.recorder
    found: set[int] = set()
    after = 0
    while notifications := recorder.select_notifications(
        start=after, limit=10_000, inclusive_of_start=False
    ):
        found.update(n.id for n in notifications if is_public(n.topic))
        after = notifications[-1].id
    return found


def assert_every_event_once_in_order(records: list[Any], expected: Collection[int]) -> None:
    """Every expected position reached the topic, and no other (no bookkeeping event); per
    partition, ignoring repeats of what was already seen, positions grow and each aggregate's
    versions come in order."""
    ledger = TopicLedger()
    for record in records:
        ledger.add(record.partition, record.value)
    assert not ledger.missing(expected), f"never published: {ledger.missing(expected)[:5]}"
    assert ledger.positions <= set(expected), "published what is not the domain's"
    assert not ledger.disorder, ledger.disorder[:3]


class TopicFollower:
    """Reads a topic as it grows into a TopicLedger, without a consumer group."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.ledger = TopicLedger()
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self._partitions = [
            TopicPartition(topic, p) for p in sorted(self._consumer.partitions_for_topic(topic))
        ]
        self._consumer.assign(self._partitions)
        self._consumer.seek_to_beginning(*self._partitions)

    def catch_up(self, timeout: float = 60.0) -> TopicLedger:
        """Read up to the end of every partition as it is now."""
        ends = self._consumer.end_offsets(self._partitions)
        deadline = time.monotonic() + timeout
        while any(self._consumer.position(tp) < ends[tp] for tp in self._partitions):
            if time.monotonic() > deadline:
                raise TimeoutError("the topic could not be read to its end")
            for tp, batch in self._consumer.poll(timeout_ms=500).items():
                for record in batch:
                    self.ledger.add(tp.partition, record.value)
        return self.ledger

    def close(self) -> None:
        self._consumer.close()


# -- the views: Kafka-fed against embedded ------------------------------------------------------


def expected_views(services: Services) -> dict[str, Any]:
    """The embedded fold of the store's whole history."""
    services.runner.catch_up()
    return {p.name: services.views.rows(p) for p in PROJECTIONS}


def views_of(settings: Settings) -> dict[str, Any]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_view_store(settings)
    try:
        store.ensure(PROJECTIONS)
        return {p.name: store.rows(p) for p in PROJECTIONS}
    finally:
        store.close()


def view_differences(actual: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """What differs between two sets of views, projection by projection: rows missing, rows
    extra, rows unequal (an effect lost or applied twice shows as one of those)."""
    differences = []
    for name, rows in expected.items():
        got = actual.get(name, {})
        if missing := sorted(set(rows) - set(got)):
            differences.append(f"{name}: {len(missing)} rows missing, e.g. {missing[0]}")
        if extra := sorted(set(got) - set(rows)):
            differences.append(f"{name}: {len(extra)} rows extra, e.g. {extra[0]}")
        if unequal := sorted(k for k in set(rows) & set(got) if rows[k] != got[k]):
            differences.append(f"{name}: {len(unequal)} rows differ, e.g. {unequal[0]}")
    return differences


def assert_same_views(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    differences = view_differences(actual, expected)
    assert not differences, differences
