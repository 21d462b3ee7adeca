"""One run at a time of a costly piece of work that many callers may ask for at once.

A caller is answered by a run that began after it asked, so no answer is older than its
question; a caller who asks while a run is under way waits for the next run, which begins when
that one ends and answers everyone who asked meanwhile. However many ask at once, at most one
run is under way and one more is waiting to begin.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Coalesced(Generic[T]):
    def __init__(self, work: Callable[[], T]) -> None:
        self._work = work
        self._changed = threading.Condition()
        self._running = False
        #: How many runs have begun, and which of them ended last, with what it gave or raised.
        self._begun = 0
        self._ended = 0
        self._outcome: tuple[T | None, BaseException | None] = (None, None)

    def __call__(self) -> T:
        with self._changed:
            wanted = self._begun + 1  # the first run to begin from now on
            while self._ended < wanted:
                if not self._running:
                    self._running = True
                    self._begun += 1
                    run = self._begun
                    break
                self._changed.wait()
            else:
                return self._answer()
        result: T | None = None
        error: BaseException | None = None
        try:
            result = self._work()
        except BaseException as failed:  # every caller the run answers hears of it
            error = failed
        with self._changed:
            self._running = False
            self._ended = run
            self._outcome = (result, error)
            self._changed.notify_all()
            return self._answer()

    def _answer(self) -> T:
        result, error = self._outcome
        if error is not None:
            raise error
        return result  # type: ignore[return-value]  # a run that raised nothing gave its T
