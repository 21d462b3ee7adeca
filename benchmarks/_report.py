"""What every measurement of the foundation benchmark shares: progress on stderr, one JSON
object per line on stdout (and in --out), rounding, ratios, fresh temporary directories."""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson


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


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)
