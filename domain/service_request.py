"""Service requests (ISO/IEC 20000-1 8.6.2) and the catalogue items they are made from.

    submitted -> awaiting_approval -> approved | rejected        (when the item needs approval)
    submitted | approved -> in_fulfilment <-> awaiting_requester -> fulfilled -> closed
    any state before fulfilled -> cancelled

A catalogue item says whether a request needs approval, by whom (any holder of a role, or named
approvers), how many approvals it takes, and its fulfilment steps. A request copies those when it
is submitted, so later catalogue revisions never change a request already made. The requester
(and whoever submitted it for them) cannot approve it; an approver cannot approve twice.

The facts an SLA clock needs are events: `Submitted` carries the priority and the time; every
state change is an event with its time; PAUSED_STATES are the states in which the clock stops
(waiting for an approver, or for the requester).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar
from uuid import UUID

from pydantic import Field, model_validator

from domain.actors import Role
from domain.aggregate import Aggregate, LifecycleAggregate, applies
from domain.attachments import Attachable, Attached, Detached
from domain.configuration_item import Code
from domain.context import Context
from domain.errors import (
    AlreadyDecided,
    AlreadyLinked,
    ArticleNotPublished,
    FulfilmentStepsOutstanding,
    NotANamedApprover,
    NothingChanged,
    NotLinked,
    NotPermitted,
    RequesterCannotApprove,
)
from domain.events import DomainEvent
from domain.fields import (
    Description,
    Name,
    Note,
    Number,
    OptionalReason,
    Reason,
    Reasoned,
    Ref,
    Text,
)
from domain.incident import SlaAlerted
from domain.organisations import PROVINCE, OrganisationCode
from domain.record_numbers import named_id
from domain.rule_versions import RuleVersions, SlaBreach, SlaWarning
from domain.satisfaction import Rating, check_rater

Steps: Any = Field(min_length=1, max_length=50)
Approvers: Any = Field(default_factory=list, max_length=50)


class RequestState(StrEnum):
    SUBMITTED = "submitted"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    IN_FULFILMENT = "in_fulfilment"
    AWAITING_REQUESTER = "awaiting_requester"
    FULFILLED = "fulfilled"
    CLOSED = "closed"
    CANCELLED = "cancelled"


#: States in which a request's SLA clock is paused: the service desk waits on someone else.
PAUSED_STATES = frozenset({RequestState.AWAITING_APPROVAL, RequestState.AWAITING_REQUESTER})
#: States in which the request is finished: its SLA clock stops for good.
FINISHED_STATES = frozenset(
    {RequestState.REJECTED, RequestState.FULFILLED, RequestState.CLOSED, RequestState.CANCELLED}
)
CANCELLABLE = frozenset(
    {
        RequestState.SUBMITTED,
        RequestState.AWAITING_APPROVAL,
        RequestState.APPROVED,
        RequestState.IN_FULFILMENT,
        RequestState.AWAITING_REQUESTER,
    }
)


def catalogue_item_id(code: str) -> UUID:
    return named_id("catalogue-item", code)


class _ApprovalRule(Protocol):
    approval_required: bool
    approver_role: Role | None
    approvers: list[str]
    approvals_needed: int


R = TypeVar("R", bound=_ApprovalRule)


def approval_checked(rule: R) -> R:
    """A catalogue item's approval rule (as defined, and as each request copies it), refused
    unless it names a role or named approvers (not both) and needs at most as many approvals as
    there are named approvers; a rule without approval names nobody. Each runs it as its
    validator: `model_validator(mode="after")(approval_checked)`."""
    approvers, role = rule.approvers, rule.approver_role
    if not rule.approval_required:
        if role is not None or approvers:
            raise ValueError("an item without approval names no approvers")
        return rule
    if (role is None) == (not approvers):
        raise ValueError("approval is by a role (approver_role) or by named approvers, not both")
    if len(set(approvers)) != len(approvers):
        raise ValueError("each named approver is named once")
    if approvers and rule.approvals_needed > len(approvers):
        raise ValueError("approvals_needed is at most the number of named approvers")
    return rule


# -- the catalogue -----------------------------------------------------------------------------


class CatalogueItemEvent(DomainEvent):
    """A fact in a catalogue item's history."""


class CatalogueItemDefined(CatalogueItemEvent):
    type_name: ClassVar[str] = "CatalogueItem.Defined"
    code: str = Code
    title: str = Name
    description: str = Description
    service: str = Name
    priority: int = Field(ge=1, le=5, description="the priority its requests are given")
    approval_required: bool
    approver_role: Role | None = None
    approvers: list[str] = Approvers
    approvals_needed: int = Field(default=1, ge=1, le=50)
    fulfilment_group: str = Name
    steps: list[str] = Steps

    _rule_fits = model_validator(mode="after")(approval_checked)


class ArticleLinked(CatalogueItemEvent):
    """A published knowledge article that helps fulfil the item's requests (8.6.2: fulfilment
    instructions available): its id, number and title when linked."""

    type_name: ClassVar[str] = "CatalogueItem.ArticleLinked"
    article_id: UUID
    article_ref: str = Ref
    title: str = Name


class ArticleUnlinked(Reasoned, CatalogueItemEvent):
    type_name: ClassVar[str] = "CatalogueItem.ArticleUnlinked"
    article_id: UUID
    article_ref: str = Ref


class CatalogueItem(Aggregate, events=CatalogueItemEvent):
    """What may be requested, whether and by whom it is approved, how it is fulfilled, and the
    knowledge articles its fulfilment follows."""

    KIND: ClassVar[str] = "catalogue item"

    definition: CatalogueItemDefined
    articles: frozenset[UUID]

    @classmethod
    def define(cls, ctx: Context, **fields: Any) -> CatalogueItem:
        _keeper(ctx)
        return cls._begin(ctx, catalogue_item_id(fields["code"]), CatalogueItemDefined, **fields)

    def link_article(
        self, ctx: Context, *, article_id: UUID, article_ref: str, title: str, published: bool
    ) -> None:
        """Name a published article as the item's instructions (a draft may still change, a
        retired one no longer holds)."""
        _keeper(ctx)
        if not published:
            raise ArticleNotPublished(f"{article_ref} is not published")
        if article_id in self.articles:
            raise AlreadyLinked(f"{article_ref} is already linked to this item")
        self._record(
            ArticleLinked(
                **self._envelope(ctx), article_id=article_id, article_ref=article_ref, title=title
            )
        )

    def unlink_article(
        self, ctx: Context, *, article_id: UUID, article_ref: str, reason: str
    ) -> None:
        _keeper(ctx)
        if article_id not in self.articles:
            raise NotLinked(f"{article_ref} is not linked to this item")
        self._record(
            ArticleUnlinked(
                **self._envelope(ctx), article_id=article_id, article_ref=article_ref, reason=reason
            )
        )

    @applies(CatalogueItemDefined)
    def _defined(self, e: CatalogueItemDefined) -> None:
        self.definition = e
        self.articles = frozenset()

    @applies(ArticleLinked)
    def _article_linked(self, e: ArticleLinked) -> None:
        self.articles = self.articles | {e.article_id}

    @applies(ArticleUnlinked)
    def _article_unlinked(self, e: ArticleUnlinked) -> None:
        self.articles = self.articles - {e.article_id}


def _keeper(ctx: Context) -> None:
    if ctx.actor.role not in (Role.SERVICE_MANAGER, Role.ADMIN):
        raise NotPermitted("the service catalogue is kept by a service manager")


# -- request events ----------------------------------------------------------------------------


class RequestEvent(DomainEvent):
    """A fact in a service request's history (the catalogue item keeps its own)."""


class Submitted(RequestEvent):
    type_name: ClassVar[str] = "ServiceRequest.Submitted"
    number: int = Number
    catalogue_item: str = Code
    title: str = Name
    details: str = Description
    requester: str = Name
    service: str = Name
    priority: int = Field(ge=1, le=5)
    approval_required: bool
    approver_role: Role | None = None
    approvers: list[str] = Approvers
    approvals_needed: int = Field(default=1, ge=1, le=50)
    fulfilment_group: str = Name
    steps: list[str] = Steps
    #: The organisation whose record it is (events stored before organisations: the province).
    organisation: str = OrganisationCode
    #: The SLA policy and calendar versions that judge it (the ones in force when it was
    #: submitted); requests submitted before SLA clocks applied to them have none, and are judged
    #: by the first versions (see docs/sla.md).
    sla: RuleVersions | None = None

    _rule_fits = model_validator(mode="after")(approval_checked)


class ApprovalRequested(RequestEvent):
    """The request waits for its approvers (its SLA clock pauses)."""

    type_name: ClassVar[str] = "ServiceRequest.ApprovalRequested"


class ApprovalGiven(RequestEvent):
    """One approver's approval; the last one needed approves the request."""

    type_name: ClassVar[str] = "ServiceRequest.ApprovalGiven"
    approver: str = Name
    comment: str | None = OptionalReason


class Approved(RequestEvent):
    type_name: ClassVar[str] = "ServiceRequest.Approved"
    approvers: list[str] = Field(min_length=1, max_length=50)


class Rejected(RequestEvent):
    type_name: ClassVar[str] = "ServiceRequest.Rejected"
    approver: str = Name
    reason: str = Reason


class FulfilmentStarted(RequestEvent):
    type_name: ClassVar[str] = "ServiceRequest.FulfilmentStarted"
    fulfiller: str = Name


class StepCompleted(RequestEvent):
    type_name: ClassVar[str] = "ServiceRequest.StepCompleted"
    step: int = Field(ge=1, le=50, description="1 for the first fulfilment step")
    note: str | None = Note


class InformationRequested(RequestEvent):
    """Fulfilment waits for the requester (its SLA clock pauses)."""

    type_name: ClassVar[str] = "ServiceRequest.InformationRequested"
    question: str = Text


class RequesterResponded(RequestEvent):
    type_name: ClassVar[str] = "ServiceRequest.RequesterResponded"
    answer: str = Text


class Fulfilled(RequestEvent):
    type_name: ClassVar[str] = "ServiceRequest.Fulfilled"
    notes: str = Text


class Closed(RequestEvent):
    type_name: ClassVar[str] = "ServiceRequest.Closed"


class Cancelled(Reasoned, RequestEvent):
    type_name: ClassVar[str] = "ServiceRequest.Cancelled"


class Rated(Rating, RequestEvent):
    """The requester rated the closed request (domain/satisfaction.py): once, and only they."""

    type_name: ClassVar[str] = "ServiceRequest.Rated"


class SlaWarned(RequestEvent, SlaWarning):
    """A warning threshold of an SLA target was passed (recorded by the SLA watcher)."""

    type_name: ClassVar[str] = "ServiceRequest.SlaWarned"


class SlaBreached(RequestEvent, SlaBreach):
    """An SLA target was missed (recorded by the SLA watcher, at or after the moment)."""

    type_name: ClassVar[str] = "ServiceRequest.SlaBreached"


def transition(state: RequestState | None, event: RequestEvent) -> RequestState:
    """The lifecycle state after an event: shared by the aggregate and the projections."""
    match event:
        case Submitted():
            return RequestState.SUBMITTED
        case ApprovalRequested():
            return RequestState.AWAITING_APPROVAL
        case Approved():
            return RequestState.APPROVED
        case Rejected():
            return RequestState.REJECTED
        case FulfilmentStarted() | RequesterResponded():
            return RequestState.IN_FULFILMENT
        case InformationRequested():
            return RequestState.AWAITING_REQUESTER
        case Fulfilled():
            return RequestState.FULFILLED
        case Closed():
            return RequestState.CLOSED
        case Cancelled():
            return RequestState.CANCELLED
    assert state is not None, "a request's history starts with ServiceRequest.Submitted"
    return state


class AttachmentAdded(Attached, RequestEvent):
    """A file put on a service request (domain/attachments.py): its hash, size, type and name."""

    type_name: ClassVar[str] = "ServiceRequest.AttachmentAdded"


class InternalAttachmentAdded(Attached, RequestEvent):
    """A file for the staff only (with a work note): callers never read it."""

    type_name: ClassVar[str] = "ServiceRequest.InternalAttachmentAdded"


class AttachmentRemoved(Detached, RequestEvent):
    """A file removed for privacy: its bytes deleted, its hash and the reason kept."""

    type_name: ClassVar[str] = "ServiceRequest.AttachmentRemoved"


# -- the aggregate -----------------------------------------------------------------------------


class ServiceRequest(
    SlaAlerted,
    Attachable,
    LifecycleAggregate[RequestState],
    events=RequestEvent,
    transition=transition,
    alerts=(SlaWarned, SlaBreached),
    attachments=(AttachmentAdded, InternalAttachmentAdded, AttachmentRemoved),
):
    KIND: ClassVar[str] = "service request"

    number: int
    state: RequestState
    requester: str
    submitted_by: str
    approval_required: bool
    approver_role: Role | None
    approvers: frozenset[str]
    approvals_needed: int
    approvals: tuple[str, ...]
    steps: int
    done: frozenset[int]
    organisation: str
    #: The group that fulfils it (the catalogue item's, copied when it was submitted).
    fulfilment_group: str
    #: Whether the requester has rated it (once closed; a rating is given once).
    rated: bool

    @property
    def owned_by(self) -> str:
        return self.requester

    @classmethod
    def submit(
        cls,
        ctx: Context,
        *,
        id: UUID,
        number: int,
        item: CatalogueItem,
        title: str,
        details: str,
        requester: str,
        organisation: str = PROVINCE,
        sla: RuleVersions | None = None,
    ) -> ServiceRequest:
        if ctx.actor.role is Role.REQUESTER and requester != ctx.actor.id:
            raise NotPermitted("a requester submits requests for themselves")
        rule = item.definition
        request = cls._begin(
            ctx,
            id,
            Submitted,
            number=number,
            catalogue_item=rule.code,
            title=title,
            details=details,
            requester=requester,
            service=rule.service,
            priority=rule.priority,
            approval_required=rule.approval_required,
            approver_role=rule.approver_role,
            approvers=list(rule.approvers),
            approvals_needed=rule.approvals_needed,
            fulfilment_group=rule.fulfilment_group,
            steps=list(rule.steps),
            organisation=organisation,
            sla=sla,
        )
        if rule.approval_required:
            request._record(ApprovalRequested(**request._envelope(ctx)))
        return request

    def approve(self, ctx: Context, *, comment: str | None = None) -> None:
        approver = self._approver(ctx, "approve")
        if approver in self.approvals:
            raise AlreadyDecided(f"{approver} has already approved this request")
        self._record(ApprovalGiven(**self._envelope(ctx), approver=approver, comment=comment))
        if len(self.approvals) >= self.approvals_needed:
            self._record(Approved(**self._envelope(ctx), approvers=list(self.approvals)))

    def reject(self, ctx: Context, *, reason: str) -> None:
        approver = self._approver(ctx, "reject")
        self._record(Rejected(**self._envelope(ctx), approver=approver, reason=reason))

    def _approver(self, ctx: Context, action: str) -> str:
        self._require(action, RequestState.AWAITING_APPROVAL)
        who = ctx.actor.id
        if who in (self.requester, self.submitted_by):
            raise RequesterCannotApprove("the requester of a request cannot approve or reject it")
        if self.approvers and who not in self.approvers:
            raise NotANamedApprover(f"{who} is not a named approver of this request")
        if self.approver_role is not None and ctx.actor.role is not self.approver_role:
            raise NotANamedApprover(f"this request is approved by a {self.approver_role}")
        return who

    def start_fulfilment(self, ctx: Context) -> None:
        ready = RequestState.APPROVED if self.approval_required else RequestState.SUBMITTED
        self._require("start_fulfilment", ready)
        self._require_agent(ctx, "start fulfilment")
        self._record(FulfilmentStarted(**self._envelope(ctx), fulfiller=ctx.actor.id))

    def complete_step(self, ctx: Context, *, step: int, note: str | None = None) -> None:
        self._require("complete_step", RequestState.IN_FULFILMENT)
        self._require_agent(ctx, "complete fulfilment steps")
        if not 1 <= step <= self.steps:
            raise NothingChanged(f"the request has steps 1 to {self.steps}, not {step}")
        if step in self.done:
            raise NothingChanged(f"step {step} is already done")
        self._record(StepCompleted(**self._envelope(ctx), step=step, note=note))

    def await_requester(self, ctx: Context, *, question: str) -> None:
        self._require("await_requester", RequestState.IN_FULFILMENT)
        self._require_agent(ctx, "wait for the requester")
        self._record(InformationRequested(**self._envelope(ctx), question=question))

    def record_response(self, ctx: Context, *, answer: str) -> None:
        self._require("record_response", RequestState.AWAITING_REQUESTER)
        self._require_requester_or_agent(ctx)
        self._record(RequesterResponded(**self._envelope(ctx), answer=answer))

    def fulfil(self, ctx: Context, *, notes: str) -> None:
        self._require("fulfil", RequestState.IN_FULFILMENT)
        self._require_agent(ctx, "fulfil requests")
        outstanding = sorted(set(range(1, self.steps + 1)) - self.done)
        if outstanding:
            raise FulfilmentStepsOutstanding(
                f"steps {', '.join(map(str, outstanding))} are not done yet"
            )
        self._record(Fulfilled(**self._envelope(ctx), notes=notes))

    def close(self, ctx: Context) -> None:
        self._require("close", RequestState.FULFILLED)
        self._require_requester_or_agent(ctx)
        self._record(Closed(**self._envelope(ctx)))

    def rate(self, ctx: Context, *, score: int, comment: str | None = None) -> None:
        """The requester rates the closed request, once (domain/satisfaction.py)."""
        self._require("rate", RequestState.CLOSED)
        check_rater(ctx, self.requester, self.rated)
        self._record(Rated(**self._envelope(ctx), score=score, comment=comment))

    def cancel(self, ctx: Context, *, reason: str) -> None:
        self._require("cancel", *CANCELLABLE)
        self._require_requester_or_agent(ctx)
        self._record(Cancelled(**self._envelope(ctx), reason=reason))

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _require_agent(ctx: Context, what: str) -> None:
        if ctx.actor.role in (Role.REQUESTER, Role.AUDITOR, Role.INTEGRATION):
            raise NotPermitted(f"only the service desk may {what}")

    def _require_requester_or_agent(self, ctx: Context) -> None:
        if ctx.actor.role is Role.REQUESTER and ctx.actor.id != self.requester:
            raise NotPermitted("a requester acts only on their own requests")

    # -- state changes --------------------------------------------------------------------------

    @applies(Submitted)
    def _submitted(self, e: Submitted) -> None:
        self.number, self.requester, self.submitted_by = e.number, e.requester, e.actor.id
        self.approval_required, self.approver_role = e.approval_required, e.approver_role
        self.approvers, self.approvals_needed = frozenset(e.approvers), e.approvals_needed
        self.approvals, self.steps, self.done = (), len(e.steps), frozenset()
        self.organisation = e.organisation
        self.fulfilment_group = e.fulfilment_group
        self.rated = False
        self.sla_alerts = frozenset()

    @applies(
        ApprovalRequested,
        Approved,
        Rejected,
        FulfilmentStarted,
        InformationRequested,
        RequesterResponded,
        Fulfilled,
        Closed,
        Cancelled,
    )
    def _moved(self, e: RequestEvent) -> None:
        pass  # the lifecycle state is all that changes

    @applies(ApprovalGiven)
    def _approval_given(self, e: ApprovalGiven) -> None:
        self.approvals = (*self.approvals, e.approver)

    @applies(StepCompleted)
    def _step_completed(self, e: StepCompleted) -> None:
        self.done = self.done | {e.step}

    @applies(Rated)
    def _rated(self, e: Rated) -> None:
        self.rated = True
