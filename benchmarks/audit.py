"""Audit ledger benchmark: appending and verifying the chain against the bare rates of the same
work, all in one run, on one SQLite store (or PostgreSQL with --database-url).

    .venv/bin/python -m benchmarks.audit [--events 1000000] [--database-url URL]

The store is seeded with real events: a few hundred incidents are logged through the service,
then their stored rows are copied under fresh aggregate ids through the service's recorder, which
seals each batch as it is written: --seal-batch events a seal (default 2, as when every command
commits alone; group commit under load seals more at once), until it holds --events events.
Then, side by side:

    read     bare read of the event store's rows (positions, topics, ids, versions, states)
    sha256   bare SHA-256 of the same bytes the ledger hashes (one digest per event, in memory)
    append   the ledger catching up from zero: read, check the seals, decode actor and time,
             hash, chain, sign checkpoints, write the ledger (on SQLite also the same without
             checking seals, into a scratch ledger: `append_sealed_vs_unsealed`)
    verify   full verification: read store and ledger, recompute every digest and link, check
             every signed checkpoint (in parallel segments, one process per CPU, from 200,000
             entries on; its CPU time counts the workers' time on their segments too)
    verify_one_process   the same in this process alone
    verify_sealed   verify with the seal key (`verify --seal-key`: also every seal, its MAC over
             the events' digests, which it takes from the ledger it has just checked)
    export   an evidence pack of the whole store (a temporary zip), and its time per 100,000
    verify_callers_at_once   --callers auditors asking to verify at the same moment (threads), as
             each walk was its own (`verify` per caller) and as the service answers them now
             (`infra/coalesce.py`, as `Audit.verified` runs it: one walk at a time, a caller
             answered by a walk begun after it asked), in alternating rounds: the time until the
             last is answered, and the walks

Each result is a JSON line on stdout with its rate and its ratio to the bare rates; the targets
are verify >= 25% of sha256, and 1,000,000 entries verified in under 20 s.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import click
import orjson
from eventsourcing.persistence import StoredEvent

from audit.evidence import export_pack
from audit.seals import SealKey
from audit.service import Audit
from audit.store import SQLiteAuditStore
from audit.verify import Report, verify
from domain.actors import Actor, Role
from domain.commands import LogIncident
from domain.context import Context
from domain.priority import Impact, Urgency
from infra.clock import utcnow
from infra.coalesce import Coalesced
from infra.settings import Settings
from service.bootstrap import Services, build
from tests.directory_helpers import hold

AGENT = Actor(id="siti.rahma", role=Role.AGENT)
HASH, APPEND = "bare SHA-256 of the same bytes", "ledger append from zero"
VERIFY, VERIFY_ONE = "verify", "verify in one process"
APPEND_UNSEALED = "ledger append from zero, seals not checked"
VERIFY_SEALED = "verify with the seal key"


def note(message: str) -> None:
    print(f"[audit bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def emit(name: str, **figures: Any) -> None:
    print(orjson.dumps({"name": name, **figures}).decode(), flush=True)


def seed(services: Services, events: int, seal_batch: int) -> None:
    """Fill the store with `events` real events (see the module docstring)."""
    desk = services.desk
    hold(services, {"kiosk-team": ()}, people=())  # the group work is assigned to
    for n in range(200):
        ctx = Context(actor=AGENT, at=utcnow(), correlation_id=uuid4())
        desk.log_incident(
            ctx,
            LogIncident(
                title=f"Self-check kiosk {n} rejects library cards",
                service="kiosks-gates",
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
    batch: list[StoredEvent] = []
    while have < events:
        renamed: dict[str, UUID] = {}  # each template aggregate gets its own fresh id per round
        for topic, originator, version, state in templates:
            if have >= events:
                break
            fresh = renamed.setdefault(originator, uuid4())
            copied = state.replace(str(UUID(originator)).encode(), str(fresh).encode())
            batch.append(StoredEvent(fresh, version, topic, copied))
            have += 1
    # through the service's recorder, which seals each batch as a command's commit is sealed
    starts = range(0, len(batch), seal_batch)
    with click.progressbar(starts, label="seeding", file=sys.stderr) as bar:
        for start in bar:
            desk.recorder.insert_events(batch[start : start + seal_batch])


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


def append_unsealed(settings: Settings, audit: Audit, count: int) -> float | None:
    """The ledger appending from zero without checking seals (as before sealing), into a scratch
    ledger file beside the real one: SQLite only (on PostgreSQL the ledger's tables are the
    database's own)."""
    if settings.database_url is not None:
        return None
    scratch = SQLiteAuditStore(settings.events_db, settings.data_dir / "audit-unsealed.db")
    try:
        ledger = replace(audit.ledger, store=scratch, seal=None, publisher=None)
        seconds, appended = timed(APPEND_UNSEALED, ledger.catch_up)
    finally:
        scratch.close()
    if appended != count:
        raise SystemExit(f"appended {appended} of {count} unsealed")
    return float(seconds)


def callers_at_once(callers: int, ask: Callable[[], Report], count: int) -> float:
    """Seconds until `callers` threads asking at once are all answered; stops on any answer but
    an intact ledger of `count` entries."""
    with ThreadPoolExecutor(max_workers=callers) as pool:
        started = time.perf_counter()
        answers = list(pool.map(lambda _: ask(), range(callers)))
        seconds = time.perf_counter() - started
    for answer in answers:
        if not answer.ok or answer.entries != count:
            raise SystemExit(f"a caller's verification failed: {answer.as_json()}")
    return seconds


def verify_at_once(
    audit: Audit, key: SealKey, count: int, callers: int, rounds: int
) -> dict[str, Any]:
    """`callers` auditors asking to verify at once, answered a walk each and as the service
    answers them (one walk at a time), in alternating rounds: the seconds and walks of each."""
    walks = [0]

    def walk() -> Report:
        walks[0] += 1
        return verify(audit.store, audit.trusted_keys(), seal=key)

    one_at_a_time = Coalesced(walk)  # the service's way (Audit.verified), its walks counted
    seconds: dict[str, list[float]] = {"each": [], "one_at_a_time": []}
    walked = dict.fromkeys(seconds, 0)
    for _ in range(rounds):
        for way, ask in (("each", walk), ("one_at_a_time", one_at_a_time)):
            before = walks[0]
            seconds[way].append(callers_at_once(callers, ask, count))
            walked[way] += walks[0] - before
    return {
        "callers": callers,
        "rounds": rounds,
        "each_seconds": [round(x, 2) for x in seconds["each"]],
        "each_walks": walked["each"],
        "one_at_a_time_seconds": [round(x, 2) for x in seconds["one_at_a_time"]],
        "one_at_a_time_walks": walked["one_at_a_time"],
        "each_over_one_at_a_time": round(sum(seconds["each"]) / sum(seconds["one_at_a_time"]), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seal-batch", type=int, default=2, help="events a seal covers")
    parser.add_argument("--callers", type=int, default=8, help="auditors asking at once")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each way of answering")
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
        seed(services, args.events, args.seal_batch)
        audit = _audit(services)
        count, read_s, hash_s = bare_rates(audit)
        unsealed_s = append_unsealed(settings, audit, count)
        append_s, appended = timed(APPEND, audit.ledger.catch_up)
        if appended != count:
            raise SystemExit(f"appended {appended} of {count}")
        verify_s, report = timed(VERIFY, lambda: verify(audit.store, audit.trusted_keys()))
        if not report.ok or report.entries != count:
            raise SystemExit(f"verification failed: {report.as_json()}")
        one_s, one = timed(VERIFY_ONE, lambda: verify(audit.store, audit.trusted_keys(), workers=1))
        if one.as_json() != report.as_json():
            raise SystemExit(f"one process disagrees: {one.as_json()}")
        key = audit.ledger.seal
        assert key is not None
        sealed_s, sealed = timed(
            VERIFY_SEALED, lambda: verify(audit.store, audit.trusted_keys(), seal=key)
        )
        if not sealed.ok or sealed.entries != count or not sealed.seals:
            raise SystemExit(f"verification with the seal key failed: {sealed.as_json()}")
        at_once = verify_at_once(audit, key, count, args.callers, args.rounds)
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
    if unsealed_s is not None:
        emit(
            "append_sealed_vs_unsealed",
            **common,
            sealed_per_s=round(count / append_s),
            unsealed_per_s=round(count / unsealed_s),
            sealed_over_unsealed=round(unsealed_s / append_s, 3),
        )
    for name, seconds, step in (
        ("append", append_s, APPEND),
        ("verify", verify_s, VERIFY),
        ("verify_sealed", sealed_s, VERIFY_SEALED),
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
    emit("verify_callers_at_once", **common, **at_once)
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
