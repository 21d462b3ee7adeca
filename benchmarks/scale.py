"""How every cost grows as history grows (issue 23): 10k, 100k and 500k incidents with their
events, on SQLite and on PostgreSQL, side by side in one run; each bound PASS or FAIL.

    .venv/bin/python -m benchmarks.scale [--sizes 10000,100000,500000]
        [--backends sqlite,postgres] [--cache-dir /var/tmp/itsm-scale] [--samples 200]
        [--duration 10] [--rest-rounds 3] [--import-incidents 10000] [--skip-rest]
        [--skip-rebuild] [--skip-in-process] [--build-only] [--out FILE]

The history of each size and backend is built once (benchmarks/scale_history.py) and cached in
--cache-dir: SQLite's files in `sqlite-N/`, PostgreSQL's as database `scale_N` of a cluster kept
in `pg/` (the project's own local server, infra/postgres_server.py). Each measurement runs on a
working copy (the files copied; `CREATE DATABASE ... TEMPLATE scale_N`), so the cache stays as
built. The sizes of one backend are measured side by side: their servers all running, the reads
interleaved round by round and the REST windows in rounds, each size in turn, so that a load that
comes and goes on a shared machine weighs on every size. For each size and backend, on its copy:

    monthly_reports   last month's reports issued on the copy (in process, before the servers
                  start), as a server's report schedule does on its first tick: each reads the
                  history up to the month's end (seconds; it grows with the history)
    disk          bytes per incident: the event store, the views, the ledger; and what a VACUUM
                  would give back (SQLite's free pages; PostgreSQL's dead rows)
    startup       `itsm serve` started to /readyz answering 200 (it must not replay history)
    get           p99 of GET /incidents/{number} (random, all over the history)
    queue         p99 of GET /queues?group=&limit=500 (the team's 500 open incidents)
    list_walk     p99 of walking GET /incidents?group= in 5 pages of 100 (the same 500)
    list_status   the same walk with &status=in_progress
    sla_clocks    p99 of GET /sla/clocks?limit=200
    search        p99 of GET /search?q=<a word in a fifth of the titles>
    rest_4, rest_32   the incident lifecycle over REST at 4 and 32 clients (benchmarks/loadgen.py):
                  the median of --rest-rounds rounds, each round's rate beside it
    watcher       the SLA watcher's tick: the first after a start (judges every open ticket) and
                  an idle one, in ms
    follow        the ledger's and the projections' cost per new event: 300 new incidents'
                  events appended, then each follower catches up (us per event)
    catch_up      --import-incidents incidents written as `itsm import` writes them, then the
                  views catch up as the next start does (events/s)
    rebuild       every view rebuilt in shadows in one pass over the store while reads go on
                  (projections/shadow.py), against a bare read-and-decode of the same store;
                  and incident_details rebuilt alone

Bounds (issue 23, "Costs that must stay flat"), each judged against the smallest size of the
same backend: start-up and every read's p99 within 2x; REST rates at least 0.8; the watcher's
idle tick and the followers' cost per event within 2x; catch-up at least 0.7 of the rebuild
rate of the same size; a full rebuild at least 0.7 of the bare read-and-decode rate. Prints one
JSON object per line (stdout, and --out) and a table (stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg

from benchmarks._expect import expect
from benchmarks._report import Report, rounded, say
from benchmarks.checkouts import HERE
from benchmarks.imports import read_and_decode
from benchmarks.loadgen import percentile
from benchmarks.rest import itsm_server, run_loadgen
from benchmarks.scale_history import (
    AGENT,
    PER_DAY,
    QUEUE,
    QUEUE_GROUP,
    directory,
    write_incidents,
)
from cli.progress import shown
from infra.postgres_server import PostgresServer
from infra.settings import Settings
from processes.reports.issue import ReportSchedule
from processes.sla_watch import SlaWatcher
from projections import PROJECTIONS
from projections.incident_details import incident_details
from projections.incident_details import incidents as incident_view
from projections.shadow import rebuild_all_in_shadow, rebuild_in_shadow
from service.bootstrap import Services, build

ROOT = Path(__file__).resolve().parent.parent
ITSM = Path(sys.prefix) / "bin" / "itsm"
SEARCH_WORD = "printer"
WARM_UP_S = 5.0
READ_BOUND = 2.0
RATE_BOUND = 0.8
CATCH_UP_BOUND = 0.7
REBUILD_BOUND = 0.7
#: What the measured servers run besides `itsm serve`'s defaults. The report schedule is off: on
#: a working copy whose last month has no issued reports (every copy, once a month has turned
#: since the history was built), a server's first tick issues them, reading the whole history
#: in the server's own process (3.6 million events at 500k: a minute and more of the GIL), and
#: that landed in the reads and REST windows of the larger sizes only (GET p99 1,477 ms at 500k,
#: REST at 0.25-0.34 of 10k on PostgreSQL). It is a monthly job, not a request's cost: it is
#: measured on its own, before the servers start (`monthly_reports`).
SERVER_ENV = {"ITSM_REPORT_SCHEDULE_INTERVAL": "0"}


# -- where a history lives -------------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    cache: Path
    server: PostgresServer | None = None

    def settings(self, data_dir: Path, database: str | None) -> Settings:
        url = None if database is None else self.url(database)
        return Settings(data_dir=data_dir, database_url=url)

    def url(self, database: str, user: str = "itsm") -> str:
        assert self.server is not None
        assert self.server.port is not None
        return f"postgresql://{user}@127.0.0.1:{self.server.port}/{database}"

    def env(self, database: str | None) -> dict[str, str]:
        return (
            SERVER_ENV
            if database is None
            else {**SERVER_ENV, "ITSM_DATABASE_URL": self.url(database)}
        )

    def home(self, size: int) -> Path:
        return self.cache / f"{self.name}-{size}"

    def built(self, size: int) -> dict[str, Any] | None:
        meta = self.home(size) / "meta.json"
        return orjson.loads(meta.read_bytes()) if meta.exists() else None

    def ensure(self, size: int) -> dict[str, Any]:
        """The cached history of `size` incidents, built first if it is not there."""
        found = self.built(size)
        if found is not None:
            say(f"{self.name} {size:,}: the cached history ({found['events']:,} events)")
            # what this code's start would do to it once (an index added, a view whose fold
            # version changed rebuilt), done to the cache, not to every working copy
            build(self.settings(self.home(size) / "var", found["database"])).close()
            return found
        home = self.home(size)
        shutil.rmtree(home, ignore_errors=True)
        database = None
        if self.server is not None:
            database = f"scale_{size}"
            self._drop(database)
            self._admin(f'CREATE DATABASE "{database}" OWNER itsm')
        say(f"{self.name} {size:,}: building the history")
        meta = build_history(self.settings(home / "var", database), size)
        meta["database"] = database
        (home / "meta.json").write_bytes(orjson.dumps(meta))
        return meta

    @contextlib.contextmanager
    def copy(self, size: int, meta: dict[str, Any]) -> Iterator[tuple[Path, str | None]]:
        """A working copy of the cached history: its data directory and database."""
        work = self.cache / f"work-{self.name}-{size}"
        shutil.rmtree(work, ignore_errors=True)
        started = time.perf_counter()
        shutil.copytree(self.home(size) / "var", work / "var")
        database = None
        if self.server is not None:
            database = f"scale_{size}_work"
            self._drop(database)
            # FILE_COPY: the files copied between two checkpoints, not every page written to the
            # WAL (the default since PostgreSQL 15), whose gigabytes at 500k set off checkpoints
            # that went on into the measurements
            self._admin(
                f'CREATE DATABASE "{database}" TEMPLATE "{meta["database"]}" OWNER itsm'
                " STRATEGY FILE_COPY"
            )
        say(f"{self.name} {size:,}: working copy made in {time.perf_counter() - started:.1f} s")
        try:
            yield work / "var", database
        finally:
            if database is not None:
                self._drop(database)
            shutil.rmtree(work, ignore_errors=True)

    def _admin(self, statement: str) -> None:
        with psycopg.connect(self.url("postgres", "postgres"), autocommit=True) as conn:
            conn.execute(statement)

    def _drop(self, database: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def build_history(settings: Settings, size: int) -> dict[str, Any]:
    """Write the history, fold it into the views, chain it into the ledger; what it took."""
    started = time.perf_counter()
    services = build(settings)
    try:
        directory(services)
        with shown("incidents", every=10.0) as bar:
            write_incidents(services, size, progress=lambda done: bar("written", done, size))
        written = time.perf_counter() - started
        events = services.desk.recorder.max_notification_id() or 0
        say(f"  {events:,} events in {written:.0f} s; the views catch up")
        with shown("positions", every=10.0) as bar:
            services.runner.catch_up(lambda at, head: bar("views", at, head, phase="views"))
            bar.note("  a first SLA watch (the open tickets' alerts), and the ledger")
            SlaWatcher(services).tick()
            services.runner.catch_up()
            assert services.audit is not None
            services.audit.ledger.catch_up(lambda at, head: bar("ledger", at, head, "ledger"))
        events = services.desk.recorder.max_notification_id() or 0
    finally:
        services.close()
    return {
        "incidents": size,
        "events": events,
        "build_s": round(time.perf_counter() - started, 1),
        "write_s": round(written, 1),
        "built_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


# -- the server and its reads ----------------------------------------------------------------------


def token(data_dir: Path, env: dict[str, str], role: str = "agent", *extra: str) -> str:
    done = subprocess.run(
        [
            *(str(ITSM), "tokens", "create", "--data-dir", str(data_dir), "--actor", AGENT.id),
            *("--role", role, *extra),
        ],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


@contextlib.contextmanager
def serving(
    data_dir: Path, env: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[bytes], int, float]]:
    """`itsm serve` on the copy: the process, its port and the seconds to /readyz 200."""
    started = time.perf_counter()
    log_path = data_dir.parent / "server.log"
    with itsm_server(HERE, data_dir, log_path, 1, env=env, patience=600) as (proc, port):
        yield proc, port, time.perf_counter() - started


class Reader:
    """One keep-alive connection; each read checked for what it must hold."""

    def __init__(self, port: int, bearer: str) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {bearer}"}

    def get(self, what: str, path: str) -> Any:
        try:
            self.conn.request("GET", path, headers=self.headers)
            answer = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # the server closed a keep-alive connection idle past its timeout (5 s): a client
            # connects again, as this one does, once
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.conn.request("GET", path, headers=self.headers)
            answer = self.conn.getresponse()
        body = answer.read()
        expect(what, answer.status, {200}, body)
        return orjson.loads(body)

    def close(self) -> None:
        self.conn.close()


class Reads:
    """The reads of one server, each checked for what it must hold: one round reads each once,
    timed; the sizes' rounds are interleaved, so a load that comes and goes weighs on all."""

    def __init__(self, port: int, agent: str, everyone: str, size: int) -> None:
        self.office, self.all_orgs = Reader(port, agent), Reader(port, everyone)
        self.size = size
        self.rng = random.Random(size)
        self.measures: dict[str, Callable[[], None]] = {
            "get": self.get_one,
            "queue": self.queue,
            "list_walk": self.walk(""),
            "list_status": self.walk("&status=in_progress"),
            "sla_clocks": self.clocks,
            "search": self.search,
        }
        self.timings: dict[str, list[float]] = {name: [] for name in self.measures}

    def get_one(self) -> None:
        number = self.rng.randrange(1, self.size + 1)
        body = self.all_orgs.get("get one", f"/api/v1/incidents/INC-{number:06d}")
        assert body["number"] == number, body.get("number")

    def queue(self) -> None:
        body = self.office.get("queue", f"/api/v1/queues?group={QUEUE_GROUP}&limit=500")
        assert len(body["queues"][0]["items"]) == QUEUE, len(body["queues"][0]["items"])

    def walk(self, extra: str) -> Callable[[], None]:
        def run() -> None:
            seen, cursor = 0, None
            for _ in range(5):
                tail = f"&cursor={cursor}" if cursor else ""
                path = f"/api/v1/incidents?group={QUEUE_GROUP}{extra}&limit=100{tail}"
                body = self.office.get("list walk", path)
                seen += len(body["items"])
                cursor = body["next_cursor"]
            assert seen == QUEUE, seen

        return run

    def clocks(self) -> None:
        body = self.office.get("sla clocks", "/api/v1/sla/clocks?limit=200")
        assert body["items"], "no clocks"

    def search(self) -> None:
        body = self.office.get("search", f"/api/v1/search?q={SEARCH_WORD}")
        assert body["items"], "nothing found"

    def warm_up(self) -> None:
        """The first seconds after /readyz hold the SLA watcher's first tick (it judges every
        open ticket) and the caches filling; a read's p99 is of the steady state."""
        settle = time.monotonic() + WARM_UP_S
        while time.monotonic() < settle:
            for read in self.measures.values():
                read()

    def round(self) -> None:
        for name, read in self.measures.items():
            started = time.perf_counter()
            read()
            self.timings[name].append(time.perf_counter() - started)

    def figures(self) -> dict[str, Any]:
        self.office.close()
        self.all_orgs.close()
        figures = {}
        for name, seconds in self.timings.items():
            ordered = sorted(seconds)
            figures[name] = {
                "p50_ms": rounded(percentile(ordered, 0.5) * 1000, 2),
                "p99_ms": rounded(percentile(ordered, 0.99) * 1000, 2),
            }
        return figures


def rest_rates(
    port: int, proc: subprocess.Popen[bytes], bearer: str, args: argparse.Namespace
) -> dict[str, Any]:
    figures = {}
    for clients in (4, 32):
        done = run_loadgen(
            {
                "port": port,
                "token": bearer,
                "clients": clients,
                "server_pid": proc.pid,
                "scenario": "incident",
                "warmup": args.warmup,
                "duration": args.duration,
            }
        )
        figures[f"rest_{clients}"] = {
            "rate": done["rate"],
            "p99_ms": done["p99_ms"],
            "server_ms_per_request": done["cpu"].get("server_ms_per_request"),
        }
    return figures


# -- in-process measures on the copy ---------------------------------------------------------------


def disk(data_dir: Path, database: str | None, backend: Backend, size: int) -> dict[str, Any]:
    parts: dict[str, int] = {}
    free = 0
    for path in sorted(data_dir.rglob("*")):
        if path.is_file():
            parts[path.name] = parts.get(path.name, 0) + path.stat().st_size
    if database is None:
        import sqlite3

        for name in ("events.db", "views.db", "audit.db"):
            path = data_dir / name
            if path.exists():
                with contextlib.closing(sqlite3.connect(path)) as conn:
                    free += (
                        conn.execute("PRAGMA freelist_count").fetchone()[0]
                        * conn.execute("PRAGMA page_size").fetchone()[0]
                    )
        total = sum(parts.values())
        return {
            "bytes_per_incident": round(total / size),
            "files": {k: v for k, v in parts.items() if v > 1_000_000},
            "vacuum_would_free_bytes": free,
        }
    with psycopg.connect(backend.url(database)) as conn:
        total = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
        rows = conn.execute(
            "SELECT relname, pg_total_relation_size(relid), n_dead_tup FROM pg_stat_user_tables"
        ).fetchall()
    groups: dict[str, int] = {}
    dead = 0
    for name, bytes_, dead_rows in rows:
        group = (
            "views"
            if name.startswith("view_")
            else "audit"
            if "audit" in name or "ledger" in name
            else name
        )
        groups[group] = groups.get(group, 0) + bytes_
        dead += dead_rows
    return {
        "bytes_per_incident": round(total / size),
        "tables": {k: v for k, v in groups.items() if v > 1_000_000},
        "dead_rows": dead,
        "data_dir_bytes": sum(parts.values()),
    }


def monthly_reports(settings: Settings) -> dict[str, Any]:
    """Last month's reports, issued on the copy as the server's report schedule would issue them
    on its first tick (processes/reports/issue.py): each reads the history up to the month's end,
    so it grows with the history. Done here, timed, so that the servers' reads measure a steady
    state rather than a server whose background thread is still reading its whole history (it
    held the GIL most of the first minute at 500k: GET p50 1.6 -> 7.7 ms, p99 2.1 s)."""
    services = build(settings)
    try:
        started = time.perf_counter()
        issued = ReportSchedule(services).tick()
        took = time.perf_counter() - started
    finally:
        services.close()
    return {"issued": len(issued), "seconds": rounded(took, 1)}


def watch(settings: Settings) -> dict[str, Any]:
    """The SLA watcher's first tick after a start (it judges every open ticket) and an idle one."""
    services = build(settings)
    try:
        watcher = SlaWatcher(services)
        started = time.perf_counter()
        first = watcher.tick()
        first_s = time.perf_counter() - started
        services.runner.catch_up()
        idle_s = []
        for _ in range(5):
            started = time.perf_counter()
            idle = watcher.tick()
            idle_s.append(time.perf_counter() - started)
    finally:
        services.close()
    return {
        "first_tick_ms": rounded(first_s * 1000, 1),
        "idle_tick_ms": rounded(min(idle_s) * 1000, 1),
        "watched": idle.watched,
        "judged_first": first.judged,
    }


def in_process(settings: Settings, args: argparse.Namespace, size: int) -> dict[str, Any]:
    services = build(settings)
    figures: dict[str, Any] = {}
    try:
        assert services.audit is not None
        services.audit.ledger.catch_up()
        services.runner.catch_up()
        figures["follow"] = follow(services, size)
        figures["catch_up"] = catch_up(services, size, args.import_incidents)
        if not args.skip_rebuild:
            figures["rebuild"] = rebuild(services)
    finally:
        services.close()
    return figures


def follow(services: Services, size: int) -> dict[str, Any]:
    """New events, then each follower catches up with them alone: its cost per new event."""
    assert services.audit is not None
    head = services.desk.recorder.max_notification_id() or 0
    write_incidents(services, 300, seed=99, first=size + 20_000, total=size + 20_300, queue=False)
    new = (services.desk.recorder.max_notification_id() or 0) - head
    started = time.perf_counter()
    services.audit.ledger.catch_up()
    ledger_s = time.perf_counter() - started
    started = time.perf_counter()
    services.runner.catch_up()
    views_s = time.perf_counter() - started
    return {
        "new_events": new,
        "ledger_us_per_event": rounded(ledger_s / new * 1e6, 1),
        "views_us_per_event": rounded(views_s / new * 1e6, 1),
    }


def catch_up(services: Services, size: int, incidents: int) -> dict[str, Any]:
    """An import's incidents written while the views do not follow, then the views' catch-up."""
    head = services.desk.recorder.max_notification_id() or 0
    write_incidents(
        services,
        incidents,
        seed=77,
        first=size + 30_000,
        total=size + 30_000 + incidents,
        queue=False,
    )
    new = (services.desk.recorder.max_notification_id() or 0) - head
    started = time.perf_counter()
    services.runner.catch_up()
    took = time.perf_counter() - started
    return {
        "incidents": incidents,
        "events": new,
        "seconds": rounded(took, 2),
        "events_per_s": round(new / took),
    }


def rebuild(services: Services) -> dict[str, Any]:
    """Every view rebuilt in shadows, in one pass, while a reader keeps reading the live views;
    against a bare read-and-decode of the same store."""
    started = time.perf_counter()
    count = read_and_decode(services)
    bare = count / (time.perf_counter() - started)
    stop = threading.Event()
    latencies: list[float] = []
    failures: list[str] = []

    def reader() -> None:
        ctx = services.system_context()
        rng = random.Random(1)
        head = 1_000
        while not stop.is_set():
            number = rng.randrange(1, head)
            began = time.perf_counter()
            try:
                row = incident_view.by(services.views, ctx, "number", number)
            except Exception as error:  # a read the rebuild broke: the bound fails
                failures.append(repr(error))
                continue
            latencies.append(time.perf_counter() - began)
            if row is None:
                failures.append(f"INC-{number:06d} missing")
            time.sleep(0.005)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    started = time.perf_counter()
    try:
        with shown("positions", every=10.0) as bar:
            read = rebuild_all_in_shadow(
                services.desk.recorder,
                services.desk.mapper,
                services.views,
                PROJECTIONS,
                lambda at, now: bar("rebuild", at, now),
            )
    finally:
        stop.set()
        thread.join()
    took = time.perf_counter() - started
    started = time.perf_counter()
    one = rebuild_in_shadow(
        services.desk.recorder, services.desk.mapper, services.views, incident_details
    )
    one_s = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "incident_details_events_per_s": round(one / one_s),
        "incident_details_ratio": rounded(one / one_s / bare, 3),
        "views": len(PROJECTIONS),
        "read_decode_events_per_s": round(bare),
        "events": read,
        "seconds": rounded(took, 1),
        "events_per_s": round(read / took),
        "ratio": rounded(read / took / bare, 3),
        "reads_during": len(latencies),
        "read_failures": len(failures),
        "first_failure": failures[0] if failures else None,
        "read_p99_ms": rounded(percentile(ordered, 0.99) * 1000, 2) if ordered else None,
    }


# -- one size on one backend, and the judgement ----------------------------------------------------


@dataclass
class Site:
    """One size's working copy, its tokens and (while it runs) its server."""

    size: int
    line: dict[str, Any]
    data_dir: Path
    database: str | None
    env: dict[str, str]
    agent: str
    everyone: str
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0


def measure(
    backend: Backend, sizes: list[int], args: argparse.Namespace, report: Report
) -> list[dict[str, Any]]:
    """Every size of one backend: their copies made side by side, their servers started one
    after the other and then all running, the reads and the REST windows interleaved size by
    size, round by round; then each copy's in-process measures."""
    with contextlib.ExitStack() as copies:
        sites = []
        for size in sizes:
            meta = backend.ensure(size)
            data_dir, database = copies.enter_context(backend.copy(size, meta))
            env = backend.env(database)
            line: dict[str, Any] = {
                "backend": backend.name,
                "incidents": size,
                "events": meta["events"],
                "days": round(size / PER_DAY),
                "build_s": meta["build_s"],
                "disk": disk(data_dir, database, backend, size),
                "monthly_reports": monthly_reports(backend.settings(data_dir, database)),
                "watcher": watch(backend.settings(data_dir, database)),
            }
            agent = token(data_dir, env)
            everyone = token(data_dir, env, "agent", "--all-organisations")
            sites.append(Site(size, line, data_dir, database, env, agent, everyone))
        with contextlib.ExitStack() as servers:
            for site in sites:
                site.proc, site.port, ready_s = servers.enter_context(
                    serving(site.data_dir, site.env)
                )
                site.line["startup_s"] = rounded(ready_s, 2)
                say(f"{backend.name} {site.size:,}: ready in {ready_s:.2f} s")
            say(f"{backend.name}: reads, {args.samples} rounds, the sizes interleaved")
            readers = [Reads(s.port, s.agent, s.everyone, s.size) for s in sites]
            for reader in readers:
                reader.warm_up()
            for _ in range(args.samples):
                for reader in readers:
                    reader.round()
            for site, reader in zip(sites, readers, strict=True):
                site.line["reads"] = reader.figures()
            if not args.skip_rest:
                rest_rounds(backend, sites, args)
        for site in sites:
            if not args.skip_in_process:
                say(f"{backend.name} {site.size:,}: followers, catch-up, rebuild")
                settings = backend.settings(site.data_dir, site.database)
                site.line.update(in_process(settings, args, site.size))
            report.emit("scale", **site.line)
    return [site.line for site in sites]


def rest_rounds(backend: Backend, sites: list[Site], args: argparse.Namespace) -> None:
    """The REST windows, round by round, the sizes in turn (in alternate order); each size's
    rate is the median of its rounds, each round's beside it."""
    samples: dict[int, list[dict[str, Any]]] = {site.size: [] for site in sites}
    for r in range(args.rest_rounds):
        say(f"{backend.name}: REST round {r + 1}/{args.rest_rounds} at 4 and 32 clients")
        for site in sites if r % 2 == 0 else sites[::-1]:
            assert site.proc is not None
            samples[site.size].append(rest_rates(site.port, site.proc, site.agent, args))
    for site in sites:
        for clients in ("rest_4", "rest_32"):
            rounds = [sample[clients] for sample in samples[site.size]]
            site.line[clients] = {
                "rate": statistics.median(x["rate"] for x in rounds),
                "rounds": [x["rate"] for x in rounds],
                "p99_ms": statistics.median(x["p99_ms"] for x in rounds),
                "server_ms_per_request": statistics.median(
                    x["server_ms_per_request"] or 0 for x in rounds
                ),
            }


def verdict(
    backend: str, size: int, what: str, value: float | None, limit: float, above: bool
) -> dict[str, Any]:
    ok = value is not None and (value >= limit if above else value <= limit)
    return {
        "backend": backend,
        "incidents": size,
        "bound": what,
        "value": value,
        "limit": f"{'>=' if above else '<='} {limit}",
        "verdict": "PASS" if ok else "FAIL",
    }


def grows(value: float | None, base_value: float | None) -> float | None:
    return None if value is None or not base_value else rounded(value / base_value, 2)


def judge(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each bound, per backend, of each size against the smallest."""
    verdicts = []
    for backend in sorted({line["backend"] for line in lines}):
        mine = sorted((x for x in lines if x["backend"] == backend), key=lambda x: x["incidents"])
        base = mine[0]
        for line in mine:
            size = line["incidents"]
            checks: list[tuple[str, float | None, float, bool]] = []
            if line is not base:
                checks.append(
                    ("startup x", grows(line["startup_s"], base["startup_s"]), READ_BOUND, False)
                )
                for name in line["reads"]:
                    growth = grows(line["reads"][name]["p99_ms"], base["reads"][name]["p99_ms"])
                    checks.append((f"{name} p99 x", growth, READ_BOUND, False))
                for clients in ("rest_4", "rest_32"):
                    if clients in line and clients in base:
                        ratio = grows(line[clients]["rate"], base[clients]["rate"])
                        checks.append((f"{clients} rate x", ratio, RATE_BOUND, True))
                idle = grows(line["watcher"]["idle_tick_ms"], base["watcher"]["idle_tick_ms"])
                checks.append(("watcher idle tick x", idle, READ_BOUND, False))
                for what in ("ledger_us_per_event", "views_us_per_event"):
                    if "follow" in line:
                        growth = grows(line["follow"][what], base["follow"][what])
                        checks.append((f"{what} x", growth, READ_BOUND, False))
            if "rebuild" in line:
                rebuilt = line["rebuild"]
                checks += [
                    ("rebuild / read-decode", rebuilt["ratio"], REBUILD_BOUND, True),
                    (
                        "catch-up / rebuild",
                        grows(line["catch_up"]["events_per_s"], rebuilt["events_per_s"]),
                        CATCH_UP_BOUND,
                        True,
                    ),
                    ("reads failed during rebuild", rebuilt["read_failures"], 0, False),
                ]
            verdicts += [verdict(backend, size, *check) for check in checks]
    return verdicts


def read_figure(name: str, figure: str) -> Callable[[dict[str, Any]], Any]:
    """How the table reads one figure of one read (`name`) from a size's line."""
    return lambda line: line["reads"][name][figure]


def table(lines: list[dict[str, Any]]) -> str:
    columns = [f"{x['backend'][:2]} {x['incidents'] // 1000}k" for x in lines]

    def row(label: str, get: Callable[[dict[str, Any]], Any]) -> str:
        cells = []
        for line in lines:
            try:
                value = get(line)
            except (KeyError, TypeError):
                value = None
            cells.append(
                "-" if value is None else f"{value:,}" if isinstance(value, int) else f"{value}"
            )
        return f"{label:<28}" + "".join(f"{c:>13}" for c in cells)

    rows = [
        f"{'measure':<28}" + "".join(f"{c:>13}" for c in columns),
        row("events", lambda x: x["events"]),
        row("bytes / incident", lambda x: x["disk"]["bytes_per_incident"]),
        row("start-up to /readyz s", lambda x: x["startup_s"]),
    ]
    for name in ("get", "queue", "list_walk", "list_status", "sla_clocks", "search"):
        for q in ("p50", "p99"):
            rows.append(row(f"{name} {q} ms", read_figure(name, f"{q}_ms")))
    rows += [
        row("REST 4 clients cmd/s", lambda x: x["rest_4"]["rate"]),
        row("REST 32 clients cmd/s", lambda x: x["rest_32"]["rate"]),
        row("monthly reports s", lambda x: x["monthly_reports"]["seconds"]),
        row("watcher first tick ms", lambda x: x["watcher"]["first_tick_ms"]),
        row("watcher idle tick ms", lambda x: x["watcher"]["idle_tick_ms"]),
        row("ledger us / new event", lambda x: x["follow"]["ledger_us_per_event"]),
        row("views us / new event", lambda x: x["follow"]["views_us_per_event"]),
        row("catch-up ev/s", lambda x: x["catch_up"]["events_per_s"]),
        row("read-decode ev/s", lambda x: x["rebuild"]["read_decode_events_per_s"]),
        row("rebuild all ev/s", lambda x: x["rebuild"]["events_per_s"]),
        row("rebuild / read-decode", lambda x: x["rebuild"]["ratio"]),
        row("incident_details alone ev/s", lambda x: x["rebuild"]["incident_details_events_per_s"]),
        row("  / read-decode", lambda x: x["rebuild"]["incident_details_ratio"]),
        row("reads during rebuild", lambda x: x["rebuild"]["reads_during"]),
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,500000")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--cache-dir", type=Path, default=Path("/var/tmp/itsm-scale"))
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rest-rounds", type=int, default=3)
    parser.add_argument("--import-incidents", type=int, default=10_000)
    parser.add_argument("--skip-rest", action="store_true")
    parser.add_argument("--skip-rebuild", action="store_true")
    parser.add_argument(
        "--skip-in-process", action="store_true", help="no follow, catch-up or rebuild figures"
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--build-only", action="store_true", help="build (or find) the cached histories, no more"
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    names = args.backends.split(",")
    cache = args.cache_dir.absolute()
    cache.mkdir(parents=True, exist_ok=True)
    cache.chmod(0o755)
    report = Report(args.out)
    report.emit(
        "machine",
        cores=os.cpu_count(),
        load_average=os.getloadavg(),
        python=sys.version.split()[0],
        started=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        commit=subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip(),
    )
    server = None
    backends = []
    try:
        for name in names:
            if name == "postgres":
                server = PostgresServer(cache / "pg")
                say(f"the cache's PostgreSQL server ({cache / 'pg'})")
                server.up()
                backends.append(Backend(name, cache, server))
            elif name == "sqlite":
                backends.append(Backend(name, cache))
            else:
                parser.error(f"no backend {name!r}: sqlite or postgres")
        if args.build_only:
            for size in sizes:
                for backend in backends:
                    report.emit("history", backend=backend.name, **backend.ensure(size))
            return
        lines = []
        for backend in backends:
            lines += measure(backend, sizes, args, report)
        verdicts = judge(lines)
        for verdict in verdicts:
            report.emit("bound", **verdict)
        print(table(lines), file=sys.stderr)
        for v in verdicts:
            print(
                f"{v['verdict']}  {v['backend']:<8} {v['incidents']:>7,}  {v['bound']:<28}"
                f" {v['value']} ({v['limit']})",
                file=sys.stderr,
            )
        failed = [v for v in verdicts if v["verdict"] == "FAIL"]
        report.emit("summary", bounds=len(verdicts), failed=len(failed))
    finally:
        report.close()
        if server is not None:
            server.down()


if __name__ == "__main__":
    main()
