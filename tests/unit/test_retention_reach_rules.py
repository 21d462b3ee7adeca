"""The retention schedule's limit on what a requester reads, Given (a record that ended at some
moment) / When (a caller asks, some time later) / Then (reached, or as if missing): their own
records until the years the schedule gives after the end; the staff's reach never expires."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from domain.actors import Actor, Identity, Role
from domain.context import Context
from domain.retention import requester_years, years_before
from projections.base import iso
from projections.queries import Reach

ENDED = datetime(2026, 3, 7, 8, 30, tzinfo=UTC)
REACH = Reach(owner="caller", ended="ended_at", kind="incident")


def asking(role: Role, at: datetime) -> Context:
    actor = Actor(id="budi.santoso", role=role)
    return Context(actor, at, uuid4(), Identity(actor, organisation="dpk-banten"))


def row(ended: datetime | None) -> dict[str, object]:
    return {
        "organisation": "dpk-banten",
        "caller": "budi.santoso",
        "ended_at": None if ended is None else iso(ended),
    }


def test_the_schedule_gives_requesters_two_years_of_their_incidents_and_requests() -> None:
    assert requester_years("incident") == requester_years("service_request") == 2
    assert requester_years("problem") is None  # no requester reads one: nothing to limit


@given(st.integers(min_value=0, max_value=4 * 366 * 24))
def test_a_requester_reads_their_ended_record_exactly_until_two_years_after_its_end(
    hours: int,
) -> None:
    at = ENDED + timedelta(hours=hours)
    kept = at - ENDED <= ENDED.replace(year=2028) - ENDED

    assert REACH.admits(asking(Role.REQUESTER, at), row(ENDED)) is kept
    assert REACH.admits(asking(Role.REQUESTER, at), row(None))  # not ended: always theirs
    assert REACH.admits(asking(Role.AGENT, at), row(ENDED))  # the staff: for good
    clauses, params = REACH.where(asking(Role.REQUESTER, at))
    assert params[-1] == iso(years_before(at, 2))
    assert len(clauses) == 2


def test_two_years_before_a_29th_of_february_is_the_28th() -> None:
    leap = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
    assert years_before(leap, 2).date() == date(2026, 2, 28)
    assert years_before(ENDED, 2) == ENDED.replace(year=2024)


def test_the_search_reaches_both_kinds_a_requester_owns_by_one_limit() -> None:
    # the search index holds incidents and requests in one view, limited by one reach rule
    assert requester_years("incident") == requester_years("service_request")
