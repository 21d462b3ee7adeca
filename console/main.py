"""The entry point uvicorn imports in each worker process: settings from the environment; the
REST API and the web console on one app."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from console.app import create_app
from infra.settings import Settings
from processes.cmdb_reconcile import ReconcileSchedule
from processes.notify import Notify
from processes.reports.issue import ReportSchedule
from processes.sla_watch import SlaWatcher
from service.bootstrap import build, start_mail_reader
from service.reports_apart import made_apart

#: Collect the young generation once per this many new container objects rather than Python's
#: default 700, which under load collected every thirty requests or so (about 3% of the CPU).
GC_YOUNG_THRESHOLD = 10_000


def app_from_environment() -> FastAPI:
    """Build this worker's services and app; start and stop them with the server."""
    settings = Settings()
    services = build(settings)
    watcher = SlaWatcher(services, settings.sla_watch_interval)
    # the month's reports read the whole history: in a process of their own, not the API's
    schedule = ReportSchedule(
        services, settings.report_schedule_interval, make=made_apart(settings)
    )
    reconciling = ReconcileSchedule(services, settings.cmdb_reconcile_interval)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        services.start()
        if settings.sla_watch_interval > 0:
            watcher.start()
        if settings.report_schedule_interval > 0:
            schedule.start()
        if settings.cmdb_reconcile_interval > 0:
            reconciling.start()
        if settings.notifies:
            Notify(services).start()  # stopped with the services
        reader = start_mail_reader(services)  # e-mail in, where ITSM_IMAP_HOST is set
        # What start-up built (the app, its routes and schemas, the services) lives as long as
        # the process. Freezing it keeps every later collection from scanning it again: a full
        # collection took 40-70 ms with it, and stalled every request in flight.
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        yield
        watcher.stop()
        schedule.stop()
        reconciling.stop()
        if reader is not None:
            reader.stop()
        services.close()

    return create_app(services, lifespan=lifespan)
