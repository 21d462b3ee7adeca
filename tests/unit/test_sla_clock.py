"""The SLA clock, on hand-worked cases: each expected value is worked out by hand from the office
calendar (Monday to Friday 08:00-16:00 WIB, the shipped 2025-2026 holidays and cuti bersama) and
the default policy (docs/sla.md), with the reasoning in the comments. All times are WIB (UTC+7).

Default targets, in business time (one office day is 8 hours):
    P1 response 30m, resolution 4h     P2 1h, 8h     P3 4h, 24h     P4 8h, 40h     P5 16h, 80h
Warnings at 75% and 90%; awaiting_caller and awaiting_supplier pause, awaiting_change does not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.calendar import OFFICE_HOURS, ROUND_THE_CLOCK, CalendarSpec, shipped_holidays
from domain.incident import BREACH
from domain.rule_versions import SlaTarget
from domain.sla import DEFAULT_TERMS, PolicyTerms, ServiceTerms, Targets
from domain.sla_clock import (
    ClockState,
    Mark,
    MarkKind,
    Pause,
    Ticket,
    TicketClock,
    hours,
    judge,
)

WIB = ZoneInfo("Asia/Jakarta")
OFFICE = CalendarSpec.of("Asia/Jakarta", OFFICE_HOURS, shipped_holidays())
ALWAYS = CalendarSpec.of("Asia/Jakarta", ROUND_THE_CLOCK, {})


def wib(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=WIB).astimezone(UTC)


def ticket(*marks: tuple[datetime, MarkKind, str | int | None]) -> Ticket:
    return Ticket("incident", "Self-check kiosks", None, tuple(Mark(*m) for m in marks))


def clock(t: Ticket, as_of: datetime, terms: PolicyTerms = DEFAULT_TERMS) -> TicketClock:
    return judge(t, terms, OFFICE, as_of)


H = timedelta(hours=1)
M = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("logged", "response_due", "resolution_due"),
    [
        # Friday 13 February 2026, 15:30. Monday 16 February is cuti bersama for Imlek and
        # Tuesday 17 February is Imlek itself, so after the weekend the office is closed two
        # more days. Friday leaves 30 minutes (15:30-16:00). Response (1h): the other 30 minutes
        # on Wednesday 18 February, 08:00-08:30. Resolution (8h): 7h30 more on Wednesday,
        # 08:00-15:30.
        (wib(2, 13, 15, 30), wib(2, 18, 8, 30), wib(2, 18, 15, 30)),
        # Friday 9 May 2025, 15:30. Monday 12 May is Waisak, Tuesday 13 May cuti bersama: the
        # same arithmetic lands on Wednesday 14 May.
        (
            wib(5, 9, 15, 30, year=2025),
            wib(5, 14, 8, 30, year=2025),
            wib(5, 14, 15, 30, year=2025),
        ),
    ],
)
def test_a_p2_logged_late_on_the_friday_before_a_long_weekend_is_due_after_it(
    logged: datetime, response_due: datetime, resolution_due: datetime
) -> None:
    t = ticket((logged, MarkKind.LOGGED, 2))

    c = clock(t, as_of=logged)

    assert c.response.due_at == response_due
    assert c.resolution.due_at == resolution_due
    assert c.state is ClockState.RUNNING
    # Over the long weekend nothing runs: on Tuesday evening only Friday's 30 minutes are used.
    on_tuesday = clock(t, as_of=response_due - timedelta(hours=12, minutes=30))
    assert on_tuesday.resolution.elapsed == 30 * M
    assert on_tuesday.resolution.remaining == 7 * H + 30 * M
    # Wednesday 08:31: the response target was missed a minute ago.
    late = clock(t, as_of=response_due + M)
    assert late.response.state is ClockState.BREACHED
    assert late.response.breached_at == response_due
    assert late.state is ClockState.BREACHED


def test_a_ticket_on_hold_from_thursday_afternoon_to_the_next_tuesday_loses_no_time() -> None:
    # P4 (resolution 40h) logged Monday 2 March 2026 09:00, work started 09:30.
    # Before the hold: Mon 09:00-16:00 7h, Tue 8h, Wed 8h, Thu 08:00-14:00 6h = 29h; 11h left.
    # On hold awaiting the caller from Thursday 5 March 14:00 to Tuesday 10 March 10:00.
    # After it: Tue 10:00-16:00 6h, then Wed 11 March 08:00-13:00 5h: due Wed 13:00.
    t = ticket(
        (wib(3, 2, 9), MarkKind.LOGGED, 4),
        (wib(3, 2, 9, 30), MarkKind.RESPONDED, None),
        (wib(3, 5, 14), MarkKind.HELD, "awaiting_caller"),
        (wib(3, 10, 10), MarkKind.RESUMED, None),
    )

    during = clock(t, as_of=wib(3, 9, 12))
    assert during.state is ClockState.PAUSED
    assert during.resolution.remaining == 11 * H
    assert during.resolution.due_at is None  # it depends on when work resumes
    assert during.next_alert_at is None
    # The pause in progress, up to Monday noon: Thu 14:00-16:00 2h, Fri 8h, Mon 08:00-12:00 4h.
    assert during.pauses == (Pause(wib(3, 5, 14), None, "awaiting_caller", 14 * H),)

    after = clock(t, as_of=wib(3, 10, 10))
    assert after.resolution.due_at == wib(3, 11, 13)
    assert after.resolution.remaining == 11 * H
    assert after.resolution.elapsed == 29 * H
    # The pause, with its reason: Thu 14:00-16:00 2h, Fri 8h, Mon 8h, Tue 08:00-10:00 2h = 20h.
    (pause,) = after.pauses
    assert (pause.start, pause.end, pause.reason) == (
        wib(3, 5, 14),
        wib(3, 10, 10),
        "awaiting_caller",
    )
    assert pause.business_time == 20 * H
    assert [s.what for s in after.timeline] == ["started", "response met", "paused", "resumed"]


def test_a_hold_whose_reason_does_not_pause_lets_the_clock_run_to_a_breach() -> None:
    # The same P4, held awaiting a change: that reason does not pause. 40h from Mon 09:00:
    # Mon 7h, Tue 8h (15), Wed 8h (23), Thu 8h (31), Fri 8h (39), then 1h on Monday 9 March:
    # breached at 09:00, while on hold.
    t = ticket(
        (wib(3, 2, 9), MarkKind.LOGGED, 4),
        (wib(3, 2, 9, 30), MarkKind.RESPONDED, None),
        (wib(3, 5, 14), MarkKind.HELD, "awaiting_change"),
    )

    c = clock(t, as_of=wib(3, 9, 12))

    assert c.resolution.state is ClockState.BREACHED
    assert c.resolution.breached_at == wib(3, 9, 9)
    assert c.pauses == ()
    breach = next(s for s in c.timeline if s.what == "breached")
    assert breach.at == wib(3, 9, 9)
    assert "awaiting_change" in breach.detail


def test_raising_the_priority_halfway_carries_the_share_used_over_to_the_new_target() -> None:
    # P3 (resolution 24h) logged Monday 2 March 2026 08:00; response at 08:30 (met).
    # By Tuesday 3 March 12:00: Mon 8h + Tue 4h = 12h, half of 24h. Raised to P1 (4h): half of
    # 4h is left, 2h, so it is due Tuesday 14:00. The warnings: 75% of 4h used = 1h left, at
    # 13:00; 90% = 24 minutes left, at 13:36.
    t = ticket(
        (wib(3, 2, 8), MarkKind.LOGGED, 3),
        (wib(3, 2, 8, 30), MarkKind.RESPONDED, None),
        (wib(3, 3, 12), MarkKind.REPRIORITISED, 1),
    )

    c = clock(t, as_of=wib(3, 3, 13, 40))

    assert c.resolution.priority == 1
    assert c.resolution.target_time == 4 * H
    assert c.resolution.due_at == wib(3, 3, 14)
    assert c.resolution.state is ClockState.WARNING
    assert [(a.level, a.at) for a in c.resolution.alerts] == [
        (75, wib(3, 3, 13)),
        (90, wib(3, 3, 13, 36)),
    ]
    assert c.response.state is ClockState.MET  # met at 08:30, before the change
    # The response was met under P3 and keeps P3's terms: 30 minutes of its 4h used.
    assert (c.response.priority, c.response.target_time) == (3, 4 * H)
    assert (c.response.elapsed, c.response.remaining) == (30 * M, 3 * H + 30 * M)
    # Resolution at 13:40: 2h were left at 12:00 and 1h40 has run since, so 20 minutes are left
    # and 3h40 of the 4h are used; the clock ran 12h under P3 and 1h40 under P1.
    assert (c.resolution.elapsed, c.resolution.remaining) == (3 * H + 40 * M, 20 * M)
    assert (c.resolution.overrun, c.resolution.counted) == (timedelta(), 13 * H + 40 * M)
    assert c.next_alert_at == c.resolution.next_alert_at == wib(3, 3, 14)  # the breach


def test_a_second_reprioritisation_carries_the_share_over_again() -> None:
    # As above, raised to P1 on Tuesday 12:00 with 2h of 4h left. By 13:00 1h is left (the 75%
    # warning, passed at 13:00). Lowered to P2 (8h) then: a quarter is left, 2h, due 15:00; 6h of
    # 8h used. The 75% warning is not passed again; 90% of 8h (48 minutes left) comes at 14:12.
    t = ticket(
        (wib(3, 2, 8), MarkKind.LOGGED, 3),
        (wib(3, 2, 8, 30), MarkKind.RESPONDED, None),
        (wib(3, 3, 12), MarkKind.REPRIORITISED, 1),
        (wib(3, 3, 13), MarkKind.REPRIORITISED, 2),
    )

    c = clock(t, as_of=wib(3, 3, 13))

    resolution = c.resolution
    assert (resolution.priority, resolution.target_time) == (2, 8 * H)
    assert (resolution.elapsed, resolution.remaining, resolution.counted) == (6 * H, 2 * H, 13 * H)
    assert resolution.due_at == wib(3, 3, 15)
    assert resolution.state is ClockState.WARNING
    assert [(a.level, a.at) for a in resolution.alerts] == [(75, wib(3, 3, 13))]
    assert resolution.next_alert_at == wib(3, 3, 14, 12)
    assert c.response.priority == 3
    changes = [s.detail for s in c.timeline if s.what == "reprioritised"]
    assert [d.split(":")[0] for d in changes] == ["P3 -> P1", "P1 -> P2"]
    assert changes[1].endswith(f"resolution due {wib(3, 3, 15).isoformat()}")


def test_a_resolution_reopened_after_a_priority_change_runs_on_under_the_new_priority() -> None:
    # P2 (8h) logged Monday 08:00, worked from 08:10, resolved 10:00 with 6h left. Re-prioritised
    # to P1 at 11:00 while resolved: both targets had stopped, so both keep P2's terms. Reopened
    # on Tuesday 08:00, the resolution clock runs under P1 (4h) with the share left carried over:
    # 6/8 of 4h, 3h, due 11:00.
    t = ticket(
        (wib(3, 2, 8), MarkKind.LOGGED, 2),
        (wib(3, 2, 8, 10), MarkKind.RESPONDED, None),
        (wib(3, 2, 10), MarkKind.RESOLVED, None),
        (wib(3, 2, 11), MarkKind.REPRIORITISED, 1),
        (wib(3, 3, 8), MarkKind.REOPENED, None),
    )

    resolved = clock(t, as_of=wib(3, 2, 12))
    assert [(x.priority, x.target_time, x.state) for x in resolved.targets] == [
        (2, H, ClockState.MET),
        (2, 8 * H, ClockState.MET),
    ]

    (change,) = (s.detail for s in resolved.timeline if s.what == "reprioritised")
    assert change.endswith("resolution not counting")

    reopened = clock(t, as_of=wib(3, 3, 8))
    assert (reopened.resolution.priority, reopened.resolution.target_time) == (1, 4 * H)
    assert reopened.resolution.remaining == 3 * H
    assert reopened.resolution.due_at == wib(3, 3, 11)
    assert (reopened.response.priority, reopened.response.target_time) == (2, H)


def test_a_ticket_logged_without_a_priority_is_judged_as_p3() -> None:
    t = ticket((wib(3, 2, 8), MarkKind.LOGGED, None))
    c = clock(t, as_of=wib(3, 2, 8))
    assert [(x.priority, x.target_time) for x in c.targets] == [(3, 4 * H), (3, 24 * H)]
    assert c.resolution.due_at == wib(3, 4, 16)  # Mon, Tue, Wed


def test_a_services_own_targets_judge_its_tickets_and_their_priority_changes() -> None:
    # The kiosks' P2 is 15 minutes to respond and 2h to resolve; their P3 is the policy's. A P3
    # logged Monday 08:00 is raised to P2 at 10:00: 2h of 24h used (1/12) leaves 22h/24h of 2h,
    # 110 minutes, due 11:50; the response has used 2h of 4h, so half of 15 minutes is left.
    own = DEFAULT_TERMS.model_copy(
        update={
            "services": {
                "Self-check kiosks": ServiceTerms(
                    targets={2: Targets(response_minutes=15, resolution_minutes=120)}
                )
            }
        }
    )
    p2 = clock(ticket((wib(3, 2, 8), MarkKind.LOGGED, 2)), wib(3, 2, 8), own)
    assert (p2.response.due_at, p2.resolution.due_at) == (wib(3, 2, 8, 15), wib(3, 2, 10))

    raised = ticket((wib(3, 2, 8), MarkKind.LOGGED, 3), (wib(3, 2, 10), MarkKind.REPRIORITISED, 2))
    c = clock(raised, wib(3, 2, 10), own)
    assert c.resolution.target_time == 2 * H
    assert c.resolution.due_at == wib(3, 2, 11, 50)
    assert c.response.due_at == wib(3, 2, 10, 7) + 30 * timedelta(seconds=1)
    steps = [s.detail for s in c.timeline if s.what == "started"]
    assert steps[0].startswith("P3 incident logged: response within 4h, resolution within 24h")

    # Resolved at 10:00 (2h of 24h used), raised to P2 at 11:00 while resolved, reopened at
    # 12:00: the service's P2 (2h) with 22/24 of it left, 110 minutes, due 13:50.
    reopened = ticket(
        (wib(3, 2, 8), MarkKind.LOGGED, 3),
        (wib(3, 2, 8, 10), MarkKind.RESPONDED, None),
        (wib(3, 2, 10), MarkKind.RESOLVED, None),
        (wib(3, 2, 11), MarkKind.REPRIORITISED, 2),
        (wib(3, 2, 12), MarkKind.REOPENED, None),
    )
    again = clock(reopened, wib(3, 2, 12), own).resolution
    assert (again.priority, again.target_time, again.remaining) == (2, 2 * H, 110 * M)
    assert again.due_at == wib(3, 2, 13, 50)


def test_the_share_carried_over_is_rounded_down_so_a_clock_never_gains_time() -> None:
    # A 3-minute response target lowered to a 2-minute one with 2 minutes and a microsecond
    # left: two thirds of that is 80 seconds and two thirds of a microsecond, kept as 80 s.
    tiny = DEFAULT_TERMS.model_copy(
        update={
            "services": {
                "Self-check kiosks": ServiceTerms(
                    targets={
                        1: Targets(response_minutes=3, resolution_minutes=60),
                        2: Targets(response_minutes=2, resolution_minutes=60),
                    }
                )
            }
        }
    )
    logged = wib(3, 2, 8)
    change = logged + M - timedelta(microseconds=1)
    t = ticket((logged, MarkKind.LOGGED, 1), (change, MarkKind.REPRIORITISED, 2))
    c = judge(t, tiny, ALWAYS, change)
    assert c.response.remaining == timedelta(seconds=80)
    assert c.as_of == change


def test_a_reopen_restarts_the_resolution_clock_where_it_stopped() -> None:
    # P2 (8h) logged Monday 2 March 2026 08:00, worked from 08:10, resolved 11:00: 3h used, met.
    # Reopened Wednesday 4 March 09:00: 5h left, so due 14:00. Resolved again at 15:00, an hour
    # late: breached at 14:00. The time between resolution and reopen does not count.
    t = ticket(
        (wib(3, 2, 8), MarkKind.LOGGED, 2),
        (wib(3, 2, 8, 10), MarkKind.RESPONDED, None),
        (wib(3, 2, 11), MarkKind.RESOLVED, None),
    )
    assert clock(t, as_of=wib(3, 3, 12)).resolution.state is ClockState.MET

    reopened = Ticket(t.kind, t.service, None, (*t.marks, Mark(wib(3, 4, 9), MarkKind.REOPENED)))
    running = clock(reopened, as_of=wib(3, 4, 9))
    assert running.resolution.state is ClockState.RUNNING
    assert running.resolution.remaining == 5 * H
    assert running.resolution.due_at == wib(3, 4, 14)

    again = Ticket(
        t.kind, t.service, None, (*reopened.marks, Mark(wib(3, 4, 15), MarkKind.RESOLVED))
    )
    done = clock(again, as_of=wib(3, 5, 9))
    assert done.resolution.state is ClockState.BREACHED
    assert done.resolution.breached_at == wib(3, 4, 14)
    assert (done.resolution.remaining, done.resolution.overrun) == (timedelta(), H)
    assert done.resolution.elapsed == 9 * H  # the 8h target and the hour over it
    assert done.resolution.due_at is None
    assert [s.what for s in done.timeline if s.target is SlaTarget.RESOLUTION] == [
        "resolution met",
        "restarted",
        "warning",
        "warning",
        "breached",
        "resolution late",
    ]


def test_a_policy_version_judges_only_by_its_own_targets() -> None:
    # The same P2 under the default (8h) and under a revision with a 4h resolution target:
    # logged Monday 08:00, due at 16:00 under the first and at 12:00 under the second.
    t = ticket((wib(3, 2, 8), MarkKind.LOGGED, 2))
    revised = DEFAULT_TERMS.model_copy(
        update={
            "targets": {
                **DEFAULT_TERMS.targets,
                2: Targets(response_minutes=60, resolution_minutes=240),
            }
        }
    )
    assert clock(t, wib(3, 2, 8)).resolution.due_at == wib(3, 2, 16)
    assert clock(t, wib(3, 2, 8), revised).resolution.due_at == wib(3, 2, 12)


def test_a_round_the_clock_calendar_counts_nights_and_holidays() -> None:
    # A P1 on the union catalogue (24x7) logged on Imlek, Tuesday 17 February 2026 at 22:00:
    # resolution (4h) due Wednesday 02:00.
    t = ticket((wib(2, 17, 22), MarkKind.LOGGED, 1))
    c = judge(t, DEFAULT_TERMS, ALWAYS, wib(2, 17, 22))
    assert c.resolution.due_at == wib(2, 18, 2)


def test_a_cancelled_ticket_stops_both_clocks() -> None:
    # P2 logged 08:00, cancelled 09:00 without a response: the response warnings (75% of 1h at
    # 08:45, 90% at 08:54) had passed; the breach (09:00, only if more than 1h ran) never comes.
    t = ticket((wib(3, 2, 8), MarkKind.LOGGED, 2), (wib(3, 2, 9), MarkKind.CANCELLED, None))
    c = clock(t, as_of=wib(3, 9, 8))
    assert c.state is ClockState.CANCELLED
    assert c.resolution.elapsed == H
    assert [(a.target, a.level, a.at) for a in c.alerts()] == [
        (SlaTarget.RESPONSE, 75, wib(3, 2, 8, 45)),
        (SlaTarget.RESPONSE, 90, wib(3, 2, 8, 54)),
    ]
    assert c.next_alert_at is None


def test_the_next_alert_is_the_nearest_threshold_of_either_target() -> None:
    # P1 logged Monday 08:00: response (30m) 75% at 08:22:30, 90% at 08:27; resolution (4h) 75%
    # at 11:00. Once the response is met, the resolution's threshold is the next.
    t = ticket((wib(3, 2, 8), MarkKind.LOGGED, 1), (wib(3, 2, 8, 10), MarkKind.RESPONDED, None))

    at_logging = clock(t, as_of=wib(3, 2, 8))
    assert at_logging.response.next_alert_at == wib(3, 2, 8, 22) + 30 * timedelta(seconds=1)
    assert at_logging.resolution.next_alert_at == wib(3, 2, 11)
    assert at_logging.next_alert_at == at_logging.response.next_alert_at
    early = ticket((wib(3, 2, 8), MarkKind.LOGGED, 1))
    assert clock(early, as_of=wib(3, 2, 8, 25)).response.next_alert_at == wib(3, 2, 8, 27)

    responded = clock(t, as_of=wib(3, 2, 8, 10))
    assert responded.response.next_alert_at is None
    assert responded.next_alert_at == wib(3, 2, 11)


def test_a_warning_is_passed_at_its_very_moment_and_not_before() -> None:
    # P1 logged Monday 08:00: 75% of the 4h resolution target is used at 11:00 exactly.
    t = ticket((wib(3, 2, 8), MarkKind.LOGGED, 1), (wib(3, 2, 8, 10), MarkKind.RESPONDED, None))
    instant = timedelta(microseconds=1)

    before = clock(t, as_of=wib(3, 2, 11) - instant)
    assert before.resolution.state is ClockState.RUNNING
    assert before.resolution.alerts == ()

    at = clock(t, as_of=wib(3, 2, 11))
    assert at.resolution.state is ClockState.WARNING
    assert [(a.level, a.at) for a in at.resolution.alerts] == [(75, wib(3, 2, 11))]
    assert at.resolution.next_alert_at == wib(3, 2, 11, 36)


def test_a_target_is_breached_only_once_more_than_it_has_run() -> None:
    # P1 logged Monday 08:00, nothing else: resolution due 12:00. At 12:00 exactly nothing is
    # left and it is not breached (every warning passed, the breach next); a moment later it is.
    t = ticket((wib(3, 2, 8), MarkKind.LOGGED, 1), (wib(3, 2, 8, 10), MarkKind.RESPONDED, None))
    instant = timedelta(microseconds=1)

    due = clock(t, as_of=wib(3, 2, 12)).resolution
    assert due.state is ClockState.WARNING
    assert (due.remaining, due.overrun, due.elapsed) == (timedelta(), timedelta(), 4 * H)
    assert due.breached_at is None
    assert [a.level for a in due.alerts] == [75, 90]
    assert due.due_at == due.next_alert_at == wib(3, 2, 12)

    late = clock(t, as_of=wib(3, 2, 12) + instant).resolution
    assert late.state is ClockState.BREACHED
    assert (late.remaining, late.overrun) == (timedelta(), instant)
    assert late.breached_at == late.due_at == wib(3, 2, 12)
    assert [a.level for a in late.alerts] == [75, 90, BREACH]


def test_finishing_at_the_due_moment_meets_the_target() -> None:
    # P1 logged Monday 08:00: responded at 08:30 and resolved at 12:00, each exactly when due.
    t = ticket(
        (wib(3, 2, 8), MarkKind.LOGGED, 1),
        (wib(3, 2, 8, 30), MarkKind.RESPONDED, None),
        (wib(3, 2, 12), MarkKind.RESOLVED, None),
    )
    for explain in (True, False):
        c = judge(t, DEFAULT_TERMS, OFFICE, wib(3, 3, 8), explain=explain)
        assert [x.state for x in c.targets] == [ClockState.MET, ClockState.MET]
        assert [x.remaining for x in c.targets] == [timedelta(), timedelta()]
        assert c.state is ClockState.MET
    verdicts = [s.what for s in clock(t, wib(3, 3, 8)).timeline if s.target is not None]
    assert verdicts == [
        "warning",
        "warning",
        "response met",
        "warning",
        "warning",
        "resolution met",
    ]


def test_without_warnings_a_clock_runs_until_it_is_due() -> None:
    quiet = DEFAULT_TERMS.model_copy(update={"warn_at": []})
    t = ticket((wib(3, 2, 8), MarkKind.LOGGED, 1), (wib(3, 2, 8, 10), MarkKind.RESPONDED, None))
    c = clock(t, as_of=wib(3, 2, 11, 59), terms=quiet)
    assert c.resolution.state is ClockState.RUNNING
    assert c.resolution.alerts == ()
    assert c.resolution.next_alert_at == wib(3, 2, 12)


def test_every_threshold_is_passed_once_and_the_breach_last() -> None:
    t = ticket((wib(3, 2, 8), MarkKind.LOGGED, 1))
    c = clock(t, as_of=wib(3, 6, 16))
    resolution = [(a.level, a.at) for a in c.resolution.alerts]
    # 4h from Monday 08:00: 75% at 11:00, 90% at 11:36, breach at 12:00.
    assert resolution == [(75, wib(3, 2, 11)), (90, wib(3, 2, 11, 36)), (BREACH, wib(3, 2, 12))]
    assert c.next_alert_at is None


def test_the_timeline_tells_what_happened_to_each_clock_and_why() -> None:
    # A P1 (response 30m, resolution 4h) logged Monday 08:00 and held at 08:05 awaiting a change,
    # which does not pause: both targets are missed while on hold (response 08:30, resolution
    # 12:00). Resumed at 13:00, held awaiting the caller at 14:00 (a pause), responded to and
    # resolved at 15:00, both late. Reopened on Tuesday 08:00 with the resolution 2h over (6h ran
    # of 4h); a second response changes nothing; cancelled at 09:00.
    t = ticket(
        (wib(3, 2, 8), MarkKind.LOGGED, 1),
        (wib(3, 2, 8, 5), MarkKind.HELD, "awaiting_change"),
        (wib(3, 2, 8, 10), MarkKind.REASSIGNED, "network-team"),
        (wib(3, 2, 13), MarkKind.RESUMED, None),
        (wib(3, 2, 14), MarkKind.HELD, "awaiting_caller"),
        (wib(3, 2, 15), MarkKind.RESPONDED, None),
        (wib(3, 2, 15), MarkKind.RESOLVED, None),
        (wib(3, 3, 8), MarkKind.REOPENED, None),
        (wib(3, 3, 8, 30), MarkKind.RESPONDED, None),
        (wib(3, 3, 9), MarkKind.CANCELLED, None),
    )
    held = "while on hold (awaiting_change, which does not pause the clock)"
    seconds = timedelta(seconds=1)

    c = clock(t, as_of=wib(3, 4, 8))

    assert [(s.at, s.what, s.target, s.detail) for s in c.timeline] == [
        (
            wib(3, 2, 8),
            "started",
            None,
            "P1 incident logged: response within 30m, resolution within 4h of business time;"
            f" response due {wib(3, 2, 8, 30).isoformat()},"
            f" resolution due {wib(3, 2, 12).isoformat()}",
        ),
        (
            wib(3, 2, 8, 5),
            "held",
            None,
            "on hold: awaiting_change; this reason does not pause the clock",
        ),
        (wib(3, 2, 8, 10), "reassigned", None, "to network-team; the ticket's clock runs on"),
        (
            wib(3, 2, 8, 22) + 30 * seconds,
            "warning",
            SlaTarget.RESPONSE,
            "75% of the response target of 30m used",
        ),
        (wib(3, 2, 8, 27), "warning", SlaTarget.RESPONSE, "90% of the response target of 30m used"),
        (
            wib(3, 2, 8, 30),
            "breached",
            SlaTarget.RESPONSE,
            f"the response target of 30m (P1) was missed {held}",
        ),
        (wib(3, 2, 11), "warning", SlaTarget.RESOLUTION, "75% of the resolution target of 4h used"),
        (
            wib(3, 2, 11, 36),
            "warning",
            SlaTarget.RESOLUTION,
            "90% of the resolution target of 4h used",
        ),
        (
            wib(3, 2, 12),
            "breached",
            SlaTarget.RESOLUTION,
            f"the resolution target of 4h (P1) was missed {held}",
        ),
        (wib(3, 2, 14), "paused", None, "on hold: awaiting_caller"),
        (wib(3, 2, 15), "response late", SlaTarget.RESPONSE, "first response"),
        (wib(3, 2, 15), "resolution late", SlaTarget.RESOLUTION, "resolved"),
        (
            wib(3, 3, 8),
            "restarted",
            SlaTarget.RESOLUTION,
            "reopened: the resolution clock runs on from -2h left,"
            f" due {wib(3, 2, 12).isoformat()}",
        ),
        (wib(3, 3, 9), "cancelled", None, "incident cancelled; the clocks stop"),
    ]
    assert c.pauses == (Pause(wib(3, 2, 14), wib(3, 2, 15), "awaiting_caller", H),)
    assert (c.response.stopped_at, c.resolution.stopped_at) == (wib(3, 2, 15), wib(3, 3, 9))
    assert (c.response.state, c.resolution.state, c.state) == (
        ClockState.BREACHED,
        ClockState.CANCELLED,
        ClockState.CANCELLED,
    )
    assert c.as_of == wib(3, 4, 8)


def test_a_breach_while_nothing_holds_the_ticket_says_it_ran() -> None:
    t = ticket((wib(3, 2, 8), MarkKind.LOGGED, 1))
    (breach,) = (s for s in clock(t, wib(3, 2, 9)).timeline if s.what == "breached")
    assert breach.detail == "the response target of 30m (P1) was missed while running"
    # held at 08:05 awaiting a change and still held: the breach says so
    held = ticket(
        *[(m.at, m.kind, m.value) for m in t.marks],
        (wib(3, 2, 8, 5), MarkKind.HELD, "awaiting_change"),
    )
    (breach,) = (s for s in clock(held, wib(3, 2, 9)).timeline if s.what == "breached")
    assert breach.detail.endswith("while on hold (awaiting_change, which does not pause the clock)")


def test_a_wait_the_lifecycle_defines_pauses_whatever_the_policy_lists() -> None:
    # A P4 service request submitted Monday 08:00, awaiting approval 09:00-10:00 (not a hold
    # reason the policy lists: a wait of the request's own lifecycle), fulfilled 11:00.
    t = Ticket(
        "service_request",
        "Membership card printing",
        None,
        (
            Mark(wib(3, 2, 8), MarkKind.LOGGED, 4),
            Mark(wib(3, 2, 9), MarkKind.PAUSED, "awaiting_approval"),
            Mark(wib(3, 2, 10), MarkKind.RESUMED),
            Mark(wib(3, 2, 11), MarkKind.RESPONDED),
            Mark(wib(3, 2, 11), MarkKind.RESOLVED),
            Mark(wib(3, 2, 12), MarkKind.CLOSED),
        ),
    )
    c = clock(t, as_of=wib(3, 2, 12))
    assert c.pauses == (Pause(wib(3, 2, 9), wib(3, 2, 10), "awaiting_approval", H),)
    assert (c.resolution.counted, c.response.counted) == (2 * H, 2 * H)
    assert [(s.what, s.detail) for s in c.timeline if s.target is None] == [
        (
            "started",
            "P4 service request logged: response within 8h, resolution within 40h of business"
            f" time; response due {wib(3, 2, 16).isoformat()},"
            f" resolution due {wib(3, 6, 16).isoformat()}",  # five office days
        ),
        ("paused", "waiting: awaiting_approval"),
        ("resumed", "work resumed; the clock runs again"),
        ("closed", "service request closed; the clocks stop"),
    ]
    assert c.state is ClockState.MET


def test_resolving_or_cancelling_a_paused_ticket_ends_the_pause_then() -> None:
    # P2 logged Monday 08:00, held awaiting the caller 09:00, then resolved (or cancelled) at
    # 10:00 while still held: the pause ran 09:00-10:00 and nothing runs after it.
    for end in (MarkKind.RESOLVED, MarkKind.CANCELLED):
        t = ticket(
            (wib(3, 2, 8), MarkKind.LOGGED, 2),
            (wib(3, 2, 8, 10), MarkKind.RESPONDED, None),
            (wib(3, 2, 9), MarkKind.HELD, "awaiting_caller"),
            (wib(3, 2, 10), end, None),
        )
        c = clock(t, as_of=wib(3, 2, 15))
        assert c.pauses == (Pause(wib(3, 2, 9), wib(3, 2, 10), "awaiting_caller", H),)
        assert c.resolution.counted == H
        assert c.resolution.stopped_at == wib(3, 2, 10)


def test_business_durations_read_as_people_say_them() -> None:
    assert [hours(d) for d in (7 * H + 30 * M, 45 * M, 2 * H, timedelta(), -H, -90 * M)] == [
        "7h30m",
        "45m",
        "2h",
        "0m",
        "-1h",
        "-1h30m",
    ]
