"""The console's pages against the JSON API for the same data, in one run (issue 22's figures).

    .venv/bin/python -m benchmarks.console [--rounds 200] [--out FILE]

Builds a history once (SQLite, a temporary directory): a group with 500 open incidents, and one
incident with 200 events (comments and internal work notes, alternately). Serves the app with
uvicorn on loopback, signs an agent in to the console, and then, round by round, interleaved:

- the agent's queue of the 500 (`GET /console/queue?group=`) beside the JSON queue of the same
  500 (`GET /api/v1/queues?group=&limit=500`);
- the incident's page with its 200 events (`GET /console/incidents/{ref}`: details, SLA clocks,
  timeline, action forms) beside what the JSON API answers for the same (`GET .../{ref}` and
  `GET .../{ref}/history`, two requests, timed together).

Each request is timed from the client (loopback: the server's time and a few microseconds). Only
200s that hold what was asked are counted (every row of the queue, every event of the timeline);
anything else stops the run. Prints one JSON line per measure and a table: p50 and p99 in ms,
and the page's p99 over the JSON's. Target: p99 < 50 ms for both pages.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import quantiles
from uuid import uuid4

import httpx
import uvicorn

from application.kinds import GROUP, INCIDENT, PERSON
from application.pipeline import Submission
from benchmarks._expect import UNLIMITED_ENV, expect
from benchmarks._report import Report, say
from console.app import create_app
from console.main import GC_YOUNG_THRESHOLD
from domain.actors import SYSTEM, Actor, Role
from domain.commands import AddComment, AddWorkNote, LogIncident
from domain.context import Context
from domain.directory import FormGroup, RegisterPerson
from infra.clock import utcnow
from infra.console_store import open_console_store
from infra.settings import Settings
from service.bootstrap import Services, build

AGENT = Actor(id="siti.rahma", role=Role.AGENT)
PASSWORD = "bangku-taman-7"
GROUP_CODE = "kiosk-team"
QUEUE, EVENTS = 500, 200


def _ctx(actor: Actor = SYSTEM) -> Context:
    return Context(actor=actor, at=utcnow(), correlation_id=uuid4())


def history(services: Services) -> str:
    """The group's 500 open incidents and the one with 200 events; that one's number."""
    admin = Actor(id="bench.admin", role=Role.ADMIN)
    person = RegisterPerson(actor_id=AGENT.id, name="Siti Rahma", roles=[Role.AGENT])
    group = FormGroup(code=GROUP_CODE, name="Tim Kios", members=[AGENT.id])
    for result in services.desk.execute_batch(
        [Submission(_ctx(admin), person, PERSON), Submission(_ctx(admin), group, GROUP)]
    ):
        if isinstance(result, Exception):
            raise result
    logs = [
        Submission(
            _ctx(AGENT),
            LogIncident(
                title=f"Kios {n} tidak merespons",
                service="kiosks-gates",
                caller="budi.santoso",
                impact=("low", "medium", "high")[n % 3],
                urgency=("low", "medium", "high")[n // 3 % 3],
                assignment_group=GROUP_CODE,
            ),
            INCIDENT,
        )
        for n in range(QUEUE)
    ]
    outcomes = []
    for start in range(0, QUEUE, 100):
        for result in services.desk.execute_batch(logs[start : start + 100]):
            if isinstance(result, Exception):
                raise result
            outcomes.append(result)
    busy = outcomes[0].record_id
    for n in range(EVENTS - 2):  # logged and assigned are its first two
        text = f"Catatan ke-{n}: pemeriksaan kabel, daya dan jaringan kios."
        command = AddComment(text=text) if n % 2 else AddWorkNote(text=text)
        services.desk.execute(Submission(_ctx(AGENT), command, INCIDENT, ref=busy))
    services.runner.catch_up()
    return "INC-000001"


@contextmanager
def served(services: Services) -> Iterator[str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        create_app(services), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def signed_in(http: httpx.Client) -> dict[str, str]:
    """The console's cookie (Secure: sent by hand over loopback http, as a browser would)."""
    page = http.get("/console/sign-in")
    expect("sign-in page", page.status_code, {200}, page.content)
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    done = http.post(
        "/console/sign-in",
        data={"csrf": token.group(1), "actor_id": AGENT.id, "password": PASSWORD},
        headers={"Cookie": f"itsm_csrf={page.cookies['itsm_csrf']}"},
    )
    expect("sign in", done.status_code, {303}, done.content)
    return {"Cookie": f"itsm_session={done.cookies['itsm_session']}"}


def timed(call: Callable[[], None]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


class Pages:
    """The four requests of a round, each counted only if it answered what was asked."""

    def __init__(self, http: httpx.Client, cookie: dict[str, str], token: str, ref: str) -> None:
        self.http, self.cookie, self.ref = http, cookie, ref
        self.bearer = {"Authorization": f"Bearer {token}"}

    def queue_page(self) -> None:
        got = self.http.get(f"/console/queue?group={GROUP_CODE}", headers=self.cookie)
        expect("queue page", got.status_code, {200}, got.content)
        rows = got.text.count('href="/console/incidents/INC-')
        if rows != QUEUE:
            raise RuntimeError(f"the queue page shows {rows} of {QUEUE}")

    def queue_json(self) -> None:
        got = self.http.get(f"/api/v1/queues?group={GROUP_CODE}&limit=500", headers=self.bearer)
        expect("queue JSON", got.status_code, {200}, got.content)
        if len(got.json()["queues"][0]["items"]) != QUEUE:
            raise RuntimeError("the JSON queue is not the 500")

    def incident_page(self) -> None:
        got = self.http.get(f"/console/incidents/{self.ref}", headers=self.cookie)
        expect("incident page", got.status_code, {200}, got.content)
        if got.text.count("<time ") != EVENTS:
            raise RuntimeError(f"the timeline shows {got.text.count('<time ')} events")

    def incident_json(self) -> None:
        row = self.http.get(f"/api/v1/incidents/{self.ref}", headers=self.bearer)
        expect("incident JSON", row.status_code, {200}, row.content)
        got = self.http.get(f"/api/v1/incidents/{self.ref}/history", headers=self.bearer)
        expect("history JSON", got.status_code, {200}, got.content)
        if len(got.json()["events"]) != EVENTS:
            raise RuntimeError("the JSON history is not the 200 events")


def measured(services: Services, settings: Settings, rounds: int) -> dict[str, list[float]]:
    """Each measure's times in ms, the four interleaved round by round."""
    say(f"history: {QUEUE} open incidents, one with {EVENTS} events")
    ref = history(services)
    store = open_console_store(None, settings.data_dir)
    store.set_password(AGENT.id, PASSWORD, utcnow())
    store.close()
    token = services.tokens.issue(AGENT, at=utcnow(), issued_by="bench").token
    # as a served worker does once started (console/main.py): what start-up built is frozen out
    # of the collector's scans, and the young generation collected less often
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    times: dict[str, list[float]] = {name: [] for name in MEASURES}
    with served(services) as base, httpx.Client(base_url=base, timeout=30) as http:
        pages = Pages(http, signed_in(http), token, ref)
        calls = {name: getattr(pages, name) for name in MEASURES}
        for call in calls.values():  # warm: templates compiled, caches filled
            call()
        for n in range(rounds):
            for name, call in calls.items():
                times[name].append(timed(call))
            if (n + 1) % 50 == 0:
                say(f"round {n + 1} of {rounds}")
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    report = Report(args.out)
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        os.environ.update(UNLIMITED_ENV)  # the benchmark's own load is not throttled
        settings = Settings(data_dir=Path(tmp))
        services = build(settings)
        services.start()
        try:
            times = measured(services, settings, args.rounds)
        finally:
            services.close()
    lines = {}
    for name, values in times.items():
        cuts = quantiles(values, n=100)
        lines[name] = report.emit(
            f"console.{name}",
            requests=len(values),
            p50_ms=round(cuts[49], 2),
            p99_ms=round(cuts[98], 2),
        )
    for page, json_ in (("queue_page", "queue_json"), ("incident_page", "incident_json")):
        ratio = lines[page]["p99_ms"] / lines[json_]["p99_ms"]
        report.emit(f"console.{page}_over_json", p99_ratio=round(ratio, 2))
    report.close()
    print(f"\n{'measure':<16}{'p50 ms':>10}{'p99 ms':>10}", flush=True)
    for name, line in lines.items():
        print(f"{name:<16}{line['p50_ms']:>10}{line['p99_ms']:>10}")


MEASURES = ("queue_page", "queue_json", "incident_page", "incident_json")


if __name__ == "__main__":
    main()
