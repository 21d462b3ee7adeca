"""Knowledge articles (ISO/IEC 20000-1 8.6.1, 8.6.3): the answers a helpdesk gives again and again.

    draft -> in_review -> published -> retired
             in_review -> draft (changes requested)      draft | in_review -> retired

An agent drafts an article (a title, a body, the service it is about) and revises it while it is a
draft. Someone other than its author reviews it: they publish it, or send it back with what to
change; the author cannot review their own article (four eyes, as for changes). A published article
is what requesters read, in every library of the province; when it no longer holds it is retired,
with a reason, and stays in the record. An article names the problems (and so the known errors
and workarounds) it explains; a link is checked against a problem the author reaches.

Everything an article is, its commands included, is this one module; the application layer reaches
it through one entry in its registry of kinds (application/kinds.py).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar
from uuid import UUID

from pydantic import Field

from domain.aggregate import LifecycleAggregate, applies
from domain.change_commands import RecordCommand
from domain.commands import Command, by_action
from domain.context import Context
from domain.errors import AlreadyLinked, NotPermitted
from domain.events import DomainEvent
from domain.examples import example
from domain.fields import Name as Title
from domain.fields import NamesProblem, Number, OptionalName, Reasoned, record_ref
from domain.organisations import PROVINCE, OrganisationCode, RequestedOrganisation
from domain.problem import Problem
from domain.record_numbers import RecordKind, number_label
from domain.service_catalogue import OptionalCode
from domain.session import Session

Body = Field(min_length=1, max_length=20_000)
#: A word an article is found by ("kiosk", "kartu anggota").
Keyword = Annotated[str, Field(min_length=1, max_length=60)]
Keywords: Any = Field(default_factory=list, max_length=20)


class ArticleState(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    PUBLISHED = "published"
    RETIRED = "retired"


class ArticleEvent(DomainEvent):
    """A fact in a knowledge article's history."""


class Drafted(ArticleEvent):
    type_name: ClassVar[str] = "KnowledgeArticle.Drafted"
    number: int = Number
    title: str = Title
    body: str = Body
    service: str | None = OptionalName
    keywords: list[Keyword] = Keywords
    organisation: str = OrganisationCode


class Revised(ArticleEvent):
    type_name: ClassVar[str] = "KnowledgeArticle.Revised"
    title: str = Title
    body: str = Body
    keywords: list[Keyword] = Keywords


class SubmittedForReview(ArticleEvent):
    type_name: ClassVar[str] = "KnowledgeArticle.SubmittedForReview"


class ChangesRequested(Reasoned, ArticleEvent):
    type_name: ClassVar[str] = "KnowledgeArticle.ChangesRequested"


class Published(ArticleEvent):
    type_name: ClassVar[str] = "KnowledgeArticle.Published"


class Retired(Reasoned, ArticleEvent):
    type_name: ClassVar[str] = "KnowledgeArticle.Retired"


class ProblemLinked(NamesProblem, ArticleEvent):
    type_name: ClassVar[str] = "KnowledgeArticle.ProblemLinked"
    #: Whether the problem was a published known error when it was linked.
    known_error: bool


def transition(state: ArticleState | None, event: ArticleEvent) -> ArticleState:
    """The lifecycle state after an event: shared by the aggregate and the view."""
    match event:
        case Drafted() | ChangesRequested():
            return ArticleState.DRAFT
        case SubmittedForReview():
            return ArticleState.IN_REVIEW
        case Published():
            return ArticleState.PUBLISHED
        case Retired():
            return ArticleState.RETIRED
    assert state is not None, "an article's history starts with KnowledgeArticle.Drafted"
    return state


class KnowledgeArticle(
    LifecycleAggregate[ArticleState], events=ArticleEvent, transition=transition, noun="article"
):
    KIND: ClassVar[str] = "knowledge article"

    number: int
    state: ArticleState
    title: str
    author: str
    problems: frozenset[UUID]
    organisation: str

    @classmethod
    def draft(
        cls,
        ctx: Context,
        *,
        id: UUID,
        number: int,
        title: str,
        body: str,
        service: str | None,
        keywords: list[str],
        organisation: str = PROVINCE,
    ) -> KnowledgeArticle:
        return cls._begin(
            ctx,
            id,
            Drafted,
            number=number,
            title=title,
            body=body,
            service=service,
            keywords=keywords,
            organisation=organisation,
        )

    def revise(self, ctx: Context, *, title: str, body: str, keywords: list[str]) -> None:
        self._require("revise", ArticleState.DRAFT)
        self._record(Revised(**self._envelope(ctx), title=title, body=body, keywords=keywords))

    def submit_for_review(self, ctx: Context) -> None:
        self._require("submit_for_review", ArticleState.DRAFT)
        self._record(SubmittedForReview(**self._envelope(ctx)))

    def request_changes(self, ctx: Context, *, reason: str) -> None:
        self._require("request_changes", ArticleState.IN_REVIEW)
        self._not_the_author(ctx, "review")
        self._record(ChangesRequested(**self._envelope(ctx), reason=reason))

    def publish(self, ctx: Context) -> None:
        self._require("publish", ArticleState.IN_REVIEW)
        self._not_the_author(ctx, "publish")
        self._record(Published(**self._envelope(ctx)))

    def retire(self, ctx: Context, *, reason: str) -> None:
        self._require("retire", ArticleState.DRAFT, ArticleState.IN_REVIEW, ArticleState.PUBLISHED)
        self._record(Retired(**self._envelope(ctx), reason=reason))

    def link_problem(self, ctx: Context, problem: Problem) -> None:
        self._require("link_problem", *(s for s in ArticleState if s is not ArticleState.RETIRED))
        ref = number_label(RecordKind.PROBLEM, problem.number)
        if problem.id in self.problems:
            raise AlreadyLinked(f"{ref} is already linked to this article")
        self._record(
            ProblemLinked(
                **self._envelope(ctx),
                problem_id=problem.id,
                problem_ref=ref,
                known_error=problem.state == "known_error",
            )
        )

    # -- helpers --------------------------------------------------------------------------------

    def _not_the_author(self, ctx: Context, action: str) -> None:
        if ctx.actor.id == self.author:
            raise NotPermitted(f"the author cannot {action} their own article")

    @applies(Drafted)
    def _drafted(self, e: Drafted) -> None:
        self.number = e.number
        self.title = e.title
        self.author = e.actor.id
        self.problems = frozenset()
        self.organisation = e.organisation

    @applies(Revised)
    def _revised(self, e: Revised) -> None:
        self.title = e.title

    @applies(SubmittedForReview, ChangesRequested, Published, Retired)
    def _moved(self, e: ArticleEvent) -> None:
        pass  # the lifecycle state is all the decisions need

    @applies(ProblemLinked)
    def _problem_linked(self, e: ProblemLinked) -> None:
        self.problems = self.problems | {e.problem_id}


# -- commands -------------------------------------------------------------------------------------


class DraftArticle(Command):
    model_config = example(
        {
            "title": "Kiosk swallows the member card",
            "body": "Restart the kiosk from the left back panel; the card drops into the tray.",
            "service": "kiosks-gates",
            "keywords": ["kiosk", "kartu anggota"],
        }
    )

    title: str = Title
    body: str = Body
    service: str | None = OptionalCode
    keywords: list[Keyword] = Keywords
    organisation: str | None = RequestedOrganisation

    def decide(self, session: Session, ctx: Context) -> UUID:
        if self.service is not None:
            session.service_catalogue().known([self.service])
        article_id = session.new_id()
        session.add(
            KnowledgeArticle.draft(
                ctx,
                id=article_id,
                number=session.allocate(RecordKind.KNOWLEDGE_ARTICLE, article_id),
                title=self.title,
                body=self.body,
                service=self.service,
                keywords=self.keywords,
                organisation=ctx.organisation_for(self.organisation),
            )
        )
        return article_id


class ArticleCommand(RecordCommand):
    """An action on one article: POST /api/v1/knowledge-articles/{ref}/{action}."""

    def decide(self, session: Session, ctx: Context, article_id: UUID) -> UUID:
        self.execute(session.get(KnowledgeArticle, article_id), session, ctx)
        return article_id

    def execute(self, article: KnowledgeArticle, session: Session, ctx: Context) -> None:
        self.call_action(article, ctx)


class ReviseArticle(ArticleCommand):
    model_config = example(
        {
            "title": "Kiosk swallows the member card",
            "body": "Restart the kiosk from the left back panel.",
            "keywords": ["kiosk"],
        }
    )

    action = "revise"
    summary = "Revise a draft's title, body and keywords"
    title: str = Title
    body: str = Body
    keywords: list[Keyword] = Keywords


class SubmitArticleForReview(ArticleCommand):
    model_config = example({})

    action = "submit-for-review"
    summary = "Submit a draft for review by someone other than its author"


class RequestArticleChanges(Reasoned, ArticleCommand):
    model_config = example({"reason": "Say which panel: the kiosks at Serang have two"})

    action = "request-changes"
    summary = "Send an article in review back to its author, saying what to change"


class PublishArticle(ArticleCommand):
    model_config = example({})

    action = "publish"
    summary = "Publish a reviewed article, for requesters to read (not by its author)"


class RetireArticle(Reasoned, ArticleCommand):
    model_config = example({"reason": "New kiosks eject the card themselves"})

    action = "retire"
    summary = "Retire an article that no longer holds, with the reason"


class LinkArticleToProblem(ArticleCommand):
    model_config = example({"problem": "PRB-000003"})

    action = "link-problem"
    summary = "Name a problem (or known error) the article explains"
    problem: str = record_ref("PRB-000042, or the id")

    def execute(self, article: KnowledgeArticle, session: Session, ctx: Context) -> None:
        problem_id = session.find_numbered(RecordKind.PROBLEM, self.problem)
        article.link_problem(ctx, session.get(Problem, problem_id, self.problem))


ARTICLE_COMMANDS = by_action(
    ReviseArticle,
    SubmitArticleForReview,
    RequestArticleChanges,
    PublishArticle,
    RetireArticle,
    LinkArticleToProblem,
)
