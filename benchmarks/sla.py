"""SLA benchmark: how fast clocks are judged, and what the watcher costs per 1,000 open tickets.

    .venv/bin/python -m benchmarks.sla [--tickets 1000] [--rounds 3]

One JSON object per line on stdout, measured side by side in one run (best of the rounds):

    clock_from_marks   judge() on a ticket of 10 events (its marks already made), office calendar
    clock_from_events  the same from the 10 incident events (the adapter, then judge())
    watch_cold         one watcher tick over N open tickets, none judged before (every clock)
    watch_warm         the next tick, nothing changed and nothing due (the memo's cost)
    view_read          reading the N rows from the view alone (the floor under a tick)
    list_breached_*    GET /sla/clocks?state=breached over N open tickets, a tenth of them
                       breached: `judge_all` judges every clock (as before the clock index),
                       `indexed` asks the warm index (docs/sla.md) and judges only the breached
    list_all_*         the same without a state filter (every listed clock is judged either way)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from api.sla import list_clocks
from domain import commands as c
from domain import incident as e
from domain.actors import Actor, Identity, Role
from domain.calendar import OFFICE_HOURS, CalendarSpec, shipped_holidays
from domain.context import Context
from domain.priority import Impact, Urgency
from domain.sla import DEFAULT_TERMS
from domain.sla_clock import ClockState, judge
from domain.sla_incident import ticket
from infra.settings import Settings
from processes.sla_watch import SlaWatcher
from projections.sla_clocks import sla_clocks
from projections.sla_index import ClockIndex
from service.bootstrap import Services, build

AGENT = Actor(id="bench", role=Role.AGENT)
#: The agent reading the clock list, as the API knows them (of the provincial office, whose
#: records these are).
READER = Identity(AGENT)
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 08:00 WIB


def ten_events() -> list[e.IncidentEvent]:
    """An incident's 10 events over a week: assigned, started, held and resumed twice,
    re-prioritised, a comment, resolved."""
    iid = uuid4()
    n = iter(range(1, 100))

    def env(hours: float) -> dict[str, object]:
        return {
            "originator_id": iid,
            "originator_version": next(n),
            "timestamp": T0 + timedelta(hours=hours),
            "actor": AGENT,
            "correlation_id": uuid4(),
        }

    return [
        e.Logged(
            **env(0),
            number=1,
            title="t",
            service="kiosks-gates",
            caller="c",
            channel=e.Channel.PHONE,
            impact=Impact.MEDIUM,
            urgency=Urgency.MEDIUM,
            priority=3,
            matrix_version=1,
        ),
        e.Assigned(**env(0.1), group="kiosk-team"),
        e.WorkStarted(**env(0.5), agent="a"),
        e.PutOnHold(**env(5), reason=e.HoldReason.AWAITING_CALLER),
        e.Resumed(**env(26)),
        e.Reprioritised(
            **env(27),
            impact=Impact.HIGH,
            urgency=Urgency.MEDIUM,
            priority=2,
            matrix_version=1,
            reason="r",
        ),
        e.CommentAdded(**env(28), text="on it"),
        e.PutOnHold(**env(29), reason=e.HoldReason.AWAITING_CHANGE),
        e.Resumed(**env(50)),
        e.Resolved(**env(53), code=e.ResolutionCode.FIXED, notes="n", reopen_until=T0),
    ]


def rate(fn: object, seconds: float = 1.0) -> float:
    assert callable(fn)
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(100):
            fn()
        count += 100
    return count / elapsed


def bench_lists(services: Services, now: datetime, tickets: int, rounds: int) -> None:
    """GET /sla/clocks (the route's function, called directly) with and without the warm clock
    index, breached ones and all; stops on any answer but the clocks expected."""
    lists = {}
    reader = Context(AGENT, now, uuid4(), scope=READER)
    # every P1 (a tenth) breached; a list holds at most 1,000
    expected = {ClockState.BREACHED: (tickets + 9) // 10, None: min(tickets, 1000)}
    for state in (ClockState.BREACHED, None):
        label = "list_breached" if state else "list_all"
        for mode in ("judge_all", "indexed"):
            best = float("inf")
            for _ in range(rounds):
                if mode == "judge_all":  # what every request did before the index
                    services.__dict__["sla_index"] = ClockIndex(services.desk.rulebook)
                else:
                    list_clocks(services, reader, state, 1000)  # warm it
                start = time.perf_counter()
                answer = list_clocks(services, reader, state, 1000)
                best = min(best, time.perf_counter() - start)
                listed = len(json.loads(bytes(answer.body))["items"])
                if answer.status_code != 200 or listed != expected[state]:
                    raise RuntimeError(
                        f"{label}: {answer.status_code} with {listed} clocks,"
                        f" not 200 with {expected[state]}"
                    )
            lists[f"{label}_{mode}"] = (best, listed)
    for name, (value, items) in lists.items():
        print(
            json.dumps(
                {
                    "measure": name,
                    "open_tickets": tickets,
                    "items": items,
                    "ms": round(value * 1000, 2),
                }
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    calendar = CalendarSpec.of("Asia/Jakarta", OFFICE_HOURS, shipped_holidays())
    events = ten_events()
    made = ticket(events)
    as_of = T0 + timedelta(days=10)
    from_marks = max(
        rate(lambda: judge(made, DEFAULT_TERMS, calendar, as_of)) for _ in range(args.rounds)
    )
    from_events = max(
        rate(lambda: judge(ticket(events), DEFAULT_TERMS, calendar, as_of))
        for _ in range(args.rounds)
    )
    for name, value in (("clock_from_marks", from_marks), ("clock_from_events", from_events)):
        print(json.dumps({"measure": name, "events_per_ticket": 10, "clocks_per_s": round(value)}))

    with tempfile.TemporaryDirectory() as tmp:
        clock_now = [T0]
        services = build(Settings(data_dir=Path(tmp)), clock=lambda: clock_now[0])
        for i in range(args.tickets):
            ctx = Context(AGENT, T0 + timedelta(seconds=i), uuid4())
            services.desk.log_incident(
                ctx,
                c.LogIncident(
                    title=f"t{i}",
                    service="kiosks-gates",
                    caller="c",
                    # a tenth P1 (response 30m: breached by the time of the lists), the rest P5
                    impact="high" if i % 10 == 0 else "low",
                    urgency="high" if i % 10 == 0 else "low",
                ),
            )
        services.runner.catch_up()
        clock_now[0] = T0 + timedelta(minutes=10)  # nothing due yet (P1 warns after 22.5m)
        per_1000 = 1000 / args.tickets
        cold = warm = read = float("inf")
        for _ in range(args.rounds):
            watcher = SlaWatcher(services)
            start = time.perf_counter()
            tick = watcher.tick()
            cold = min(cold, time.perf_counter() - start)
            assert tick.judged == args.tickets
            start = time.perf_counter()
            again = watcher.tick()
            warm = min(warm, time.perf_counter() - start)
            assert again.judged == 0
            start = time.perf_counter()
            services.views.select(sla_clocks, '"watched" = 1')
            read = min(read, time.perf_counter() - start)
        for name, value in (("watch_cold", cold), ("watch_warm", warm), ("view_read", read)):
            print(
                json.dumps(
                    {
                        "measure": name,
                        "open_tickets": args.tickets,
                        "ms_per_1000_open_tickets": round(value * 1000 * per_1000, 2),
                    }
                )
            )
        clock_now[0] = T0 + timedelta(hours=2)  # the P1 responses are overdue
        bench_lists(services, clock_now[0], args.tickets, args.rounds)
        services.close()


if __name__ == "__main__":
    main()
