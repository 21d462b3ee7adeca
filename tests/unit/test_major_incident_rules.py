"""Major-incident criteria and reviews, Given (an incident's history and the criteria in force) /
When (the service weighs it; a review; a closure) / Then (a proposal naming the criteria and the
rule's version, or none; the review recorded; the closure refused until it is)
(domain/major_incident.py; ISO/IEC 20000-1 items 38 and 41 of docs/iso20000.md)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import given as given_examples
from hypothesis import settings
from hypothesis import strategies as st

from domain.actors import SYSTEM
from domain.errors import InvalidRule, NotAMajorIncident, ReviewRequired
from domain.incident import ChildLinked, Incident, MajorIncidentProposed, MajorIncidentReviewed
from domain.major_incident import (
    DEFAULT_CRITERIA,
    Criteria,
    CriteriaRevised,
    Criterion,
    MajorIncidentCriteria,
)
from domain.priority import Impact, Urgency
from domain.visibility import for_caller
from tests.conftest import MANAGER, T0, context
from tests.unit.test_incident_rules import (
    IN_PROGRESS,
    RESOLVED,
    WINDOW,
    declared_major,
    given,
    happened,
    logged,
    stood_down,
)


def rule(**criteria: object) -> MajorIncidentCriteria:
    defined = MajorIncidentCriteria.define(context(MANAGER), Criteria.model_validate(criteria))
    defined.collect_events()
    return defined


CRITICAL = rule(critical_services=["catalogue-search"], critical_priority=1)


def child_linked(at: datetime) -> ChildLinked:
    return happened(ChildLinked, at=at, incident_id=uuid4(), incident_ref="INC-000009")


# -- the criteria ---------------------------------------------------------------------------------


def test_a_p1_on_a_critical_service_is_proposed_naming_the_criterion_and_the_rule_version() -> None:
    incident = given(logged(Impact.HIGH, Urgency.HIGH))
    ctx = context()

    proposed = incident.propose_major(ctx, rule=CRITICAL)

    assert proposed
    [event] = incident.collect_events()
    assert isinstance(event, MajorIncidentProposed)
    assert (event.criteria, event.rule_version) == ([Criterion.CRITICAL_SERVICE], 1)
    assert (event.actor, event.correlation_id) == (SYSTEM, ctx.correlation_id)
    assert incident.major_manager is None  # proposed, not declared: a person declares it


def test_an_incident_that_meets_no_criterion_is_not_proposed() -> None:
    for history, criteria in (
        ((logged(Impact.HIGH, Urgency.MEDIUM),), CRITICAL),  # P2
        ((logged(Impact.HIGH, Urgency.HIGH),), rule(critical_services=["public-wifi"])),
        ((logged(Impact.HIGH, Urgency.HIGH),), rule()),  # the defaults list no service
    ):
        incident = given(*history)
        assert not incident.propose_major(context(), rule=criteria)
        assert incident.collect_events() == []


def test_an_incident_is_proposed_once_and_never_once_it_is_declared_or_finished() -> None:
    once = given(logged(Impact.HIGH, Urgency.HIGH))
    assert once.propose_major(context(), rule=CRITICAL)
    assert not once.propose_major(context(), rule=CRITICAL)
    declared = given(logged(Impact.HIGH, Urgency.HIGH), declared_major())
    assert not declared.propose_major(context(), rule=CRITICAL)
    finished = given(*RESOLVED)
    assert not finished.propose_major(context(), rule=rule(organisation_wide_priority=5))


def test_the_children_of_an_outage_linked_within_the_window_propose_their_parent() -> None:
    criteria = rule(related_reports=3, within_minutes=30)
    spread = given(*IN_PROGRESS, *(child_linked(T0 + timedelta(minutes=20 * n)) for n in range(3)))
    assert not spread.propose_major(context(), rule=criteria)  # 40 minutes from first to third

    gathered = given(
        *IN_PROGRESS, *(child_linked(T0 + timedelta(minutes=10 * n)) for n in range(3))
    )
    assert gathered.propose_major(context(), rule=criteria)
    [event] = gathered.collect_events()
    assert event.criteria == [Criterion.RELATED_REPORTS]  # type: ignore[attr-defined]


@settings(max_examples=80, deadline=None)
@given_examples(
    minutes=st.lists(st.integers(0, 600), max_size=12),
    n=st.integers(2, 6),
    window=st.integers(1, 120),
)
def test_related_reports_are_met_exactly_when_n_links_fall_within_the_window(
    minutes: list[int], n: int, window: int
) -> None:
    criteria = Criteria(related_reports=n, within_minutes=window)
    times = [T0 + timedelta(minutes=m) for m in minutes]

    met = Criterion.RELATED_REPORTS in criteria.met(
        service="x", priority=5, children_linked_at=times
    )

    by_brute_force = any(
        sum(1 for t in times if start <= t <= start + timedelta(minutes=window)) >= n
        for start in times
    )
    assert met == by_brute_force


def test_the_defaults_list_no_critical_service_and_propose_on_ten_reports_within_an_hour() -> None:
    expected = Criteria(
        critical_services=[],
        critical_priority=1,
        related_reports=10,
        within_minutes=60,
        organisation_wide_priority=None,
    )
    assert expected == DEFAULT_CRITERIA


def test_a_revision_records_the_new_criteria_and_why_and_the_same_criteria_are_refused() -> None:
    criteria = rule()

    criteria.revise(
        context(MANAGER),
        Criteria(critical_services=["circulation", "batupusaka", "circulation"]),
        "every member uses them",
    )

    [event] = criteria.collect_events()
    assert isinstance(event, CriteriaRevised)
    assert event.criteria.critical_services == ["batupusaka", "circulation"]
    assert (criteria.version, event.reason) == (2, "every member uses them")
    with pytest.raises(InvalidRule):
        criteria.revise(context(MANAGER), criteria.criteria, "again")


# -- the review -----------------------------------------------------------------------------------

MAJOR_RESOLVED = (*IN_PROGRESS, declared_major(), RESOLVED[-1])


def review(incident: Incident) -> None:
    incident.review_major(
        context(MANAGER),
        timeline="08:10 gates alarm; 08:25 declared; 10:40 fixed",
        went_well="the list knew in 15 minutes",
        went_badly="no one had the RFID server's password",
        actions=["put the credentials in the vault"],
        problems=["PRB-000004"],
        improvements=["IMP-000002"],
    )


def test_a_resolved_major_incident_records_its_review() -> None:
    incident = given(*MAJOR_RESOLVED)

    review(incident)

    [event] = incident.collect_events()
    assert isinstance(event, MajorIncidentReviewed)
    assert (event.problems, event.improvements, event.actions) == (
        ["PRB-000004"],
        ["IMP-000002"],
        ["put the credentials in the vault"],
    )
    assert incident.major_reviewed


def test_only_a_major_incident_is_reviewed_as_one() -> None:
    with pytest.raises(NotAMajorIncident):
        review(given(*RESOLVED))
    with pytest.raises(NotAMajorIncident):
        review(given(*IN_PROGRESS, declared_major(), stood_down(), RESOLVED[-1]))


def test_a_major_incident_is_closed_only_once_its_review_is_recorded() -> None:
    incident = given(*MAJOR_RESOLVED)
    after_window = replace(context(), at=T0 + WINDOW)

    with pytest.raises(ReviewRequired):
        incident.close(after_window)
    with pytest.raises(ReviewRequired):
        incident.confirm_resolution(context())
    assert incident.collect_events() == []

    review(incident)
    incident.collect_events()
    incident.close(after_window)
    assert incident.state == "closed"


@settings(max_examples=20, deadline=None)
@given_examples(data=st.data())
def test_a_caller_reads_neither_a_proposal_nor_a_review(data: st.DataObject) -> None:
    from tests.strategies import STRATEGIES

    for event_type in (MajorIncidentProposed, MajorIncidentReviewed):
        assert for_caller([data.draw(STRATEGIES[event_type])]) == []
