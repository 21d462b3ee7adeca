"""What-if runs asked for over the API: one at a time per process, in a background thread, each
kept as a JSON file under the data directory (`whatif/<id>.json`), so any API process on that
directory answers for it. They are reports, not records: nothing of them goes to the event store
or the views, and deleting the directory loses nothing of the record."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import orjson

from application.desk import ServiceDesk
from domain.context import Context
from processes.whatif import WhatIf, run

log = logging.getLogger(__name__)


class WhatIfJobs:
    def __init__(self, directory: Path, desk: ServiceDesk, clock: Callable[[], datetime]) -> None:
        self.directory = directory
        self.desk = desk
        self.clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whatif")

    def submit(self, ctx: Context, whatif: WhatIf) -> UUID:
        """Queue a run (its rules already checked: InvalidRule is raised here, not later)."""
        whatif.scenario()
        job = uuid4()
        self._write(
            job,
            {
                "id": job,
                "status": "running",
                "requested_by": ctx.actor.model_dump(mode="json"),
                "requested_at": ctx.at,
                "request": whatif.model_dump(mode="json", by_alias=True),
            },
        )
        self._executor.submit(self._run, job, whatif)
        return job

    def get(self, job: UUID) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = orjson.loads((self.directory / f"{job}.json").read_bytes())
        except FileNotFoundError:
            return None
        return found

    def wait(self) -> None:
        """Let the queued runs finish (tests; closing)."""
        self._executor.shutdown(wait=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whatif")

    def _run(self, job: UUID, whatif: WhatIf) -> None:
        body = self.get(job) or {"id": job}
        try:
            done = run(self.desk, whatif, self.clock())
        except Exception as error:
            log.exception("what-if %s failed", job)
            body.update(status="failed", finished_at=self.clock(), error=str(error))
        else:
            body.update(status="done", finished_at=self.clock(), report=done.report)
        self._write(job, body)

    def _write(self, job: UUID, body: dict[str, Any]) -> None:
        """Replace the job's file whole (a reader sees the old one or the new one)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{job}.json"
        partial = path.with_suffix(".part")
        partial.write_bytes(orjson.dumps(body))
        os.replace(partial, path)
