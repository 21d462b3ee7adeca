"""What the Kafka benchmarks (`kafka`, `circulation` and their consumer groups) share: progress on
stderr, and each measurement as one JSON line on stdout (and in --out), kept by name for the
summary."""

from __future__ import annotations

import sys
from typing import IO, Any

import orjson


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Report:
    def __init__(self, out: IO[str] | None) -> None:
        self.out = out
        self.lines: dict[str, dict[str, Any]] = {}

    def __call__(self, name: str, **figures: Any) -> None:
        line = {"bench": name, **figures}
        self.lines[name] = line
        text = orjson.dumps(line).decode()
        print(text, flush=True)
        if self.out:
            self.out.write(text + "\n")


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds else 0.0


def per_event_us(cpu_seconds: float, count: int) -> float:
    """CPU time (every thread of this process) per event, in microseconds: steadier than a rate
    on a shared machine, where another process's load slows both sides differently."""
    return round(cpu_seconds / count * 1e6, 2) if count else 0.0
