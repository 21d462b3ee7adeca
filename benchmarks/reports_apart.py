"""What the monthly reports cost the reads served beside them: made in the server's own process
(as `itsm serve` made them until issue 23) against made in a child process
(service/reports_apart.py, as it makes them now), side by side, interleaved round by round.
And one report asked for to read (`GET /reports/incidents`, the console's dashboard), made in
this process (`one_here`, as until stop 41) against made by the child the process keeps
(`one_kept`, `Services.reports`).

    .venv/bin/python -m benchmarks.reports_apart --history /var/tmp/itsm-scale/sqlite-100000 \
        [--rounds 2] [--out FILE]

A copy of the history's data directory (benchmarks/scale.py's cache, SQLite) is made once. A
reader thread reads random incidents from the views, as a request does, every 5 ms: its
latencies are taken while nothing else runs (`idle`), while last month's reports are made in
this process (`here`), and while they are made in a child (`apart`); then the same for one report
(`one_here`, `one_kept`). The reports made each way must be the same to the digest, and every
read must find its incident, or the run stops.
"""

from __future__ import annotations

import argparse
import random
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks._report import Report, fresh_dir, rounded, say
from benchmarks.loadgen import percentile
from infra.settings import Settings
from processes import reports
from processes.reports.issue import make_month, month_before, month_period
from projections.incident_details import incidents as incident_view
from service.bootstrap import Services, build
from service.reports_apart import made_apart

Make = Callable[[str, Sequence[str]], list[dict[str, Any]]]


def reads_during(services: Services, work: Callable[[], Any], head: int) -> tuple[Any, list[float]]:
    """`work`'s result, and the latencies of the reads made while it ran."""
    ctx = services.system_context()
    rng = random.Random(7)
    stop = threading.Event()
    latencies: list[float] = []
    missing: list[int] = []

    def reader() -> None:
        while not stop.wait(0.005):
            number = rng.randrange(1, head)
            began = time.perf_counter()
            row = incident_view.by(services.views, ctx, "number", number)
            latencies.append(time.perf_counter() - began)
            if row is None:
                missing.append(number)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        result = work()
    finally:
        stop.set()
        thread.join()
    if missing:
        raise SystemExit(f"INC-{missing[0]:06d} not found: the run is void")
    return result, latencies


def figures(latencies: list[float], seconds: float) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "seconds": rounded(seconds, 1),
        "reads": len(ordered),
        "p50_ms": rounded(percentile(ordered, 0.5) * 1000, 2),
        "p99_ms": rounded(percentile(ordered, 0.99) * 1000, 2),
        "max_ms": rounded(ordered[-1] * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=Path, default=Path("/var/tmp/itsm-scale/sqlite-100000"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--incidents", type=int, default=None, help="read among INC-1..N")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    report = Report(args.out)
    with fresh_dir("reports-apart", "/var/tmp") as tmp:
        data_dir = tmp / "var"
        say(f"copying {args.history / 'var'}")
        shutil.copytree(args.history / "var", data_dir)
        settings = Settings(data_dir=data_dir)
        services = build(settings)
        services.start()
        try:
            month = month_before(services.clock().date())
            head = args.incidents or 1_000
            names = list(reports.NAMES)
            ways: dict[str, Make] = {
                "here": lambda m, n: make_month(services.desk, m, n),
                "apart": made_apart(settings),
                "one_here": lambda m, n: make_month(services.desk, m, n[:1]),
                "one_kept": lambda m, n: [services.reports.make(month_period(m), n[0])],
            }
            services.reports.make(month_period(month), "changes")  # its child started, warm
            digests: dict[str, list[str]] = {}
            for round_ in range(args.rounds):
                order = ["here", "apart", "one_here", "one_kept"]
                if round_ % 2:
                    order = ["apart", "here", "one_kept", "one_here"]
                started = time.perf_counter()
                _, idle = reads_during(services, lambda: time.sleep(5.0), head)
                report.emit(
                    "reads",
                    round=round_,
                    way="idle",
                    **figures(idle, time.perf_counter() - started),
                )
                for way in order:
                    make = ways[way]
                    say(f"round {round_ + 1}: {month}'s reports made {way}")
                    started = time.perf_counter()
                    made, during = reads_during(services, partial(make, month, names), head)
                    took = time.perf_counter() - started
                    digest = [m["digest"] for m in made]
                    if (
                        digests.setdefault(way, digest) != digest
                        or digest != (digests.get("here", digest)[: len(digest)])
                    ):
                        raise SystemExit(f"{way}: reports differ from the other way's: void")
                    report.emit("reads", round=round_, way=way, **figures(during, took))
        finally:
            services.close()
    report.close()


if __name__ == "__main__":
    main()
