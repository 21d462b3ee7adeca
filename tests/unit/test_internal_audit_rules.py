"""Every rule of the audit programme (domain/internal_audit.py, domain/internal_audit_commands.py),
Given / When / Then.

Given: a history of events, replayed through `InternalAudit.project`, and what the record says
each person worked on (a session's `work_in`).
When: one aggregate method or command, called with a Context.
Then: exactly the new events it records, or the named error it raises with nothing recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from domain.actors import Actor, Role
from domain.context import Context
from domain.directory import Person
from domain.errors import DomainError, IllegalTransition, NothingChanged, NotPermitted
from domain.events import DomainEvent
from domain.improvement import Improvement, ImprovementSource
from domain.internal_audit import (
    PROCESS_KINDS,
    AuditEvent,
    AuditorAssigned,
    AuditorNotImpartial,
    AuditState,
    Cancelled,
    Closed,
    FindingKind,
    FindingRecorded,
    InternalAudit,
    InvalidAuditDates,
    NotAnAuditorOfThis,
    Planned,
    Reported,
    Started,
    Work,
    kinds_in_scope,
    opened_id,
    period_bounds,
)
from domain.internal_audit_commands import AssignAuditor, PlanInternalAudit, RecordFinding
from domain.nonconformity import Nonconformity, NonconformitySource
from tests.conftest import MANAGER, T0, context
from tests.fake_session import FakeSession

ID = UUID("5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a")
LEAD = Actor(id="rina.auditor", role=Role.AUDITOR)
OTHER = Actor(id="dedi.auditor", role=Role.AUDITOR)
OWNER = Actor(id="andi.wijaya", role=Role.RESOLVER)
STRANGER = Actor(id="joko.auditor", role=Role.AUDITOR)
SCOPE = ["8.6.1", "8.5.1"]


class AuditSession(FakeSession):
    """A session whose record says `worked` (person -> what they worked on), over `kinds` in
    [since, until): what it was asked is kept."""

    def __init__(self, *records: Any, worked: dict[str, Work] | None = None) -> None:
        super().__init__(*records)
        self.worked = worked or {}
        self.asked: list[tuple[frozenset[str], frozenset[str], datetime, datetime]] = []

    def new_id(self) -> UUID:
        return uuid4()

    def work_in(
        self, kinds: frozenset[str], actors: frozenset[str], since: datetime, until: datetime
    ) -> dict[str, Work]:
        self.asked.append((kinds, actors, since, until))
        return {a: w for a, w in self.worked.items() if a in actors}


def people(*actors: Actor) -> list[Person]:
    return [
        Person.register(context(MANAGER), actor_id=a.id, name=a.id.replace(".", " "))
        for a in actors
    ]


def session(**kw: Any) -> AuditSession:
    return AuditSession(*people(LEAD, OTHER, OWNER, STRANGER), **kw)


def happened(event_type: type[DomainEvent], **fields: Any) -> Any:
    return event_type(
        originator_id=ID,
        originator_version=0,
        timestamp=T0,
        actor=MANAGER,
        correlation_id=uuid4(),
        **fields,
    )


def planned() -> Planned:
    return happened(
        Planned,
        number=1,
        title="Incidents and changes, first half",
        scope=SCOPE,
        services=["inlislite"],
        criteria="The documented incident procedure",
        method="Samples by seed",
        planned_start=date(2026, 7, 6),
        planned_end=date(2026, 7, 10),
        period_from=date(2026, 1, 1),
        period_to=date(2026, 6, 30),
        lead_auditor=LEAD.id,
        auditors=[OTHER.id],
    )


def given(*events: AuditEvent) -> InternalAudit:
    numbered = [e.model_copy(update={"originator_version": n}) for n, e in enumerate(events, 1)]
    found = InternalAudit.project(None, numbered)
    assert found is not None
    return found


PLANNED = (planned(),)
IN_PROGRESS = (*PLANNED, happened(Started))
REPORTED = (*IN_PROGRESS, happened(Reported, conclusions="two minor nonconformities"))
CLOSED = (*REPORTED, happened(Closed, note=None))
CANCELLED = (*PLANNED, happened(Cancelled, reason="moved"))
HISTORIES = {
    AuditState.PLANNED: PLANNED,
    AuditState.IN_PROGRESS: IN_PROGRESS,
    AuditState.REPORTED: REPORTED,
    AuditState.CLOSED: CLOSED,
    AuditState.CANCELLED: CANCELLED,
}
RUNNING = {AuditState.PLANNED, AuditState.IN_PROGRESS}

#: action -> (call it as the right person, the event it records, the states it is allowed in)
ACTIONS: dict[str, tuple[Callable[[InternalAudit], None], type, set[AuditState]]] = {
    "assign_auditor": (
        lambda a: a.assign_auditor(context(MANAGER), auditor=STRANGER.id),
        AuditorAssigned,
        RUNNING,
    ),
    "start": (lambda a: a.start(context(LEAD)), Started, {AuditState.PLANNED}),
    "record_finding": (
        lambda a: a.record_finding(
            context(OTHER),
            kind=FindingKind.OBSERVATION,
            clause="8.6.1",
            text="notes are short",
            evidence=[],
        ),
        FindingRecorded,
        {AuditState.IN_PROGRESS},
    ),
    "report": (
        lambda a: a.report(context(LEAD), conclusions="fine"),
        Reported,
        {AuditState.IN_PROGRESS},
    ),
    "close": (lambda a: a.close(context(MANAGER)), Closed, {AuditState.REPORTED}),
    "cancel": (lambda a: a.cancel(context(MANAGER), reason="no time"), Cancelled, RUNNING),
}


def then_refused(found: Any, act: Callable[[], Any], error: type[DomainError]) -> None:
    version = found.version
    with pytest.raises(error):
        act()
    assert found.collect_events() == []
    assert found.version == version


def test_the_table_covers_every_public_method() -> None:
    methods = {
        name
        for name, member in vars(InternalAudit).items()
        if not name.startswith("_") and callable(member) and "__mutmut_" not in name
    }
    assert methods - {"plan", "check_auditor"} == set(ACTIONS)


@pytest.mark.parametrize(
    ("action", "state"), [(a, s) for a in ACTIONS for s in AuditState if s in ACTIONS[a][2]]
)
def test_an_action_in_its_states_records_its_event(action: str, state: AuditState) -> None:
    found = given(*HISTORIES[state])
    act, event_type, _ = ACTIONS[action]
    act(found)
    (event,) = found.collect_events()
    assert isinstance(event, event_type)
    assert event.originator_version == len(HISTORIES[state]) + 1


@pytest.mark.parametrize(
    ("action", "state"), [(a, s) for a in ACTIONS for s in AuditState if s not in ACTIONS[a][2]]
)
def test_an_action_outside_its_states_is_an_illegal_transition(
    action: str, state: AuditState
) -> None:
    found = given(*HISTORIES[state])
    act, _, _ = ACTIONS[action]
    then_refused(found, lambda: act(found), IllegalTransition)


def test_the_lifecycle_runs_planned_in_progress_reported_closed() -> None:
    assert given(*CLOSED).state is AuditState.CLOSED
    assert given(*CANCELLED).state is AuditState.CANCELLED


@pytest.mark.parametrize("action", ["assign_auditor", "close", "cancel"])
def test_only_a_service_manager_names_auditors_closes_and_cancels(action: str) -> None:
    state = AuditState.REPORTED if action == "close" else AuditState.PLANNED
    found = given(*HISTORIES[state])
    calls: dict[str, Callable[[Context], None]] = {
        "assign_auditor": lambda c: found.assign_auditor(c, auditor=STRANGER.id),
        "close": found.close,
        "cancel": lambda c: found.cancel(c, reason="no"),
    }
    then_refused(found, lambda: calls[action](context(LEAD)), NotPermitted)


def test_the_lead_auditor_or_a_manager_starts_and_reports_and_no_other_auditor() -> None:
    found = given(*PLANNED)
    then_refused(found, lambda: found.start(context(OTHER)), NotPermitted)
    found.start(context(MANAGER))
    found.collect_events()
    then_refused(found, lambda: found.report(context(OTHER), conclusions="x"), NotPermitted)


def test_only_the_audits_auditors_record_its_findings() -> None:
    found = given(*IN_PROGRESS)
    then_refused(
        found,
        lambda: found.record_finding(
            context(MANAGER), kind=FindingKind.OBSERVATION, clause="8.6.1", text="t", evidence=[]
        ),
        NotAnAuditorOfThis,
    )


def test_naming_an_auditor_of_the_audit_again_changes_nothing() -> None:
    found = given(*PLANNED)
    then_refused(
        found, lambda: found.assign_auditor(context(MANAGER), auditor=OTHER.id), NothingChanged
    )


def test_findings_are_numbered_from_one_in_the_order_recorded() -> None:
    found = given(*IN_PROGRESS)
    for _ in range(2):
        found.record_finding(
            context(LEAD), kind=FindingKind.OBSERVATION, clause="8.6.1", text="t", evidence=[]
        )
    assert [e.finding for e in found.collect_events()] == [1, 2]


# -- impartiality: read from the record -----------------------------------------------------------


def plan(**changes: Any) -> PlanInternalAudit:
    fields: dict[str, Any] = {
        "title": "Incidents and changes",
        "scope": SCOPE,
        "criteria": "The documented procedures",
        "planned_start": date(2026, 7, 6),
        "planned_end": date(2026, 7, 10),
        "period_from": date(2026, 1, 1),
        "period_to": date(2026, 6, 30),
        "lead_auditor": LEAD.id,
        "auditors": [OTHER.id],
    }
    return PlanInternalAudit(**{**fields, **changes})


def test_an_auditor_who_worked_in_a_process_in_scope_in_the_period_is_refused() -> None:
    worked = {OTHER.id: Work("incident", "INC-000123")}
    with pytest.raises(AuditorNotImpartial, match="INC-000123"):
        plan().decide(session(worked=worked), context(MANAGER))


def test_impartiality_asks_the_record_about_the_scopes_kinds_over_the_period_in_jakarta() -> None:
    s = session()
    plan().decide(s, context(MANAGER))
    ((kinds, actors, since, until),) = s.asked
    assert kinds == {"incident", "change", "change_template"}
    assert actors == {LEAD.id, OTHER.id}
    assert since == datetime(2025, 12, 31, 17, 0, tzinfo=UTC)  # 1 January, 00:00 WIB
    assert until == datetime(2026, 6, 30, 17, 0, tzinfo=UTC)  # the end of 30 June, WIB
    (audit,) = [r for r in s.added if isinstance(r, InternalAudit)]
    assert audit.team == (LEAD.id, OTHER.id)


def test_an_impartial_team_plans_the_audit() -> None:
    worked = {OTHER.id: Work("problem", "PRB-000002")}  # worked, but not in a process in scope
    s = session(worked={})
    plan().decide(s, context(MANAGER))
    assert worked  # (work outside scope is not asked about: the session answers for the kinds)
    assert [type(e) for r in s.added for e in r.collect_events()] == [Planned]


def test_a_scope_whose_clauses_have_no_records_asks_nothing() -> None:
    s = session()
    plan(scope=["7.5"]).decide(s, context(MANAGER))
    assert s.asked == []


def test_naming_an_auditor_later_is_refused_the_same_way() -> None:
    found = given(*PLANNED)
    worked = {STRANGER.id: Work("change", "CHG-000007")}
    s = session(worked=worked)
    s.records[found.id] = found
    then_refused(
        found,
        lambda: AssignAuditor(auditor=STRANGER.id).execute(found, s, context(MANAGER)),
        AuditorNotImpartial,
    )
    ((kinds, actors, _, _),) = s.asked
    assert kinds == kinds_in_scope(SCOPE)
    assert actors == {STRANGER.id}


def test_the_clause_to_kinds_table_names_the_operational_processes() -> None:
    assert PROCESS_KINDS["8.6.1"] == ("incident",)
    assert "service_request" in PROCESS_KINDS["8.6.2"]
    assert PROCESS_KINDS["8.6.3"] == ("problem",)
    assert "change" in PROCESS_KINDS["8.5.1"]
    assert PROCESS_KINDS["8.2.6"] == ("configuration_item",)


def test_dates_out_of_order_are_refused() -> None:
    with pytest.raises(InvalidAuditDates):
        plan(period_to=date(2025, 12, 1)).decide(session(), context(MANAGER))
    with pytest.raises(InvalidAuditDates):
        plan(planned_end=date(2026, 7, 1)).decide(session(), context(MANAGER))


def test_only_a_service_manager_plans_an_audit() -> None:
    with pytest.raises(NotPermitted):
        plan().decide(session(), context(LEAD))


def test_period_bounds_are_whole_office_days() -> None:
    since, until = period_bounds(date(2026, 3, 1), date(2026, 3, 31))
    assert since.astimezone(UTC) == datetime(2026, 2, 28, 17, tzinfo=UTC)
    assert until.astimezone(UTC) == datetime(2026, 3, 31, 17, tzinfo=UTC)


# -- a finding opens its nonconformity or improvement, once ---------------------------------


def finding(kind: FindingKind, **more: Any) -> RecordFinding:
    return RecordFinding(
        kind=kind,
        clause="8.6.1",
        text="2 of 10 sampled incidents had no resolution note",
        evidence=[{"kind": "sample", "ref": "type=Incident seed=42 n=10"}],
        **more,
    )


def running() -> tuple[InternalAudit, AuditSession]:
    found = given(*IN_PROGRESS)
    s = session()
    s.records[found.id] = found
    return found, s


def test_a_nonconformity_found_opens_a_nonconformity_record() -> None:
    audit, s = running()
    finding(FindingKind.MINOR_NONCONFORMITY, owner=OWNER.id, due=date(2026, 9, 30)).execute(
        audit, s, context(LEAD)
    )
    (nc,) = [r for r in s.added if isinstance(r, Nonconformity)]
    (raised,) = nc.collect_events()
    assert raised.source is NonconformitySource.AUDIT_FINDING  # type: ignore[attr-defined]
    assert raised.finding.audit == "AUD-000001"  # type: ignore[attr-defined]
    assert nc.id == opened_id("nonconformity", audit.id, 1)
    (recorded,) = audit.collect_events()
    assert isinstance(recorded, FindingRecorded)
    assert recorded.opened is not None
    assert (recorded.opened.kind, recorded.opened.ref) == ("nonconformity", "NC-000001")


def test_an_opportunity_found_opens_an_improvement_from_an_audit_finding() -> None:
    audit, s = running()
    finding(FindingKind.OPPORTUNITY).execute(audit, s, context(OTHER))
    (improvement,) = [r for r in s.added if isinstance(r, Improvement)]
    (proposed,) = improvement.collect_events()
    assert proposed.source is ImprovementSource.AUDIT_FINDING  # type: ignore[attr-defined]
    assert improvement.id == opened_id("improvement", audit.id, 1)
    (recorded,) = audit.collect_events()
    assert isinstance(recorded, FindingRecorded)
    assert recorded.opened is not None
    assert recorded.opened.ref == "IMP-000001"


def test_a_finding_decided_again_opens_no_second_record() -> None:
    """A retried finding (the same audit version, decided again) finds the record its id names
    and opens no other: one nonconformity, one number."""
    audit, s = running()
    command = finding(FindingKind.MAJOR_NONCONFORMITY, owner=OWNER.id, due=date(2026, 9, 30))
    command.execute(audit.copy(), s, context(LEAD))
    command.execute(audit.copy(), s, context(LEAD))
    assert len([r for r in s.added if isinstance(r, Nonconformity)]) == 1
    assert s.numbers == {"NC": 1}


@pytest.mark.parametrize("kind", [FindingKind.OBSERVATION])
def test_an_observation_opens_nothing(kind: FindingKind) -> None:
    audit, s = running()
    finding(kind).execute(audit, s, context(LEAD))
    assert not [r for r in s.added if not isinstance(r, Person)]


def test_a_nonconformity_found_names_its_owner_and_due_date() -> None:
    with pytest.raises(ValidationError):
        finding(FindingKind.MINOR_NONCONFORMITY)


def test_someone_not_of_the_audit_opens_nothing_by_a_finding() -> None:
    audit, s = running()
    command = finding(FindingKind.MINOR_NONCONFORMITY, owner=OWNER.id, due=date(2026, 9, 30))
    with pytest.raises(NotAnAuditorOfThis):
        command.execute(audit, s, context(STRANGER))
    assert not [r for r in s.added if isinstance(r, Nonconformity)]
