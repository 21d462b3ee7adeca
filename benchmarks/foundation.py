"""Foundation benchmark: the write side against the eventsourcing baseline, the REST API over
HTTP, and the projection rebuild against a bare read-and-decode of the same store.

    .venv/bin/python -m benchmarks.foundation [--quick] [--clients 32] [--duration 10] [--out F]
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
    d          projection rebuild: reset both projections, a fresh runner's catch_up()
    e          bare read-and-decode of the same notifications (the ceiling for d)

a, b_log and b_mix run in interleaved rounds and report the best round; d and e alternate
(e, d, e, d, ...) on the same data and report the best of each.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import orjson
import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate as BareAggregate
from psycopg import sql

from application.desk import ServiceDesk
from domain.actors import Actor, Role
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
from service.bootstrap import Services, build, event_store_env

from ._expect import UNLIMITED_ENV, UnexpectedAnswer, expect

ROOT = Path(__file__).resolve().parent.parent
ITSM = Path(sys.prefix) / "bin" / "itsm"

TARGET_WRITE_RATIO = 0.8  # b / a
TARGET_REST_RATE = 800.0  # commands/s ...
TARGET_REST_P99_MS = 50.0  # ... with p99 under this ...
TARGET_REST_CLIENTS = 32  # ... at this many concurrent clients
TARGET_REBUILD_RATIO = 0.7  # d / e
#: What (c) says of its server's settings: the measured load must not be refused.
LIMITS_OFF = "rate limits off: " + ", ".join(f"{k}=''" for k in UNLIMITED_ENV)

AGENT = Actor(id="bench", role=Role.AGENT)
GROUP = "library-ict"
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


def issue_token(data_dir: Path) -> str:
    command = ["tokens", "create", "--data-dir", str(data_dir)]
    done = subprocess.run(
        [str(ITSM), *command, "--actor", AGENT.id, "--role", AGENT.role.value],
        cwd=ROOT,
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
    data_dir: Path, log_path: Path, workers: int
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                str(ITSM),
                "serve",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            cwd=ROOT,
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


def bench_rest(
    clients: int,
    duration: float,
    warmup: float,
    ceiling_duration: float,
    base: str | None,
    workers: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    with fresh_dir("c", base) as tmp:
        data_dir = tmp / "var"
        token = issue_token(data_dir)
        with itsm_server(data_dir, tmp / "server.log", workers) as (proc, port):
            config = {"port": port, "token": token, "clients": clients, "server_pid": proc.pid}
            say(f"c_ceiling: GET /healthz, {clients} clients, {ceiling_duration:g} s")
            ceiling = run_loadgen(
                {**config, "scenario": "healthz", "warmup": 0.5, "duration": ceiling_duration}
            )
            say(f"c_rest: incident lifecycle, {clients} clients, {warmup:g}+{duration:g} s")
            rest = run_loadgen(
                {**config, "scenario": "incidents", "warmup": warmup, "duration": duration}
            )
            if proc.poll() is not None:
                raise RuntimeError(f"the server died during the run (exit {proc.returncode})")
    return ceiling, rest


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

#: The answers each operation may give; any other stops the run (a refusal is not a command).
#: 202: the write is done and the views lag behind it (api/record_answers.py).
EXPECTED: dict[str, frozenset[int]] = {
    "healthz": frozenset({200}),
    "log": frozenset({201, 202}),
    "start-work": frozenset({200, 202}),
    "add-work-note": frozenset({200, 202}),
    "resolve": frozenset({200, 202}),
}


class LoadClient:
    def __init__(self, number: int, config: dict[str, Any], deadline: float) -> None:
        self.number = number
        self.port: int = config["port"]
        self.token: str = config["token"]
        self.deadline = deadline
        self.connection = Connection(self.port)
        self.samples: list[Sample] = []

    def request(self, method: str, path: str, body: Any = None) -> bytes:
        return http_request(method, path, self.port, self.token, body)

    async def call(self, operation: str, raw: bytes) -> tuple[int, dict[bytes, bytes]]:
        """One request; only an expected answer is a sample, any other raises UnexpectedAnswer
        (a lost connection is status 0)."""
        started = time.perf_counter()
        try:
            status, headers, body = await self.connection.request(raw)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            self.connection.close()
            status, headers, body = 0, {}, repr(e).encode()
        expect(operation, status, EXPECTED[operation], body)
        self.samples.append((started, time.perf_counter() - started, status, operation))
        return status, headers

    async def healthz(self) -> None:
        raw = self.request("GET", "/healthz")
        while time.perf_counter() < self.deadline:
            await self.call("healthz", raw)

    async def incidents(self) -> None:
        cycle = 0
        while time.perf_counter() < self.deadline:
            cycle += 1
            body = {
                "title": f"Catalogue terminal {self.number}-{cycle} frozen",
                "service": "library-catalogue",
                "caller": "budi.santoso",
                "impact": "medium",
                "urgency": "high",
                "assignment_group": GROUP,
            }
            raw = self.request("POST", "/api/v1/incidents", body)
            status, headers = await self.call("log", raw)
            location = headers.get(b"location")
            if location is None:
                raise UnexpectedAnswer("log (no Location)", status, EXPECTED["log"], b"")
            path = location.decode()
            actions = [
                ("start-work", None),
                ("add-work-note", {"text": f"Rebooted terminal {self.number}-{cycle}."}),
                ("resolve", {"code": "fixed", "notes": "Client cache cleared."}),
            ]
            for action, action_body in actions:
                if time.perf_counter() >= self.deadline:
                    break
                raw = self.request("POST", f"{path}/{action}", action_body)
                await self.call(action, raw)


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
    started = time.perf_counter()
    window_start, window_end = started + warmup, started + warmup + duration
    for client in clients:
        client.deadline = window_end
    scenario = LoadClient.healthz if config["scenario"] == "healthz" else LoadClient.incidents
    tasks = [asyncio.create_task(scenario(client)) for client in clients]

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
    return parser.parse_args(argv)


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
            run(args, server_url)
        except UnexpectedAnswer as error:  # no figure: a refusal must not pass for a command
            raise SystemExit(f"benchmark stopped, an answer it did not expect: {error}") from None


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


def run(args: argparse.Namespace, server_url: str | None) -> None:
    quick = args.quick
    n = args.n or (300 if quick else 3000)
    m = args.m or (200 if quick else 3000)
    rounds = args.rounds or (2 if quick else 3)
    duration = args.duration or (3.0 if quick else 10.0)
    warmup = 0.5 if quick else 1.0
    ceiling_duration = 1.0 if quick else 3.0
    write_warmup = max(10, n // 20)
    backends = [Backend("sqlite", args.tmpdir)]
    if server_url is not None:
        backends.append(Backend("postgres", args.tmpdir, server_url))
    report = Report(args.out)
    machine = machine_info()
    if server_url is not None:
        machine["postgres"] = postgres_version(server_url)
    began = time.perf_counter()
    #: Each backend's in-process figures, for the ratios and the side-by-side table.
    figures: dict[str, dict[str, float]] = {b.name: {} for b in backends}
    try:
        write_side(backends, n, write_warmup, rounds, report, figures)

        # (c) REST over HTTP, on SQLite.
        rest: dict[str, Any] | None = None
        if not args.skip_http:
            try:
                ceiling, rest = bench_rest(
                    args.clients, duration, warmup, ceiling_duration, args.tmpdir, args.workers
                )
            except UnexpectedAnswer:
                raise  # the run is void: main() exits non-zero naming the answer
            except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                say(f"c failed: {error}")
                report.emit("c_rest", error=str(error), clients=args.clients)
            else:
                report.emit(
                    "c_ceiling",
                    unit="requests/s",
                    clients=args.clients,
                    seconds=ceiling_duration,
                    **ceiling,
                )
                rest = report.emit(
                    "c_rest",
                    unit="commands/s",
                    clients=args.clients,
                    seconds=duration,
                    mix="log (with assignment_group), start-work, add-work-note, resolve",
                    server_settings=LIMITS_OFF,
                    **rest,
                )

        # (d) and (e) on the same data, interleaved, for each backend.
        for backend in backends:
            d, e = bench_rebuild(m, max(rounds, 2), backend, report)
            figures[backend.name].update(d_rebuild=d, e_read_decode=e)

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
        rest_rate = rest.get("rate") if rest else None
        rest_p99 = rest.get("p99_ms") if rest else None
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
        report.emit(
            "summary",
            **checks,
            **({"postgres": ratios["postgres"]} if "postgres" in ratios else {}),
            rest_commands_per_s=None if rest_rate is None else rounded(rest_rate),
            rest_p99_ms=rest_p99,
            rest_clients=args.clients,
            targets={
                "b_over_a": f">= {TARGET_WRITE_RATIO}",
                "rest": f">= {TARGET_REST_RATE:g} commands/s with p99 < {TARGET_REST_P99_MS:g} ms"
                f" at {TARGET_REST_CLIENTS} clients",
                "d_over_e": f">= {TARGET_REBUILD_RATIO}",
            },
            passed=passed,
            all_passed=all(v is True for v in passed.values()),
            quick=quick,
            seconds=rounded(time.perf_counter() - began),
            machine={**machine, "loadavg_end": [rounded(v, 2) for v in os.getloadavg()]},
        )
        say("in-process figures, side by side:\n" + side_by_side(figures))
    finally:
        report.close()


if __name__ == "__main__":
    main()
