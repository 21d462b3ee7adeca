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
