"""Foundation benchmark: the write side against the eventsourcing baseline, the REST API over
HTTP for every record kind, and the projection rebuild against a bare read-and-decode.

    .venv/bin/python -m benchmarks.foundation [--quick] [--clients 32] [--duration 10] [--out F]
                                              [--lines incident,request,change,problem]
                                              [--rest-rounds 3] [--baseline DIR]
                                              [--postgres | --database-url URL]
                                              [--unsealed]

Every measurement runs in this one invocation, each on a fresh temporary data directory, so the
ratios between them mean something on a noisy shared machine even when absolute figures do not.
One JSON object per line goes to stdout (and to --out); progress goes to stderr.

With --postgres (a local server started for the run) or --database-url (a server whose role may
create databases), the in-process measurements (a, b, d, e) run on PostgreSQL too, each on a
fresh database, interleaved with the SQLite ones; every such line says its `backend`, and a table
of both side by side goes to stderr at the end. (c) stays on SQLite.

    a          eventsourcing's bare Application saving trivial aggregates (the baseline)
    b_log      ServiceDesk.log_incident, projections not running (write side only, like a)
    b_mix      log, assign, start-work, add-work-note, resolve per incident; each command counted
    b_follow   log_incident with the projection runner following the store (information)
    c_ceiling  GET /healthz at the same concurrency: what the HTTP stack alone does (information)
    c_rest     the incident lifecycle over REST against `itsm serve`, from a separate process
               (rest.py runs the windows, loadgen.py is the client, lifecycles.py the steps)
    c_request  the service request lifecycle, likewise; also its ratio to c_rest, and (as
               information on a shared machine, where the rate depends on the CPU the others
               leave) the ratio of the commands each does per second of the server's CPU
    c_change   the standard change lifecycle, likewise
    c_problem  the problem lifecycle, likewise
    d          projection rebuild: reset both projections, a fresh runner's catch_up()
    e          bare read-and-decode of the same notifications (the ceiling for d)

a, b_log and b_mix run in interleaved rounds and report the best round; d and e alternate
(e, d, e, d, ...) on the same data and report the best of each. The REST lines run in
interleaved rounds too (incident, request, change, problem, incident, ...), each window on a
fresh server, and report the best round: on a shared machine other work only ever slows a window
down, so the best is the closest to the code's own rate (every round's rate and the median are in
the line as well).

With --baseline DIR (another checkout of this repository with its own .venv), the REST windows
alternate between this checkout's `itsm serve` and the baseline's, each line gets an after /
before ratio (`c_before_after`), and the in-process part runs as each checkout's own
`benchmarks.foundation` in alternate subprocess rounds (`inprocess` lines; checkouts.py).

With --unsealed, the same code runs with sealing off (ITSM_AUDIT_SEAL=false) beside it: the REST
windows alternate between a sealed and an unsealed `itsm serve` (the "unsealed" checkout; the
`c_before_after` line's ratios are sealed / unsealed), and b_log and b_mix run unsealed in the same
rounds (`b_log_unsealed`, `b_mix_unsealed`, and `sealed_over_unsealed`).

An answer a line did not expect voids that line (no figure, no further rounds); the other lines,
each on its own server, go on, and the run exits non-zero naming every void line.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.metadata
import inspect
import math
import os
import platform
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate as BareAggregate
from psycopg import sql

from application.desk import ServiceDesk
from domain.commands import (
    AddWorkNote,
    Assign,
    IncidentCommand,
    LogIncident,
    ResolveIncident,
    StartWork,
)
from domain.context import Context
from domain.incident import ResolutionCode
from domain.priority import Impact, Urgency
from infra.clock import utcnow
from infra.postgres_server import PostgresServer
from infra.settings import Settings
from projections import PROJECTIONS
from projections.incident_details import incident_details
from projections.runner import ProjectionRunner
from service.bootstrap import Services, build
from service.stores import event_store_env
from tests.directory_helpers import hold

from ._expect import UnexpectedAnswer
from ._report import Report, fresh_dir, ratio, rounded, say
from .checkouts import (
    HERE,
    MEASURES,
    ROOT,
    Checkout,
    best_with_ratios,
    commit_of,
    flags_of,
    inprocess_argv,
    measure_inprocess,
)
from .lifecycles import GROUP, INCIDENT, LIFECYCLES
from .rest import (
    AGENT,
    TARGET_KIND_RATIO,
    TARGET_REST_BEFORE_RATIO,
    RestPlan,
    RestRounds,
    bench_rest,
    line_label,
    rest_lines,
    rest_table,
    rest_window,
)

TARGET_WRITE_RATIO = 0.8  # b / a
TARGET_REST_RATE = 800.0  # commands/s ...
TARGET_REST_P99_MS = 50.0  # ... with p99 under this ...
TARGET_REST_CLIENTS = 32  # ... at this many concurrent clients
TARGET_REBUILD_RATIO = 0.7  # d / e
TARGET_SEALED_RATIO = 0.95  # REST incident line sealed / unsealed: sealing costs at most 5%
COMMANDS_PER_INCIDENT = 5  # log, assign, start-work, add-work-note, resolve
REBUILD_BATCH: int = inspect.signature(ProjectionRunner).parameters["batch_size"].default


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new empty database on a PostgreSQL server (its URL), dropped afterwards."""
    name = f"itsm_bench_{uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass(frozen=True)
class Backend:
    """Where an in-process measurement keeps its store: SQLite files in a fresh temporary
    directory, or a fresh database on a PostgreSQL server."""

    name: str  # "sqlite" or "postgres", as the report lines say
    base: str | None  # where the temporary directories go [system temp]
    server_url: str | None = None

    @contextlib.contextmanager
    def settings(self, label: str) -> Iterator[Settings]:
        with fresh_dir(label, self.base) as tmp:
            if self.server_url is None:
                yield Settings(data_dir=tmp / "var")
            else:
                with fresh_database(self.server_url) as url:
                    yield Settings(data_dir=tmp / "var", database_url=url)


def head(desk: ServiceDesk) -> int:
    return desk.recorder.max_notification_id() or 0


# -- (a) the baseline: eventsourcing's bare Application -------------------------------------------


class Thing(BareAggregate):
    """The baseline's trivial aggregate, created with one attribute."""

    def __init__(self, name: str) -> None:
        self.name = name


def bench_baseline(n: int, warmup: int, backend: Backend) -> float:
    with backend.settings("a") as settings:
        if settings.database_url is None:
            settings.data_dir.mkdir(parents=True)
            env = {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(settings.data_dir / "es.db"),
            }
        else:  # the service's own connection settings, with the library's default mapper
            env = {k: v for k, v in event_store_env(settings).items() if k != "MAPPER_TOPIC"}
        app: Application[Any] = Application(env=env)
        try:
            for i in range(warmup):
                app.save(Thing(name=f"warm-{i}"))
            started = time.perf_counter()
            for i in range(n):
                app.save(Thing(name=f"thing-{i}"))
            elapsed = time.perf_counter() - started
        finally:
            app.close()
    return n / elapsed


# -- (b) our commands in-process ------------------------------------------------------------------


def context() -> Context:
    return Context(actor=AGENT, at=utcnow(), correlation_id=uuid4())


def log_command(i: int) -> LogIncident:
    """As at a service desk: logged first, assigned by a later command."""
    return LogIncident(
        title=f"Catalogue terminal {i} frozen",
        service="catalogue-search",
        caller="budi.santoso",
        impact=Impact.MEDIUM,
        urgency=Urgency.HIGH,
    )


def lifecycle(i: int) -> list[IncidentCommand]:
    return [
        Assign(group=GROUP),
        StartWork(),
        AddWorkNote(text=f"Rebooted terminal {i}; checking the catalogue client."),
        ResolveIncident(
            code=ResolutionCode.FIXED, notes="Client cache cleared; the terminal works again."
        ),
    ]


def run_logs(desk: ServiceDesk, count: int, first: int = 0) -> int:
    for i in range(first, first + count):
        desk.log_incident(context(), log_command(i))
    return count


def run_mix(desk: ServiceDesk, incidents: int, first: int = 0) -> int:
    """Each incident's whole lifecycle, one command after another; the number of commands."""
    for i in range(first, first + incidents):
        outcome = desk.log_incident(context(), log_command(i))
        for command in lifecycle(i):
            desk.handle(context(), outcome.record_id, command)
    return incidents * COMMANDS_PER_INCIDENT


@contextlib.contextmanager
def desk_services(
    label: str, backend: Backend, *, follow: bool = False, seal: bool = True
) -> Iterator[Services]:
    with backend.settings(label) as settings:
        services = build(settings.model_copy(update={"audit_seal": seal}))
        try:
            hold(services, {GROUP: ()}, people=())  # the group work is assigned to
            if follow:
                services.start()
            yield services
        finally:
            services.close()


@dataclass
class WriteRate:
    commands: int
    events: int
    seconds: float
    #: CPU seconds this process spent (on a shared machine, steadier than the wall clock)
    cpu: float = math.nan

    @property
    def rate(self) -> float:
        return self.commands / self.seconds

    @property
    def cpu_ms(self) -> float:
        """CPU milliseconds per command."""
        return self.cpu / self.commands * 1000


def timed_writes(desk: ServiceDesk, work: Callable[[], int]) -> WriteRate:
    first = head(desk)
    started, cpu = time.perf_counter(), time.process_time()
    commands = work()
    elapsed = time.perf_counter() - started
    return WriteRate(commands, head(desk) - first, elapsed, time.process_time() - cpu)


def bench_log(n: int, warmup: int, backend: Backend, *, seal: bool = True) -> WriteRate:
    with desk_services("b-log", backend, seal=seal) as services:
        desk = services.desk
        run_logs(desk, warmup, first=n)
        return timed_writes(desk, lambda: run_logs(desk, n))


def bench_mix(n: int, warmup: int, backend: Backend, *, seal: bool = True) -> WriteRate:
    incidents = max(1, n // COMMANDS_PER_INCIDENT)
    with desk_services("b-mix", backend, seal=seal) as services:
        desk = services.desk
        run_mix(desk, max(1, warmup // COMMANDS_PER_INCIDENT), first=incidents)
        return timed_writes(desk, lambda: run_mix(desk, incidents))


def bench_log_following(n: int, warmup: int, backend: Backend) -> tuple[WriteRate, float]:
    """log_incident while the projection runner follows; also how long it then takes to drain."""
    with desk_services("b-follow", backend, follow=True) as services:
        desk = services.desk
        run_logs(desk, warmup, first=n)
        services.runner.wait_for(head(desk), 60)
        result = timed_writes(desk, lambda: run_logs(desk, n))
        started = time.perf_counter()
        if not services.runner.wait_for(head(desk), 120):
            raise RuntimeError("the projections did not catch up within 120 s")
        return result, time.perf_counter() - started


# -- (d) projection rebuild and (e) bare read-and-decode ------------------------------------------


def read_and_decode(desk: ServiceDesk, batch: int) -> int:
    recorder, mapper = desk.recorder, desk.mapper
    position = count = 0
    while True:
        notifications = recorder.select_notifications(
            start=position, limit=batch, inclusive_of_start=False
        )
        decoded = [mapper.to_domain_event(n) for n in notifications]
        count += len(decoded)
        if len(notifications) < batch:
            return count
        position = notifications[-1].id


def rebuild(services: Services) -> tuple[int, float]:
    """Reset both projections; time a fresh runner catching up: (events read, seconds)."""
    for projection in PROJECTIONS:
        services.views.reset(projection)
    started = time.perf_counter()
    runner = ProjectionRunner(
        services.desk.recorder, services.desk.mapper, services.views, PROJECTIONS
    )
    count = runner.catch_up()
    return count, time.perf_counter() - started


def bench_rebuild(m: int, rounds: int, backend: Backend, report: Report) -> tuple[float, float]:
    with desk_services("de", backend) as services:
        desk = services.desk
        say(f"d/e ({backend.name}): loading {m} incidents ({COMMANDS_PER_INCIDENT} commands each)")
        load = timed_writes(desk, lambda: run_mix(desk, m))
        total = head(desk)
        say(f"d/e: {total} events loaded in {load.seconds:.1f} s; interleaving e and d")
        e_rates: list[float] = []
        d_rates: list[float] = []
        for _ in range(rounds):
            started = time.perf_counter()
            count = read_and_decode(desk, REBUILD_BATCH)
            e_rates.append(count / (time.perf_counter() - started))
            if count != total:
                raise RuntimeError(f"e read {count} notifications of {total}")
            count, seconds = rebuild(services)
            d_rates.append(count / seconds)
            if count != total:
                raise RuntimeError(f"d read {count} notifications of {total}")
        rows = len(services.views.rows(incident_details))
        if rows != m:
            raise RuntimeError(f"the rebuilt incident_details has {rows} rows, not {m}")
        common = {
            "backend": backend.name,
            "incidents": m,
            "events": total,
            "batch_size": REBUILD_BATCH,
        }
        e = report.emit(
            "e_read_decode",
            rate=rounded(max(e_rates)),
            unit="events/s",
            samples=[rounded(r) for r in e_rates],
            **common,
        )
        d = report.emit(
            "d_rebuild",
            rate=rounded(max(d_rates)),
            unit="events/s",
            samples=[rounded(r) for r in d_rates],
            projections=[p.name for p in PROJECTIONS],
            load_commands_per_s=rounded(load.rate),
            **common,
        )
        return d["rate"], e["rate"]


# -- the run --------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "eventsourcing": importlib.metadata.version("eventsourcing"),
        "loadavg": [rounded(v, 2) for v in os.getloadavg()],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.foundation",
        description="Foundation benchmark: write side vs the eventsourcing baseline, REST over "
        "HTTP, projection rebuild vs bare read-and-decode. JSON lines on stdout.",
    )
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run (< 30 s)")
    parser.add_argument("--clients", type=int, default=TARGET_REST_CLIENTS, help="HTTP clients")
    parser.add_argument("--duration", type=float, help="HTTP phase seconds [10; quick 3]")
    parser.add_argument("--out", type=Path, help="also write the JSON lines to this file")
    parser.add_argument("--n", type=int, help="creates / commands for a and b [3000; quick 300]")
    parser.add_argument("--m", type=int, help="incidents loaded for d and e [3000; quick 200]")
    parser.add_argument("--rounds", type=int, help="rounds of a/b, and of e/d [3; quick 2]")
    parser.add_argument("--tmpdir", help="where the fresh data directories go [system temp]")
    parser.add_argument("--skip-http", action="store_true", help="leave out (c)")
    parser.add_argument("--workers", type=int, default=1, help="API worker processes for (c) [1]")
    parser.add_argument(
        "--lines",
        type=lifecycle_names,
        default=list(LIFECYCLES),
        help=f"REST lifecycles, comma-separated, in round order [{','.join(LIFECYCLES)}]",
    )
    parser.add_argument("--rest-rounds", type=int, help="rounds of the REST lines [3; quick 1]")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="another checkout of this repository (with its .venv) to measure against: its own "
        "`itsm serve` in alternate REST rounds, its own in-process benchmark in alternate rounds",
    )
    postgres = parser.add_mutually_exclusive_group()
    postgres.add_argument(
        "--postgres",
        action="store_true",
        help="also run a, b, d and e on PostgreSQL: a local server started for this run",
    )
    postgres.add_argument(
        "--database-url",
        help="also run a, b, d and e on this PostgreSQL server (its role may create databases)",
    )
    parser.add_argument(
        "--unsealed",
        action="store_true",
        help="also run this code with sealing off (ITSM_AUDIT_SEAL=false), side by side: REST "
        "windows alternate with an unsealed server, b_log and b_mix run unsealed too",
    )
    args = parser.parse_args(argv)
    if args.unsealed and args.baseline is not None:
        parser.error("--unsealed and --baseline each take the second checkout's place")
    if args.baseline is not None:
        args.baseline = args.baseline.resolve()
        if args.baseline == ROOT:
            parser.error("--baseline: that is this checkout")
        if why := Checkout.of("before", args.baseline).missing():
            parser.error(f"--baseline: {why}")
    for name in ("clients", "rest_rounds", "rounds", "n", "m", "workers"):
        if (value := getattr(args, name)) is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def lifecycle_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in LIFECYCLES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown lifecycle {', '.join(unknown) or '(none)'}: "
            f"choose from {', '.join(LIFECYCLES)}"
        )
    return list(dict.fromkeys(names))


@contextlib.contextmanager
def postgres_server(args: argparse.Namespace) -> Iterator[str | None]:
    """The PostgreSQL server to measure on, if asked for: --database-url, or a local server
    started in a temporary directory (system temp: its OS user must reach it) and removed after."""
    if args.database_url:
        yield args.database_url
        return
    if not args.postgres:
        yield None
        return
    directory = tempfile.mkdtemp(prefix="itsm-bench-postgres-")
    server = PostgresServer(directory)
    try:
        say(f"starting a local PostgreSQL server in {directory}")
        yield server.up()
    finally:
        server.down()
        shutil.rmtree(directory, ignore_errors=True)


def postgres_version(server_url: str) -> str:
    with psycopg.connect(server_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def side_by_side(figures: dict[str, dict[str, float]]) -> str:
    """The in-process figures of each backend in columns, for people (stderr)."""
    names = list(figures)
    rows = [
        ("a_baseline", "creates/s"),
        ("b_log", "commands/s"),
        ("b_mix", "commands/s"),
        ("b_follow", "commands/s"),
        ("e_read_decode", "events/s"),
        ("d_rebuild", "events/s"),
        ("b_log / a", "ratio"),
        ("b_mix / a", "ratio"),
        ("d / e", "ratio"),
    ]
    lines = [f"{'measure':<16}" + "".join(f"{n:>14}" for n in names) + "  unit"]
    for measure, unit in rows:
        digits = 3 if unit == "ratio" else 0
        cells = "".join(f"{figures[n].get(measure, math.nan):>14,.{digits}f}" for n in names)
        lines.append(f"{measure:<16}{cells}  {unit}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with postgres_server(args) as server_url:
        try:
            void = run(args, server_url)
        except UnexpectedAnswer as error:  # no figure: a refusal must not pass for a command
            raise SystemExit(f"benchmark stopped, an answer it did not expect: {error}") from None
    if void:  # the other lines' figures stand; these have none
        stopped = "\n".join(f"  {line}: {error}" for line, error in void.items())
        raise SystemExit(f"lines stopped by an answer they did not expect:\n{stopped}")


def write_side(
    backends: list[Backend],
    n: int,
    write_warmup: int,
    rounds: int,
    report: Report,
    figures: dict[str, dict[str, float]],
    *,
    unsealed: bool = False,
) -> None:
    """(a) and (b) in interleaved rounds, each on a fresh store (the best round counts), then
    b_follow; each backend's rates go into `figures`. `unsealed`: b_log and b_mix with sealing
    off too, in the same rounds."""
    a_rates: dict[str, list[float]] = {b.name: [] for b in backends}
    log_runs: dict[str, list[WriteRate]] = {b.name: [] for b in backends}
    mix_runs: dict[str, list[WriteRate]] = {b.name: [] for b in backends}
    log_unsealed: dict[str, list[WriteRate]] = {b.name: [] for b in backends}
    mix_unsealed: dict[str, list[WriteRate]] = {b.name: [] for b in backends}
    for r in range(1, rounds + 1):
        for backend in backends:
            label = f"round {r}/{rounds} ({backend.name})"
            say(f"{label}: a (baseline), {n} creates")
            a_rates[backend.name].append(bench_baseline(n, write_warmup, backend))
            say(f"{label}: b_log, {n} incidents")
            log_runs[backend.name].append(bench_log(n, write_warmup, backend))
            say(f"{label}: b_mix, {n // COMMANDS_PER_INCIDENT} incident lifecycles")
            mix_runs[backend.name].append(bench_mix(n, write_warmup, backend))
            if unsealed:
                say(f"{label}: b_log and b_mix, sealing off")
                log_unsealed[backend.name].append(bench_log(n, write_warmup, backend, seal=False))
                mix_unsealed[backend.name].append(bench_mix(n, write_warmup, backend, seal=False))
    for backend in backends:
        mine = figures[backend.name]
        mine["a_baseline"] = report.emit(
            "a_baseline",
            backend=backend.name,
            rate=rounded(max(a_rates[backend.name])),
            unit="creates/s",
            samples=[rounded(x) for x in a_rates[backend.name]],
            creates=n,
            events_per_create=1,
        )["rate"]
        measured = [("b_log", log_runs), ("b_mix", mix_runs)]
        if unsealed:
            measured += [("b_log_unsealed", log_unsealed), ("b_mix_unsealed", mix_unsealed)]
        for name, runs in measured:
            mine[name] = report.emit(
                name,
                backend=backend.name,
                rate=rounded(max(w.rate for w in runs[backend.name])),
                unit="commands/s",
                samples=[rounded(w.rate) for w in runs[backend.name]],
                commands=runs[backend.name][0].commands,
                events_per_command=round(
                    runs[backend.name][0].events / runs[backend.name][0].commands, 2
                ),
                projections="not running",
                sealed=not name.endswith("_unsealed"),
                cpu_ms_per_command_rounds=[round(w.cpu_ms, 3) for w in runs[backend.name]],
            )["rate"]
        if unsealed:
            report.emit(
                "sealed_over_unsealed",
                backend=backend.name,
                b_log=ratio(mine["b_log"], mine["b_log_unsealed"]),
                b_mix=ratio(mine["b_mix"], mine["b_mix_unsealed"]),
                # unsealed CPU per command over sealed (the lowest of each: the least disturbed)
                cpu_b_log=ratio(
                    min(w.cpu_ms for w in log_unsealed[backend.name]),
                    min(w.cpu_ms for w in log_runs[backend.name]),
                ),
                cpu_b_mix=ratio(
                    min(w.cpu_ms for w in mix_unsealed[backend.name]),
                    min(w.cpu_ms for w in mix_runs[backend.name]),
                ),
                rounds={
                    name: [
                        ratio(s.rate, u.rate)
                        for s, u in zip(runs[backend.name], off[backend.name], strict=True)
                    ]
                    for name, runs, off in (
                        ("b_log", log_runs, log_unsealed),
                        ("b_mix", mix_runs, mix_unsealed),
                    )
                },
            )
    for backend in backends:
        say(f"b_follow ({backend.name}): {n} incidents with the projection runner following")
        follow, drain = bench_log_following(n, write_warmup, backend)
        figures[backend.name]["b_follow"] = report.emit(
            "b_follow",
            backend=backend.name,
            rate=rounded(follow.rate),
            unit="commands/s",
            commands=follow.commands,
            drain_after_s=round(drain, 3),
            rate_incl_drain=rounded(follow.commands / (follow.seconds + drain)),
            projections="following",
        )["rate"]


def compare_inprocess(
    checkouts: list[Checkout], n: int, m: int, rounds: int, tmpdir: str | None, report: Report
) -> dict[str, dict[str, float]]:
    """Each checkout's own in-process benchmark (a, b, d, e) as a subprocess, one round each in
    turn, alternating which goes first; the best of each measure and the ratios of those."""
    argvs = {c.name: inprocess_argv(flags_of(c), n, m, tmpdir) for c in checkouts}
    measured: dict[str, list[dict[str, float]]] = {c.name: [] for c in checkouts}
    for r in range(rounds):
        for checkout in checkouts if r % 2 == 0 else checkouts[::-1]:
            say(f"in-process round {r + 1}/{rounds} ({checkout.name}): {checkout.root}")
            measured[checkout.name].append(measure_inprocess(checkout, argvs[checkout.name]))
    compared: dict[str, dict[str, float]] = {}
    for checkout in checkouts:
        compared[checkout.name] = best_with_ratios(measured[checkout.name])
        report.emit(
            "inprocess",
            checkout=checkout.name,
            root=str(checkout.root),
            commit=commit_of(checkout),
            command=["python", "-m", "benchmarks.foundation", *argvs[checkout.name]],
            counted=f"the best of {rounds} rounds, each its own run of the checkout's code",
            backend="sqlite",
            **compared[checkout.name],
            samples={k: [x[k] for x in measured[checkout.name]] for k in MEASURES},
        )
    return compared


def summarise(
    args: argparse.Namespace,
    report: Report,
    plan: RestPlan,
    figures: dict[str, dict[str, float]],
    lines: dict[str, dict[str, dict[str, Any]]],
    compared: dict[str, dict[str, float]],
    done: RestRounds,
    machine: dict[str, Any],
    began: float,
) -> None:
    """The summary line: every ratio against its target, and whether each was met."""
    ratios: dict[str, dict[str, float | None]] = {}
    for name, mine in figures.items():
        ratios[name] = {
            "b_log_over_a": ratio(mine["b_log"], mine["a_baseline"]),
            "b_mix_over_a": ratio(mine["b_mix"], mine["a_baseline"]),
            "d_over_e": ratio(mine["d_rebuild"], mine["e_read_decode"]),
        }
        mine.update(
            {
                "b_log / a": ratios[name]["b_log_over_a"] or math.nan,
                "b_mix / a": ratios[name]["b_mix_over_a"] or math.nan,
                "d / e": ratios[name]["d_over_e"] or math.nan,
            }
        )
    checks = ratios["sqlite"]  # the targets are set for the default backend
    here = lines.get(HERE.name, {})
    rest_rate = here.get(INCIDENT.name, {}).get("rate")
    rest_p99 = here.get(INCIDENT.name, {}).get("p99_ms")
    passed: dict[str, bool | None] = {
        "b_log_over_a": (checks["b_log_over_a"] or 0) >= TARGET_WRITE_RATIO,
        "b_mix_over_a": (checks["b_mix_over_a"] or 0) >= TARGET_WRITE_RATIO,
        "rest": None
        if rest_rate is None or rest_p99 is None
        else (
            rest_rate >= TARGET_REST_RATE
            and rest_p99 < TARGET_REST_P99_MS
            and args.clients >= TARGET_REST_CLIENTS
        ),
        "d_over_e": (checks["d_over_e"] or 0) >= TARGET_REBUILD_RATIO,
    }
    kinds = [lc for lc in plan.lifecycles if lc is not INCIDENT]
    if kinds and not args.skip_http:
        passed["kinds_over_incident"] = all(
            (here.get(lc.name, {}).get("ratio_to_incident") or 0) >= TARGET_KIND_RATIO
            for lc in kinds
        )
    if args.unsealed and not args.skip_http:
        sealed_over = here.get(INCIDENT.name, {}).get("after_over_before")
        passed["incident_sealed_over_unsealed"] = (sealed_over or 0) >= TARGET_SEALED_RATIO
    if args.baseline is not None and not args.skip_http:
        after_over_before = here.get(INCIDENT.name, {}).get("after_over_before")
        passed["incident_after_over_before"] = (after_over_before or 0) >= TARGET_REST_BEFORE_RATIO
    report.emit(
        "summary",
        **checks,
        **({"postgres": ratios["postgres"]} if "postgres" in ratios else {}),
        rest_commands_per_s=None if rest_rate is None else rounded(rest_rate),
        rest_p99_ms=rest_p99,
        rest_clients=args.clients,
        rest_lines=here,
        **({"before": lines.get("before", {}), "compared": compared} if compared else {}),
        void=sorted(f"{lc} ({c})" for c, lc in done.void),
        targets={
            "b_over_a": f">= {TARGET_WRITE_RATIO}",
            "rest": f">= {TARGET_REST_RATE:g} commands/s with p99 < {TARGET_REST_P99_MS:g} ms"
            f" at {TARGET_REST_CLIENTS} clients",
            "kinds_over_incident": f">= {TARGET_KIND_RATIO}",
            "incident_after_over_before": f">= {TARGET_REST_BEFORE_RATIO}",
            "incident_sealed_over_unsealed": f">= {TARGET_SEALED_RATIO}",
            "d_over_e": f">= {TARGET_REBUILD_RATIO}",
        },
        passed=passed,
        all_passed=all(v is True for v in passed.values()),
        quick=args.quick,
        seconds=rounded(time.perf_counter() - began),
        machine={**machine, "loadavg_end": [rounded(v, 2) for v in os.getloadavg()]},
    )


def run(args: argparse.Namespace, server_url: str | None) -> dict[str, UnexpectedAnswer]:
    """The whole run; the lines stopped by an answer they did not expect."""
    quick = args.quick
    n = args.n or (300 if quick else 3000)
    m = args.m or (200 if quick else 3000)
    rounds = args.rounds or (2 if quick else 3)
    write_warmup = max(10, n // 20)
    checkouts = [HERE]
    if args.baseline is not None:
        checkouts.append(Checkout.of("before", args.baseline))
    if args.unsealed:  # this code again, sealing off: the c_before_after ratios are its cost
        checkouts.append(replace(HERE, name="unsealed", env=(("ITSM_AUDIT_SEAL", "false"),)))
    plan = RestPlan(
        clients=args.clients,
        duration=args.duration or (3.0 if quick else 10.0),
        warmup=0.5 if quick else 1.0,
        ceiling_duration=1.0 if quick else 3.0,
        base=args.tmpdir,
        workers=args.workers,
        lifecycles=[LIFECYCLES[name] for name in args.lines],
    )
    backends = [Backend("sqlite", args.tmpdir)]
    if server_url is not None:
        backends.append(Backend("postgres", args.tmpdir, server_url))
    #: With a baseline, SQLite's in-process figures come from each checkout's own runs instead.
    here_backends = [b for b in backends if args.baseline is None or b.name != "sqlite"]
    report = Report(args.out)
    machine = machine_info()
    if server_url is not None:
        machine["postgres"] = postgres_version(server_url)
    began = time.perf_counter()
    #: Each backend's in-process figures, for the ratios and the side-by-side table.
    figures: dict[str, dict[str, float]] = {b.name: {} for b in backends}
    compared: dict[str, dict[str, float]] = {}
    done = RestRounds()
    try:
        if args.baseline is not None:
            compared = compare_inprocess(checkouts, n, m, rounds, args.tmpdir, report)
            figures["sqlite"].update(compared[HERE.name])
        if here_backends:
            write_side(
                here_backends, n, write_warmup, rounds, report, figures, unsealed=args.unsealed
            )

        # (c) REST over HTTP, on SQLite: every lifecycle, against every checkout.
        lines: dict[str, dict[str, dict[str, Any]]] = {}
        if not args.skip_http:
            rest_rounds = args.rest_rounds or (1 if quick else 3)
            done = bench_rest(
                functools.partial(rest_window, plan), checkouts, plan.lifecycles, rest_rounds
            )
            lines = rest_lines(report, plan, checkouts, done)

        # (d) and (e) on the same data, interleaved, for each backend.
        for backend in here_backends:
            d, e = bench_rebuild(m, max(rounds, 2), backend, report)
            figures[backend.name].update(d_rebuild=d, e_read_decode=e)

        summarise(args, report, plan, figures, lines, compared, done, machine, began)
        if here_backends:  # with a baseline and no PostgreSQL, the next table says it all
            say("in-process figures, side by side:\n" + side_by_side(figures))
        if compared:
            say("in-process, each checkout its own code:\n" + side_by_side(compared))
        if lines:
            say(f"REST, commands/s at {args.clients} clients:\n{rest_table(lines)}")
    finally:
        report.close()
    return {line_label(c, lc): e for (c, lc), e in done.void.items()}


if __name__ == "__main__":
    main()
