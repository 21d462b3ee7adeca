"""(c) of the foundation benchmark: each record kind's lifecycle over REST against `itsm serve`,
in interleaved rounds, each window on a fresh server of its checkout (this one, or --baseline's),
driven by the load generator in its own process (loadgen.py)."""

from __future__ import annotations

import contextlib
import http.client
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from domain.actors import Actor, Role

from ._expect import UNLIMITED_ENV, UnexpectedAnswer, expect
from ._report import Report, fresh_dir, ratio, rounded, say
from .checkouts import ROOT, Checkout, commit_of
from .lifecycles import CREATED, INCIDENT, LIFECYCLES, SETUP, Lifecycle

TARGET_KIND_RATIO = 0.9  # each other kind's REST lifecycle / the incident's, in the same run
TARGET_REST_BEFORE_RATIO = 0.95  # the incident's REST lifecycle, after / before (--baseline)
#: What (c) says of its server's settings: the measured load must not be refused.
LIMITS_OFF = "rate limits off: " + ", ".join(f"{k}=''" for k in UNLIMITED_ENV)

AGENT = Actor(id="bench", role=Role.AGENT)
#: Defines the catalogue item and the change template the lifecycles use.
ADMIN = Actor(id="bench-admin", role=Role.ADMIN)


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
        env={**os.environ, **dict(checkout.env)},
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
    checkout: Checkout,
    data_dir: Path,
    log_path: Path,
    workers: int,
    *,
    env: Mapping[str, str] | None = None,
    patience: float = 60.0,
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The checkout's own `itsm serve` on a free port (with `env` besides the environment's),
    once it is ready (within `patience` seconds)."""
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
            # the measured load is not to be refused
            env={**os.environ, **UNLIMITED_ENV, **dict(checkout.env), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + patience
            while not ready(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log_path.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"the server did not become ready:\n{tail}")
                time.sleep(0.02)
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
        [sys.executable, "-m", "benchmarks.loadgen"],
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
    #: the round it stopped in (the rounds before it ran clean, and still count for nothing)
    void_round: dict[tuple[str, str], int] = field(default_factory=dict)


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
                    done.void_round[key] = r + 1
                    continue
                if healthz is not None:
                    done.ceilings[checkout.name] = healthz
                done.windows.setdefault(key, []).append(figures)
    return done


def rate_of(figures: dict[str, Any]) -> float | None:
    rate: float | None = figures.get("rate")
    return rate


def server_ms_of(figures: dict[str, Any]) -> float | None:
    """The server's CPU (every thread) per command of the window, in ms: each request of a
    lifecycle is one command. What the rate would be on a machine of its own depends on this,
    where the rate on a shared one depends on how much of the CPU the others leave."""
    ms: float | None = figures.get("cpu", {}).get("server_ms_per_request")
    return ms


def paired(
    numerators: list[dict[str, Any]],
    denominators: list[dict[str, Any]],
    value: Callable[[dict[str, Any]], float | None] = rate_of,
) -> tuple[float | None, list[float | None]]:
    """The ratio of two lines' rates (or another `value`) round by round (windows of one round
    ran close in time, so a load that comes and goes weighs on both), and the median of those
    ratios."""
    rounds = [ratio(value(n), value(d)) for n, d in zip(numerators, denominators, strict=False)]
    known = [r for r in rounds if r is not None]
    return (round(statistics.median(known), 3) if known else None), rounds


def rest_lines(
    report: Report, plan: RestPlan, checkouts: list[Checkout], done: RestRounds
) -> dict[str, dict[str, dict[str, Any]]]:
    """A line per lifecycle and checkout: the best round's figures with every round's rate, and
    its ratio to the incident line of the same checkout; with a baseline, after / before. A
    ratio is the median of the round-by-round ratios (judged against the targets), and the ratio
    of the best rounds beside it. Returns {checkout: {lifecycle: {"rate", "p99_ms",
    "ratio_to_incident"}}}."""
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
        incidents = done.windows.get((checkout.name, INCIDENT.name), [])
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
                void = {
                    "what": error.what,
                    "status": error.status,
                    "body": body,
                    "round": done.void_round.get(key),
                }
                report.emit(lifecycle.line, void=void, **common)
                continue
            runs = done.windows.get(key)
            if not runs:
                continue
            best = max(runs, key=lambda figures: float(figures["rate"]))
            to_incident: dict[str, Any] = {}
            if lifecycle is not INCIDENT and incidents:
                median, rounds = paired(runs, incidents)
                best_incident = max(float(r["rate"]) for r in incidents)
                # commands per second of the server's CPU against the incident's: the
                # incident's CPU per command over this line's
                cpu_median, cpu_rounds = paired(incidents, runs, server_ms_of)
                to_incident = {
                    "ratio_to_incident": median,
                    "ratio_to_incident_rounds": rounds,
                    "ratio_to_incident_of_bests": ratio(best["rate"], best_incident),
                    "cpu_ratio_to_incident": cpu_median,
                    "cpu_ratio_to_incident_rounds": cpu_rounds,
                }
            report.emit(
                lifecycle.line,
                unit="commands/s",
                seconds=plan.duration,
                server_settings=LIMITS_OFF,
                counted=f"the best of {len(runs)} rounds",
                samples=[r["rate"] for r in runs],
                median=rounded(statistics.median(r["rate"] for r in runs)),
                server_ms_per_command_rounds=[server_ms_of(r) for r in runs],
                **to_incident,
                **common,
                **best,
            )
            lines[checkout.name][lifecycle.name] = {
                "rate": best["rate"],
                "p99_ms": best.get("p99_ms"),
                "ratio_to_incident": to_incident.get("ratio_to_incident"),
            }
    if len(checkouts) == 2:
        after, before = checkouts
        compared = {
            lc.name: paired(
                done.windows.get((after.name, lc.name), []),
                done.windows.get((before.name, lc.name), []),
            )
            for lc in plan.lifecycles
        }
        of_bests = {
            lc.name: ratio(
                lines[after.name].get(lc.name, {}).get("rate"),
                lines[before.name].get(lc.name, {}).get("rate"),
            )
            for lc in plan.lifecycles
        }
        report.emit(
            "c_before_after",
            after=commit_of(after),
            before=commit_of(before),
            ratios={name: median for name, (median, _) in compared.items()},
            rounds={name: rounds for name, (_, rounds) in compared.items()},
            ratios_of_bests=of_bests,
            target={INCIDENT.name: f">= {TARGET_REST_BEFORE_RATIO}"},
        )
        for name, (median, _) in compared.items():
            if name in lines[after.name]:
                lines[after.name][name]["after_over_before"] = median
    return lines


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
            row += f"{cells[0].get('after_over_before') or math.nan:>14.3f}"
        rows.append(row)
    return "\n".join(rows)
