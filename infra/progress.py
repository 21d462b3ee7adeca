"""Progress of the long-running loops (relay, consumers), logged as position and rate."""

from __future__ import annotations

import logging
import time


class Progress:
    """Logs a long-running loop's position and rate every so often."""

    def __init__(self, logger: logging.Logger, what: str, every: float) -> None:
        self.logger = logger
        self.what = what
        self.every = every
        self._since = time.monotonic()
        self._count = 0

    def __call__(self, position: int, count: int) -> None:
        self._count += count
        elapsed = time.monotonic() - self._since
        if elapsed >= self.every:
            rate = self._count / elapsed
            self.logger.info("%s up to position %d (%.0f events/s)", self.what, position, rate)
            self._since, self._count = time.monotonic(), 0


class Meter:
    """Rate and time left of a job of known size (bytes of a file, events of a store)."""

    def __init__(self, total: int, *, start: int = 0) -> None:
        self.total = max(total, 1)
        self.start = start
        self.done = start
        self._began = time.monotonic()

    def update(self, done: int) -> None:
        self.done = done

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._began

    @property
    def fraction(self) -> float:
        return min(1.0, max(0.0, (self.done - self.start) / max(self.total - self.start, 1)))

    @property
    def rate(self) -> float:
        """Units per second so far."""
        elapsed = self.elapsed
        return (self.done - self.start) / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far; None before anything is done."""
        rate = self.rate
        return (self.total - self.done) / rate if rate > 0 else None

    @property
    def eta_text(self) -> str:
        eta = self.eta
        if eta is None:
            return "?"
        minutes, seconds = divmod(round(eta), 60)
        return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
