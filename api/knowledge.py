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

from fastapi import APIRouter, Query

from api.deps import (
    AGENT_ROLES,
    ReaderDep,
    StaffReaderDep,
    authorised,
)
from api.models import KnowledgeArticleDetails, KnowledgeArticleList
from api.params import record_ref
from api.reads import Readable, numbered
from api.record_answers import add_actions
from api.record_routes import add_create, add_list, add_read
from application.kinds import KNOWLEDGE_ARTICLE
from domain.knowledge import ARTICLE_COMMANDS, ArticleState, DraftArticle
from domain.record_numbers import RecordKind
from projections.knowledge import articles, knowledge_articles

router = APIRouter(prefix="/knowledge-articles", tags=["knowledge articles"])

ArticleRef = Annotated[str, record_ref(RecordKind.KNOWLEDGE_ARTICLE.value)]
WRITERS = AGENT_ROLES
ARTICLES = Readable(articles, "knowledge article", numbered(RecordKind.KNOWLEDGE_ARTICLE))


add_create(
    router,
    DraftArticle,
    name="draft_article",
    operation="draft_knowledge_article",
    kind=KNOWLEDGE_ARTICLE,
    caller=authorised(WRITERS, "write knowledge articles"),
    projection=knowledge_articles,
    model=KnowledgeArticleDetails,
    summary="Draft a knowledge article",
)
add_list(
    router,
    articles,
    name="list_articles",
    reader=ReaderDep,
    model=KnowledgeArticleList,
    summary="List knowledge articles, newest first (requesters: the published ones)",
    filters={"state": ArticleState | None, "service": Annotated[str | None, Query(max_length=200)]},
)
add_read(
    router,
    ARTICLES,
    name="get_article",
    param="ref",
    ref=ArticleRef,
    reader=ReaderDep,
    model=KnowledgeArticleDetails,
    summary="Read a knowledge article by id or number (KB-000001)",
    history_reader=StaffReaderDep,
    history_name="get_knowledge_article_history",
)

add_actions(
    router,
    ARTICLE_COMMANDS.values(),
    kind=RecordKind.KNOWLEDGE_ARTICLE,
    projection=knowledge_articles,
    noun="knowledge article",
    roles_of=lambda _: WRITERS,
    model=KnowledgeArticleDetails,
)
