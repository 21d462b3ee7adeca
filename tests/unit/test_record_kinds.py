"""A record kind's declaration says only what sets it apart: the words its absence is answered
with are its name in words, and its absence a RecordNotFound, unless it says otherwise."""

from __future__ import annotations

from application.kinds import BUSINESS_CALENDAR, INCIDENT, KINDS, SLA_POLICY, Kind
from domain.errors import CalendarNotFound, IncidentNotFound, RecordNotFound
from domain.problem import Problem


def test_a_kind_is_named_in_words_and_missing_as_a_record_unless_it_says_otherwise() -> None:
    kind = Kind("known_problem", Problem)

    assert kind.noun == "known problem"
    assert kind.not_found is RecordNotFound
    assert str(kind.missing("PRB-000001")) == "no known problem PRB-000001"


def test_the_registered_kinds_keep_their_words_and_errors() -> None:
    nouns = {name: kind.noun for name, kind in KINDS.items()}

    assert nouns["service_request"] == "service request"
    assert nouns["knowledge_article"] == "knowledge article"
    assert SLA_POLICY.noun == "SLA policy"
    assert INCIDENT.not_found is IncidentNotFound
    assert BUSINESS_CALENDAR.not_found is CalendarNotFound
    assert KINDS["change"].not_found is RecordNotFound
