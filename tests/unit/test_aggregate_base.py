"""The plumbing every record kind shares (domain/aggregate.py), held for each kind that uses it.

A kind names its events' base class and, with a lifecycle, its transition function; the base
refuses another kind's events on replay, stamps every later event, and advances the state.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import change, change_schedule, configuration_item, knowledge, problem
from domain import service_request as request
from domain.actors import Actor, Role
from domain.aggregate import Aggregate
from domain.errors import RecordIllegalTransition
from domain.events import DomainEvent
from tests.conftest import T0, context
from tests.unit.test_problem_lifecycle import logged

AGENT = Actor(id="siti.rahma", role=Role.AGENT)
REVIEWER = Actor(id="budi.santoso", role=Role.AGENT)


def foreign(event_type: type[DomainEvent]) -> DomainEvent:
    """An event that carries only the envelope (a state change with no fields of its own)."""
    return event_type(originator_id=uuid4(), originator_version=1, **context(AGENT).stamp())


KINDS: list[tuple[type[Aggregate], type[DomainEvent]]] = [
    (problem.Problem, change.Closed),
    (change.Change, problem.Closed),
    (request.ServiceRequest, change.Closed),
    (request.CatalogueItem, problem.Closed),
    (knowledge.KnowledgeArticle, problem.Closed),
    (configuration_item.ConfigurationItem, request.Closed),
    (change_schedule.ChangeSchedule, problem.Closed),
]


@pytest.mark.parametrize(("kind", "other"), KINDS, ids=lambda k: getattr(k, "KIND", ""))
def test_a_record_refuses_another_kinds_events_on_replay(
    kind: type[Aggregate], other: type[DomainEvent]
) -> None:
    refusal = f"^{re.escape(other.type_name)} is not a {kind.KIND} event$"
    with pytest.raises(LookupError, match=refusal):
        kind.project(None, [foreign(other)])


def drafted() -> knowledge.KnowledgeArticle:
    return knowledge.KnowledgeArticle.draft(
        context(AGENT),
        id=uuid4(),
        number=1,
        title="Renewing a loan from the OPAC",
        body="Sign in, open Loans, choose Renew.",
        service="catalogue-search",
        keywords=["renewal"],
    )


def test_a_refused_action_names_the_record_as_its_kind_says_and_its_state() -> None:
    article = drafted()
    with pytest.raises(
        RecordIllegalTransition, match=r"^cannot publish while the article is draft$"
    ):
        article.publish(context(REVIEWER))
    with pytest.raises(
        RecordIllegalTransition, match=r"^cannot close while the problem is logged$"
    ):
        logged().close(context(AGENT))


ARTICLE_STEPS: dict[str, Any] = {
    "revise": lambda a, ctx: a.revise(ctx, title="Renewing", body="Open Loans.", keywords=[]),
    "submit": lambda a, ctx: a.submit_for_review(ctx),
    "request_changes": lambda a, ctx: a.request_changes(ctx, reason="Say which button."),
    "publish": lambda a, ctx: a.publish(ctx),
    "retire": lambda a, ctx: a.retire(ctx, reason="The OPAC was replaced."),
}


@given(st.lists(st.sampled_from(sorted(ARTICLE_STEPS)), max_size=8))
def test_replay_gives_the_state_and_version_the_decisions_left(steps: list[str]) -> None:
    article = drafted()
    for step in steps:
        with contextlib.suppress(RecordIllegalTransition):  # a refused step records nothing
            ARTICLE_STEPS[step](article, context(REVIEWER))
    events = article.collect_events()
    replayed = knowledge.KnowledgeArticle.project(None, events)
    assert replayed is not None
    assert (replayed.state, replayed.version) == (article.state, article.version)
    assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
    assert {(e.originator_id, e.timestamp) for e in events} == {(article.id, T0)}
