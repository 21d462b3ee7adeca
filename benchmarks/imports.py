"""Imports benchmark: the UCI ServiceNow log's import rate, and a shadow rebuild of the views it
made against a bare read-and-decode of the same store, side by side in one run.

    .venv/bin/python -m benchmarks.imports [--rows N] [--batch 500] [--rounds 3]

    import        `Importer.run` over the log (all rows, or the first N): rows/s and events/s
    rerun         the same import again: every case found, nothing written (idempotence cost)
    read-decode   every notification of the store read and decoded, in batches of 2,000
    shadow        `rebuild_in_shadow` of incident_details (events read / s, swapped in at the
                  end), as a ratio of read-decode
    what-if       `itsm whatif`'s run over the whole imported history (every incident judged by
                  its rules of record and by docs/whatif/p2-resolution-4h.toml): seconds, and
                  incidents/s (target: the ~25,000 UCI incidents in under 15 s)

The store is a fresh SQLite directory. Rebuild and read-decode alternate for --rounds rounds and
the best of each is reported. A table goes to stdout.
"""

from __future__ import annotations

import argparse
import lzma
import tempfile
import time
from pathlib import Path

from infra.settings import Settings
from processes.import_mapping import shipped
from processes.importer import Importer
from processes.whatif import PolicyFile, WhatIf, read_rule_file
from processes.whatif import run as run_whatif
from projections import incident_details
from projections.runner import collector_paused
from projections.shadow import rebuild_in_shadow
from service.bootstrap import build

P2_IN_4H = Path(__file__).parent.parent / "docs" / "whatif" / "p2-resolution-4h.toml"
UCI = Path("/work/shared/data/uci-servicenow-incident-event-log/incident_event_log.csv.xz")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=None, help="only the first N rows")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--log", type=Path, default=UCI)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        source = args.log
        if args.rows is not None:
            source = Path(scratch) / "head.csv"
            with lzma.open(args.log, "rt", newline="") as text:
                source.write_text(
                    "".join(line for _, line in zip(range(args.rows + 1), text, strict=False))
                )
        services = build(Settings(data_dir=Path(scratch) / "var"))
        try:
            table = measure(services, source, args)
        finally:
            services.close()
    width = max(len(row[0]) for row in table)
    for name, figure, note in table:
        print(f"{name:<{width}}  {figure:>16}  {note}")


def measure(services, source: Path, args: argparse.Namespace) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    importer = Importer(
        services.desk, shipped("servicenow"), clock=services.clock, batch=args.batch
    )
    started = time.perf_counter()
    report = importer.run(source)
    took = time.perf_counter() - started
    started = time.perf_counter()
    again = importer.run(source)
    rerun = time.perf_counter() - started
    assert again.events == 0
    desk = services.desk
    best: dict[str, float] = {}
    read: dict[str, int] = {}
    for _ in range(args.rounds):
        started = time.perf_counter()
        count = read_and_decode(services)
        best["read"] = min(best.get("read", 1e9), time.perf_counter() - started)
        read["read"] = count
        started = time.perf_counter()
        read["one"] = rebuild_in_shadow(
            desk.recorder, desk.mapper, services.views, incident_details
        )
        best["one"] = min(best.get("one", 1e9), time.perf_counter() - started)
    bare = read["read"] / best["read"]
    one = read["one"] / best["one"]
    whatif = WhatIf(policy=PolicyFile.model_validate(read_rule_file(P2_IN_4H)).terms)
    started = time.perf_counter()
    done = run_whatif(desk, whatif, services.clock())
    scenario_s = time.perf_counter() - started
    tickets = done.report["total"]["record"]["tickets"]
    return [
        ("what", "rate", "notes"),
        (
            "import",
            f"{report.rows / took:,.0f} rows/s",
            f"{report.rows:,} rows, {report.imported:,} incidents, {report.events:,} events "
            f"in {took:.1f} s ({report.events / took:,.0f} events/s); "
            f"{sum(report.skipped.values())} rows skipped",
        ),
        (
            "rerun (idempotent)",
            f"{report.rows / rerun:,.0f} rows/s",
            f"{again.already:,} cases found, 0 events written, {rerun:.1f} s",
        ),
        ("read-decode", f"{bare:,.0f} ev/s", f"{read['read']:,} notifications"),
        ("shadow incident_details", f"{one:,.0f} ev/s", f"{one / bare:.2f} x read-decode"),
        (
            "what-if (P2 in 4 h)",
            f"{scenario_s:.1f} s",
            f"{tickets:,} incidents, {tickets / scenario_s:,.0f}/s (read {done.read_seconds:.1f} s,"
            f" judge {done.judge_seconds:.1f} s; target < 15 s)",
        ),
    ]


def read_and_decode(services) -> int:  # type: ignore[no-untyped-def]
    recorder, mapper = services.desk.recorder, services.desk.mapper
    head = recorder.max_notification_id() or 0
    position, count = 0, 0
    with collector_paused():
        while position < head:
            batch = recorder.select_notifications(
                start=position, limit=2000, stop=head, inclusive_of_start=False
            )
            if not batch:
                break
            for notification in batch:
                mapper.to_domain_event(notification)
            count += len(batch)
            position = batch[-1].id
    return count


if __name__ == "__main__":
    main()
