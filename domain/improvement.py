"""The improvement register (ISO/IEC 20000-1 10.2, 9.1): what the service means to do better,
where the idea came from, who owns it, and what it was worth.

    proposed -> approved -> in_progress -> done
    proposed | approved | in_progress -> rejected (with the reason)

An improvement names its source (a low satisfaction rating, an SLA breach, a problem, an audit
finding, or something else) and, where there is one, the record it came from (an incident, a
service request, a problem or a change, by kind and number). It has an owner (a person of the
directory, or nobody yet: then it is listed as unowned until one is named), the benefit expected
and, once done, the benefit realised, and a due date. A service manager proposes, approves and
rejects; the owner (or a service manager) starts the work and records it done.

A low rating opens one itself (domain/satisfaction.py): its id is derived from the rated record,
so a rating opens exactly one follow-up, whatever is retried.

The register is the staff's: a caller never reaches it.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from domain.actors import SYSTEM, Role
from domain.aggregate import LifecycleAggregate, applies
from domain.context import Context
from domain.directory import Group, group_id
from domain.errors import NothingChanged, NotPermitted
from domain.events import DomainEvent
from domain.fields import Description, Name, Number, OptionalName, OptionalReason, Reasoned, Text
from domain.fields import Ref as RefField
from domain.organisations import PROVINCE, OrganisationCode
from domain.record_numbers import RecordKind, named_id
from domain.session import Session

#: The benefit expected or realised: what people write for people.
Benefit = Field(default=None, min_length=1, max_length=4_000)
#: Who decides on the register: proposes, approves, rejects, names an owner.
MANAGERS = frozenset({Role.SERVICE_MANAGER, Role.ADMIN})


class ImprovementState(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    REJECTED = "rejected"


OPEN_STATES = (ImprovementState.PROPOSED, ImprovementState.APPROVED, ImprovementState.IN_PROGRESS)


class ImprovementSource(StrEnum):
    RATING = "rating"
    BREACH = "breach"
    PROBLEM = "problem"
    AUDIT_FINDING = "audit-finding"
    OTHER = "other"


class SourceKind(StrEnum):
    """The kinds of record an improvement may come from."""

    INCIDENT = "incident"
    SERVICE_REQUEST = "service_request"
    PROBLEM = "problem"
    CHANGE = "change"
    #: an issued service report (its code, 2026-03-incidents): the breaches a month's report
    #: shows, as one set (8.3.3: improvement opportunities when targets are missed)
    ISSUED_REPORT = "issued_report"


class SourceRecord(BaseModel):
    """The record an improvement came from: its kind, id and number as people read it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: SourceKind
    id: UUID
    ref: str = RefField


def follow_up_id(record_id: UUID) -> UUID:
    """The id of the one improvement a low rating of `record_id` opens: the same on every retry,
    so that a second one collides in the store instead of being written."""
    return named_id("rating-follow-up", str(record_id))


# -- events ------------------------------------------------------------------------------------


class ImprovementEvent(DomainEvent):
    """A fact in an improvement's history."""


class Proposed(ImprovementEvent):
    type_name: ClassVar[str] = "Improvement.Proposed"
    number: int = Number
    title: str = Name
    description: str = Description
    source: ImprovementSource
    source_record: SourceRecord | None = None
    owner: str | None = OptionalName
    expected_benefit: str | None = Benefit
    due: date | None = None
    organisation: str = OrganisationCode


class Approved(ImprovementEvent):
    type_name: ClassVar[str] = "Improvement.Approved"
    comment: str | None = OptionalReason


class Started(ImprovementEvent):
    type_name: ClassVar[str] = "Improvement.Started"


class Completed(ImprovementEvent):
    type_name: ClassVar[str] = "Improvement.Completed"
    realised_benefit: str = Text


class Rejected(Reasoned, ImprovementEvent):
    type_name: ClassVar[str] = "Improvement.Rejected"


class OwnerAssigned(ImprovementEvent):
    type_name: ClassVar[str] = "Improvement.OwnerAssigned"
    owner: str = Name
    reason: str | None = OptionalReason


def transition(state: ImprovementState | None, event: ImprovementEvent) -> ImprovementState:
    """The lifecycle state after an event: shared by the aggregate and the view."""
    match event:
        case Proposed():
            return ImprovementState.PROPOSED
        case Approved():
            return ImprovementState.APPROVED
        case Started():
            return ImprovementState.IN_PROGRESS
        case Completed():
            return ImprovementState.DONE
        case Rejected():
            return ImprovementState.REJECTED
    assert state is not None, "an improvement's history starts with Improvement.Proposed"
    return state


# -- the aggregate -----------------------------------------------------------------------------


class Improvement(
    LifecycleAggregate[ImprovementState],
    events=ImprovementEvent,
    transition=transition,
    noun="improvement",
):
    KIND: ClassVar[str] = "improvement"

    number: int
    state: ImprovementState
    owner: str | None
    organisation: str

    @classmethod
    def propose(
        cls,
        ctx: Context,
        *,
        id: UUID,
        number: int,
        title: str,
        description: str,
        source: ImprovementSource,
        source_record: SourceRecord | None = None,
        owner: str | None = None,
        expected_benefit: str | None = None,
        due: date | None = None,
        organisation: str = PROVINCE,
    ) -> Improvement:
        return cls._begin(
            ctx,
            id,
            Proposed,
            number=number,
            title=title,
            description=description,
            source=source,
            source_record=source_record,
            owner=owner,
            expected_benefit=expected_benefit,
            due=due,
            organisation=organisation,
        )

    def approve(self, ctx: Context, *, comment: str | None = None) -> None:
        self._require("approve", ImprovementState.PROPOSED)
        self.check_manager(ctx, "approve")
        self._record(Approved(**self._envelope(ctx), comment=comment))

    def start(self, ctx: Context) -> None:
        self._require("start", ImprovementState.APPROVED)
        self._owner_or_manager(ctx, "start")
        self._record(Started(**self._envelope(ctx)))

    def complete(self, ctx: Context, *, realised_benefit: str) -> None:
        self._require("complete", ImprovementState.IN_PROGRESS)
        self._owner_or_manager(ctx, "complete")
        self._record(Completed(**self._envelope(ctx), realised_benefit=realised_benefit))

    def reject(self, ctx: Context, *, reason: str) -> None:
        self._require("reject", *OPEN_STATES)
        self.check_manager(ctx, "reject")
        self._record(Rejected(**self._envelope(ctx), reason=reason))

    def assign_owner(self, ctx: Context, *, owner: str, reason: str | None = None) -> None:
        self._require("assign_owner", *OPEN_STATES)
        self.check_manager(ctx, "name the owner of")
        if owner == self.owner:
            raise NothingChanged(f"{owner} already owns this improvement")
        self._record(OwnerAssigned(**self._envelope(ctx), owner=owner, reason=reason))

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def check_manager(ctx: Context, action: str) -> None:
        """Refuse anyone but a service manager (or an admin) deciding on the register."""
        if ctx.actor.role not in MANAGERS:
            raise NotPermitted(f"only a service manager may {action} an improvement")

    def _owner_or_manager(self, ctx: Context, action: str) -> None:
        if ctx.actor.role not in MANAGERS and ctx.actor.id != self.owner:
            raise NotPermitted(f"only its owner or a service manager may {action} an improvement")

    @applies(Proposed)
    def _proposed(self, e: Proposed) -> None:
        self.number = e.number
        self.owner = e.owner
        self.organisation = e.organisation

    @applies(Approved, Started, Completed, Rejected)
    def _moved(self, e: ImprovementEvent) -> None:
        pass  # the lifecycle state is all the decisions need

    @applies(OwnerAssigned)
    def _owner_assigned(self, e: OwnerAssigned) -> None:
        self.owner = e.owner


# -- a low rating's follow-up (domain/satisfaction.py) ------------------------------------------


def open_follow_up(
    session: Session,
    ctx: Context,
    *,
    rated: SourceRecord,
    score: int,
    comment: str | None,
    group: str | None,
    organisation: str,
) -> Improvement | None:
    """Open the follow-up of a low rating of `rated`: source "rating", linked to the rated
    record, owned by the manager of `group` (the one that resolved or fulfilled it), or by
    nobody when it has none. None if that record's follow-up is already open (its id is the
    rated record's: a retry finds it, and two writes of it collide in the store)."""
    improvement_id = follow_up_id(rated.id)
    if session.find(Improvement, improvement_id) is not None:
        return None
    manager = None
    if group is not None:
        found = session.find(Group, group_id(group))
        manager = found.manager if found is not None else None
    # Proposed by the service, not by the caller who rated: the register is the staff's, and the
    # rating it came from is linked.
    service = Context(SYSTEM, ctx.at, ctx.correlation_id)
    improvement = Improvement.propose(
        service,
        id=improvement_id,
        number=session.allocate(RecordKind.IMPROVEMENT, improvement_id),
        title=f"Follow up the low rating ({score} of 5) of {rated.ref}",
        description=comment or "",
        source=ImprovementSource.RATING,
        source_record=rated,
        owner=manager,
        organisation=organisation,
    )
    session.add(improvement)
    return improvement
