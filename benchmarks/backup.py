"""Backup and restore benchmark: how long `itsm backup` and `itsm restore` take, and how large a
backup is, on a history of N incidents, on SQLite or PostgreSQL (docs/operations.md: the
recovery point and recovery time).

    .venv/bin/python -m benchmarks.backup --incidents 10000 [--backend sqlite|postgres]
        [--cache-dir DIR] [--data-dir DIR [--database-url URL --restore-database-url URL]]
        [--out FILE]

The history is the what-if benchmark's synthetic incidents (benchmarks/whatif.py), with the
views and the audit ledger caught up, built once and kept in --cache-dir (a PostgreSQL history
in a local server kept there too). --data-dir (and --database-url) measure an existing service's
store instead, e.g. the scale benchmark's 500k history, which this never changes. One JSON object
a line, then a table:

    history      incidents, events, bytes the service stores (data dir + database), reused
    backup       `backup()` of the idle service: seconds, bytes, MiB/s
    check        `verify()` (`itsm restore --check`): every file's SHA-256 against the manifest
    restore      `restore()` onto a fresh data directory (and an empty database): seconds
    start        the restored service built, its views and ledger caught up: seconds, events
    verify       `itsm audit verify` on the restored service (exit 0 expected): seconds
    serve        `itsm serve` on the restored service until /readyz answers 200: seconds
    rto          restore + serve: the time from a checked backup to a service that answers
    backup_busy  a backup of the restored copy while a writer thread logs incidents into it at
                 full speed: seconds, and the writer's events/s before and during the backup
                 (what a backup costs the service); the backup is checked complete
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import psycopg
from psycopg import sql

from benchmarks._report import Report, rounded, say
from benchmarks.whatif import synthesise
from infra.backup import MANIFEST
from infra.postgres_server import SUPERUSER, PostgresServer, free_port
from infra.settings import Settings
from service.backup import backup, restore, verify
from service.bootstrap import Services, build

ITSM = str(Path(sys.executable).parent / "itsm")
MIB = 1 << 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--cache-dir", type=Path, default=None, help="keep the history here")
    parser.add_argument("--data-dir", type=Path, default=None, help="an existing service's")
    parser.add_argument("--database-url", default=None, help="with --data-dir, on PostgreSQL")
    parser.add_argument(
        "--restore-database-url",
        default=None,
        help="with --database-url: an empty database to restore into",
    )
    parser.add_argument("--busy-seconds", type=float, default=3.0, help="the writer's warm-up")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    report = Report(args.out)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="itsm-bench-backup-") as scratch:
        work = Path(scratch)
        os.chmod(work, 0o755)  # a local PostgreSQL server's OS user must reach its directory
        with history(args, work) as (settings, server):
            rows.append(report.emit("history", **_history(settings, args)))
            rows += measure(report, settings, server, work, args)
    report.close()
    table(rows)


@contextmanager
def history(
    args: argparse.Namespace, work: Path
) -> Iterator[tuple[Settings, PostgresServer | None]]:
    """The service's settings over the history to back up (built if not cached), and the local
    PostgreSQL server it lives in (None: SQLite, or a server of the caller's)."""
    if args.data_dir is not None:
        yield Settings(data_dir=args.data_dir, database_url=args.database_url), None
        return
    cache = args.cache_dir or work
    home = cache / f"backup-{args.backend}-{args.incidents}"
    server = None
    url = None
    if args.backend == "postgres":
        server = PostgresServer(home / "postgres")
        home.mkdir(parents=True, exist_ok=True)
        os.chmod(home, 0o755)  # the server's OS user must reach its directory
        url = server.up()
    settings = Settings(data_dir=home / "var", database_url=url)
    marker = home / "complete"
    args.reused = marker.exists()
    if not args.reused:
        say(f"building a history of {args.incidents:,} incidents on {args.backend}")
        with closing(build(settings)) as services:
            events = synthesise(services.desk, args.incidents)
            services.runner.catch_up()
            assert services.audit is not None
            services.audit.ledger.catch_up()
        marker.write_text(str(events))
    try:
        yield settings, server
    finally:
        if server is not None:
            server.down()


def _history(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    with closing(build(settings)) as services:
        events = services.desk.recorder.max_notification_id() or 0
    return {
        "backend": "postgres" if settings.database_url else "sqlite",
        "incidents": args.incidents if args.data_dir is None else None,
        "events": events,
        "stored_mib": rounded(stored_bytes(settings) / MIB),
        "reused": getattr(args, "reused", True),
        "load": os.getloadavg()[0],
    }


def stored_bytes(settings: Settings) -> int:
    total = sum(p.stat().st_size for p in settings.data_dir.rglob("*") if p.is_file())
    if settings.database_url:
        with psycopg.connect(settings.database_url) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
            total += int(row[0]) if row else 0
    return total


def measure(
    report: Report,
    settings: Settings,
    server: PostgresServer | None,
    work: Path,
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    """Back the history up, check, restore, start and verify the copy; then, on the restored
    copy (the history is never written to), a backup while a writer logs incidents."""
    rows = []
    say("backup of the idle service")
    started = time.perf_counter()
    manifest = backup(settings, work / "idle")
    seconds = time.perf_counter() - started
    rows.append(
        report.emit(
            "backup",
            seconds=rounded(seconds, 2),
            mib=rounded(manifest.total_bytes / MIB),
            mib_per_s=rounded(manifest.total_bytes / MIB / seconds),
            files=len(manifest.entries),
            position=manifest.position,
        )
    )
    say("check, restore, start, verify")
    started = time.perf_counter()
    verify(work / "idle")  # what `itsm restore --check` does; RestoreRefused stops the run
    rows.append(report.emit("check", seconds=rounded(time.perf_counter() - started, 2)))
    empty = args.restore_database_url or fresh_database(server, settings)
    target = Settings(data_dir=work / "restored", database_url=empty)
    started = time.perf_counter()
    restored = restore(work / "idle", target)
    restore_s = time.perf_counter() - started
    rows.append(report.emit("restore", seconds=rounded(restore_s, 2)))
    shutil.rmtree(work / "idle")
    started = time.perf_counter()
    with closing(build(target)) as services:
        caught = services.runner.catch_up()
        assert services.audit is not None
        chained = services.audit.ledger.catch_up()
        assert services.desk.recorder.max_notification_id() == restored.manifest.position
    start_s = time.perf_counter() - started
    rows.append(
        report.emit("start", seconds=rounded(start_s, 2), views_events=caught, ledger=chained)
    )
    env = {**os.environ, "ITSM_DATA_DIR": str(target.data_dir)}
    if target.database_url:
        env["ITSM_DATABASE_URL"] = target.database_url
    started = time.perf_counter()
    verified = subprocess.run(
        [ITSM, "audit", "verify"], env=env, capture_output=True, text=True, check=False
    )
    if verified.returncode != 0:
        raise SystemExit(f"itsm audit verify failed on the restored service:\n{verified.stdout}")
    rows.append(report.emit("verify", seconds=rounded(time.perf_counter() - started, 2)))
    serve_s = ready_after(env)
    rows.append(report.emit("serve", seconds=rounded(serve_s, 2)))
    rows.append(report.emit("rto", seconds=rounded(restore_s + serve_s, 2)))

    say("backup of the restored copy while a writer logs incidents into it")
    with closing(build(target)) as services:
        rows.append(report.emit("backup_busy", **busy(services, work / "busy", args.busy_seconds)))
    return rows


def ready_after(env: dict[str, str]) -> float:
    """Seconds from `itsm serve` on the restored service to its /readyz answering 200 (then it
    is stopped)."""
    port = free_port()
    env = {**env, "ITSM_PORT": str(port), "ITSM_SLA_WATCH_INTERVAL": "0"}
    started = time.perf_counter()
    serve = subprocess.Popen(
        [ITSM, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while True:
            if serve.poll() is not None:
                raise SystemExit("itsm serve exited on the restored service")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    finally:
        serve.terminate()
        serve.wait(timeout=60)


def busy(services: Services, destination: Path, warm_up: float) -> dict[str, Any]:
    """A backup while a thread logs incidents: its time, and the writer's rate before and
    during it."""
    stop = threading.Event()
    marks: list[tuple[float, int]] = []

    def write() -> None:
        written, seed = 0, 1_000
        while not stop.is_set():
            written += synthesise(services.desk, 20, seed=seed, batch=20)
            seed += 1
            marks.append((time.perf_counter(), written))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(warm_up)
        began, before = time.perf_counter(), (marks[-1] if marks else (0.0, 0))
        manifest = backup(services.settings, destination)
        ended, during = time.perf_counter(), (marks[-1] if marks else (0.0, 0))
    finally:
        stop.set()
        writer.join()
    first = marks[0] if marks else (0.0, 0)
    rate_before = (before[1] - first[1]) / (before[0] - first[0]) if before[0] > first[0] else 0
    rate_during = (during[1] - before[1]) / (during[0] - before[0]) if during[0] > before[0] else 0
    assert (destination / MANIFEST).is_file()
    assert verify(destination).position == manifest.position
    return {
        "seconds": rounded(ended - began, 2),
        "mib": rounded(manifest.total_bytes / MIB),
        "writer_events_per_s_before": round(rate_before),
        "writer_events_per_s_during": round(rate_during),
        "position": manifest.position,
    }


def fresh_database(server: PostgresServer | None, settings: Settings) -> str | None:
    """An empty database beside the history's, for the restore (None on SQLite)."""
    if settings.database_url is None:
        return None
    if server is None:
        raise SystemExit("give --restore-database-url: an empty database to restore into")
    name = f"itsm_restored_{uuid4().hex[:8]}"
    admin = server._url(SUPERUSER, "postgres")  # the benchmark's own server
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER itsm").format(sql.Identifier(name)))
    return settings.database_url.rsplit("/", 1)[0] + f"/{name}"


def table(rows: list[dict[str, Any]]) -> None:
    print()
    print(f"{'step':<12} {'seconds':>9} {'MiB':>9} {'MiB/s':>8}  notes")
    for row in rows:
        name = row["name"]
        if name == "history":
            print(
                f"{'history':<12} {'':>9} {row['stored_mib']:>9} {'':>8}  {row['backend']},"
                f" {row['incidents']} incidents, {row['events']:,} events, load {row['load']:.2f}"
            )
            continue
        notes = ""
        if name == "backup_busy":
            notes = (
                f"writer {row['writer_events_per_s_before']:,} -> "
                f"{row['writer_events_per_s_during']:,} events/s"
            )
        if name == "rto":
            notes = "restore + serve (and the time to fetch the backup and check it)"
        if name == "start":
            notes = f"views {row['views_events']:,} events, ledger {row['ledger']:,}"
        print(
            f"{name:<12} {row['seconds']:>9} {row.get('mib', ''):>9}"
            f" {row.get('mib_per_s', ''):>8}  {notes}"
        )


if __name__ == "__main__":
    main()
