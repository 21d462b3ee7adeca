"""Saved filters: the queues people look at every morning (issue 20), kept per person or per
group. A filter is a name and the query parameters of a list route (today the incidents' list:
status, group, priority, service), bounded as the route bounds them; the list routes take it as
`?filter=<id>` and bulk actions act on what it finds.

    saved -> revised* -> deleted

A person's filter is kept by that person alone; a group's by its members and its manager. To
anyone else a filter answers as one that does not exist (a filter names no organisation: its
owner is its reach). A deleted filter stays in the record, and nothing changes it again.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from domain.aggregate import Aggregate, applies
from domain.command_base import ActionCommand, Command, by_action
from domain.context import Context
from domain.directory import Group, group_id
from domain.errors import NotPermitted, RecordIllegalTransition, RecordNotFound
from domain.events import DomainEvent
from domain.examples import example
from domain.fields import Name, OptionalName
from domain.incident import IncidentState
from domain.session import Session


class OwnerKind(StrEnum):
    PERSON = "person"
    GROUP = "group"


class RecordList(StrEnum):
    """The list route a filter's parameters are for."""

    INCIDENTS = "incidents"


class IncidentQuery(BaseModel):
    """The query parameters of GET /api/v1/incidents a filter keeps: each asks its column to
    equal it; none asks nothing (every incident the reader reaches)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    status: IncidentState | None = None
    group: str | None = OptionalName
    priority: int | None = Field(default=None, ge=1, le=5)
    service: str | None = OptionalName
    category: str | None = Field(default=None, min_length=1, max_length=40)


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
    query: IncidentQuery


class Revised(SavedFilterEvent):
    """The filter's name and parameters from now on (both: the query replaces the one before)."""

    type_name: ClassVar[str] = "SavedFilter.Revised"
    name: str = Name
    query: IncidentQuery


class Deleted(SavedFilterEvent):
    type_name: ClassVar[str] = "SavedFilter.Deleted"


# -- the aggregate --------------------------------------------------------------------------------


class SavedFilter(Aggregate, events=SavedFilterEvent):
    KIND: ClassVar[str] = "saved filter"

    name: str
    owner_kind: OwnerKind
    owner: str
    query: IncidentQuery
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
        query: IncidentQuery,
    ) -> SavedFilter:
        return cls._begin(
            ctx, id, Saved, name=name, owner_kind=owner_kind, owner=owner, query=query
        )

    def revise(self, ctx: Context, *, name: str, query: IncidentQuery) -> None:
        self._require_kept("revise")
        self._record(Revised(**self._envelope(ctx), name=name, query=query))

    def delete(self, ctx: Context) -> None:
        self._require_kept("delete")
        self._record(Deleted(**self._envelope(ctx)))

    def _require_kept(self, action: str) -> None:
        if self.deleted:
            raise RecordIllegalTransition(self.KIND, action, "deleted")

    @applies(Saved)
    def _saved(self, e: Saved) -> None:
        self.name, self.owner_kind, self.owner, self.query = e.name, e.owner_kind, e.owner, e.query
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


class SaveFilter(Command):
    model_config = example(
        {
            "name": "Kiosk queue, waiting",
            "group": "kiosk-team",
            "query": {"status": "assigned", "group": "kiosk-team"},
        }
    )

    name: str = Name
    #: The group whose filter it is (its members and manager keep it); none: the caller's own.
    group: str | None = OptionalName
    query: IncidentQuery = Field(default_factory=IncidentQuery)

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


class ReviseFilter(FilterCommand):
    model_config = example({"name": "Kiosk queue, on hold", "query": {"status": "on_hold"}})

    action = "revise"
    summary = "Rename the filter and replace its parameters"
    name: str = Name
    query: IncidentQuery = Field(default_factory=IncidentQuery)


class DeleteFilter(FilterCommand):
    model_config = example({})

    action = "delete"
    summary = "Delete the filter (it stays in the record)"


FILTER_COMMANDS = by_action(ReviseFilter, DeleteFilter)
