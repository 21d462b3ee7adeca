"""A what-if's resolve time is the business time the resolution clock ran, under every priority
the ticket had: a clock's `elapsed` is the share of its current target used, which after a
re-prioritisation is another figure (docs/sla.md, "Every answer adds up")."""

from __future__ import annotations

from datetime import timedelta

from domain.sla import DEFAULT_TERMS
from domain.sla_clock import MarkKind, judge
from domain.whatif import Judged, Verdict
from tests.unit.test_sla_clock import OFFICE, ticket, wib

H = timedelta(hours=1)


def test_the_resolve_time_of_a_reprioritised_ticket_is_the_business_time_it_ran() -> None:
    # P3 logged Monday 08:00; Tuesday 12:00 (12h of 24h) raised to P1 with 2h of 4h left;
    # resolved 13:00: 13h of business time ran, 3h of the P1 target used.
    t = ticket(
        (wib(3, 2, 8), MarkKind.LOGGED, 3),
        (wib(3, 2, 8, 30), MarkKind.RESPONDED, None),
        (wib(3, 3, 12), MarkKind.REPRIORITISED, 1),
        (wib(3, 3, 13), MarkKind.RESOLVED, None),
    )
    judged = Judged.of(judge(t, DEFAULT_TERMS, OFFICE, wib(3, 4, 8), explain=False))
    assert (judged.verdict, judged.priority) == (Verdict.MET, 1)
    assert judged.resolve == 13 * H
