"""Knowledge articles: draft, read, list, history, and one POST per lifecycle action.

Agents write articles; someone other than the author reviews and publishes them. A published
article is read by everyone, requesters included, in every library of the province (a fix found
at Serang helps Lebak); drafts, articles in review and retired ones are read by the staff who
reach their organisation. The history (reviews, revisions, links to problems) is the staff's.
"""

# No `from __future__ import annotations`: the per-action routes are built in a loop, and FastAPI
# must see each route's real body type.

from dataclasses import dataclass
from typing import Annotated, Any

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
from api.params import record_ref
from api.record_answers import (
    add_actions,
    answer,
    decided,
    etag,
    json_response,
    numbered_history,
    numbered_row,
)
from api.scoping import Scoped, reads_internal, where
from application.kinds import KNOWLEDGE_ARTICLE
from domain.context import Context
from domain.errors import RecordNotFound
from domain.knowledge import ARTICLE_COMMANDS, ArticleState, DraftArticle, Drafted
from domain.record_numbers import RecordKind
from projections.knowledge import knowledge_articles

router = APIRouter(prefix="/knowledge-articles", tags=["knowledge articles"])

ArticleRef = Annotated[str, record_ref(RecordKind.KNOWLEDGE_ARTICLE.value)]
WRITERS = AGENT_ROLES


@dataclass(frozen=True, slots=True)
class Articles(Scoped):
    """A published article is everyone's to read; any other, its organisation's staff's."""

    def reaches(self, ctx: Context, record: dict[str, Any]) -> bool:
        published = record.get("state") == ArticleState.PUBLISHED
        return published or (reads_internal(ctx) and Scoped.reaches(self, ctx, record))


ARTICLES = Articles(RecordNotFound, "knowledge article")


@router.post(
    "",
    status_code=201,
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


@router.get("", summary="List knowledge articles, newest first (requesters: the published ones)")
def list_articles(
    services: ServicesDep,
    ctx: ReaderDep,
    state: ArticleState | None = None,
    service: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    clauses: list[str] = []
    params: list[Any] = []
    if not reads_internal(ctx):
        clauses.append('"state" = ?')
        params.append(ArticleState.PUBLISHED.value)
    else:
        reach, reach_params = where(ctx)
        if reach:
            clauses.append(f'("state" = ? OR {" AND ".join(reach)})')
            params.extend([ArticleState.PUBLISHED.value, *reach_params])
    for column, value in (("state", state), ("service", service)):
        if value is not None:
            clauses.append(f'"{column}" = ?')
            params.append(str(value))
    rows = services.views.select(
        knowledge_articles, " AND ".join(clauses), params, f'ORDER BY "number" DESC LIMIT {limit}'
    )
    return json_response({"items": rows})


@router.get("/{ref}", summary="Read a knowledge article by id or number (KB-000001)")
def get_article(ref: ArticleRef, services: ServicesDep, ctx: ReaderDep) -> Response:
    kind = RecordKind.KNOWLEDGE_ARTICLE
    row = numbered_row(services, kind, knowledge_articles, ref, ctx, ARTICLES)
    return json_response(row, headers={"ETag": etag(row["version"])})


@router.get("/{ref}/history", summary="Every event, in order, with actor and time")
def get_history(ref: ArticleRef, services: ServicesDep, ctx: StaffReaderDep) -> Response:
    kind = RecordKind.KNOWLEDGE_ARTICLE
    return json_response(numbered_history(services, kind, Drafted, ref, ctx, ARTICLES))


add_actions(
    router,
    ARTICLE_COMMANDS.values(),
    kind=RecordKind.KNOWLEDGE_ARTICLE,
    projection=knowledge_articles,
    noun="knowledge article",
    roles_of=lambda _: WRITERS,
    name_suffix="_article",
)
