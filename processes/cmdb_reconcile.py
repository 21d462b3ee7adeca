"""The CMDB reconciliation run: the kiosks' and gates' records set against what the circulation
stream heard of each device (domain/cmdb_reconciliation.py says what is judged how), the
findings recorded in one write, and what was found answered (`POST
/api/v1/configuration-items/reconciliations`, `itsm cmdb reconcile`, and the daily run)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from application.kinds import CONFIGURATION_ITEM
from application.outcome import Outcome
from application.pipeline import Submission
from domain.cmdb_reconciliation import (
    DEVICE_TYPES,
    ItemOnRecord,
    RecordReconciliation,
    Sighting,
    reconcile,
)
from domain.configuration_item import CiStatus, VerificationResult
from domain.context import Context
from infra.circulation_store import CirculationStore, from_epoch
from infra.follower import Follower, Follows
from processes.running import Running
from projections.configuration_items import items
from projections.queries import Filter

log = logging.getLogger("itsm.cmdb")

#: A device not heard from for this long, by the stream's time, is silent.
SILENT_AFTER = timedelta(days=3)
#: An unchanged finding is recorded again once the last verification is this old.
INTERVAL = timedelta(days=30)


def sightings(store: CirculationStore) -> list[Sighting]:
    """Every device the stream has heard from, with when it was last heard."""
    found = []
    for row in store.health():
        ci, last_seen = row[1], from_epoch(row[5])
        if ci and last_seen is not None:
            found.append(Sighting(ci, last_seen))
    return found


def on_record(services: Running, ctx: Context) -> list[ItemOnRecord]:
    """Every kiosk and gate the CMDB records, with its last verification."""
    found = []
    for ci_type in sorted(DEVICE_TYPES):
        for row in items.rows(services.views, ctx, Filter(equal={"ci_type": ci_type})):
            last = row["verifications"][-1] if row.get("verifications") else None
            found.append(
                ItemOnRecord(
                    row["code"],
                    CiStatus(row["status"]),
                    None if last is None else VerificationResult(last["result"]),
                    None if last is None else datetime.fromisoformat(last["at"]),
                )
            )
    return found


def run(
    services: Running,
    ctx: Context,
    *,
    silent_after: timedelta = SILENT_AFTER,
    interval: timedelta = INTERVAL,
) -> tuple[dict[str, Any], Outcome | None]:
    """One reconciliation: what it compared and found, and how many findings it recorded; and
    the write that recorded them, if any (for the caller to wait for the views to show it)."""
    store = CirculationStore(services.settings.circulation_db)
    try:
        now, heard = store.stream_time(), sightings(store)
    finally:
        store.close()
    if now is None:
        nothing: dict[str, Any] = {"stream_time": None, "compared": 0, "recorded": 0}
        return {**nothing, "findings": [], "unregistered": [], "skipped": []}, None
    found = reconcile(
        on_record(services, ctx), heard, now, silent_after=silent_after, interval=interval
    )
    command = RecordReconciliation.of(found.findings)
    outcome = None
    if command is not None:
        outcome = services.desk.execute(
            Submission(
                ctx,
                command,
                CONFIGURATION_ITEM,
                operation="configuration_item:reconcile",
                decision=lambda session: command.decide(session, ctx),
            )
        )
    return {
        "stream_time": now.isoformat(),
        "compared": len(found.findings),
        "recorded": 0 if command is None else len(command.findings),
        "findings": [
            {"code": f.code, "result": f.result, "note": f.note, "recorded": f.record}
            for f in found.findings
        ],
        "unregistered": [
            {"device": s.device, "last_seen": s.last_seen.isoformat()} for s in found.unregistered
        ],
        "skipped": list(found.skipped),
    }, outcome


class ReconcileSchedule(Follows):
    """Reconciles every `interval` seconds (daily by default): the planned interval of 8.2.6."""

    def __init__(self, services: Running, interval: float = 86_400.0) -> None:
        self.services = services
        self._follower = Follower(
            "cmdb-reconcile", self._follow_step, idle=interval, log=log, backoff=(1.0, interval)
        )

    def _follow_step(self) -> bool:
        done, _ = run(self.services, self.services.system_context())
        log.info("reconciled %s items, recorded %s", done["compared"], done["recorded"])
        return False
