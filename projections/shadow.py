"""Rebuild a projection beside the live one, then swap it in (docs/imports.md, "Shadow rebuilds").

The shadow view (`<name>__shadow`) is folded from the first event while the live view keeps
serving and following the store. When the shadow has caught up, the store swaps it in, in one
transaction (ViewStore.swap_in): the live table is dropped, the shadow renamed in its place with
its indexes, and its position becomes the live position. If the live view moved ahead in the
meantime, the shadow catches up again and the swap is retried. Embedded mode only: views fed from
Kafka also track per-partition positions, which a rebuild from the store cannot set.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal
from uuid import UUID, uuid4

from eventsourcing.persistence import ApplicationRecorder, Mapper

from projections.base import Projection
from projections.runner import ProjectionRunner
from projections.view_store import ViewStore

SHADOW = "__shadow"
#: Swaps tried before giving up (each after catching up with what the live view folded since).
MAX_SWAPS = 50

Progress = Callable[[int, int], None]  # (position reached, head position)


def shadow_of(projection: Projection) -> Projection:
    """The shadow of a projection: same fold and version, its own table, no indexes while it
    fills (the swap makes the live view's)."""
    return replace(projection, name=f"{projection.name}{SHADOW}", indexes=())


def rebuild_in_shadow(
    recorder: ApplicationRecorder,
    mapper: Mapper,  # type: ignore[type-arg]
    store: ViewStore,
    projection: Projection,
    progress: Progress | None = None,
) -> int:
    """Build `projection` from zero in a shadow view and swap it in; the events read."""
    shadow = shadow_of(projection)
    store.discard(shadow)  # what an interrupted rebuild left
    runner = ProjectionRunner(recorder, mapper, store, [shadow])
    read = 0
    for _ in range(MAX_SWAPS):
        read += runner.catch_up(progress)
        if store.swap_in(shadow, projection):
            return read
    store.discard(shadow)
    raise RuntimeError(f"{projection.name}: the live view kept moving ahead of the shadow")


def rebuild_all_in_shadow(
    recorder: ApplicationRecorder,
    mapper: Mapper,  # type: ignore[type-arg]
    store: ViewStore,
    projections: Sequence[Projection],
    progress: Progress | None = None,
) -> int:
    """Build every projection from zero in shadow views, in one pass over the store (each event
    read and decoded once for them all), and swap each in; the events read. A view the live one
    moved ahead of catches up (with the others not yet swapped in) and is tried again."""
    left = list(projections)
    shadows = {p.name: shadow_of(p) for p in left}
    for shadow in shadows.values():
        store.discard(shadow)
    read = 0
    for _ in range(MAX_SWAPS):
        runner = ProjectionRunner(recorder, mapper, store, [shadows[p.name] for p in left])
        read += runner.catch_up(progress)
        left = [p for p in left if not store.swap_in(shadows[p.name], p)]
        if not left:
            return read
    for projection in left:
        store.discard(shadows[projection.name])
    names = ", ".join(p.name for p in left)
    raise RuntimeError(f"{names}: the live views kept moving ahead of their shadows")


def rebuild_changed(
    recorder: ApplicationRecorder,
    mapper: Mapper,  # type: ignore[type-arg]
    store: ViewStore,
    projections: Sequence[Projection],
) -> list[str]:
    """Rebuild, each in a shadow, the views whose stored fold version is not the code's; the
    names rebuilt. A view folded by an older fold keeps answering until the new one is swapped
    in: a process whose code changed a fold builds the new view before it follows the store,
    and the processes still on the old code read the old view until then."""
    with store.rebuilding():
        stale = store.stale(projections)
        for projection in stale:
            rebuild_in_shadow(recorder, mapper, store, projection)
    return [p.name for p in stale]


State = Literal["running", "succeeded", "failed"]


@dataclass
class Rebuild:
    """A shadow rebuild started through the API, as its status reports it."""

    id: UUID
    projection: str
    started_at: datetime
    state: State = "running"
    position: int = 0
    head: int = 0
    events: int = 0
    finished_at: datetime | None = None
    error: str | None = None
    _began: float = field(default_factory=time.monotonic, repr=False)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._began

    @property
    def rate(self) -> float:
        """Positions of the store passed per second."""
        return self.position / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        if self.state != "running":
            return 0.0
        rate = self.rate
        return max(self.head - self.position, 0) / rate if rate > 0 else None


class Rebuilds:
    """Shadow rebuilds run in background threads of this process; one at a time per view."""

    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper,  # type: ignore[type-arg]
        store: ViewStore,
        clock: Callable[[], datetime],
    ) -> None:
        self.recorder, self.mapper, self.store, self.clock = recorder, mapper, store, clock
        self._runs: dict[UUID, Rebuild] = {}
        self._lock = threading.Lock()

    def start(self, projection: Projection) -> Rebuild:
        """Start a rebuild, or answer the one of this view still running."""
        with self._lock:
            for run in self._runs.values():
                if run.projection == projection.name and run.state == "running":
                    return run
            run = Rebuild(id=uuid4(), projection=projection.name, started_at=self.clock())
            self._runs[run.id] = run
        threading.Thread(
            target=self._run, args=(run, projection), name=f"rebuild-{projection.name}", daemon=True
        ).start()
        return run

    def get(self, rebuild_id: UUID) -> Rebuild | None:
        return self._runs.get(rebuild_id)

    def _run(self, run: Rebuild, projection: Projection) -> None:
        def progress(position: int, head: int) -> None:
            run.position, run.head = position, head

        try:
            run.events = rebuild_in_shadow(
                self.recorder, self.mapper, self.store, projection, progress
            )
        except Exception as error:  # reported through the status
            run.state, run.error = "failed", f"{type(error).__name__}: {error}"
        else:
            run.state = "succeeded"
        run.finished_at = self.clock()
