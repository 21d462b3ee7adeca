"""Commands on the service catalogue and on service requests.

Each command is a pydantic model (the API's request body and the domain's input); `decide` reads
and changes records through the session, saved in one atomic write with the request's number.
"""

from __future__ import annotations

from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import Field, model_validator

from domain import directory
from domain.actors import Role
from domain.change_commands import CodeField, RecordCommand
from domain.command_base import ActionCommand
from domain.commands import Approval, Command, Rejection, by_action
from domain.context import Context
from domain.errors import RecordAlreadyExists
from domain.examples import example
from domain.fields import Description, Name, Note, Reasoned, Text, record_ref
from domain.improvement import SourceKind, SourceRecord, open_follow_up
from domain.incident import SlaAlert
from domain.knowledge import ArticleState, KnowledgeArticle
from domain.organisations import RequestedOrganisation
from domain.record_numbers import RecordKind, number_label
from domain.satisfaction import Rating, is_low
from domain.service_catalogue import Code as ServiceCode
from domain.service_request import (
    Approvers,
    CatalogueItem,
    ServiceRequest,
    Steps,
    approval_checked,
    catalogue_item_id,
)
from domain.session import Session


class DefineCatalogueItem(Command):
    model_config = example(
        {
            "code": "card-reprint",
            "title": "Reprint a membership card",
            "service": "membership-cards",
            "priority": 4,
            "fulfilment_group": "layanan-keanggotaan",
            "steps": ["Mark the old card as lost in INLISLite", "Print and hand over the new card"],
        }
    )

    code: str = CodeField
    title: str = Name
    description: str = Description
    service: str = ServiceCode
    priority: int = Field(default=4, ge=1, le=5, description="the priority its requests get")
    approval_required: bool = False
    approver_role: Role | None = Field(default=None, description="any holder of this role")
    approvers: list[Annotated[str, Field(min_length=1, max_length=200)]] = Approvers
    approvals_needed: int = Field(default=1, ge=1, le=50)
    fulfilment_group: str = Name
    steps: list[Annotated[str, Field(min_length=1, max_length=2_000)]] = Steps

    _rule_fits = model_validator(mode="after")(approval_checked)

    def decide(self, session: Session, ctx: Context) -> UUID:
        if session.find(CatalogueItem, catalogue_item_id(self.code)) is not None:
            raise RecordAlreadyExists(f"catalogue item {self.code} is already defined")
        session.service_catalogue().known([self.service])
        # its requests go to this group's queue: one the directory holds, not disbanded
        directory.assignable(session, self.fulfilment_group, None, "fulfil requests")
        item = CatalogueItem.define(ctx, **self.model_dump())
        session.add(item)
        return item.id


class CatalogueItemCommand(ActionCommand):
    """An action on one catalogue item: POST /api/v1/catalogue-items/{code}/{action}."""

    article: str = record_ref("KB-000042, or the id")

    def decide(self, session: Session, ctx: Context, record_id: UUID) -> UUID:
        item = session.get(CatalogueItem, record_id)
        article = session.get(
            KnowledgeArticle,
            session.find_numbered(RecordKind.KNOWLEDGE_ARTICLE, self.article),
            self.article,
        )
        self.execute(item, article, ctx)
        return record_id

    def execute(self, item: CatalogueItem, article: KnowledgeArticle, ctx: Context) -> None:
        raise NotImplementedError


class LinkCatalogueArticle(CatalogueItemCommand):
    model_config = example({"article": "KB-000001"})

    action = "link-article"
    summary = "Name a published knowledge article the item's fulfilment follows"

    def execute(self, item: CatalogueItem, article: KnowledgeArticle, ctx: Context) -> None:
        item.link_article(
            ctx,
            article_id=article.id,
            article_ref=number_label(RecordKind.KNOWLEDGE_ARTICLE, article.number),
            title=article.title,
            published=article.state is ArticleState.PUBLISHED,
        )


class UnlinkCatalogueArticle(Reasoned, CatalogueItemCommand):
    model_config = example({"article": "KB-000001", "reason": "Replaced by KB-000007"})

    action = "unlink-article"
    summary = "Stop naming a knowledge article for the item, with the reason"

    def execute(self, item: CatalogueItem, article: KnowledgeArticle, ctx: Context) -> None:
        item.unlink_article(
            ctx,
            article_id=article.id,
            article_ref=number_label(RecordKind.KNOWLEDGE_ARTICLE, article.number),
            reason=self.reason,
        )


CATALOGUE_ITEM_COMMANDS = by_action(LinkCatalogueArticle, UnlinkCatalogueArticle)


class SubmitServiceRequest(Command):
    model_config = example(
        {
            "catalogue_item": "card-reprint",
            "title": "Lost membership card",
            "details": "Lost on the bus on Monday",
        }
    )

    catalogue_item: str = CodeField
    title: str = Name
    details: str = Description
    requester: str | None = Field(
        default=None, min_length=1, max_length=200, description="default: whoever submits it"
    )
    organisation: str | None = RequestedOrganisation

    def decide(self, session: Session, ctx: Context) -> UUID:
        item = session.get(
            CatalogueItem, catalogue_item_id(self.catalogue_item), self.catalogue_item
        )
        request_id = session.new_id()
        organisation = ctx.organisation_for(self.organisation)
        request = ServiceRequest.submit(
            ctx,
            id=request_id,
            number=session.allocate(RecordKind.SERVICE_REQUEST, request_id),
            item=item,
            title=self.title,
            details=self.details,
            requester=self.requester or ctx.actor.id,
            organisation=organisation,
            # the rules in force now judge it for ever (docs/sla.md)
            sla=session.sla_rules_for(item.definition.service, organisation),
        )
        session.add(request)
        return request_id


class RequestCommand(RecordCommand):
    """An action on one service request: POST /api/v1/service-requests/{ref}/{action}."""

    #: who may call the route; the domain then checks the actor's standing on the request
    requesters_too: ClassVar[bool] = False

    def decide(self, session: Session, ctx: Context, request_id: UUID) -> UUID:
        self.execute(session.get(ServiceRequest, request_id), ctx)
        return request_id

    def execute(self, request: ServiceRequest, ctx: Context) -> None:
        self.call_action(request, ctx)


class Approve(Approval, RequestCommand):
    action = "approve"
    summary = "Approve as an approver the catalogue item names (never the requester)"


class Reject(Rejection, RequestCommand):
    action = "reject"
    summary = "Reject as an approver the catalogue item names"


class StartFulfilment(RequestCommand):
    model_config = example({})

    action = "start-fulfilment"
    summary = "Start fulfilling (once approved, or at once when no approval is needed)"


class CompleteStep(RequestCommand):
    model_config = example({"step": 1, "note": "Old card marked as lost"})

    action = "complete-step"
    summary = "Record a fulfilment step as done (1 for the first)"
    step: int = Field(ge=1, le=50)
    note: str | None = Note


class AwaitRequester(RequestCommand):
    model_config = example({"question": "Which day suits the installation visit?"})

    action = "await-requester"
    summary = "Ask the requester something; the request waits (its SLA clock pauses)"
    question: str = Text


class RecordResponse(RequestCommand):
    model_config = example({"answer": "Thursday morning suits us"})

    action = "record-response"
    summary = "Record the requester's answer; fulfilment resumes"
    requesters_too = True
    answer: str = Text


class Fulfil(RequestCommand):
    model_config = example({"notes": "The new card was handed over at the desk"})

    action = "fulfil"
    summary = "Record the request as fulfilled (every fulfilment step done)"
    notes: str = Text


class Close(RequestCommand):
    model_config = example({})

    action = "close"
    summary = "Close a fulfilled request"
    requesters_too = True


class RateServiceRequest(Rating, RequestCommand):
    model_config = example({"score": 5, "comment": "The new card was ready the next day"})

    action = "rating"
    summary = (
        "The requester rates their closed request, once: a score of 1 to 5 and a comment (a"
        " score of 2 or less opens a follow-up in the improvement register)"
    )
    requesters_too = True

    def decide(self, session: Session, ctx: Context, request_id: UUID) -> UUID:
        """Rate the request; a low rating also opens its follow-up, owned by the manager of the
        group that fulfilled it (one write)."""
        request = session.get(ServiceRequest, request_id)
        request.rate(ctx, score=self.score, comment=self.comment)
        if is_low(self.score):
            open_follow_up(
                session,
                ctx,
                rated=SourceRecord(
                    kind=SourceKind.SERVICE_REQUEST,
                    id=request.id,
                    ref=number_label(RecordKind.SERVICE_REQUEST, request.number),
                ),
                score=self.score,
                comment=self.comment,
                group=request.fulfilment_group,
                organisation=request.organisation,
            )
        return request_id


class CancelServiceRequest(Reasoned, RequestCommand):
    model_config = example({"reason": "No longer needed: the old card was found"})

    action = "cancel"
    summary = "Cancel the request before it is fulfilled (the requester may cancel their own)"
    requesters_too = True


class RecordSlaAlerts(RequestCommand):
    """The SLA watcher records the warnings and breaches a clock has passed (each only once).
    Not an API action: only the watcher, as the system actor, sends it."""

    action = "record-sla-alerts"
    summary = "Record SLA warnings and breaches"
    alerts: list[SlaAlert] = Field(min_length=1)


REQUEST_COMMANDS = by_action(
    Approve,
    Reject,
    StartFulfilment,
    CompleteStep,
    AwaitRequester,
    RecordResponse,
    Fulfil,
    Close,
    RateServiceRequest,
    CancelServiceRequest,
)
