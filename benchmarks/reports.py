"""Service report benchmark: the monthly reports over a year of 25,000 incidents, beside the bare
read-and-decode of the same events, in one run.

    .venv/bin/python -m benchmarks.reports [--incidents 25000] [--cache-dir DIR] [--rounds 3]

The store is the what-if benchmark's (benchmarks/whatif.py: a synthetic 2026, built once and kept
in --cache-dir). Each round, interleaved, times:

    bare      every event a report reads, selected from the store and decoded from JSON
    month     December's five reports (incidents judged by their rules of record)
    year      the year's five reports, with a row for each month (each month made as its own
              report, so each incident is judged twice)

and prints one JSON object per line, then the target (under 10 s for the year). A round whose
incident report does not count every incident in the store, or whose December total differs
from the year's December row, stops the run: a figure that cannot be wrong is not a figure.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from application.desk import ServiceDesk
from benchmarks.whatif import store
from domain.incident import Logged
from infra.serialisation import plain
from processes import reports
from processes.reports.figures import Period
from processes.reports.history import batches

YEAR = Period.month(2026, 1).first, Period.month(2026, 12).last
TARGET_S = 10.0


def bare(desk: ServiceDesk, period: Period) -> tuple[int, int]:
    """Every event the reports read, selected and decoded: the floor under any report. With it,
    the incidents logged in `period`, counted from their Logged events (what the incident
    report's total must say)."""
    head = desk.recorder.max_notification_id() or 0
    decoded = logged = 0
    for batch in batches(desk.recorder, head):
        for n in batch:
            data = orjson.loads(plain(desk.mapper, n.state))
            decoded += 1
            if n.topic == Logged.type_name:
                logged += period.holds(datetime.fromisoformat(data["timestamp"]))
    return decoded, logged


def make_all(desk: ServiceDesk, period: Period) -> dict[str, dict[str, Any]]:
    reading = reports.read(desk, period)
    return {name: reports.make(desk, reading, name) for name in reports.NAMES}


class Unexpected(RuntimeError):
    """The reports said something the store cannot hold: the run is void."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=25_000)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    year = Period(*YEAR)
    december = Period.month(2026, 12)
    with store(args.cache_dir, args.incidents) as (desk, _reused, events):
        print(json.dumps({"measure": "store", "incidents": args.incidents, "events": events}))
        for round_ in range(1, args.rounds + 1):
            started = time.perf_counter()
            decoded, expected = bare(desk, year)
            bare_s = time.perf_counter() - started

            started = time.perf_counter()
            month = make_all(desk, december)
            month_s = time.perf_counter() - started

            started = time.perf_counter()
            whole = make_all(desk, year)
            year_s = time.perf_counter() - started

            logged = whole["incidents"]["total"]["logged"]
            if logged != expected:
                raise Unexpected(f"the year's report counts {logged} incidents of {expected}")
            if whole["incidents"]["months"][-1]["figures"] != month["incidents"]["total"]:
                raise Unexpected("December's report differs from the year's December row")
            print(
                json.dumps(
                    {
                        "measure": "reports",
                        "round": round_,
                        "events_decoded": decoded,
                        "incidents_in_2026": logged,
                        "bare_read_decode_s": round(bare_s, 2),
                        "december_s": round(month_s, 2),
                        "year_s": round(year_s, 2),
                        "year_over_bare": round(year_s / bare_s, 1),
                        "target_s": TARGET_S,
                        "met": year_s < TARGET_S,
                    }
                )
            )


if __name__ == "__main__":
    main()
