"""A change's assessment is structured (ISO/IEC 20000-1 8.5.1.2): risk and impact in words, the
continuity, availability and security review each as a level with an optional note, and the
impact the CMDB gives, read by the application when the assessment is recorded (never typed
in). An assessment stored before these were recorded reads as not having them.

Given (a change) / When (assess) / Then (what Change.Assessed records).
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import orjson
import pytest
from hypothesis import given, settings
from pydantic import ValidationError

from domain.actors import Actor, Role
from domain.change import (
    Aspect,
    Assessed,
    Change,
    ChangeKind,
    CmdbImpact,
    ImpactedItem,
    Level,
    Risk,
)
from domain.change_commands import Assess
from domain.events import VERSION_KEY
from infra.serialisation import decode, encode
from tests.conftest import context
from tests.fake_session import FakeSession
from tests.strategies import STRATEGIES

#: An assessment's three aspects, as the tests that are not about them give them.
ASPECTS: dict[str, Any] = {
    "continuity": Aspect(level=Level.LOW),
    "availability": Aspect(level=Level.MEDIUM, note="OPAC down for an hour"),
    "security": Aspect(level=Level.NONE),
}

MANAGER = Actor(id="rina.wati", role=Role.CHANGE_MANAGER)
REQUESTER = Actor(id="andi.pratama", role=Role.RESOLVER)
ITEMS = ["srv-inlislite-01"]
#: What the CMDB says of the INLISLite server in the seed data.
SEEN = CmdbImpact(
    items=[
        ImpactedItem(code="db-inlislite", distance=1),
        ImpactedItem(code="app-inlislite", distance=2),
        ImpactedItem(code="svc-opac", distance=3),
    ],
    services=["catalogue-search", "inlislite-slims"],
)


class ImpactSession(FakeSession):
    """A session whose CMDB says `SEEN` of any items, and remembers what it was asked."""

    def __init__(self, *records: Any) -> None:
        super().__init__(*records)
        self.asked: list[list[str]] = []

    def impact_of(self, codes: list[str]) -> CmdbImpact:
        self.asked.append(list(codes))
        return SEEN

    def change_policy(self) -> None:
        return None  # no policy: nothing but the assessment is judged here


def raised(items: list[str] = ITEMS) -> Change:
    change = Change.raise_change(
        context(REQUESTER),
        id=uuid4(),
        number=3,
        kind=ChangeKind.NORMAL,
        title="Patch the INLISLite server",
        description="",
        requester=REQUESTER.id,
        services=["inlislite-slims"],
        configuration_items=items,
        backout_plan="restore the snapshot",
        template=None,
    )
    change.collect_events()
    return change


def assess_body(**more: Any) -> dict[str, Any]:
    return {
        "risk": "medium",
        "impact": "OPAC down for an hour",
        "cab": ["ahmad", "yusuf"],
        "quorum": 1,
        "continuity": {"level": "low", "note": "branches lend on paper"},
        "availability": {"level": "medium"},
        "security": {"level": "high", "note": "a kernel CVE: the patch closes it"},
        **more,
    }


def test_an_assessment_records_continuity_availability_and_security_and_the_cmdbs_impact() -> None:
    # Given a change on the INLISLite server
    change = raised()
    session = ImpactSession(change)

    # When a change manager assesses it
    Assess.model_validate(assess_body()).decide(session, context(MANAGER), change.id)  # type: ignore[arg-type]

    # Then the assessment records each aspect, and the impact the CMDB gave for its items
    [event] = change.collect_events()
    assert isinstance(event, Assessed)
    assert (event.continuity, event.availability, event.security) == (
        Aspect(level=Level.LOW, note="branches lend on paper"),
        Aspect(level=Level.MEDIUM),
        Aspect(level=Level.HIGH, note="a kernel CVE: the patch closes it"),
    )
    assert session.asked == [ITEMS]
    assert event.cmdb_impact == SEEN


@pytest.mark.parametrize("aspect", ["continuity", "availability", "security"])
def test_an_assessment_says_each_aspect(aspect: str) -> None:
    body = assess_body()
    del body[aspect]
    with pytest.raises(ValidationError, match=aspect):
        Assess.model_validate(body)
    with pytest.raises(ValidationError, match="level"):
        Assess.model_validate(assess_body(**{aspect: {"level": "catastrophic"}}))


def test_the_impact_is_not_the_callers_to_type_in() -> None:
    with pytest.raises(ValidationError, match="cmdb_impact"):
        Assess.model_validate(assess_body(cmdb_impact={"items": [], "services": []}))


def test_a_change_naming_no_items_records_an_empty_impact() -> None:
    change = raised(items=[])

    change.assess(
        context(MANAGER), risk=Risk.LOW, impact="none", cab=["ahmad"], quorum=1, **ASPECTS
    )

    [event] = change.collect_events()
    assert isinstance(event, Assessed)
    assert event.cmdb_impact == CmdbImpact(items=[], services=[])


@settings(max_examples=40, deadline=None)
@given(event=STRATEGIES[Assessed])
def test_an_assessment_stored_before_aspects_reads_as_not_having_them(event: Assessed) -> None:
    state = orjson.loads(encode(event))
    del state[VERSION_KEY]
    for name in ("continuity", "availability", "security", "cmdb_impact"):
        del state[name]

    old = decode("Change.Assessed", orjson.dumps(state))

    assert isinstance(old, Assessed)
    assert (old.continuity, old.availability, old.security, old.cmdb_impact) == (
        None,
        None,
        None,
        None,
    )
    assert (old.risk, old.cab, old.quorum) == (event.risk, event.cab, event.quorum)
    assert decode("Change.Assessed", encode(event)) == event
