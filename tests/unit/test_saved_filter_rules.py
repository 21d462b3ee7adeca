"""Every rule of saved filters, Given (the directory and the filter's events) / When (a command)
/ Then (the events, or the named error with nothing recorded).

The session is a fake (the Session protocol's few calls a filter's commands make); the same
commands run through the real pipeline over HTTP in tests/integration/test_bulk_and_filters.py.
"""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from domain.actors import Actor, Role
from domain.aggregate import Aggregate
from domain.directory import Group, GroupDisbanded, GroupFormed, group_id
from domain.errors import FilterListChanged, NotPermitted, RecordIllegalTransition, RecordNotFound
from domain.saved_filter import (
    ChangeQuery,
    Deleted,
    DeleteFilter,
    IncidentQuery,
    OwnerKind,
    ProblemQuery,
    RecordList,
    RequestQuery,
    Revised,
    ReviseFilter,
    Saved,
    SavedFilter,
    SaveFilter,
)
from tests.conftest import AGENT, T0, context

A = TypeVar("A", bound=Aggregate)
ANDI = Actor(id="andi.wijaya", role=Role.AGENT)
MANAGER = Actor(id="dewi.lestari", role=Role.SERVICE_MANAGER)
OUTSIDER = Actor(id="rudi.hartono", role=Role.AGENT)


class FakeSession:
    """What a filter's commands ask of a session: records by id, new ids, records made."""

    def __init__(self, *records: Aggregate) -> None:
        self.records: dict[UUID, Aggregate] = {r.id: r for r in records}
        self.added: list[Aggregate] = []

    def find(self, cls: type[A], record_id: UUID) -> A | None:
        found = self.records.get(record_id)
        return found if isinstance(found, cls) else None

    def get(self, cls: type[A], record_id: UUID, ref: object = None) -> A:
        found = self.find(cls, record_id)
        if found is None:
            raise RecordNotFound(f"no record {record_id}", record_id)
        return found

    def new_id(self) -> UUID:
        return uuid4()

    def add(self, record: Aggregate) -> None:
        self.added.append(record)
        self.records[record.id] = record


def group(code: str = "kiosk-team", *, disbanded: bool = False) -> Group:
    events: list[Any] = [
        GroupFormed(
            originator_id=group_id(code),
            originator_version=1,
            timestamp=T0,
            actor=MANAGER,
            correlation_id=uuid4(),
            code=code,
            name="Tim Kiosk",
            organisation="dpk-banten",
            manager=MANAGER.id,
            members=[AGENT.id, ANDI.id],
        )
    ]
    if disbanded:
        events.append(
            GroupDisbanded(
                originator_id=group_id(code),
                originator_version=2,
                timestamp=T0,
                actor=MANAGER,
                correlation_id=uuid4(),
                reason="merged",
            )
        )
    made = Group.project(None, events)
    assert made is not None
    return made


def saved(session: FakeSession, actor: Actor, **body: Any) -> SavedFilter:
    filter_id = SaveFilter.model_validate({"name": "Pagi", **body}).decide(
        session,  # type: ignore[arg-type]
        context(actor),
    )
    made = session.records[filter_id]
    assert isinstance(made, SavedFilter)
    return made


def test_a_person_saves_a_filter_of_their_own() -> None:
    session = FakeSession()
    made = saved(session, AGENT, query={"status": "assigned", "priority": 2})
    [event] = made.collect_events()
    assert isinstance(event, Saved)
    assert (event.owner_kind, event.owner, event.name) == (OwnerKind.PERSON, AGENT.id, "Pagi")
    assert event.query == IncidentQuery(status="assigned", priority=2)


@pytest.mark.parametrize("keeper", [AGENT, ANDI, MANAGER], ids=lambda a: a.id)
def test_a_groups_members_and_manager_save_its_filters(keeper: Actor) -> None:
    made = saved(FakeSession(group()), keeper, group="kiosk-team")
    [event] = made.collect_events()
    assert isinstance(event, Saved)
    assert (event.owner_kind, event.owner) == (OwnerKind.GROUP, "kiosk-team")


@pytest.mark.parametrize(
    ("session", "who"),
    [
        (FakeSession(group()), OUTSIDER),
        (FakeSession(group(disbanded=True)), AGENT),
        (FakeSession(), AGENT),  # no such group
    ],
    ids=["not a member", "disbanded", "no group"],
)
def test_no_one_else_saves_a_groups_filter(session: FakeSession, who: Actor) -> None:
    with pytest.raises(NotPermitted):
        saved(session, who, group="kiosk-team")
    assert session.added == []


def test_the_keeper_revises_and_deletes_a_filter_and_a_deleted_one_stays_deleted() -> None:
    session = FakeSession(group())
    made = saved(session, ANDI, group="kiosk-team")
    made.collect_events()
    revise = ReviseFilter(name="Siang", query=IncidentQuery(status="on_hold"))

    revise.decide(session, context(AGENT), made.id)  # type: ignore[arg-type]
    [revised] = made.collect_events()
    assert isinstance(revised, Revised)
    assert (revised.name, revised.query.status) == ("Siang", "on_hold")

    DeleteFilter().decide(session, context(MANAGER), made.id)  # type: ignore[arg-type]
    assert [type(e) for e in made.collect_events()] == [Deleted]
    assert made.deleted
    with pytest.raises(RecordIllegalTransition):
        revise.decide(session, context(AGENT), made.id)  # type: ignore[arg-type]
    assert made.collect_events() == []


@pytest.mark.parametrize(
    "command", [ReviseFilter(name="x"), DeleteFilter()], ids=["revise", "delete"]
)
def test_to_anyone_else_a_filter_is_missing(command: ReviseFilter | DeleteFilter) -> None:
    session = FakeSession(group())
    mine = saved(session, AGENT)
    ours = saved(session, AGENT, group="kiosk-team")
    for made, stranger in ((mine, ANDI), (ours, OUTSIDER)):
        made.collect_events()
        with pytest.raises(RecordNotFound) as raised:
            command.decide(session, context(stranger), made.id)  # type: ignore[arg-type]
        assert raised.value.record_id == made.id  # answered as the path's record, missing
        assert made.collect_events() == []


@pytest.mark.parametrize(
    "query",
    [
        {"priority": 6},
        {"status": "shelved"},
        {"group": "g" * 201},
        {"caller": "budi.santoso"},  # not a parameter of the list
    ],
)
def test_a_filters_parameters_are_those_of_the_list_and_bounded_as_it_bounds_them(
    query: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError):
        SaveFilter.model_validate({"name": "x", "query": query})


@pytest.mark.parametrize(
    ("listed", "query", "kept"),
    [
        ("service-requests", {"state": "in_fulfilment", "group": "tim-inlislite"}, RequestQuery),
        ("problems", {"state": "known_error", "service": "kiosks-gates"}, ProblemQuery),
        ("changes", {"state": "scheduled", "kind": "emergency"}, ChangeQuery),
    ],
)
def test_a_filter_of_another_list_keeps_that_lists_parameters(
    listed: str, query: dict[str, Any], kept: type[Any]
) -> None:
    made = saved(FakeSession(), AGENT, list=listed, query=query)
    [event] = made.collect_events()
    assert isinstance(event, Saved)
    assert (event.list, event.query) == (RecordList(listed), kept(**query))


@pytest.mark.parametrize(
    ("listed", "query"),
    [
        ("problems", {"status": "assigned"}),  # the incidents' parameter
        ("changes", {"kind": "urgent"}),
        ("service-requests", {"state": "known_error"}),  # a problem's state
        ("service-requests", {"requester": "r" * 201}),
        ("calendar", {}),
    ],
)
def test_a_filters_parameters_are_its_lists_own(listed: str, query: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SaveFilter.model_validate({"name": "x", "list": listed, "query": query})


def test_a_filter_saved_before_there_were_lists_is_an_incidents_filter() -> None:
    stored = {"name": "Pagi", "owner_kind": "person", "owner": AGENT.id, "query": {"priority": 2}}
    event = Saved.model_validate(
        {**stored, **context(AGENT).stamp(), "originator_id": uuid4(), "originator_version": 1}
    )
    assert (event.list, event.query) == (RecordList.INCIDENTS, IncidentQuery(priority=2))


def test_a_filters_list_does_not_change_when_it_is_revised() -> None:
    session = FakeSession()
    made = saved(session, AGENT, list="problems", query={"service": "kiosks-gates"})
    made.collect_events()
    to_changes = ReviseFilter.model_validate({"name": "x", "list": "changes", "query": {}})
    with pytest.raises(FilterListChanged):
        to_changes.decide(session, context(AGENT), made.id)  # type: ignore[arg-type]
    assert made.collect_events() == []

    ReviseFilter.model_validate(
        {"name": "Wi-Fi", "list": "problems", "query": {"service": "Wi-Fi"}}
    ).decide(session, context(AGENT), made.id)  # type: ignore[arg-type]
    [revised] = made.collect_events()
    assert isinstance(revised, Revised)
    assert (revised.list, revised.query) == (RecordList.PROBLEMS, ProblemQuery(service="Wi-Fi"))
