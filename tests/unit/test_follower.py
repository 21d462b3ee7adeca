"""The one follower loop: wake, stop, retry with backoff, a failed page read again, stuck once."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.follower import Follower, StuckAt
from infra.serialisation import UndecodableEvent

log = logging.getLogger("tests.follower")


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


class Pages:
    """A toy follower's effect: items read a page at a time after a stored position; `fail`
    says, per call, whether applying that page fails (before anything of it is stored)."""

    def __init__(self, items: int, page: int, fail: Callable[[int], bool] = lambda _: False):
        self.items, self.page, self.fail = items, page, fail
        self.position = 0
        self.applied: list[int] = []
        self.calls = 0

    def step(self) -> bool:
        self.calls += 1
        page = list(range(self.position + 1, min(self.items, self.position + self.page) + 1))
        if page and self.fail(self.calls):
            raise RuntimeError(f"page after {self.position} failed")
        self.applied.extend(page)  # the effect and the position, together
        self.position = page[-1] if page else self.position
        return len(page) == self.page


def test_a_woken_follower_steps_at_once_instead_of_waiting_out_its_idle_time() -> None:
    steps = threading.Semaphore(0)
    follower = Follower("toy", lambda: steps.release() or False, idle=60.0, log=log)
    follower.start()
    try:
        assert steps.acquire(timeout=5)  # the first step, then it waits (up to a minute)
        follower.wake()
        assert steps.acquire(timeout=5)
    finally:
        follower.stop()


def test_a_follower_steps_on_without_waiting_while_more_is_waiting() -> None:
    pages = Pages(items=1000, page=10)
    follower = Follower("toy", pages.step, idle=60.0, log=log)
    follower.start()
    try:
        assert eventually(lambda: pages.position == 1000)
    finally:
        follower.stop()
    assert pages.applied == list(range(1, 1001))


def test_stop_ends_the_idle_wait_and_the_thread() -> None:
    follower = Follower("toy", lambda: False, idle=60.0, log=log)
    follower.start()
    assert follower.is_following
    started = time.monotonic()
    follower.stop()
    assert not follower.is_following
    assert time.monotonic() - started < 2


def test_stop_ends_a_backoff_and_a_stop_event_given_to_run_is_obeyed() -> None:
    def broken() -> bool:
        raise RuntimeError("down")

    stop = threading.Event()
    follower = Follower("toy", broken, idle=0.01, log=log, backoff=(30.0, 30.0))
    thread = threading.Thread(target=follower.run, args=(stop,))
    thread.start()
    assert eventually(lambda: follower.failing() is not None)
    stop.set()
    thread.join(timeout=2)
    assert not thread.is_alive()


def test_a_failing_step_is_retried_with_growing_waits_and_reset_each_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures, resets, at = 3, [], []

    def flaky() -> bool:
        at.append(time.monotonic())
        if len(at) <= failures:
            raise RuntimeError("broker gone")
        return False

    follower = Follower(
        "toy", flaky, idle=60.0, log=log, backoff=(0.05, 0.15), on_error=lambda: resets.append(1)
    )
    with caplog.at_level(logging.WARNING, logger=log.name):
        follower.start()
        try:
            assert eventually(lambda: len(at) == failures + 1)
            assert follower.failing() is None or eventually(lambda: follower.failing() is None)
        finally:
            follower.stop()
    waits = [later - earlier for earlier, later in itertools.pairwise(at)]
    assert waits[0] >= 0.05
    assert waits[1] >= 0.1
    assert 0.15 <= waits[2] < 0.15 + 1.0  # doubling, then capped
    assert len(resets) == failures
    assert [r.getMessage() for r in caplog.records] == ["toy failed; retrying"] * failures


def test_while_a_step_fails_it_says_what_fails_and_then_that_nothing_does() -> None:
    release = threading.Event()

    def waits_for_release() -> bool:
        if not release.is_set():
            raise RuntimeError("database locked")
        return False

    follower = Follower("toy", waits_for_release, idle=60.0, log=log, backoff=(0.01, 0.01))
    before = time.monotonic()
    follower.start()
    try:
        assert eventually(lambda: (f := follower.failing()) is not None and f.attempts >= 3)
        failing = follower.failing()
        assert failing is not None
        assert isinstance(failing.error, RuntimeError)
        assert before <= failing.since <= time.monotonic()  # since its first failure, not its last
        again = follower.failing()
        assert again is not None
        assert again.since == failing.since
        release.set()
        assert eventually(lambda: follower.failing() is None)
    finally:
        follower.stop()


def test_the_position_never_moves_past_a_failed_page() -> None:
    pages = Pages(items=50, page=7, fail=lambda call: call in (2, 3, 5))
    positions: list[int] = []
    step = pages.step

    def observed() -> bool:
        try:
            return step()
        finally:
            positions.append(pages.position)

    follower = Follower("toy", observed, idle=60.0, log=log, backoff=(0.001, 0.001))
    follower.start()
    try:
        assert eventually(lambda: pages.position == 50)
    finally:
        follower.stop()
    assert positions[:5] == [7, 7, 7, 14, 14]  # calls 2 and 3 failed on the page after 7
    assert pages.applied == list(range(1, 51))  # every item once, in order


@settings(max_examples=25, deadline=None)
@given(
    items=st.integers(0, 60),
    page=st.integers(1, 10),
    failing=st.sets(st.integers(1, 40), max_size=15),
)
def test_whatever_fails_a_follower_applies_every_item_once_in_order(
    items: int, page: int, failing: set[int]
) -> None:
    pages = Pages(items, page, fail=lambda call: call in failing)
    follower = Follower("toy", pages.step, idle=60.0, log=log, backoff=(0.0001, 0.0001))
    follower.start()
    try:
        assert eventually(lambda: pages.position == items)
    finally:
        follower.stop()
    assert pages.applied == list(range(1, items + 1))


def test_an_undecodable_event_is_reported_once_and_its_reading_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stuck = StuckAt("toy", log)
    bad = UndecodableEvent("Incident.Logged", "abc/1", "not JSON", 7)
    with caplog.at_level(logging.WARNING, logger=log.name):
        for _ in range(3):
            stuck.report(bad)
        assert stuck.event is bad
        for _ in range(3):
            stuck.report(None)
    assert stuck.event is None
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", f"toy stopped at position 7: {bad}"),
        ("WARNING", "toy read the event at position 7 and moved on"),
    ]
