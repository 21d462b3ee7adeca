"""Service reports made in a process of their own, not in the API's.

Making a report reads the whole history up to its period's end: 62-76 s at 500,000 incidents
(docs/capacity.md). In the API's process that reading held Python's interpreter lock for most of
a minute, and every request waited for its turn (GET p99 2.1 s). So:

- the report schedule and `POST /issued-reports` make a month's reports in a child spawned for
  them (`made_apart`); the API's process only issues them (the events), as before;
- a report asked for to read (`GET /reports/{name}`, the console's dashboard and downloads, the
  check of an issued report) is made by one child the process keeps (`ReportMaker`), one report
  at a time; a request for a report already being made (the same period, name and position)
  is answered by that making.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import date
from typing import Any

from infra.settings import Settings
from processes import reports
from processes.reports.figures import Period
from processes.reports.issue import MakeReports, make_month
from service.stores import desk_alone

Made = dict[str, Any]
#: A report asked for: its period's first and last day, its name, the position it reads to.
Asked = tuple[date, date, str, int | None]


def made_apart(settings: Settings) -> MakeReports:
    """A `ReportSchedule` maker that makes the reports in a child process on `settings`'s store.
    The child is spawned (not forked: the server's threads and connections stay its own) for each
    month's reports and ends with them."""

    def make(month: str, names: Sequence[str]) -> list[Made]:
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as child:
            return child.submit(made_here, settings, month, list(names)).result()

    return make


def made_here(settings: Settings, month: str, names: list[str]) -> list[Made]:
    """The child's part: the event store alone (no views, no followers), read once."""
    with desk_alone(settings) as desk:
        return make_month(desk, month, names)


class ReportMaker:
    """One child process (spawned when first asked) that makes reports for this process, one at a
    time, each from the store as it is when its making begins. A request for a report being
    made or waiting to be (the same period, name and position) shares that making: the report
    names the position it read up to. A child that dies is replaced at the next request."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._child: ProcessPoolExecutor | None = None
        self._asked: dict[Asked, Future[Made]] = {}

    def make(self, period: Period, name: str, position: int | None = None) -> Made:
        return self.submit(period, name, position).result()

    def submit(self, period: Period, name: str, position: int | None = None) -> Future[Made]:
        key: Asked = (period.first, period.last, name, position)
        with self._lock:
            asked = self._asked.get(key)
            if asked is not None:
                return asked
            if self._child is None:
                spawn = multiprocessing.get_context("spawn")
                self._child = ProcessPoolExecutor(max_workers=1, mp_context=spawn)
            child = self._child
            try:
                future = child.submit(made_from, self.settings, *key)
            except BrokenProcessPool:  # it died since: the next request spawns another
                self._child = None
                raise
            self._asked[key] = future
        future.add_done_callback(lambda done: self._done(key, child, done))
        return future

    def _done(self, key: Asked, child: ProcessPoolExecutor, done: Future[Made]) -> None:
        with self._lock:
            if self._asked.get(key) is done:
                del self._asked[key]
            if isinstance(done.exception(), BrokenProcessPool) and self._child is child:
                self._child = None

    def close(self) -> None:
        """Stop the child now, even in the middle of a report (it only reads: a server stopping
        should not wait the minute a report may take)."""
        with self._lock:
            child, self._child = self._child, None
        if child is None:
            return
        processes = list(getattr(child, "_processes", {}).values())  # the executor's own
        child.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
            process.join(timeout=10)


def made_from(settings: Settings, first: date, last: date, name: str, position: int | None) -> Made:
    """The child's part of a `ReportMaker`: report `name` of the period, from the store up to
    `position` (the head when None)."""
    with desk_alone(settings) as desk:
        period = Period(first, last)
        return reports.make(desk, reports.read(desk, period, position=position), name)
