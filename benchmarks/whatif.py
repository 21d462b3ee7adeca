"""What-if benchmark: a what-if over a year of synthetic incidents, end to end; the clock rate.

    .venv/bin/python -m benchmarks.whatif [--incidents 25000] [--cache-dir DIR] [--rounds 2]

Builds (or reuses, with --cache-dir) a store of realistic incidents over 2026: priorities from
impact and urgency, the seed's services, groups and organisations, holds for each reason,
reprioritisations, functional escalations, reopens, cancellations, and some still open at the
end. Then runs a what-if (P2 resolution 4 hours, cuti bersama as working days, a stricter
matrix) as `itsm whatif` does, and prints one JSON object per line:

    store              incidents and events in the store (and whether it was reused)
    clock              judge() clocks/s on the 10-event ticket of benchmarks/sla.py
    clock_month_on_hold  judge() clocks/s on a ticket whose clock ran through a month's hold
    whatif             seconds to read, to judge (twice per ticket) and in all; tickets/s
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from application.desk import ServiceDesk
from application.seed import catalogue
from benchmarks.sla import T0, rate, ten_events
from domain.actors import Actor, Role
from domain.calendar import OFFICE_HOURS, CalendarSpec, HolidayKind, shipped_holidays
from domain.context import Context
from domain.incident import CancelReason, Channel, EscalationKind, HoldReason, Incident
from domain.incident import ResolutionCode as Code
from domain.organisations import ORGANISATIONS
from domain.priority import Impact, Urgency
from domain.rule_versions import RuleVersions
from domain.sla import DEFAULT_TERMS, Targets
from domain.sla_clock import Mark, MarkKind, Ticket, judge
from domain.sla_incident import ticket
from infra.settings import Settings
from processes.whatif import CalendarFile, WhatIf, run
from service.bootstrap import build

AGENT = Actor(id="bench-agent", role=Role.AGENT)
CALLER = Actor(id="bench-caller", role=Role.REQUESTER)
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
GROUPS = (
    "helpdesk",
    "tim-inlislite",
    "tim-jaringan",
    "kiosk-team",
    "layanan-sirkulasi",
    "layanan-keanggotaan",
)
REOPEN_WINDOW = timedelta(days=5)


def services_of_seed() -> list[str]:
    return sorted({item.service for item in catalogue() if item.service})


def synthesise(desk: ServiceDesk, incidents: int, seed: int = 8, batch: int = 200) -> int:
    """Store `incidents` incidents logged over 2026 with their histories; the events stored."""
    rng = random.Random(seed)
    services = services_of_seed()
    organisations = [code for code, _, _ in ORGANISATIONS]
    matrix = desk.priority_matrix()
    rules = {service: desk.sla_rules_for(service) for service in services}
    stored, pending = 0, []
    for number in range(1, incidents + 1):
        incident = _history(rng, number, services, organisations, matrix, rules)
        pending.append(incident)
        if len(pending) >= batch:
            stored += len(desk.save(*pending))
            pending = []
    if pending:
        stored += len(desk.save(*pending))
    return stored


def _history(
    rng: random.Random,
    number: int,
    services: list[str],
    organisations: list[str],
    matrix: object,
    rules: dict[str, RuleVersions | None],
) -> Incident:
    """One incident's life: logged during office hours mostly, then worked, held, resolved."""
    at = YEAR_START + timedelta(minutes=rng.randrange(365 * 24 * 60))
    end = YEAR_START + timedelta(days=365)

    def ctx(actor: Actor = AGENT) -> Context:
        return Context(actor, at, uuid4())

    def later(low_minutes: float, high_minutes: float) -> datetime:
        return at + timedelta(minutes=rng.uniform(low_minutes, high_minutes))

    service = rng.choice(services)
    impact = rng.choices(list(Impact), weights=(1, 3, 6))[0]
    urgency = rng.choices(list(Urgency), weights=(2, 4, 4))[0]
    incident = Incident.log(
        ctx(),
        id=uuid4(),
        number=number,
        title=f"incident {number}",
        description="",
        service=service,
        configuration_item=None,
        caller=CALLER.id,
        channel=rng.choice(list(Channel)),
        impact=impact,
        urgency=urgency,
        matrix=matrix,  # type: ignore[arg-type]
        sla=rules[service],
        organisation=rng.choice(organisations),
    )
    group = rng.choice(GROUPS)
    at = later(2, 60)
    incident.assign(ctx(), group=group)
    if rng.random() < 0.02:
        at = later(5, 120)
        incident.cancel(ctx(), reason=CancelReason.LOGGED_IN_ERROR)
        return incident
    at = later(5, 240)
    incident.start_work(ctx())
    if rng.random() < 0.1:
        at = later(30, 600)
        new = (rng.choice(list(Impact)), rng.choice(list(Urgency)))
        if new != (incident.impact, incident.urgency):
            incident.reprioritise(
                ctx(),
                impact=new[0],
                urgency=new[1],
                reason="re-assessed",
                matrix=matrix,  # type: ignore[arg-type]
            )
    if rng.random() < 0.1:
        at = later(30, 900)
        incident.escalate(
            ctx(),
            kind=EscalationKind.FUNCTIONAL,
            reason="needs the specialists",
            to_group=rng.choice([g for g in GROUPS if g != group]),
        )
        at = later(5, 120)
        incident.start_work(ctx())
    if rng.random() < 0.3:
        at = later(10, 600)
        reason = rng.choices(list(HoldReason), weights=(5, 3, 2))[0]
        incident.put_on_hold(ctx(), reason=reason)
        at = later(60, 4 * 24 * 60)
        incident.resume(ctx())
    if rng.random() < 0.4:
        at = later(5, 300)
        incident.add_comment(ctx(), text="we are on it")
    at = later(20, rng.lognormvariate(7.0, 1.1))  # a median of about 18 hours
    if at >= end:
        return incident  # still open at the end of the year
    incident.resolve(ctx(), code=Code.FIXED, notes="fixed", reopen_window=REOPEN_WINDOW)
    if rng.random() < 0.05:
        at = later(60, 2 * 24 * 60)
        incident.reopen(ctx(CALLER), reason="it broke again")
        at = later(60, 3 * 24 * 60)
        if at >= end:
            return incident
        incident.resolve(ctx(), code=Code.FIXED, notes="fixed again", reopen_window=REOPEN_WINDOW)
    at = at + REOPEN_WINDOW + timedelta(minutes=1)
    if at < end:
        incident.close(ctx())
    return incident


def scenario(desk: ServiceDesk) -> WhatIf:
    """P2 resolution in 4 hours; cuti bersama as working days; medium/high rated P1."""
    terms = desk.sla_policy().terms
    office = desk.business_calendar("office")
    years = {
        year: entry.model_copy(
            update={"holidays": [h for h in entry.holidays if h.kind != HolidayKind.CUTI_BERSAMA]}
        )
        for year, entry in office.years.items()
    }
    cells = desk.priority_matrix().cells
    return WhatIf(
        policy=terms.model_copy(
            update={
                "targets": {
                    **terms.targets,
                    2: Targets(response_minutes=60, resolution_minutes=240),
                }
            }
        ),
        calendars=[
            CalendarFile(name="office", time_zone=office.time_zone, hours=office.hours, years=years)
        ],
        matrix={**cells, Impact.MEDIUM: {**cells[Impact.MEDIUM], Urgency.HIGH: 1}},
    )


@contextmanager
def store(cache_dir: Path | None, incidents: int) -> Iterator[tuple[ServiceDesk, bool, int]]:
    """A store with `incidents` synthetic incidents: reused from the cache dir if it has one."""
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = (cache_dir or Path(scratch)) / f"whatif-{incidents}"
        marker = data_dir / "complete"
        reused = marker.exists()
        services = build(Settings(data_dir=data_dir))
        try:
            if not reused:
                events = synthesise(services.desk, incidents)
                marker.write_text(str(events))
            yield services.desk, reused, int(marker.read_text())
        finally:
            services.close()


def month_on_hold() -> Ticket:
    """A P4 held a month awaiting a change (which does not pause it): a month of calendar."""
    return Ticket(
        "incident",
        "Self-check kiosks",
        None,
        (
            Mark(T0, MarkKind.LOGGED, 4),
            Mark(T0 + timedelta(hours=1), MarkKind.RESPONDED),
            Mark(T0 + timedelta(hours=2), MarkKind.HELD, "awaiting_change"),
            Mark(T0 + timedelta(days=30), MarkKind.RESUMED),
            Mark(T0 + timedelta(days=31), MarkKind.RESOLVED),
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=25_000)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    calendar = CalendarSpec.of("Asia/Jakarta", OFFICE_HOURS, shipped_holidays())
    made = ticket(ten_events())
    as_of = T0 + timedelta(days=10)
    clocks = max(rate(lambda: judge(made, DEFAULT_TERMS, calendar, as_of)) for _ in range(3))
    print(json.dumps({"measure": "clock", "events_per_ticket": 10, "clocks_per_s": round(clocks)}))
    held = month_on_hold()
    clocks = max(
        rate(lambda: judge(held, DEFAULT_TERMS, calendar, T0 + timedelta(days=40)))
        for _ in range(3)
    )
    print(json.dumps({"measure": "clock_month_on_hold", "clocks_per_s": round(clocks)}))

    built = time.perf_counter()
    with store(args.cache_dir, args.incidents) as (desk, reused, events):
        print(
            json.dumps(
                {
                    "measure": "store",
                    "incidents": args.incidents,
                    "events": events,
                    "reused": reused,
                    "build_s": None if reused else round(time.perf_counter() - built, 1),
                }
            )
        )
        whatif = scenario(desk)
        as_of = datetime(2027, 1, 1, tzinfo=UTC)
        for workers, _ in itertools.product(sorted({1, args.workers}), range(args.rounds)):
            started = time.perf_counter()
            done = run(desk, whatif, as_of, workers=workers)
            total = time.perf_counter() - started
            tickets = done.report["tickets"]
            print(
                json.dumps(
                    {
                        "measure": "whatif",
                        "workers": workers,
                        "tickets": tickets,
                        "flipped": done.report["flipped"],
                        "read_s": round(done.read_seconds, 2),
                        "judge_s": round(done.judge_seconds, 2),
                        "total_s": round(total, 2),
                        "tickets_per_s": round(tickets / total),
                    }
                )
            )


if __name__ == "__main__":
    main()
