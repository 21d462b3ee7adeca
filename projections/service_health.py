"""service_health: per service and configuration item, what state is it in, when was it last
heard from, and how many of its transactions failed in the last 5, 15 and 60 minutes?

A read model of the circulation stream (not of the event store): the pipeline moves its
counters in the same transaction as the dedupe set (consumers/circulation.py). Windows are
measured back from the stream's time, the latest event time seen, so a replay of the same stream
gives the same answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from infra.circulation_store import CirculationStore, from_epoch

WINDOWS = (5, 15, 60)  # minutes
#: a device not heard from for this long is reported silent
SILENT_AFTER = timedelta(minutes=10)


def service_health(store: CirculationStore, degraded_rate: float = 0.2) -> dict[str, Any]:
    now = store.stream_time()
    if now is None:
        return {"stream_time": None, "services": []}
    minute_now = int(now.timestamp()) // 60
    windows: dict[tuple[str, str], dict[str, Any]] = {}
    for span in WINDOWS:
        for service, ci, ok, failed in store.minutes_since(minute_now - span + 1):
            volume = ok + failed
            windows.setdefault((service, ci), {})[f"{span}m"] = {
                "ok": ok,
                "failed": failed,
                "error_rate": round(failed / volume, 4) if volume else 0.0,
            }
    empty = {"ok": 0, "failed": 0, "error_rate": 0.0}
    services: dict[str, dict[str, Any]] = {}
    for service, ci, status, code, status_since, last_seen, ok, failed, signals in store.health():
        seen = from_epoch(last_seen)
        assert seen is not None
        rates = {f"{s}m": windows.get((service, ci), {}).get(f"{s}m", empty) for s in WINDOWS}
        row = {
            "status": status or "unknown",
            "status_code": code,
            "status_since": _iso(from_epoch(status_since) if status_since else None),
            "last_seen": _iso(seen),
            "totals": {"ok": ok, "failed": failed, "signals": signals},
            "windows": rates,
        }
        if ci == "":
            services[service] = {"service": service, **row, "configuration_items": []}
        else:
            if status in ("online", None) and now - seen > SILENT_AFTER:
                row["status"] = "silent"
            services.setdefault(service, {"service": service, "configuration_items": []})
            services[service]["configuration_items"].append({"ci": ci, **row})
    for entry in services.values():
        troubled = [c for c in entry["configuration_items"] if c["status"] != "online"]
        rate = entry.get("windows", {}).get("15m", empty)
        volume = rate["ok"] + rate["failed"]
        if troubled or (volume and rate["error_rate"] >= degraded_rate):
            entry["status"] = "degraded"
        else:
            entry["status"] = "operational"
    return {"stream_time": _iso(now), "services": sorted(services.values(), key=_by_service)}


def _by_service(entry: dict[str, Any]) -> str:
    name: str = entry["service"]
    return name


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()
