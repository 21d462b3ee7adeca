"""Foundation benchmark: the write side against the eventsourcing baseline, the REST API over
HTTP for every record kind, and the projection rebuild against a bare read-and-decode.

    .venv/bin/python -m benchmarks.foundation [--quick] [--clients 32] [--duration 10] [--out F]
                                              [--lines incident,request,change,problem]
                                              [--rest-rounds 3] [--baseline DIR]
                                              [--postgres | --database-url URL]

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
    c_request  the service request lifecycle, likewise; also its ratio to c_rest (lifecycles.py)
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

An answer a line did not expect voids that line (no figure, no further rounds); the other lines,
each on its own server, go on, and the run exits non-zero naming every void line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import http.client
import importlib.metadata
import inspect
import math
import os
import platform
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import orjson
import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate as BareAggregate
from psycopg import sql

from domain.actors import Actor, Role
from domain.commands import AddWorkNote, Assign, IncidentCommand, LogIncident, Resolve, StartWork
from domain.context import Context
from domain.incident import ResolutionCode
from domain.priority import Impact, Urgency
from domain.service_desk import ServiceDesk
from infra.bootstrap import Services, build, event_store_env
from infra.clock import utcnow
from infra.postgres_server import PostgresServer
from infra.settings import Settings
from projections import PROJECTIONS
from projections.incident_details import incident_details
from projections.runner import ProjectionRunner

from ._expect import UNLIMITED_ENV, UnexpectedAnswer, expect
from .checkouts import (
    MEASURES,
    Checkout,
    best_with_ratios,
    commit_of,
    flags_of,
    inprocess_argv,
    measure_inprocess,
)
from .lifecycles import CREATED, GROUP, INCIDENT, LIFECYCLES, SETUP, Lifecycle, Turn

ROOT = Path(__file__).resolve().parent.parent
#: This checkout, in the virtualenv running this module.
HERE = Checkout("after", ROOT, Path(sys.prefix))

TARGET_WRITE_RATIO = 0.8  # b / a
TARGET_REST_RATE = 800.0  # commands/s ...
TARGET_REST_P99_MS = 50.0  # ... with p99 under this ...
TARGET_REST_CLIENTS = 32  # ... at this many concurrent clients
TARGET_REBUILD_RATIO = 0.7  # d / e
TARGET_KIND_RATIO = 0.9  # each other kind's REST lifecycle / the incident's, in the same run
TARGET_REST_BEFORE_RATIO = 0.95  # the incident's REST lifecycle, after / before (--baseline)
#: What (c) says of its server's settings: the measured load must not be refused.
LIMITS_OFF = "rate limits off: " + ", ".join(f"{k}=''" for k in UNLIMITED_ENV)

AGENT = Actor(id="bench", role=Role.AGENT)
#: Defines the catalogue item and the change template the lifecycles use.
ADMIN = Actor(id="bench-admin", role=Role.ADMIN)
COMMANDS_PER_INCIDENT = 5  # log, assign, start-work, add-work-note, resolve
REBUILD_BATCH: int = inspect.signature(ProjectionRunner).parameters["batch_size"].default


# -- output ---------------------------------------------------------------------------------------


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Report:
    """One JSON object per line, to stdout and optionally to a file."""

    def __init__(self, out: Path | None) -> None:
        self._file: IO[bytes] | None = out.open("wb") if out else None

    def emit(self, name: str, **figures: Any) -> dict[str, Any]:
        record = {"name": name, **figures}
        line = orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS)
        sys.stdout.write(line.decode() + "\n")
        sys.stdout.flush()
        if self._file:
            self._file.write(line + b"\n")
            self._file.flush()
        return record

    def close(self) -> None:
        if self._file:
            self._file.close()


def rounded(value: float, digits: int = 1) -> float:
    return round(value, digits)


@contextlib.contextmanager
def fresh_dir(label: str, base: str | None) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"itsm-bench-{label}-", dir=base) as tmp:
        yield Path(tmp)


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
        service="library-catalogue",
        caller="budi.santoso",
        impact=Impact.MEDIUM,
        urgency=Urgency.HIGH,
    )


def lifecycle(i: int) -> list[IncidentCommand]:
    return [
        Assign(group=GROUP),
        StartWork(),
        AddWorkNote(text=f"Rebooted terminal {i}; checking the catalogue client."),
        Resolve(code=ResolutionCode.FIXED, notes="Client cache cleared; the terminal works again."),
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
def desk_services(label: str, backend: Backend, *, follow: bool = False) -> Iterator[Services]:
    with backend.settings(label) as settings:
        services = build(settings)
        try:
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

    @property
    def rate(self) -> float:
        return self.commands / self.seconds


def timed_writes(desk: ServiceDesk, work: Callable[[], int]) -> WriteRate:
    first = head(desk)
    started = time.perf_counter()
    commands = work()
    elapsed = time.perf_counter() - started
    return WriteRate(commands, head(desk) - first, elapsed)


def bench_log(n: int, warmup: int, backend: Backend) -> WriteRate:
    with desk_services("b-log", backend) as services:
        desk = services.desk
        run_logs(desk, warmup, first=n)
        return timed_writes(desk, lambda: run_logs(desk, n))


def bench_mix(n: int, warmup: int, backend: Backend) -> WriteRate:
    incidents = max(1, n // COMMANDS_PER_INCIDENT)
    with desk_services("b-mix", backend) as services:
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


# -- (c) REST over HTTP ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def issue_token(checkout: Checkout, data_dir: Path, actor: Actor = AGENT) -> str:
    command = ["tokens", "create", "--data-dir", str(data_dir)]
    done = subprocess.run(
        [str(checkout.itsm), *command, "--actor", actor.id, "--role", actor.role.value],
        cwd=checkout.root,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def ready(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)  # no proxies, unlike urllib
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@contextlib.contextmanager
def itsm_server(
    checkout: Checkout, data_dir: Path, log_path: Path, workers: int
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The checkout's own `itsm serve` on a free port, once it is ready."""
    port = free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                str(checkout.itsm),
                "serve",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            cwd=checkout.root,
            env={**os.environ, **UNLIMITED_ENV},  # the measured load is not to be refused
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while not ready(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"the server did not become ready:\n{tail}")
                time.sleep(0.1)
            yield proc, port
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def run_loadgen(config: dict[str, Any]) -> dict[str, Any]:
    """Run the load generator in its own process, so that it does not share the server's GIL
    (nor this process's). An answer it did not expect comes back as UnexpectedAnswer."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.foundation", "--loadgen"],
        cwd=ROOT,
        input=orjson.dumps(config),
        stdout=subprocess.PIPE,
        timeout=config["warmup"] + config["duration"] + 120,
        check=False,
    )
    result: dict[str, Any] = orjson.loads(done.stdout) if done.stdout else {}
    if "unexpected" in result:
        u = result["unexpected"]
        raise UnexpectedAnswer(u["what"], u["status"], u["expected"], u["body"].encode())
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, done.args)
    return result


def define_setup(port: int, token: str) -> None:
    """What the lifecycles need defined, as admin, before the clock (lifecycles.SETUP)."""
    for path, body in SETUP:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", path, orjson.dumps(body), http_headers(token))
            answer = conn.getresponse()
            expect(f"define {path}", answer.status, CREATED, answer.read())
        finally:
            conn.close()


def http_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


@dataclass(frozen=True)
class RestPlan:
    """The REST windows of one run: each on a fresh server and data directory."""

    clients: int
    duration: float
    warmup: float
    ceiling_duration: float
    base: str | None
    workers: int
    lifecycles: list[Lifecycle]


def rest_window(
    plan: RestPlan, checkout: Checkout, lifecycle: Lifecycle, ceiling: bool
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """One lifecycle's window against a fresh server of the checkout (and GET /healthz first,
    if asked): (ceiling, lifecycle figures)."""
    with fresh_dir(f"c-{checkout.name}-{lifecycle.name}", plan.base) as tmp:
        data_dir = tmp / "var"
        token = issue_token(checkout, data_dir)
        admin = issue_token(checkout, data_dir, ADMIN)
        with itsm_server(checkout, data_dir, tmp / "server.log", plan.workers) as (proc, port):
            define_setup(port, admin)
            config = {"port": port, "token": token, "clients": plan.clients, "server_pid": proc.pid}
            healthz = None
            if ceiling:
                say(f"c_ceiling ({checkout.name}): GET /healthz, {plan.clients} clients")
                healthz = run_loadgen(
                    {
                        **config,
                        "scenario": "healthz",
                        "warmup": 0.5,
                        "duration": plan.ceiling_duration,
                    }
                )
            say(
                f"{lifecycle.line} ({checkout.name}): {lifecycle.name} lifecycle, "
                f"{plan.clients} clients, {plan.warmup:g}+{plan.duration:g} s"
            )
            figures = run_loadgen(
                {
                    **config,
                    "scenario": lifecycle.name,
                    "warmup": plan.warmup,
                    "duration": plan.duration,
                }
            )
            if proc.poll() is not None:
                raise RuntimeError(f"the server died during the run (exit {proc.returncode})")
    return healthz, figures


#: One window: (checkout, lifecycle, measure the ceiling too) -> (ceiling, lifecycle figures).
Window = Callable[[Checkout, Lifecycle, bool], tuple[dict[str, Any] | None, dict[str, Any]]]


@dataclass
class RestRounds:
    """What the interleaved REST rounds measured, by (checkout name, lifecycle name)."""

    ceilings: dict[str, dict[str, Any]] = field(default_factory=dict)
    windows: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    #: a line stopped by an answer it did not expect: no figure, and no further rounds
    void: dict[tuple[str, str], UnexpectedAnswer] = field(default_factory=dict)


def bench_rest(
    window: Window, checkouts: list[Checkout], lifecycles: list[Lifecycle], rounds: int
) -> RestRounds:
    """Every lifecycle against every checkout, interleaved: in each round the lifecycles in turn
    (incident, request, change, problem), each against the checkouts one after the other, in
    alternate order from round to round so that neither always goes first. The ceiling is
    measured once per checkout, in the first round. An answer a line did not expect voids that
    line (of that checkout) for the run; the other lines, each on its own server, go on."""
    done = RestRounds()
    for r in range(rounds):
        order = checkouts if r % 2 == 0 else checkouts[::-1]
        say(f"REST round {r + 1}/{rounds}")
        for lifecycle in lifecycles:
            for checkout in order:
                key = (checkout.name, lifecycle.name)
                if key in done.void:
                    continue
                try:
                    healthz, figures = window(
                        checkout, lifecycle, checkout.name not in done.ceilings
                    )
                except UnexpectedAnswer as error:
                    say(f"{lifecycle.line} ({checkout.name}) stopped: {error}")
                    done.void[key] = error
                    continue
                if healthz is not None:
                    done.ceilings[checkout.name] = healthz
                done.windows.setdefault(key, []).append(figures)
    return done


# -- the load generator (runs in its own process: `--loadgen`, config as JSON on stdin) ----------


class Connection:
    """One persistent HTTP/1.1 connection with hand-written requests and a minimal parser."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.reader, self.writer
        assert reader is not None
        writer.write(raw)
        lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            if line:
                key, _, value = line.partition(b":")
                headers[key.strip().lower()] = value.strip()
        body = b""
        if b"content-length" in headers:
            body = await reader.readexactly(int(headers[b"content-length"]))
        elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            await self._skip_chunked(reader)
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        return status, headers, body

    @staticmethod
    async def _skip_chunked(reader: asyncio.StreamReader) -> None:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass  # trailers
                return
            await reader.readexactly(size + 2)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def http_request(method: str, path: str, port: int, token: str, body: Any = None) -> bytes:
    payload = b"" if body is None else orjson.dumps(body)
    head = [
        f"{method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Authorization: Bearer {token}",
    ]
    if method == "POST":
        if body is not None:
            head.append("Content-Type: application/json")
        head.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


Sample = tuple[float, float, int, str]  # (start, seconds, status, operation)

#: What GET /healthz may answer; a lifecycle's steps say theirs (lifecycles.py).
HEALTHZ_EXPECTED = frozenset({200})


class LoadClient:
    def __init__(self, number: int, config: dict[str, Any], deadline: float) -> None:
        self.number = number
        self.port: int = config["port"]
        self.token: str = config["token"]
        self.deadline = deadline
        self.connection = Connection(self.port)
        self.samples: list[Sample] = []
        self.prepared: str | None = None

    def request(self, method: str, path: str, body: Any = None) -> bytes:
        return http_request(method, path, self.port, self.token, body)

    async def call(
        self, operation: str, raw: bytes, expected: frozenset[int]
    ) -> tuple[int, dict[bytes, bytes]]:
        """One request; only an expected answer is a sample, any other raises UnexpectedAnswer
        (a lost connection is status 0)."""
        started = time.perf_counter()
        try:
            status, headers, body = await self.connection.request(raw)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            self.connection.close()
            status, headers, body = 0, {}, repr(e).encode()
        expect(operation, status, expected, body)
        self.samples.append((started, time.perf_counter() - started, status, operation))
        return status, headers

    async def healthz(self) -> None:
        raw = self.request("GET", "/healthz")
        while time.perf_counter() < self.deadline:
            await self.call("healthz", raw, HEALTHZ_EXPECTED)

    async def drive(self, lifecycle: Lifecycle, cycle: int) -> str:
        """One record through its whole lifecycle (until the deadline); its Location."""
        turn = Turn(self.number, cycle, self.prepared)
        create, *actions = lifecycle.steps
        raw = self.request("POST", lifecycle.collection, create.body(turn))
        status, headers = await self.call(create.operation, raw, create.expected)
        location = headers.get(b"location")
        if location is None:
            raise UnexpectedAnswer(
                f"{create.operation} (no Location)", status, create.expected, b""
            )
        path = location.decode()
        for step in actions:
            if time.perf_counter() >= self.deadline:
                break
            raw = self.request("POST", f"{path}/{step.action}", step.body(turn))
            await self.call(step.operation, raw, step.expected)
        return path

    async def prepare(self, lifecycle: Lifecycle) -> None:
        """The record this client's lifecycle needs (before the clock: not counted)."""
        if lifecycle.prepare is not None:
            path = await self.drive(lifecycle.prepare, 0)
            self.prepared = path.rsplit("/", 1)[-1]
        self.samples.clear()

    async def cycles(self, lifecycle: Lifecycle) -> None:
        cycle = 0
        while time.perf_counter() < self.deadline:
            cycle += 1
            await self.drive(lifecycle, cycle)


def cpu_ticks(pid: int) -> float | None:
    """User+system CPU seconds of a process and its children (uvicorn workers), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for child in Path("/proc").glob("[0-9]*"):
        try:
            stat = (child / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[1]) == pid:
            total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return total


def machine_busy() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine, from /proc/stat (Linux only)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values[:8]) - idle) / tick, sum(values[:8]) / tick


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def latency_figures(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50_ms": rounded(percentile(ordered, 0.50) * 1000, 2),
        "p90_ms": rounded(percentile(ordered, 0.90) * 1000, 2),
        "p99_ms": rounded(percentile(ordered, 0.99) * 1000, 2),
        "max_ms": rounded((ordered[-1] if ordered else math.nan) * 1000, 2),
    }


async def loadgen(config: dict[str, Any]) -> dict[str, Any]:
    clients_n: int = config["clients"]
    warmup: float = config["warmup"]
    duration: float = config["duration"]
    server_pid: int = config["server_pid"]
    clients = [LoadClient(i, config, deadline=math.inf) for i in range(clients_n)]
    for client in clients:  # connect first, so connecting is not measured
        client.connection.reader, client.connection.writer = await asyncio.open_connection(
            "127.0.0.1", client.port
        )
    lifecycle = LIFECYCLES.get(config["scenario"])
    if lifecycle is not None:  # what each client needs first, before the clock
        await asyncio.gather(*(client.prepare(lifecycle) for client in clients))
    started = time.perf_counter()
    window_start, window_end = started + warmup, started + warmup + duration
    for client in clients:
        client.deadline = window_end
    if lifecycle is None:
        tasks = [asyncio.create_task(client.healthz()) for client in clients]
    else:
        tasks = [asyncio.create_task(client.cycles(lifecycle)) for client in clients]

    await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
    marks = [(time.perf_counter(), own_cpu(), cpu_ticks(server_pid), machine_busy())]
    await asyncio.sleep(max(0.0, window_end - time.perf_counter()))
    marks.append((time.perf_counter(), own_cpu(), cpu_ticks(server_pid), machine_busy()))
    await asyncio.gather(*tasks)
    for client in clients:
        client.connection.close()

    # A request counts if it finished inside the measured window.
    samples = [s for c in clients for s in c.samples if window_start <= s[0] + s[1] <= window_end]
    statuses: dict[str, int] = {}
    for s in samples:
        statuses[str(s[2])] = statuses.get(str(s[2]), 0) + 1
    by_operation = {}
    for operation in sorted({s[3] for s in samples}):
        latencies = [s[1] for s in samples if s[3] == operation]
        by_operation[operation] = {"count": len(latencies), **latency_figures(latencies)}
    (t0, own0, server0, machine0), (t1, own1, server1, machine1) = marks
    wall = t1 - t0
    cpu: dict[str, float | None] = {
        "loadgen_cores": rounded((own1 - own0) / wall, 2),
        "server_cores": None,
        "machine_busy_fraction": None,
    }
    if server0 is not None and server1 is not None:
        cpu["server_cores"] = rounded((server1 - server0) / wall, 2)
        if samples:  # the server's CPU time per request answered: what limits a GIL-bound server
            cpu["server_ms_per_request"] = rounded((server1 - server0) * 1000 / len(samples), 3)
    if machine0 is not None and machine1 is not None:
        cpu["machine_busy_fraction"] = rounded(
            (machine1[0] - machine0[0]) / max(machine1[1] - machine0[1], 1e-9), 2
        )
    return {
        "rate": rounded(len(samples) / duration),  # every sample is an expected answer
        "requests": len(samples),
        "projection_lag_202": statuses.get("202", 0),
        "statuses": statuses,
        **latency_figures([s[1] for s in samples]),
        "by_operation": by_operation,
        "cpu": cpu,
    }


def loadgen_main() -> None:
    config = orjson.loads(sys.stdin.buffer.read())
    try:
        import uvloop  # optional: the lean event loop, when installed
    except ImportError:
        run_loop = asyncio.run
    else:
        run_loop = uvloop.run
    try:
        result = run_loop(loadgen(config))
    except UnexpectedAnswer as error:
        body = error.body.decode("utf-8", errors="replace")
        unexpected = {"what": error.what, "status": error.status, "body": body}
        answer = {"unexpected": {**unexpected, "expected": sorted(error.expected)}}
        sys.stdout.buffer.write(orjson.dumps(answer))
        sys.exit(1)
    sys.stdout.buffer.write(orjson.dumps(result))


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


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)


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
    parser.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
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
    if args.loadgen:
        loadgen_main()
        return
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
) -> None:
    """(a) and (b) in interleaved rounds, each on a fresh store (the best round counts), then
    b_follow; each backend's rates go into `figures`."""
    a_rates: dict[str, list[float]] = {b.name: [] for b in backends}
    log_runs: dict[str, list[WriteRate]] = {b.name: [] for b in backends}
    mix_runs: dict[str, list[WriteRate]] = {b.name: [] for b in backends}
    for r in range(1, rounds + 1):
        for backend in backends:
            label = f"round {r}/{rounds} ({backend.name})"
            say(f"{label}: a (baseline), {n} creates")
            a_rates[backend.name].append(bench_baseline(n, write_warmup, backend))
            say(f"{label}: b_log, {n} incidents")
            log_runs[backend.name].append(bench_log(n, write_warmup, backend))
            say(f"{label}: b_mix, {n // COMMANDS_PER_INCIDENT} incident lifecycles")
            mix_runs[backend.name].append(bench_mix(n, write_warmup, backend))
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
        for name, runs in (("b_log", log_runs), ("b_mix", mix_runs)):
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
            )["rate"]
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


def rest_lines(
    report: Report, plan: RestPlan, checkouts: list[Checkout], done: RestRounds
) -> dict[str, dict[str, dict[str, Any]]]:
    """A line per lifecycle and checkout: the best round's figures with every round's rate, and
    its ratio to the incident line of the same checkout; with a baseline, after / before.
    Returns {checkout: {lifecycle: {"rate", "p99_ms", "ratio_to_incident"}}}."""
    lines: dict[str, dict[str, dict[str, Any]]] = {c.name: {} for c in checkouts}
    for checkout in checkouts:
        if ceiling := done.ceilings.get(checkout.name):
            report.emit(
                "c_ceiling",
                checkout=checkout.name,
                unit="requests/s",
                clients=plan.clients,
                seconds=plan.ceiling_duration,
                **ceiling,
            )
        for lifecycle in plan.lifecycles:
            key = (checkout.name, lifecycle.name)
            common = {
                "checkout": checkout.name,
                "lifecycle": lifecycle.name,
                "clients": plan.clients,
                "mix": lifecycle.mix,
                "commands_per_record": lifecycle.commands,
            }
            if error := done.void.get(key):
                body = error.body[:500].decode("utf-8", errors="replace")
                void = {"what": error.what, "status": error.status, "body": body}
                report.emit(lifecycle.line, void=void, **common)
                continue
            runs = done.windows.get(key)
            if not runs:
                continue
            best = max(runs, key=lambda figures: float(figures["rate"]))
            incident = lines[checkout.name].get(INCIDENT.name)
            to_incident = None
            if lifecycle is not INCIDENT and incident is not None:
                to_incident = ratio(best["rate"], incident["rate"])
            report.emit(
                lifecycle.line,
                unit="commands/s",
                seconds=plan.duration,
                server_settings=LIMITS_OFF,
                counted=f"the best of {len(runs)} rounds",
                samples=[r["rate"] for r in runs],
                median=rounded(statistics.median(r["rate"] for r in runs)),
                **({} if lifecycle is INCIDENT else {"ratio_to_incident": to_incident}),
                **common,
                **best,
            )
            lines[checkout.name][lifecycle.name] = {
                "rate": best["rate"],
                "p99_ms": best.get("p99_ms"),
                "ratio_to_incident": to_incident,
            }
    if len(checkouts) == 2:
        after, before = (lines[c.name] for c in checkouts)
        report.emit(
            "c_before_after",
            after=commit_of(checkouts[0]),
            before=commit_of(checkouts[1]),
            ratios={
                lc.name: ratio(
                    after.get(lc.name, {}).get("rate"), before.get(lc.name, {}).get("rate")
                )
                for lc in plan.lifecycles
            },
            target={INCIDENT.name: f">= {TARGET_REST_BEFORE_RATIO}"},
        )
    return lines


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
    if args.baseline is not None and not args.skip_http:
        before = lines.get("before", {}).get(INCIDENT.name, {}).get("rate")
        passed["incident_after_over_before"] = (
            ratio(rest_rate, before) or 0
        ) >= TARGET_REST_BEFORE_RATIO
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
            write_side(here_backends, n, write_warmup, rounds, report, figures)

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
        say("in-process figures, side by side:\n" + side_by_side(figures))
        if compared:
            say("in-process, each checkout its own code:\n" + side_by_side(compared))
        if lines:
            say(f"REST, commands/s at {args.clients} clients:\n{rest_table(lines)}")
    finally:
        report.close()
    return {line_label(c, lc): e for (c, lc), e in done.void.items()}


def line_label(checkout: str, lifecycle: str) -> str:
    return f"{LIFECYCLES[lifecycle].line} ({checkout})"


def rest_table(lines: dict[str, dict[str, dict[str, Any]]]) -> str:
    """Each lifecycle's rate per checkout, its ratio to the incident's, and after / before."""
    names = list(lines)
    header = f"{'lifecycle':<12}" + "".join(f"{n:>12}{n + ' / inc':>14}" for n in names)
    if len(names) == 2:
        header += f"{'after/before':>14}"
    rows = [header]
    for lifecycle in LIFECYCLES:
        cells = [lines[n].get(lifecycle, {}) for n in names]
        if not any(cells):
            continue
        row = f"{lifecycle:<12}"
        for cell in cells:
            to_incident = cell.get("ratio_to_incident") or math.nan
            row += f"{cell.get('rate', math.nan):>12,.0f}{to_incident:>14.3f}"
        if len(names) == 2:
            row += f"{ratio(cells[0].get('rate'), cells[1].get('rate')) or math.nan:>14.3f}"
        rows.append(row)
    return "\n".join(rows)


if __name__ == "__main__":
    main()
