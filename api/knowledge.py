"""Knowledge articles: draft, read, list, history, and one POST per lifecycle action.

Agents write articles; someone other than the author reviews and publishes them. A published
article is read by everyone, requesters included, in every library of the province; drafts,
articles in review and retired ones are read by the staff who reach their organisation
(projections/knowledge.py says so once). The history (reviews, revisions, links to problems) is
the staff's.
"""

# No `from __future__ import annotations`: the per-action routes are built in a loop, and FastAPI
# must see each route's real body type.

from typing import Annotated

from fastapi import Query

from api.deps import AGENT_ROLES, ReaderDep, StaffReaderDep, authorised
from api.models import KnowledgeArticleDetails, KnowledgeArticleList
from api.params import record_ref
from api.reads import Readable, numbered
from api.record_routes import RecordRoutes
from api.routing import ResourceRouter
from application.kinds import KNOWLEDGE_ARTICLE
from domain.knowledge import ARTICLE_COMMANDS, ArticleState, DraftArticle
from domain.record_numbers import RecordKind
from projections.knowledge import articles

router = ResourceRouter(prefix="/knowledge-articles", tags=["knowledge articles"])

ArticleRef = Annotated[str, record_ref(RecordKind.KNOWLEDGE_ARTICLE.value)]
WRITERS = AGENT_ROLES
ARTICLES = Readable(articles, "knowledge article", numbered(RecordKind.KNOWLEDGE_ARTICLE))


ROUTES = RecordRoutes(
    router, ARTICLES, KNOWLEDGE_ARTICLE, KnowledgeArticleDetails, ref=ArticleRef, reader=ReaderDep
)
ROUTES.add_create(
    DraftArticle,
    name="draft_article",
    operation="draft_knowledge_article",
    caller=authorised(WRITERS, "write knowledge articles"),
    summary="Draft a knowledge article",
)
ROUTES.add_list(
    name="list_articles",
    model=KnowledgeArticleList,
    summary="List knowledge articles, newest first (requesters: the published ones)",
    filters={"state": ArticleState | None, "service": Annotated[str | None, Query(max_length=200)]},
    searched=True,
)
ROUTES.add_read(
    name="get_article",
    summary="Read a knowledge article by id or number (KB-000001)",
    history_reader=StaffReaderDep,
    history_name="get_knowledge_article_history",
)
ROUTES.add_actions(ARTICLE_COMMANDS.values(), roles_of=lambda _: WRITERS)
