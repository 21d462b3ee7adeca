"""The monthly reports made in a process of their own, for `itsm serve`'s report schedule.

Making a month's reports reads the whole history up to the month's end: 62-76 s at 500,000
incidents (docs/capacity.md). In the API's process that reading held Python's interpreter lock
for most of a minute, and every request waited for its turn (GET p99 2.1 s). A child process
reads and makes them; the API's process only issues them (the events), as before.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from infra.settings import Settings
from processes.reports.issue import MakeReports, make_month
from service.bootstrap import desk_alone


def made_apart(settings: Settings) -> MakeReports:
    """A `ReportSchedule` maker that makes the reports in a child process on `settings`'s store.
    The child is spawned (not forked: the server's threads and connections stay its own) for each
    month's reports and ends with them."""

    def make(month: str, names: Sequence[str]) -> list[dict[str, Any]]:
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as child:
            return child.submit(made_here, settings, month, list(names)).result()

    return make


def made_here(settings: Settings, month: str, names: list[str]) -> list[dict[str, Any]]:
    """The child's part: the event store alone (no views, no followers), read once."""
    with desk_alone(settings) as desk:
        return make_month(desk, month, names)
