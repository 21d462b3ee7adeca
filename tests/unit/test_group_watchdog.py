"""A Kafka consumer whose group stays unsettled reconnects by itself, and one whose join
kafka-python stranded joins again.

kafka-python's poll returns no records, and raises nothing, while the group's coordinator is
unknown or a rejoin is pending; after a broker restart a consumer could stay so for good. These
stand-ins say only what the consumer's coordinator says (the real broker's restart is in
tests/integration/test_kafka_mode.py, whose Kafka-fed views stayed empty under load before the
stranded join was taken care of)."""

from __future__ import annotations

import threading
import time
from typing import Any

from consumers.group import DeadLetter, GroupConsumer

SESSION_MS = 100


class Coordinator:
    def __init__(self, unsettled_for: float) -> None:
        self.settles_at = time.monotonic() + unsettled_for

    def coordinator_unknown(self) -> bool:
        return time.monotonic() < self.settles_at

    def need_rejoin(self) -> bool:
        return False


class Consumer:
    """What GroupConsumer uses of kafka-python's KafkaConsumer, with no messages ever."""

    def __init__(self, coordinator: Coordinator) -> None:
        self._coordinator = coordinator
        self.config = {"session_timeout_ms": SESSION_MS}
        self.closed = False

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}

    def subscribe(self, topics: list[str], listener: Any) -> None:
        pass

    def poll(self, timeout_ms: int) -> dict[Any, Any]:
        time.sleep(0.01)
        return {}

    def close(self) -> None:
        self.closed = True


class Quiet(GroupConsumer):
    def handle(self, records: Any) -> list[DeadLetter]:
        return []


def consuming(unsettled_for: float, seconds: float) -> list[Consumer]:
    """Run a consumer for `seconds` whose first connection's group is unsettled for a while
    (later ones settle at once); the connections it made."""
    made: list[Consumer] = []

    def connect() -> Consumer:
        made.append(Consumer(Coordinator(unsettled_for if not made else 0.0)))
        return made[-1]

    consumer = Quiet(
        connect, topic="t", dead_letters=lambda: None, dead_letter_topic="t.dlq", group_id="g"
    )
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,))
    thread.start()
    stop.wait(seconds)
    stop.set()
    thread.join(5)
    return made


def test_a_consumer_whose_group_stays_without_a_coordinator_reconnects() -> None:
    made = consuming(unsettled_for=3600.0, seconds=1.5)
    assert len(made) == 2, "dropped after about two session timeouts, then joined afresh"
    assert made[0].closed


def test_a_group_that_settles_within_two_session_timeouts_keeps_its_connection() -> None:
    made = consuming(unsettled_for=SESSION_MS / 1000, seconds=1.0)
    assert len(made) == 1


class JoinTask:
    def __init__(self, done: bool) -> None:
        self.is_done = done


class Joining(Coordinator):
    """A coordinator as kafka-python 3.0.12 leaves it after a rejoin for a metadata change whose
    task outlived its poll: the task finished, and no rejoin shows as needed any more."""

    def __init__(self, task: JoinTask | None, rejoin_needed: bool = False) -> None:
        super().__init__(unsettled_for=0.0)
        self._join_task = task
        self.rejoin_needed = rejoin_needed
        self.rejoins_requested = 0

    def need_rejoin(self) -> bool:
        return self.rejoin_needed

    def request_rejoin(self) -> None:
        self.rejoins_requested += 1
        self.rejoin_needed = True


def polled_once(coordinator: Joining) -> Joining:
    consumer = Quiet(
        lambda: Consumer(coordinator),
        topic="t",
        dead_letters=lambda: None,
        dead_letter_topic="t.dlq",
        group_id="g",
    )
    consumer.poll_once(timeout_ms=1)
    return coordinator


def test_a_join_that_finished_after_its_poll_and_was_never_taken_up_is_joined_again() -> None:
    assert polled_once(Joining(JoinTask(done=True))).rejoins_requested == 1


def test_a_join_in_flight_or_about_to_be_taken_up_is_left_alone() -> None:
    assert polled_once(Joining(JoinTask(done=False))).rejoins_requested == 0
    assert polled_once(Joining(JoinTask(done=True), rejoin_needed=True)).rejoins_requested == 0
    assert polled_once(Joining(None)).rejoins_requested == 0
