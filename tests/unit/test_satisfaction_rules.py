"""The caller's rating of a closed incident or service request (domain/satisfaction.py), and the
follow-up a low one opens in the improvement register, Given / When / Then.

Given: a history of events, replayed through the aggregate's `project`.
When: one aggregate method, or a rating command decided on a session that holds the records.
Then: exactly the new events (and records) it makes, or the named error it raises with nothing
recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given as given_values
from hypothesis import strategies as st
from pydantic import ValidationError

from application.messages import Messages
from domain.actors import SYSTEM, Actor, Role
from domain.aggregate import Aggregate
from domain.commands import RateIncident
from domain.directory import Group, GroupFormed, group_id
from domain.errors import AlreadyRated, DomainError, IllegalTransition, NotTheCaller
from domain.events import DomainEvent
from domain.improvement import (
    Improvement,
    ImprovementSource,
    ImprovementState,
    Proposed,
    SourceKind,
    SourceRecord,
    follow_up_id,
    open_follow_up,
)
from domain.incident import Incident, IncidentState, Rated
from domain.request_commands import RateServiceRequest
from domain.service_request import Closed as RequestClosed
from domain.service_request import (
    Fulfilled,
    FulfilmentStarted,
    RequestState,
    ServiceRequest,
    Submitted,
)
from domain.service_request import Rated as RequestRated
from tests.conftest import AGENT, CALLER, MANAGER, T0, context
from tests.fake_session import FakeSession
from tests.unit.test_incident_rules import CLOSED, HISTORIES, LATER, SERVICE_DESK, given

REQUEST_ID = UUID("7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
OTHER_CALLER = Actor(id="rina.kartika", role=Role.REQUESTER)
KIOSK_TEAM = "kiosk-team"


def group(code: str = SERVICE_DESK, manager: str | None = MANAGER.id) -> Group:
    formed = GroupFormed(
        originator_id=group_id(code),
        originator_version=1,
        timestamp=T0,
        actor=MANAGER,
        correlation_id=uuid4(),
        code=code,
        name="Tim",
        organisation="dpk-banten",
        manager=manager,
        members=[AGENT.id],
    )
    found = Group.project(None, [formed])
    assert found is not None
    return found


def then_refused(record: Aggregate, act: Callable[[], Any], error: type[DomainError]) -> None:
    version = record.version
    with pytest.raises(error):
        act()
    assert record.collect_events() == []
    assert record.version == version


def closed_incident() -> Incident:
    return given(*CLOSED)


# -- incidents --------------------------------------------------------------------------------


def test_the_caller_rates_their_closed_incident_with_a_score_and_a_comment() -> None:
    incident = closed_incident()
    ctx = context(CALLER, LATER)

    incident.rate(ctx, score=4, comment="Cepat sekali, terima kasih")

    (rated,) = incident.collect_events()
    assert isinstance(rated, Rated)
    assert (rated.score, rated.comment) == (4, "Cepat sekali, terima kasih")
    assert (rated.actor, rated.timestamp) == (CALLER, LATER)
    assert incident.rated
    assert incident.state is IncidentState.CLOSED


@pytest.mark.parametrize(
    "state", [s for s in IncidentState if s is not IncidentState.CLOSED], ids=str
)
def test_an_incident_not_closed_is_not_rated(state: IncidentState) -> None:
    incident = given(*HISTORIES[state])
    then_refused(
        incident, lambda: incident.rate(context(CALLER, LATER), score=5), IllegalTransition
    )


def test_a_rating_is_given_once() -> None:
    incident = closed_incident()
    incident.rate(context(CALLER, LATER), score=5)
    incident.collect_events()
    then_refused(incident, lambda: incident.rate(context(CALLER, LATER), score=1), AlreadyRated)


@pytest.mark.parametrize("who", [AGENT, MANAGER, OTHER_CALLER], ids=lambda a: a.id)
def test_no_one_but_the_caller_rates_not_even_staff_on_their_behalf(who: Actor) -> None:
    incident = closed_incident()
    then_refused(incident, lambda: incident.rate(context(who, LATER), score=5), NotTheCaller)


@given_values(st.integers(1, 5))
def test_every_score_from_1_to_5_is_a_rating(score: int) -> None:
    assert RateIncident(score=score).score == score
    assert RateServiceRequest(score=score, comment="ok").score == score


@given_values(st.integers().filter(lambda n: not 1 <= n <= 5))
def test_a_score_outside_1_to_5_is_refused_before_any_rule(score: int) -> None:
    with pytest.raises(ValidationError):
        RateIncident(score=score)
    with pytest.raises(ValidationError):
        RateServiceRequest(score=score)


def test_a_comment_is_at_most_2000_characters() -> None:
    assert RateIncident(score=3, comment="x" * 2_000).comment == "x" * 2_000
    with pytest.raises(ValidationError):
        RateIncident(score=3, comment="x" * 2_001)


# -- service requests ----------------------------------------------------------------------------


def happened(event_type: type[DomainEvent], version: int, **fields: Any) -> Any:
    return event_type(
        originator_id=REQUEST_ID,
        originator_version=version,
        timestamp=T0,
        actor=AGENT,
        correlation_id=uuid4(),
        **fields,
    )


def request(*, closed: bool = True) -> ServiceRequest:
    events = [
        happened(
            Submitted,
            1,
            number=7,
            catalogue_item="member-card-reprint",
            title="Cetak ulang kartu anggota",
            requester=CALLER.id,
            service="membership-cards",
            priority=4,
            approval_required=False,
            fulfilment_group=KIOSK_TEAM,
            steps=["print the card"],
        ),
        happened(FulfilmentStarted, 2, fulfiller=AGENT.id),
        happened(Fulfilled, 3, notes="printed"),
    ]
    if closed:
        events.append(happened(RequestClosed, 4))
    found = ServiceRequest.project(None, events)
    assert found is not None
    return found


def test_the_requester_rates_their_closed_request() -> None:
    found = request()
    found.rate(context(CALLER, LATER), score=5, comment="Kartu siap besoknya")
    (rated,) = found.collect_events()
    assert isinstance(rated, RequestRated)
    assert (rated.score, rated.comment, rated.actor) == (5, "Kartu siap besoknya", CALLER)


def test_a_request_not_closed_is_not_rated() -> None:
    found = request(closed=False)
    assert found.state is RequestState.FULFILLED
    then_refused(found, lambda: found.rate(context(CALLER, LATER), score=5), IllegalTransition)


def test_a_request_is_rated_once_and_only_by_its_requester() -> None:
    found = request()
    then_refused(found, lambda: found.rate(context(AGENT, LATER), score=5), NotTheCaller)
    then_refused(found, lambda: found.rate(context(OTHER_CALLER, LATER), score=5), NotTheCaller)
    found.rate(context(CALLER, LATER), score=3)
    found.collect_events()
    then_refused(found, lambda: found.rate(context(CALLER, LATER), score=3), AlreadyRated)


# -- a low rating's follow-up -----------------------------------------------------------------


def follow_ups(session: FakeSession) -> list[Improvement]:
    return [r for r in session.added if isinstance(r, Improvement)]


@pytest.mark.parametrize("score", [1, 2])
def test_a_low_rating_opens_one_follow_up_owned_by_the_resolving_groups_manager(
    score: int,
) -> None:
    incident = closed_incident()
    session = FakeSession(incident, group(SERVICE_DESK, manager=MANAGER.id))

    RateIncident(score=score, comment="Lama sekali").decide(
        session,  # type: ignore[arg-type]
        context(CALLER, LATER),
        incident.id,
    )

    (follow_up,) = follow_ups(session)
    assert follow_up.id == follow_up_id(incident.id)
    (proposed,) = follow_up.collect_events()
    assert isinstance(proposed, Proposed)
    assert proposed.source is ImprovementSource.RATING
    assert proposed.source_record == SourceRecord(
        kind=SourceKind.INCIDENT, id=incident.id, ref="INC-000001"
    )
    assert proposed.owner == MANAGER.id
    assert proposed.description == "Lama sekali"
    assert proposed.organisation == incident.organisation
    # proposed by the service, not by the caller: the register is the staff's
    assert proposed.actor == SYSTEM
    assert follow_up.state is ImprovementState.PROPOSED
    assert [type(e) for e in incident.collect_events()] == [Rated]


@pytest.mark.parametrize("score", [3, 4, 5])
def test_a_rating_above_2_opens_nothing(score: int) -> None:
    incident = closed_incident()
    session = FakeSession(incident, group())
    RateIncident(score=score).decide(session, context(CALLER, LATER), incident.id)  # type: ignore[arg-type]
    assert follow_ups(session) == []


def test_a_follow_up_of_a_group_without_a_manager_is_unowned() -> None:
    incident = closed_incident()
    session = FakeSession(incident, group(SERVICE_DESK, manager=None))
    RateIncident(score=1).decide(session, context(CALLER, LATER), incident.id)  # type: ignore[arg-type]
    (follow_up,) = follow_ups(session)
    assert follow_up.owner is None


def test_a_follow_up_of_a_group_the_directory_does_not_hold_is_unowned() -> None:
    incident = closed_incident()
    session = FakeSession(incident)
    RateIncident(score=2).decide(session, context(CALLER, LATER), incident.id)  # type: ignore[arg-type]
    (follow_up,) = follow_ups(session)
    assert follow_up.owner is None


def test_a_rating_opens_exactly_one_follow_up_whatever_is_retried() -> None:
    incident = closed_incident()
    session = FakeSession(incident, group())
    rated = SourceRecord(kind=SourceKind.INCIDENT, id=incident.id, ref="INC-000001")
    ctx = context(CALLER, LATER)

    first = open_follow_up(
        session,  # type: ignore[arg-type]
        ctx,
        rated=rated,
        score=1,
        comment=None,
        group=SERVICE_DESK,
        organisation="dpk-banten",
    )
    again = open_follow_up(
        session,  # type: ignore[arg-type]
        ctx,
        rated=rated,
        score=1,
        comment=None,
        group=SERVICE_DESK,
        organisation="dpk-banten",
    )

    assert first is not None
    assert again is None
    assert len(follow_ups(session)) == 1
    # and the rating itself is not given twice: a retried command is refused before it
    incident.rate(ctx, score=1)
    with pytest.raises(AlreadyRated):
        RateIncident(score=1).decide(session, ctx, incident.id)  # type: ignore[arg-type]


def test_a_low_rating_of_a_request_is_followed_up_by_the_fulfilling_groups_manager() -> None:
    found = request()
    session = FakeSession(found, group(KIOSK_TEAM, manager="andi.wijaya"))
    RateServiceRequest(score=1, comment="Salah nama").decide(
        session,  # type: ignore[arg-type]
        context(CALLER, LATER),
        found.id,
    )
    (follow_up,) = follow_ups(session)
    (proposed,) = follow_up.collect_events()
    assert isinstance(proposed, Proposed)
    assert proposed.owner == "andi.wijaya"
    assert proposed.source_record == SourceRecord(
        kind=SourceKind.SERVICE_REQUEST, id=found.id, ref="REQ-000007"
    )


# -- the closure notification's rating link ---------------------------------------------------


@pytest.mark.parametrize(
    ("language", "words"), [("id", "menilai laporan ini sekali"), ("en", "rate this report once")]
)
def test_the_closure_message_asks_the_caller_for_a_rating_in_their_language(
    language: str, words: str
) -> None:
    messages = Messages("https://itsm.example", "itsm.example")
    record = {
        "kind": "incident",
        "ref": "INC-000001",
        "title": "Kiosk mati",
        "service": "kiosks-gates",
    }
    rendered = messages.render(
        "incident.closed",
        language,
        event=None,
        record=record,
        recipient={"name": "Budi Santoso"},
    )
    assert words in rendered.text
    assert "https://itsm.example/console/incidents/INC-000001#rating" in rendered.text
