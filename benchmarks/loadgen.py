"""The REST load generator: keep-alive clients on raw asyncio streams, each driving its own
records through a lifecycle (lifecycles.py) or GET /healthz, counting only the answers it expects.

It runs in its own process, so that it shares neither the server's GIL nor the benchmark's:
`python -m benchmarks.loadgen`, its config as JSON on stdin, its figures as JSON on stdout (or
the answer it did not expect, with exit status 1).
"""

from __future__ import annotations

import asyncio
import math
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from ._expect import UnexpectedAnswer, expect
from ._report import rounded
from .lifecycles import LIFECYCLES, Lifecycle, Turn


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


if __name__ == "__main__":
    loadgen_main()
