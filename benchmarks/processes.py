"""Many API processes over one PostgreSQL (issue 23): the REST rate of `itsm serve --workers 2`
beside `--workers 1`, on the same machine, in one run.

    .venv/bin/python -m benchmarks.processes [--rounds 3] [--duration 10] [--clients 4,32]
                                             [--database-url URL] [--out F]

Without --database-url it starts a local PostgreSQL server (infra/postgres_server.py) for the
run. Each window is a fresh database and data directory, a fresh `itsm serve` with that many API
processes (each with its own writer and group commit; the kernel shares the port's connections
among them, as a load balancer would), the incident lifecycle of the REST benchmark (log, assign,
start work, add a work note, resolve: benchmarks/lifecycles.py) driven by the load generator in a
process of its own at the given number of clients, rate limits off. In each round the two
process counts run one after the other, in alternate order from round to round; the ratio of
their rates is taken round by round and its median reported. The load generator counts only the
answers it expects and stops the run on any other.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks._report import Report, fresh_dir, ratio, say
from benchmarks.checkouts import HERE
from benchmarks.foundation import fresh_database
from benchmarks.lifecycles import INCIDENT
from benchmarks.rest import (
    ADMIN,
    define_setup,
    issue_token,
    itsm_server,
    run_loadgen,
)
from infra.postgres_server import PostgresServer

PROCESSES = (1, 2)
WARMUP = 2.0


@contextmanager
def postgres(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    directory = tempfile.mkdtemp(prefix="itsm-bench-postgres-")
    server = PostgresServer(directory)
    say(f"starting a local PostgreSQL server in {directory}")
    try:
        yield server.up()
    finally:
        server.down()


def window(server_url: str, workers: int, clients: int, duration: float) -> dict[str, Any]:
    """One window: a fresh database and server with `workers` API processes."""
    with fresh_database(server_url) as url, fresh_dir(f"p{workers}-c{clients}", None) as tmp:
        os.environ["ITSM_DATABASE_URL"] = url  # the server, and the tokens it is given
        try:
            data_dir = tmp / "var"
            token = issue_token(HERE, data_dir)
            admin = issue_token(HERE, data_dir, ADMIN)
            with itsm_server(HERE, data_dir, tmp / "server.log", workers) as (proc, port):
                define_setup(port, admin)
                say(f"{workers} process(es), {clients} clients, {WARMUP:g}+{duration:g} s")
                figures = run_loadgen(
                    {
                        "port": port,
                        "token": token,
                        "clients": clients,
                        "server_pid": proc.pid,
                        "scenario": INCIDENT.name,
                        "warmup": WARMUP,
                        "duration": duration,
                    }
                )
                if proc.poll() is not None:
                    raise RuntimeError(f"the server died during the run (exit {proc.returncode})")
        finally:
            del os.environ["ITSM_DATABASE_URL"]
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--clients", default="4,32", help="comma-separated client counts")
    parser.add_argument("--database-url", help="a PostgreSQL server whose role creates databases")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    report = Report(args.out)
    counts = [int(c) for c in args.clients.split(",")]
    rates: dict[tuple[int, int], list[float]] = {}
    p99: dict[tuple[int, int], list[float]] = {}
    ratios: dict[int, list[float]] = {c: [] for c in counts}
    say(f"load average at the start: {os.getloadavg()[0]:.2f}")
    with postgres(args.database_url) as server_url:
        for r in range(args.rounds):
            order = PROCESSES if r % 2 == 0 else PROCESSES[::-1]
            for clients in counts:
                got: dict[int, float] = {}
                for workers in order:
                    figures = window(server_url, workers, clients, args.duration)
                    rate = float(figures["rate"])
                    got[workers] = rate
                    rates.setdefault((workers, clients), []).append(rate)
                    p99.setdefault((workers, clients), []).append(float(figures["p99_ms"]))
                    report.emit(
                        "processes_rest",
                        round=r + 1,
                        processes=workers,
                        clients=clients,
                        unit="commands/s",
                        rate=round(rate, 1),
                        p99_ms=figures["p99_ms"],
                        backend="postgres",
                    )
                paired = ratio(got[2], got[1])
                if paired is not None:
                    ratios[clients].append(paired)
    table = Table(title="REST, the incident lifecycle, over one PostgreSQL: 2 API processes / 1")
    for name in ("clients", "1 process: rate", "2 processes: rate", "2 / 1 (median)", "p99 ms"):
        table.add_column(name, justify="right")
    for clients in counts:
        one, two = rates[(1, clients)], rates[(2, clients)]
        median = round(statistics.median(ratios[clients]), 3) if ratios[clients] else None
        report.emit(
            "processes_ratio",
            clients=clients,
            ratio_2_to_1=median,
            rounds=[round(x, 3) for x in ratios[clients]],
            rate_1=round(max(one), 1),
            rate_2=round(max(two), 1),
        )
        table.add_row(
            str(clients),
            f"{max(one):.0f}",
            f"{max(two):.0f}",
            f"{median}",
            f"{max(p99[(1, clients)]):.0f} / {max(p99[(2, clients)]):.0f}",
        )
    Console(file=sys.stderr).print(table)
    say(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    report.close()


if __name__ == "__main__":
    main()
