"""Before against after in one run: this checkout and another (`--baseline DIR`, e.g. a
`git worktree add` of an older commit with its own `.venv`), each measured with its own code.

The REST lines drive each checkout's own `itsm serve` with the same load generator (ours). The
in-process lines (a, b, d, e) are ratios within one checkout, so each checkout measures them with
its own `benchmarks.foundation` as a subprocess, in alternate rounds; the baseline's module may
not have every flag ours has, so only the flags its `--help` lists are passed, and the output
says what was run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
#: The in-process figures a checkout's run reports (its JSON lines' names), as the ratios use them.
MEASURES = ("a_baseline", "b_log", "b_mix", "e_read_decode", "d_rebuild")
#: Ratio name -> (numerator, denominator).
RATIOS = {
    "b_log / a": ("b_log", "a_baseline"),
    "b_mix / a": ("b_mix", "a_baseline"),
    "d / e": ("d_rebuild", "e_read_decode"),
}


@dataclass(frozen=True)
class Checkout:
    """A checkout of this repository and the virtualenv its code runs in."""

    name: str  # "after" (this checkout) or "before" (the baseline)
    root: Path
    venv: Path
    #: Settings its server runs with beyond the environment's (e.g. sealing off, to measure it).
    env: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, name: str, root: Path) -> Checkout:
        return cls(name, root, root / ".venv")

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def itsm(self) -> Path:
        return self.venv / "bin" / "itsm"

    def missing(self) -> str | None:
        """Why this checkout cannot be measured, if it cannot."""
        for needed in (self.root / "benchmarks" / "foundation.py", self.python, self.itsm):
            if not needed.exists():
                return f"{self.root}: no {needed.relative_to(self.root)} (run `make env` there)"
        return None


#: This checkout, in the virtualenv running this module.
HERE = Checkout("after", ROOT, Path(sys.prefix))


def flags_of(checkout: Checkout) -> set[str]:
    """The flags the checkout's `benchmarks.foundation --help` lists."""
    done = subprocess.run(
        [str(checkout.python), "-m", "benchmarks.foundation", "--help"],
        cwd=checkout.root,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", done.stdout))


def inprocess_argv(flags: set[str], n: int, m: int, tmpdir: str | None) -> list[str]:
    """One round of the in-process measurement, with what the checkout's module offers: without
    --n/--m it runs its --quick counts, without --skip-http its REST part too."""
    argv: list[str] = []
    if "--skip-http" in flags:
        argv.append("--skip-http")
    if "--rounds" in flags:
        argv += ["--rounds", "1"]
    if {"--n", "--m"} <= flags:
        argv += ["--n", str(n), "--m", str(m)]
    elif "--quick" in flags:
        argv.append("--quick")
    if tmpdir and "--tmpdir" in flags:
        argv += ["--tmpdir", tmpdir]
    return argv


def parse_figures(stdout: bytes) -> dict[str, float]:
    """The SQLite in-process rates of one run's JSON lines."""
    figures: dict[str, float] = {}
    for line in stdout.splitlines():
        if not line.strip().startswith(b"{"):
            continue
        record: dict[str, Any] = orjson.loads(line)
        name, rate = record.get("name"), record.get("rate")
        if name in MEASURES and rate is not None and record.get("backend", "sqlite") == "sqlite":
            figures[str(name)] = float(rate)
    return figures


def measure_inprocess(checkout: Checkout, argv: list[str]) -> dict[str, float]:
    done = subprocess.run(
        [str(checkout.python), "-m", "benchmarks.foundation", *argv],
        cwd=checkout.root,
        stdout=subprocess.PIPE,
        stderr=sys.stderr,  # its progress, as ours
        check=True,
        timeout=3600,
    )
    figures = parse_figures(done.stdout)
    if missing := [m for m in MEASURES if m not in figures]:
        raise RuntimeError(f"{checkout.name} ({checkout.root}) reported no {', '.join(missing)}")
    return figures


def best_with_ratios(rounds: list[dict[str, float]]) -> dict[str, float]:
    """The best of each measure over the rounds, and the ratios of those bests."""
    best = {m: max(r[m] for r in rounds) for m in MEASURES}
    ratios = {name: round(best[a] / best[b], 3) for name, (a, b) in RATIOS.items()}
    return {**best, **ratios}


def commit_of(checkout: Checkout) -> str:
    """The checkout's commit, `+` when its files differ from it (what was compared)."""

    def git(*argv: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(checkout.root), *argv], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+" if git("status", "--porcelain", "--untracked-files=no") else "")
