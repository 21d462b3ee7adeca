"""The relay over a real event store, with a producer the test controls: what is recorded as
published is exactly what the broker acknowledged, a failure loses nothing, and only the
domain's facts go out (the store's bookkeeping, such as idempotency keys, stays in).

(The relay against the real broker, with crashes, is in test_kafka_mode.py.)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from domain import commands as c
from infra.cloudevents import is_public
from processes.relay import FileRelayLock, Relay, last_published_position
from service.bootstrap import Services
from tests.conftest import AGENT, context


@dataclass
class Sent:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    producer: int
    is_done: bool = False
    exception: Exception | None = None

    def failed(self) -> bool:
        return self.exception is not None


@dataclass
class FakeBroker:
    """Holds what producers sent; a test acknowledges or fails it."""

    sent: list[Sent] = field(default_factory=list)
    auto_ack: bool = True
    producers: int = 0

    def producer(self) -> FakeProducer:
        self.producers += 1
        return FakeProducer(self)


class FakeProducer:
    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.number = broker.producers

    def send(self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]) -> Sent:
        sent = Sent(topic, key, value, headers, self.number, is_done=self.broker.auto_ack)
        self.broker.sent.append(sent)
        return sent

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self, timeout: float | None = None) -> None:
        pass


def log_incidents(services: Services, count: int) -> None:
    for n in range(count):
        command = c.LogIncident(
            title=f"Kiosk {n} is frozen",
            service="kiosks-gates",
            caller="budi",
            impact="medium",
            urgency="low",
        )
        services.desk.log_incident(context(AGENT, services.clock()), command)


def relay_for(services: Services, broker: FakeBroker, **options: Any) -> Relay:
    desk = services.desk
    return Relay(
        desk.recorder, desk.factory.tracking_recorder(), desk.mapper, broker.producer, **options
    )


def positions(sent: list[Sent]) -> list[int]:
    return [orjson.loads(s.value)["position"] for s in sent]


def stored(services: Services) -> list[tuple[int, str]]:
    """(position, stored type) of every event in the store."""
    notifications = services.desk.recorder.select_notifications(start=1, limit=100_000)
    return [(n.id, n.topic) for n in notifications]


def public_positions(services: Services, after: int = 0) -> list[int]:
    return [p for p, type_name in stored(services) if p > after and is_public(type_name)]


def test_every_domain_event_is_published_once_in_store_order_keyed_by_its_aggregate(
    services: Services,
) -> None:
    log_incidents(services, 7)
    head = services.desk.recorder.max_notification_id()
    broker = FakeBroker()
    relay = relay_for(services, broker, batch_size=4)

    assert relay.drain() == head

    assert positions(broker.sent) == public_positions(services)
    for sent in broker.sent:
        message = orjson.loads(sent.value)
        assert sent.topic == "itsm.events"
        assert sent.key == message["subject"].encode()
        assert sent.headers == [("content-type", b"application/cloudevents+json; charset=UTF-8")]
    assert relay.published() == head
    assert relay.lag() == 0


def test_the_relay_publishes_no_bookkeeping_event_and_no_idempotency_key(
    services: Services,
) -> None:
    raw_key = "retry-7f3a-kiosk-serang"
    command = c.LogIncident(
        title="Gate 2 alarms at every book",
        service="kiosks-gates",
        caller="budi",
        impact="medium",
        urgency="low",
    )
    services.desk.log_incident(context(AGENT, services.clock()), command, idempotency_key=raw_key)
    types = {type_name for _, type_name in stored(services)}
    assert {"IncidentNumber.Allocated", "IdempotencyKey.Recorded"} <= types, "both are stored"
    broker = FakeBroker()
    relay = relay_for(services, broker)

    assert relay.drain() == services.desk.recorder.max_notification_id()

    published = [orjson.loads(s.value)["type"] for s in broker.sent]
    assert "id.go.bantenprov.dpk.itsm.Incident.Logged" in published
    assert not [t for t in published if "Allocated" in t or "IdempotencyKey" in t]
    assert all(raw_key.encode() not in s.value for s in broker.sent)
    assert relay.lag() == 0, "the private events count as passed, not as lag"
    head = services.desk.recorder.max_notification_id() or 0
    last_fact = max(public_positions(services))
    assert last_fact < head, "the store ends in bookkeeping"
    for page in (1, 2, 100):
        assert last_published_position(services.desk.recorder, head, page) == last_fact


def test_nothing_is_recorded_as_published_until_the_broker_acknowledges_it(
    services: Services,
) -> None:
    log_incidents(services, 3)
    broker = FakeBroker(auto_ack=False)
    relay = relay_for(services, broker, batch_size=2, max_in_flight=100)

    relay.run_once()
    relay.run_once()
    assert len(broker.sent) == 4
    assert relay.published() == 0

    broker.sent[1].is_done = True  # the second is acknowledged, the first is not
    relay.run_once()
    assert relay.published() == 0

    for sent in broker.sent[:4]:
        sent.is_done = True
    relay.run_once()
    assert relay.published() == 4  # the first two batches, acknowledged in full


def test_a_failed_send_restarts_from_the_recorded_position_and_loses_nothing(
    services: Services,
) -> None:
    log_incidents(services, 4)
    head = services.desk.recorder.max_notification_id() or 0
    broker = FakeBroker(auto_ack=False)
    relay = relay_for(services, broker, batch_size=3, max_in_flight=100)
    relay.run_once()
    relay.run_once()
    for sent in broker.sent[:3]:
        sent.is_done = True
    broker.sent[3].is_done = True
    broker.sent[3].exception = RuntimeError("NotEnoughReplicas")

    with pytest.raises(RuntimeError, match="NotEnoughReplicas"):
        relay.run_once()
    assert relay.published() == 3

    broker.auto_ack = True
    stop = threading.Event()
    runner = threading.Thread(target=relay.run, args=(stop,))
    runner.start()
    try:
        for _ in range(200):
            if relay.published() == head:
                break
            stop.wait(0.02)
    finally:
        stop.set()
        runner.join(5)

    assert relay.published() == head
    sent = positions(broker.sent)
    assert sorted(set(sent)) == public_positions(services), "every event reached the broker"
    assert broker.producers == 2, "the failed producer was replaced"
    resent = [s for s in broker.sent if s.producer == 2]
    assert positions(resent) == public_positions(services, after=3), (
        "resent from the recorded position on"
    )


def test_a_second_relay_waits_for_the_lock_and_takes_over_when_the_first_lets_go(
    tmp_path: Any,
) -> None:
    first, second = FileRelayLock(tmp_path / "relay.lock"), FileRelayLock(tmp_path / "relay.lock")
    stop = threading.Event()
    assert first.acquire(stop)
    taken = threading.Event()

    def wait_for_it() -> None:
        if second.acquire(stop):
            taken.set()

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    assert not taken.wait(0.5), "the second relay must wait while the first holds the lock"
    first.release()
    assert taken.wait(5), "the second relay takes over once the first lets go"
    second.release()
    waiter.join(5)


def test_a_relay_waiting_for_the_lock_stops_when_told(tmp_path: Any) -> None:
    holder, waiter = FileRelayLock(tmp_path / "relay.lock"), FileRelayLock(tmp_path / "relay.lock")
    assert holder.acquire(threading.Event())
    stop = threading.Event()
    stop.set()
    assert waiter.acquire(stop) is False
    holder.release()


class StalledProducer(FakeProducer):
    """A producer whose broker went away: nothing it sent is acknowledged, and `flush` waits as
    long as it is told to (a test-sized 'for ever' without a timeout) before giving up."""

    def flush(self, timeout: float | None = None) -> None:
        threading.Event().wait(10.0 if timeout is None else timeout)
        raise TimeoutError("Timeout waiting for future")


def test_a_relay_whose_broker_never_acknowledges_gives_up_the_batch_after_its_flush_timeout(
    services: Services,
) -> None:
    log_incidents(services, 2)
    broker = FakeBroker(auto_ack=False)
    relay = Relay(
        services.desk.recorder,
        services.desk.factory.tracking_recorder(),
        services.desk.mapper,
        lambda: StalledProducer(broker),
        flush_timeout=0.2,
    )
    assert relay.run_once() > 0  # sent, not yet acknowledged
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        relay.run_once()  # nothing more to send: it waits for the broker
    assert time.monotonic() - started < 5, "the relay does not wait on the broker for ever"
    assert relay.published() == 0
