"""Organisations and requesters' own records, in the domain: who reaches which record, and for
which organisation a caller may make one. Given (a record's first event) / When (a caller with a
scope) / Then (reached, or refused)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import change, incident, problem, service_request
from domain.actors import SEES_ALL, Actor, Identity, Role
from domain.aggregate import Aggregate
from domain.context import Context
from domain.errors import OutsideOrganisation
from domain.events import DomainEvent
from domain.organisations import ORGANISATIONS, PROVINCE
from infra.serialisation import decode
from tests.strategies import STRATEGIES

T0 = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
CODES = [code for code, _, _ in ORGANISATIONS]
SERANG, LEBAK = "perpus-kota-serang", "perpus-kab-lebak"

#: Each kind of record an organisation owns: its aggregate, its first event, and the field of that
#: event naming whose own record it is (None: no requester owns one).
RECORDS: dict[str, tuple[type[Aggregate], type[DomainEvent], str | None]] = {
    "incident": (incident.Incident, incident.Logged, "caller"),
    "service request": (service_request.ServiceRequest, service_request.Submitted, "requester"),
    "problem": (problem.Problem, problem.Logged, None),
    "change": (change.Change, change.Raised, None),
}

identities = st.builds(
    Identity,
    actor=st.builds(Actor, id=st.sampled_from(["budi", "ani", "siti"]), role=st.sampled_from(Role)),
    organisation=st.none() | st.sampled_from(CODES),
    all_organisations=st.booleans(),
)


def scoped(identity: Identity) -> Context:
    return Context(actor=identity.actor, at=T0, correlation_id=uuid4(), scope=identity)


@given(identity=identities, owner=st.sampled_from(["budi", "ani", "siti"]))
def test_a_caller_reaches_one_organisation_all_of_them_or_only_their_own_records(
    identity: Identity, owner: str
) -> None:
    ctx = scoped(identity)
    reached = {code for code in CODES if ctx.reaches(code, owner)}
    if identity.actor.role is Role.REQUESTER:  # their own records, wherever they are kept
        assert reached == (set(CODES) if owner == identity.actor.id else set())
    elif identity.all_organisations or identity.actor.role in SEES_ALL:
        assert reached == set(CODES)
    else:  # their organisation's; with none named, the provincial office's
        assert reached == {identity.organisation or PROVINCE}
    if identity.actor.role is not Role.REQUESTER:  # Identity.sees is the rule for staff
        assert reached == {code for code in CODES if identity.sees(code)}


@pytest.mark.parametrize("kind", RECORDS)
@given(data=st.data(), identity=identities)
def test_a_stored_record_is_reached_iff_its_organisation_or_ownership_says_so(
    kind: str, data: st.DataObject, identity: Identity
) -> None:
    aggregate, first, owner_field = RECORDS[kind]
    # Given a record whose first event names its organisation (and its owner)
    event: Any = data.draw(STRATEGIES[first])
    overrides: dict[str, Any] = {"organisation": data.draw(st.sampled_from(CODES))}
    if owner_field is not None:
        overrides[owner_field] = data.draw(st.sampled_from(["budi", "ani"]))
    event = event.model_copy(update=overrides)
    record = aggregate.project(None, [event])
    assert record is not None
    # When a caller with a scope comes for it, Then they reach it iff the rule says so
    owner = overrides.get(owner_field) if owner_field else None
    expected = (
        owner == identity.actor.id
        if identity.actor.role is Role.REQUESTER
        else identity.sees(overrides["organisation"])
    )
    assert record.reachable(scoped(identity)) is expected
    # the service's own processes (no scope) reach every record
    unscoped = Context(actor=identity.actor, at=T0, correlation_id=uuid4())
    assert record.reachable(unscoped)


@pytest.mark.parametrize("kind", RECORDS)
@given(data=st.data())
def test_events_stored_before_organisations_belong_to_the_provincial_office(
    kind: str, data: st.DataObject
) -> None:
    _, first, _ = RECORDS[kind]
    stored = data.draw(STRATEGIES[first]).model_dump(mode="json", exclude={"organisation"})
    # as stored then: a state of the event's first version, read through its upcasters
    decoded = decode(first.type_name, orjson.dumps(stored))
    assert decoded.organisation == PROVINCE  # type: ignore[attr-defined]


def agent(organisation: str | None, role: Role = Role.AGENT, **grant: bool) -> Context:
    return scoped(Identity(Actor(id="asep", role=role), organisation=organisation, **grant))


def test_a_record_is_made_for_the_callers_own_organisation_unless_another_is_named() -> None:
    assert agent(LEBAK).organisation_for(None) == LEBAK
    assert agent(None).organisation_for(None) == PROVINCE
    assert agent(LEBAK).organisation_for(LEBAK) == LEBAK
    assert (
        Context(
            actor=Actor(id="itsm", role=Role.SYSTEM), at=T0, correlation_id=uuid4()
        ).organisation_for(None)
        == PROVINCE
    )


def test_an_agent_cannot_make_a_record_for_another_organisation() -> None:
    with pytest.raises(OutsideOrganisation):
        agent(LEBAK).organisation_for(SERANG)
    with pytest.raises(OutsideOrganisation):
        agent(LEBAK, Role.REQUESTER).organisation_for(SERANG)


def test_those_who_see_all_may_make_a_record_for_any_organisation() -> None:
    assert agent(LEBAK, all_organisations=True).organisation_for(SERANG) == SERANG
    assert agent(LEBAK, Role.SERVICE_MANAGER).organisation_for(SERANG) == SERANG
    assert agent(None, Role.ADMIN).organisation_for(SERANG) == SERANG
