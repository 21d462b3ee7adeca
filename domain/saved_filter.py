"""Saved filters: the queues people look at every morning (issue 20), kept per person or per
group. A filter is a name, the list route it is for (incidents, service requests, problems, changes)
and that list's equality parameters, bounded as the route bounds them; the list route takes it
as `?filter=<id>`, and bulk actions act on what an incidents' filter finds.

    saved -> revised* -> deleted

A person's filter is kept by that person alone; a group's by its members and its manager. To
anyone else a filter answers as one that does not exist (a filter names no organisation: its
owner is its reach). A deleted filter stays in the record, and nothing changes it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from domain.aggregate import Aggregate, applies
from domain.change import ChangeKind, ChangeState
from domain.command_base import ActionCommand, Command, by_action
from domain.context import Context
from domain.directory import Group, group_id
from domain.errors import FilterListChanged, NotPermitted, RecordIllegalTransition, RecordNotFound
from domain.events import DomainEvent
from domain.examples import example
from domain.fields import Name, OptionalName
from domain.incident import IncidentState
from domain.problem import ProblemState
from domain.service_request import RequestState
from domain.session import Session


class OwnerKind(StrEnum):
    PERSON = "person"
    GROUP = "group"


class RecordList(StrEnum):
    """The list route a filter's parameters are for (its path under /api/v1)."""

    INCIDENTS = "incidents"
    SERVICE_REQUESTS = "service-requests"
    PROBLEMS = "problems"
    CHANGES = "changes"


class ListQuery(BaseModel):
    """Query parameters of a list route a filter keeps: each asks its column to equal it; none
    asks nothing (every record of the list the reader reaches). Each list's own are bounded as
    its route bounds them, and no other is taken."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class IncidentQuery(ListQuery):
    """GET /api/v1/incidents."""

    status: IncidentState | None = None
    group: str | None = OptionalName
    priority: int | None = Field(default=None, ge=1, le=5)
    service: str | None = OptionalName
    category: str | None = Field(default=None, min_length=1, max_length=40)


class RequestQuery(ListQuery):
    """GET /api/v1/service-requests (`group`: the fulfilment group)."""

    state: RequestState | None = None
    group: str | None = OptionalName
    requester: str | None = OptionalName


class ProblemQuery(ListQuery):
    """GET /api/v1/problems."""

    state: ProblemState | None = None
    service: str | None = OptionalName


class ChangeQuery(ListQuery):
    """GET /api/v1/changes."""

    state: ChangeState | None = None
    kind: ChangeKind | None = None


#: Each list's parameters.
QUERIES: Mapping[RecordList, type[ListQuery]] = {
    RecordList.INCIDENTS: IncidentQuery,
    RecordList.SERVICE_REQUESTS: RequestQuery,
    RecordList.PROBLEMS: ProblemQuery,
    RecordList.CHANGES: ChangeQuery,
}
#: A filter's parameters, of whichever list it is for (`ForAList` says which).
AnyQuery = IncidentQuery | RequestQuery | ProblemQuery | ChangeQuery


def query_of_its_list(cls: type[BaseModel], data: Any) -> Any:
    """Validate a filter's `query` as the parameters of its `list` (incidents when not named, as
    every filter saved before there were other lists): `{"status": "assigned"}` is an incidents'
    query, and refused for the problems' list, which has no `status`. Errors are said of `query`,
    where the client wrote them."""
    if not isinstance(data, Mapping):
        return data
    try:
        listed = RecordList(data.get("list", RecordList.INCIDENTS))
    except ValueError:
        return data  # the field's own validation says which lists there are
    query = data.get("query")
    if isinstance(query, BaseModel):
        if isinstance(query, QUERIES[listed]):
            return data
        query = query.model_dump(mode="json", exclude_none=True)
    try:
        return {**data, "query": QUERIES[listed].model_validate(query or {})}
    except ValidationError as invalid:
        raise ValidationError.from_exception_data(
            cls.__name__,
            [
                {
                    "type": error["type"],
                    "loc": ("query", *error["loc"]),
                    "input": error["input"],
                    **({"ctx": error["ctx"]} if "ctx" in error else {}),  # type: ignore[typeddict-item]
                }
                for error in invalid.errors()
            ],
        ) from None


class ForAList(BaseModel):
    """A command's list (incidents when not named) and its parameters (`query_of_its_list`)."""

    list: RecordList = RecordList.INCIDENTS
    query: AnyQuery = Field(default_factory=IncidentQuery)

    _query_of_its_list = model_validator(mode="before")(query_of_its_list)


# -- events ---------------------------------------------------------------------------------------


class SavedFilterEvent(DomainEvent):
    """A fact in a saved filter's record."""


class Saved(SavedFilterEvent):
    type_name: ClassVar[str] = "SavedFilter.Saved"
    name: str = Name
    owner_kind: OwnerKind
    #: The person's actor id, or the group's code.
    owner: str = Name
    list: RecordList = RecordList.INCIDENTS
    query: AnyQuery

    _query_of_its_list = model_validator(mode="before")(query_of_its_list)


class Revised(SavedFilterEvent):
    """The filter's name and parameters from now on (both: the query replaces the one before);
    its list is the filter's own (named on events since there were lists besides incidents)."""

    type_name: ClassVar[str] = "SavedFilter.Revised"
    name: str = Name
    list: RecordList = RecordList.INCIDENTS
    query: AnyQuery

    _query_of_its_list = model_validator(mode="before")(query_of_its_list)


class Deleted(SavedFilterEvent):
    type_name: ClassVar[str] = "SavedFilter.Deleted"


# -- the aggregate --------------------------------------------------------------------------------


class SavedFilter(Aggregate, events=SavedFilterEvent):
    KIND: ClassVar[str] = "saved filter"

    name: str
    owner_kind: OwnerKind
    owner: str
    list: RecordList
    query: AnyQuery
    deleted: bool

    @classmethod
    def save(
        cls,
        ctx: Context,
        *,
        id: UUID,
        name: str,
        owner_kind: OwnerKind,
        owner: str,
        list: RecordList,
        query: AnyQuery,
    ) -> SavedFilter:
        return cls._begin(
            ctx,
            id,
            Saved,
            name=name,
            owner_kind=owner_kind,
            owner=owner,
            list=list,
            query=query,
        )

    def revise(self, ctx: Context, *, name: str, list: RecordList, query: AnyQuery) -> None:
        """A new name and parameters; the list stays the filter's (a queue of problems does not
        become one of changes: save another)."""
        self._require_kept("revise")
        if list is not self.list:
            raise FilterListChanged(
                f"the filter is for the {self.list.value} list; its list does not change"
            )
        self._record(Revised(**self._envelope(ctx), name=name, list=list, query=query))

    def delete(self, ctx: Context) -> None:
        self._require_kept("delete")
        self._record(Deleted(**self._envelope(ctx)))

    def _require_kept(self, action: str) -> None:
        if self.deleted:
            raise RecordIllegalTransition(self.KIND, action, "deleted")

    @applies(Saved)
    def _saved(self, e: Saved) -> None:
        self.name, self.owner_kind, self.owner = e.name, e.owner_kind, e.owner
        self.list, self.query = e.list, e.query
        self.deleted = False

    @applies(Revised)
    def _revised(self, e: Revised) -> None:
        self.name, self.query = e.name, e.query

    @applies(Deleted)
    def _deleted(self, e: Deleted) -> None:
        self.deleted = True


def keeps(session: Session, actor_id: str, owner_kind: OwnerKind, owner: str) -> bool:
    """Whether `actor_id` keeps filters of this owner: their own, or a group they are a member
    or the manager of (the directory's group, not disbanded)."""
    if owner_kind is OwnerKind.PERSON:
        return owner == actor_id
    group = session.find(Group, group_id(owner))
    if group is None or group.disbanded:
        return False
    return actor_id in group.members or actor_id == group.manager


# -- commands -------------------------------------------------------------------------------------


class SaveFilter(ForAList, Command):
    model_config = example(
        {
            "name": "Kiosk queue, waiting",
            "group": "kiosk-team",
            "list": "incidents",
            "query": {"status": "assigned", "group": "kiosk-team"},
        }
    )

    name: str = Name
    #: The group whose filter it is (its members and manager keep it); none: the caller's own.
    group: str | None = OptionalName

    def decide(self, session: Session, ctx: Context) -> UUID:
        owner_kind = OwnerKind.PERSON if self.group is None else OwnerKind.GROUP
        owner = ctx.actor.id if self.group is None else self.group
        if not keeps(session, ctx.actor.id, owner_kind, owner):
            raise NotPermitted(
                f"a group's filters are kept by its members and its manager; {ctx.actor.id} is"
                f" neither of {owner}"
            )
        filter_id = session.new_id()
        session.add(
            SavedFilter.save(
                ctx,
                id=filter_id,
                name=self.name,
                owner_kind=owner_kind,
                owner=owner,
                list=self.list,
                query=self.query,
            )
        )
        return filter_id


class FilterCommand(ActionCommand):
    """An action on one saved filter: POST /api/v1/saved-filters/{id}/{action}, by its keeper
    alone; to anyone else the filter is missing."""

    def decide(self, session: Session, ctx: Context, filter_id: UUID) -> UUID:
        found = session.get(SavedFilter, filter_id)
        if not keeps(session, ctx.actor.id, found.owner_kind, found.owner):
            raise RecordNotFound(f"no saved filter {filter_id}", filter_id)
        self.call_action(found, ctx)
        return filter_id


class ReviseFilter(ForAList, FilterCommand):
    model_config = example(
        {"name": "Kiosk queue, on hold", "list": "incidents", "query": {"status": "on_hold"}}
    )

    action = "revise"
    summary = "Rename the filter and replace its parameters (its list stays the same)"
    name: str = Name


class DeleteFilter(FilterCommand):
    model_config = example({})

    action = "delete"
    summary = "Delete the filter (it stays in the record)"


FILTER_COMMANDS = by_action(ReviseFilter, DeleteFilter)
