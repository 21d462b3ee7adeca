"""Audit ledger benchmark: appending and verifying the chain against the bare rates of the same
work, all in one run, on one SQLite store (or PostgreSQL with --database-url).

    .venv/bin/python -m benchmarks.audit [--events 1000000] [--database-url URL]

The store is seeded with real events: a few hundred incidents are logged through the service,
then their stored rows are copied under fresh aggregate ids (straight into the library's table,
as a bulk import would) until it holds --events events. Then, side by side:

    read     bare read of the event store's rows (positions, topics, ids, versions, states)
    sha256   bare SHA-256 of the same bytes the ledger hashes (one digest per event, in memory)
    append   the ledger catching up from zero: read, decode actor and time, hash, chain, sign
             checkpoints, write the ledger
    verify   full verification: read store and ledger, recompute every digest and link, check
             every signed checkpoint (in parallel segments, one process per CPU, from 200,000
             entries on; its CPU time counts the workers' time on their segments too)
    verify_one_process   the same in this process alone
    export   an evidence pack of the whole store (a temporary zip), and its time per 100,000

Each result is a JSON line on stdout with its rate and its ratio to the bare rates; the issue's
targets are verify >= 25% of sha256, and 1,000,000 entries verified in under 20 s.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import orjson
import psycopg

from audit.evidence import export_pack
from audit.service import Audit
from audit.store import POSTGRES_EVENTS, SQLITE_EVENTS
from audit.verify import verify
from domain.actors import Actor, Role
from domain.commands import LogIncident
from domain.context import Context
from domain.incident import Impact, Urgency
from infra.clock import utcnow
from infra.settings import Settings
from service.bootstrap import Services, build

AGENT = Actor(id="siti.rahma", role=Role.AGENT)
HASH, APPEND = "bare SHA-256 of the same bytes", "ledger append from zero"
VERIFY, VERIFY_ONE = "verify", "verify in one process"


def note(message: str) -> None:
    print(f"[audit bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def emit(name: str, **figures: Any) -> None:
    print(orjson.dumps({"name": name, **figures}).decode(), flush=True)


def seed(services: Services, events: int) -> None:
    """Fill the store with `events` real events (see the module docstring)."""
    desk = services.desk
    for n in range(200):
        ctx = Context(actor=AGENT, at=utcnow(), correlation_id=uuid4())
        desk.log_incident(
            ctx,
            LogIncident(
                title=f"Self-check kiosk {n} rejects library cards",
                service="Self-check kiosks",
                caller="budi.santoso",
                impact=Impact.MEDIUM,
                urgency=Urgency.HIGH,
                assignment_group="kiosk-team",
            ),
        )
    audit = _audit(services)
    templates = [row[1:] for row in audit.store.stored(0, 10_000)]
    have = audit.store.store_head()
    note(f"seeding {events} events from {len(templates)} real ones")
    url = services.settings.database_url
    batch = []
    while have < events:
        renamed: dict[str, UUID] = {}  # each template aggregate gets its own fresh id per round
        for topic, originator, version, state in templates:
            if have >= events:
                break
            fresh = renamed.setdefault(originator, uuid4())
            copied = state.replace(str(UUID(originator)).encode(), str(fresh).encode())
            batch.append((fresh.hex if url is None else fresh, version, topic, copied))
            have += 1
        if len(batch) >= 50_000 or have >= events:
            _insert(services.settings, batch)
            batch = []


def _insert(settings: Settings, rows: list[tuple[Any, ...]]) -> None:
    if settings.database_url is None:
        with sqlite3.connect(settings.events_db) as conn:
            conn.executemany(f"INSERT INTO {SQLITE_EVENTS} VALUES (?,?,?,?)", rows)
        return
    with psycopg.connect(settings.database_url) as conn, conn.cursor() as cursor:
        columns = "originator_id, originator_version, topic, state"
        with cursor.copy(f"COPY {POSTGRES_EVENTS} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def _audit(services: Services) -> Audit:
    assert services.audit is not None
    return services.audit


#: CPU seconds of each timed step (this process, and verification's worker processes).
CPU: dict[str, float] = {}


def timed(what: str, work: Any) -> tuple[float, Any]:
    note(what)
    started, cpu = time.perf_counter(), time.process_time()
    result = work()
    CPU[what] = time.process_time() - cpu + getattr(result, "worker_cpu", 0.0)
    return time.perf_counter() - started, result


def bare_rates(audit: Audit) -> tuple[int, float, float]:
    """(events, read seconds, SHA-256 seconds): the store read bare, then the same bytes the
    ledger digests hashed bare, in memory."""
    store = audit.store

    def read_all() -> list[Any]:
        rows, after = [], 0
        while page := store.stored(after, 20_000):
            rows.extend(page)
            after = page[-1][0]
        return rows

    read_s, rows = timed("bare read", read_all)

    def hash_all() -> None:
        sha256 = hashlib.sha256
        for _, topic, originator, version, state in rows:
            sha256(b"%s\n%s\n%d\n%s" % (topic.encode(), originator.encode(), version, state))

    hash_s, _ = timed(HASH, hash_all)
    return len(rows), read_s, hash_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="itsm-audit-bench-"))
    settings = Settings(
        data_dir=directory,
        database_url=args.database_url,
        audit_follow=False,
        audit_checkpoint_interval=timedelta(days=1),
    )
    services = build(settings)
    try:
        seed(services, args.events)
        audit = _audit(services)
        count, read_s, hash_s = bare_rates(audit)
        append_s, appended = timed(APPEND, audit.ledger.catch_up)
        if appended != count:
            raise SystemExit(f"appended {appended} of {count}")
        verify_s, report = timed(VERIFY, lambda: verify(audit.store, audit.trusted_keys()))
        if not report.ok or report.entries != count:
            raise SystemExit(f"verification failed: {report.as_json()}")
        one_s, one = timed(VERIFY_ONE, lambda: verify(audit.store, audit.trusted_keys(), workers=1))
        if one.as_json() != report.as_json():
            raise SystemExit(f"one process disagrees: {one.as_json()}")
        pack = directory / "evidence.zip"
        export_s, summary = timed(
            "evidence pack of the whole store",
            lambda: export_pack(
                pack, audit.store, services.desk.mapper, audit.key, None, None, utcnow()
            ),
        )
    finally:
        services.close()

    read_rate, hash_rate = count / read_s, count / hash_s

    def cpu_us(what: str) -> float:
        return round(CPU[what] / count * 1e6, 2)

    common = {"backend": "sqlite" if args.database_url is None else "postgres", "events": count}
    emit("machine", cpus=os.cpu_count(), load_average=[round(x, 2) for x in os.getloadavg()])
    emit("read", **common, seconds=round(read_s, 2), per_s=round(read_rate))
    emit(
        "sha256",
        **common,
        seconds=round(hash_s, 2),
        per_s=round(hash_rate),
        cpu_us_per_event=cpu_us(HASH),
    )
    for name, seconds, step in (
        ("append", append_s, APPEND),
        ("verify", verify_s, VERIFY),
        ("verify_one_process", one_s, VERIFY_ONE),
    ):
        emit(
            name,
            **common,
            seconds=round(seconds, 2),
            per_s=round(count / seconds),
            vs_sha256=round(count / seconds / hash_rate, 3),
            vs_read=round(count / seconds / read_rate, 3),
            cpu_us_per_event=cpu_us(step),
        )
    emit(
        "verify_targets",
        seconds_per_million=round(verify_s / count * 1_000_000, 1),
        target_seconds=20,
        vs_sha256=round(count / verify_s / hash_rate, 3),
        target_vs_sha256=0.25,
    )
    emit(
        "export",
        **common,
        exported=summary.events,
        seconds=round(export_s, 2),
        per_s=round(summary.events / export_s),
        seconds_per_100k=round(export_s / summary.events * 100_000, 1),
        megabytes=round(pack.stat().st_size / 2**20, 1),
    )
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
