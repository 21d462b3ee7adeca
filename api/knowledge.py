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

from fastapi import APIRouter, Query, Request, Response

from api.deps import (
    AGENT_ROLES,
    CORRELATION_ID,
    IDEMPOTENCY_KEY,
    ReaderDep,
    ServicesDep,
    StaffReaderDep,
    authorised,
    documented,
)
from api.models import READ, KnowledgeArticleDetails, KnowledgeArticleList, written
from api.pages import Cursor, Limit, decode_cursor, page_body
from api.params import AsOf, record_ref
from api.reads import Readable, add_history, numbered
from api.record_answers import add_actions, answer, decided, etag, json_response
from application.kinds import KNOWLEDGE_ARTICLE
from domain.context import Context
from domain.knowledge import ARTICLE_COMMANDS, ArticleState, DraftArticle
from domain.record_numbers import RecordKind
from projections.knowledge import articles, knowledge_articles
from projections.queries import Filter

router = APIRouter(prefix="/knowledge-articles", tags=["knowledge articles"])

ArticleRef = Annotated[str, record_ref(RecordKind.KNOWLEDGE_ARTICLE.value)]
WRITERS = AGENT_ROLES
ARTICLES = Readable(articles, "knowledge article", numbered(RecordKind.KNOWLEDGE_ARTICLE))


@router.post(
    "",
    status_code=201,
    response_model=KnowledgeArticleDetails,
    responses=written(201),
    summary="Draft a knowledge article",
    openapi_extra=documented(IDEMPOTENCY_KEY, CORRELATION_ID),
)
async def draft_article(
    request: Request,
    ctx: Annotated[Context, authorised(WRITERS, "write knowledge articles")],
    command: DraftArticle,
) -> Response:
    services, outcome = await decided(
        request, ctx, "draft_knowledge_article", command, KNOWLEDGE_ARTICLE
    )
    location = f"/api/v1/knowledge-articles/{outcome.record_id}"
    return await answer(services, outcome, knowledge_articles, location, 201, ctx=ctx)


@router.get(
    "",
    response_model=KnowledgeArticleList,
    summary="List knowledge articles, newest first (requesters: the published ones)",
)
def list_articles(
    services: ServicesDep,
    ctx: ReaderDep,
    state: ArticleState | None = None,
    service: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    kept = Filter(equal={"state": state, "service": service})
    after = None if cursor is None else decode_cursor(cursor, articles.order)
    return json_response(
        page_body(articles.page(services.views, ctx, kept, limit=limit, after=after))
    )


@router.get(
    "/{ref}",
    response_model=KnowledgeArticleDetails,
    responses=READ,
    summary="Read a knowledge article by id or number (KB-000001)",
)
def get_article(
    ref: ArticleRef, services: ServicesDep, ctx: ReaderDep, as_of: AsOf = None
) -> Response:
    row = ARTICLES.read(services, ctx, ref, as_of)
    return json_response(row, headers={"ETag": etag(row["version"])})


add_history(
    router,
    ARTICLES,
    name="get_knowledge_article_history",
    param="ref",
    ref=ArticleRef,
    reader=StaffReaderDep,
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
