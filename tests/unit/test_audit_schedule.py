"""The audit programme (ISO/IEC 20000-1 9.2.2), Given / When / Then: each process of the schedule
due by its frequency after its last reported audit, brought forward by a major nonconformity
that audit found against it, due at once when never audited, overdue only when nothing covering
it is planned; the schedule a rule of record, revised with a reason by a service manager."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.actors import Actor, Role
from domain.audit_schedule import (
    DEFAULT_TERMS,
    AuditFacts,
    AuditSchedule,
    Importance,
    ProcessTerms,
    ScheduleRevised,
    ScheduleTerms,
    programme,
)
from domain.errors import InvalidRule
from domain.internal_audit import AuditState, FindingKind
from tests.conftest import context

TODAY = date(2027, 3, 1)
INCIDENTS = ProcessTerms(clause="8.6.1", importance=Importance.HIGH, every_months=6)
CHANGES = ProcessTerms(clause="8.5.1", importance=Importance.HIGH, every_months=6)
CATALOGUE = ProcessTerms(clause="8.2.4", importance=Importance.LOW, every_months=24)
TERMS = ScheduleTerms(processes=[INCIDENTS, CHANGES, CATALOGUE])


def audit(
    ref: str, scope: tuple[str, ...], end: date, state: AuditState, *found: str
) -> AuditFacts:
    findings = tuple((clause, FindingKind(kind)) for clause, kind in (f.split(":") for f in found))
    return AuditFacts(ref, scope, state, end, findings)


def by_clause(*audits: AuditFacts) -> dict[str, tuple[date, bool, bool]]:
    return {
        line.process.clause: (line.due, line.overdue, line.brought_forward)
        for line in programme(TERMS, audits, TODAY)
    }


def test_the_next_audit_is_due_its_interval_after_the_last_and_sooner_after_a_major_finding() -> (
    None
):
    lines = by_clause(
        audit("AUD-000001", ("8.6.1",), date(2026, 10, 31), AuditState.CLOSED, "8.6.1:observation"),
        audit(
            "AUD-000002",
            ("8.5.1", "8.6.1"),
            date(2026, 6, 30),
            AuditState.REPORTED,
            "8.5.1:nonconformity-major",
            "8.6.1:nonconformity-minor",
        ),
    )
    # incidents: the latest audit covering them ended 31 Oct; six months on is 30 April
    assert lines["8.6.1"] == (date(2027, 4, 30), False, False)
    # changes: a major nonconformity in June halves six months to three: due 30 September 2026
    assert lines["8.5.1"] == (date(2026, 9, 30), True, True)
    # the catalogue was never audited: due now, and not yet late
    assert lines["8.2.4"] == (TODAY, False, False)


def test_a_planned_audit_covering_a_due_process_means_it_is_not_overdue() -> None:
    done = audit("AUD-000001", ("8.5.1",), date(2026, 1, 31), AuditState.CLOSED)
    planned = audit("AUD-000002", ("8.5.1",), date(2027, 3, 20), AuditState.PLANNED)
    cancelled = audit("AUD-000003", ("8.5.1",), date(2027, 3, 20), AuditState.CANCELLED)

    assert by_clause(done)["8.5.1"][1] is True
    assert by_clause(done, cancelled)["8.5.1"][1] is True  # a cancelled one plans nothing
    [line] = [x for x in programme(TERMS, [done, planned], TODAY) if x.process.clause == "8.5.1"]
    assert (line.overdue, line.planned) == (False, ("AUD-000002",))
    assert line.last == done  # a planned audit is not a result yet


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["8.6.1", "8.5.1", "8.2.4", "9.4"]),
            st.dates(date(2020, 1, 1), date(2030, 12, 31)),
            st.sampled_from(list(AuditState)),
            st.booleans(),
        ),
        max_size=12,
    )
)
def test_each_process_is_due_after_its_last_result_and_never_later_than_its_interval(
    held: list[tuple[str, date, AuditState, bool]],
) -> None:
    audits = [
        audit(
            f"AUD-{n:06d}",
            (clause,),
            end,
            state,
            *([f"{clause}:nonconformity-major"] if major else []),
        )
        for n, (clause, end, state, major) in enumerate(held, 1)
    ]
    lines = programme(TERMS, audits, TODAY)
    assert sorted(line.process.clause for line in lines) == sorted(
        p.clause for p in TERMS.processes
    )
    assert [line.due for line in lines] == sorted(line.due for line in lines)
    for line in lines:
        done = [
            a
            for a in audits
            if line.process.clause in a.scope
            and a.state in (AuditState.REPORTED, AuditState.CLOSED)
        ]
        if not done:
            assert (line.last, line.due) == (None, TODAY)
            continue
        assert line.last is not None
        assert line.last.planned_end == max(a.planned_end for a in done)
        assert line.due > line.last.planned_end
        assert (line.due - line.last.planned_end).days <= line.process.every_months * 31


# -- the schedule, a rule of record --------------------------------------------------------------

MANAGER = Actor(id="dewi.lestari", role=Role.SERVICE_MANAGER)


def test_the_schedule_is_revised_with_a_reason_and_a_revision_must_change_it() -> None:
    schedule = AuditSchedule.define(context(MANAGER), DEFAULT_TERMS, "the first programme")
    schedule.collect_events()
    with pytest.raises(InvalidRule):
        schedule.revise(context(MANAGER), DEFAULT_TERMS, "no change")

    schedule.revise(context(MANAGER), TERMS, "three processes this year")

    [revised] = schedule.collect_events()
    assert isinstance(revised, ScheduleRevised)
    assert (revised.terms, revised.reason) == (TERMS, "three processes this year")
    assert schedule.terms == TERMS


def test_a_process_is_scheduled_once_within_bounds() -> None:
    with pytest.raises(ValidationError, match="scheduled once"):
        ScheduleTerms(processes=[INCIDENTS, INCIDENTS])
    with pytest.raises(ValidationError):
        ProcessTerms(clause="8.6.1", importance=Importance.HIGH, every_months=61)
    with pytest.raises(ValidationError):
        ProcessTerms(clause="incidents", importance=Importance.HIGH, every_months=6)


def test_a_due_date_past_the_calendar_is_its_last_day() -> None:
    far = audit("AUD-000001", ("8.2.4",), date(9999, 6, 30), AuditState.CLOSED)
    assert by_clause(far)["8.2.4"][0] == date.max
    leap = audit("AUD-000002", ("8.6.1",), date(2027, 8, 31), AuditState.CLOSED)
    assert by_clause(leap)["8.6.1"][0] == date(2028, 2, 29)  # six months on, the month's last day
