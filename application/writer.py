"""The API's one writer: commands are group-committed on the event loop.

A request hands its command to `submit` and awaits the outcome. The first command queued in a
turn of the event loop schedules a flush; every command the loop queues before the flush runs
joins it. The flush runs them as one batch (`ServiceDesk.execute_batch`: one transaction, so one
fsync), folds the batch into the projections, and answers every waiter. The busier the service,
the larger the batches and the fewer the fsyncs and projection transactions per command; an idle
service writes a command as soon as it arrives.

Why on the loop and not in a writer thread: the batch is mostly Python, which holds the GIL
either way, and each of its many SQLite calls releases the GIL; a writer thread has to win it
back from the busy loop every time (a context switch, or a whole switch interval), which cost
more than the work itself. The loop waits for the one fsync a batch needs, while no Python can
run in this process anyway; reads go on in the worker threads meanwhile.
"""

from __future__ import annotations

import asyncio
import logging

from application.desk import ServiceDesk
from application.outcome import Outcome
from application.pipeline import Submission
from infra.serialisation import UndecodableEvent
from projections.runner import ProjectionRunner

log = logging.getLogger(__name__)


class CommandWriter:
    """`runner`: the embedded projections, folded after each batch; None in Kafka mode, where
    the views are fed from the topic and a write waits for them instead."""

    def __init__(self, desk: ServiceDesk, runner: ProjectionRunner | None) -> None:
        self.desk = desk
        self.runner = runner
        self._queued: list[tuple[Submission, asyncio.Future[Outcome]]] = []
        self._flush_scheduled = False

    async def submit(self, submission: Submission) -> Outcome:
        """The command's outcome once written and folded; or the error that refused it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._queued.append((submission, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._flush_scheduled = False
        queued, self._queued = self._queued, []
        try:
            results = self.desk.execute_batch([submission for submission, _ in queued])
        except Exception as error:  # not one command could be decided: tell every waiter
            log.exception("a batch of commands failed")
            results = [error] * len(queued)
        if self.runner is not None:
            try:
                self.runner.catch_up()  # read-your-writes: the answers show the batch's views
            except UndecodableEvent:
                pass  # the runner stopped at it and said so once; the answers say the views lag
            except Exception:  # the runner's own thread retries; the answers then wait for it
                log.exception("folding a batch into the projections failed")
        elif self.desk.after_commit is not None:
            self.desk.after_commit()  # Kafka mode: wake the relay to publish the batch at once
        for (_, future), result in zip(queued, results, strict=True):
            if future.done():  # the request was cancelled: the client went away
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
