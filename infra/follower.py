"""The one loop of everything that follows the record: the projection runner, the audit ledger,
the relay, the Kafka consumers (projections in Kafka mode, circulation) and the SLA watcher.

Each of them keeps only its effect, as a `step`: read the next page after the position it has
stored, apply it and store the new position in one transaction, and say whether more may be
waiting right now. The loop is the same for all of them:

- it steps again at once while the step says more is waiting; otherwise it waits until woken
  (a command was just written) or until `idle` seconds have passed (others' writes are picked up
  by polling);
- a step that raises is retried with exponential backoff (tenacity), after `on_error` has reset
  what the failure may have broken (a producer, a consumer's connection); the position is the
  step's own, stored with its effect, so a failed page is read again, never passed over;
- `stop()` (or the caller's stop event) ends it between steps or during a wait or backoff.

While its step keeps failing, `failing()` says since when and why, so /readyz can tell a
follower that lags behind a transient fault (a lock, a reconnect) from one that cannot go on.

A follower that meets an event it cannot decode does not pass over it either: it stops there and
`StuckAt` says so once (and once when it moves on), and names the event for /readyz.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass

from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type
from tenacity.wait import wait_exponential

from infra.serialisation import UndecodableEvent

#: A follower's effect: one page read, applied and its position stored; True if more may be
#: waiting right away (step again without waiting).
Step = Callable[[], bool]


@dataclass(frozen=True, slots=True)
class Failing:
    """A follower whose step has failed every time since `since` (time.monotonic())."""

    error: BaseException
    since: float
    attempts: int

    def seconds(self, now: float | None = None) -> float:
        return (time.monotonic() if now is None else now) - self.since


@dataclass(eq=False)
class Follower:
    name: str
    step: Step
    _: KW_ONLY
    #: Seconds to wait for a wake-up once the step has nothing more waiting.
    idle: float
    log: logging.Logger
    #: The first and the longest wait after a failed step (it doubles in between).
    backoff: tuple[float, float] = (0.1, 5.0)
    on_error: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        #: The step being retried: its last error, since when it fails, how often it has.
        self._failing: Failing | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Follow in a thread of its own until `stop()`."""
        self._stopping = threading.Event()  # not a stop event that run() was given
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()

    def run(self, stop: threading.Event | None = None) -> None:
        """Follow in the calling thread until `stop` (or `stop()`) is set."""
        stopping = self._stopping = stop if stop is not None else self._stopping
        first, longest = self.backoff

        def pause(seconds: float) -> None:
            stopping.wait(seconds)  # a stop ends the backoff too

        retrying = Retrying(
            retry=retry_if_exception_type(Exception),
            wait=wait_exponential(multiplier=first, min=first, max=longest),
            stop=lambda _: stopping.is_set(),
            sleep=pause,
            after=self._failed,
        )
        while not stopping.is_set():
            try:
                busy = retrying(self.step)
            except RetryError:  # stopped while the step was failing
                return
            self._failing = None
            if not busy:
                self._wake.wait(self.idle)
                self._wake.clear()

    def _failed(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        if error is not None:
            before = self._failing
            self._failing = Failing(
                error,
                since=time.monotonic() if before is None else before.since,
                attempts=1 if before is None else before.attempts + 1,
            )
        self.log.warning("%s failed; retrying", self.name, exc_info=error)
        if self.on_error is not None:
            try:
                self.on_error()
            except Exception:  # resetting a broken client may fail too; it is retried anyway
                self.log.debug("%s could not reset after a failure", self.name, exc_info=True)

    def failing(self) -> Failing | None:
        """Since when, how often and why the step fails, while it does (None: its last step
        succeeded)."""
        return self._failing

    def wake(self) -> None:
        """Step now rather than at the end of the idle wait (something was just written)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    @property
    def is_following(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


class Follows:
    """What the owner of a `Follower` (in `_follower`) offers of it: following in a thread of its
    own, a wake-up after a write, and a stop."""

    _follower: Follower

    def start(self) -> None:
        self._follower.start()

    @property
    def is_following(self) -> bool:
        return self._follower.is_following

    def failing(self) -> Failing | None:
        return self._follower.failing()

    def wake(self) -> None:
        self._follower.wake()

    def stop(self) -> None:
        self._follower.stop()


class StuckAt:
    """The event a follower stopped at because it cannot decode it, if it has; says so once when
    it stops there and once when it moves on, not at every retry."""

    def __init__(self, what: str, log: logging.Logger) -> None:
        self.what = what
        self.log = log
        self.event: UndecodableEvent | None = None

    def report(self, undecodable: UndecodableEvent | None) -> None:
        before, self.event = self.event, undecodable
        if undecodable is not None and (before is None or before.event != undecodable.event):
            self.log.error(
                "%s stopped at position %s: %s", self.what, undecodable.position, undecodable
            )
        elif undecodable is None and before is not None:
            self.log.warning(
                "%s read the event at position %s and moved on", self.what, before.position
            )
