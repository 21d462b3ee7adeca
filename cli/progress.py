"""Progress of the long-running commands, drawn by rich on stderr (stdout keeps their results).

    with shown("positions") as progress:
        progress("incident_details", position, head)

A bar a phase: a call naming a new `phase` adds a bar below the others. On a terminal the bars
redraw in place; elsewhere (a log, a pipe, a test's CliRunner) rich draws nothing until the end,
so a bar on its way is printed as a plain line (without the bar) at most once every `every`
seconds, the first at once, and all the bars once more at the end."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text


class _Count(ProgressColumn):
    """Done of total, with thousands separators: "12,345/67,890" (or "12,345", total unknown)."""

    def render(self, task: Task) -> Text:
        total = "" if task.total is None else f"/{task.total:,.0f}"
        return Text(f"{task.completed:,.0f}{total}", style="progress.download")


class _Rate(ProgressColumn):
    """Rich's own speed estimate, in the unit counted: "1,234 rows/s"."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        shown = "?" if speed is None else f"{speed:,.0f}"
        return Text(f"{shown} {self.unit}/s", style="progress.data.speed")


def _columns(unit: str, bar: bool) -> list[ProgressColumn]:
    """What a bar shows: what it is at, the bar (on a terminal; a line in a log says how far
    without it), the share done, done of total, the rate, the time left."""
    if unit == "bytes":
        measures: list[ProgressColumn] = [DownloadColumn(binary_units=True), TransferSpeedColumn()]
    else:
        measures = [_Count(), _Rate(unit)]
    drawn: list[ProgressColumn] = [BarColumn()] if bar else []
    share = TaskProgressColumn()
    return [TextColumn("{task.description}"), *drawn, share, *measures, TimeRemainingColumn()]


def _a_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # none, or closed
        return False


class Shown:
    """A callback for a command's progress: `(description, done, total, phase="")` updates the
    phase's bar (adding it the first time), `note(text)` prints a line above the bars."""

    def __init__(self, unit: str, every: float) -> None:
        # rich takes FORCE_COLOR for a terminal; on a pipe or a file it would then draw there
        self.console = Console(stderr=True, force_terminal=None if _a_terminal() else False)
        self.bars = Progress(
            *_columns(unit, bar=self.console.is_terminal),
            console=self.console,
            transient=False,
            redirect_stdout=False,  # the command's results stay on stdout
        )
        self.every = every
        self.tasks: dict[str, TaskID] = {}
        self._printed = float("-inf")

    def __call__(self, description: str, done: int, total: int | None, phase: str = "") -> None:
        task = self.tasks.get(phase)
        if task is None:
            task = self.tasks[phase] = self.bars.add_task(description, total=total)
        self.bars.update(task, description=description, completed=done, total=total)
        finished = total is not None and done >= total  # the end's lines show it
        if finished or self.console.is_terminal:
            return
        if time.monotonic() - self._printed >= self.every:
            self._printed = time.monotonic()
            (current,) = (t for t in self.bars.tasks if t.id == task)
            self.console.print(self.bars.make_tasks_table([current]))

    def note(self, text: str) -> None:
        """A line on stderr above the bars (plain: no markup)."""
        self.console.print(text, markup=False, highlight=False)


@contextmanager
def shown(unit: str, every: float = 1.0) -> Iterator[Shown]:
    """A rich Progress on stderr for as long as the block runs, counting `unit`: "bytes" (shown
    in KiB, MiB), or what the bars count, named for their rate ("rows" as "rows/s")."""
    progress = Shown(unit, every)
    with progress.bars:
        yield progress
