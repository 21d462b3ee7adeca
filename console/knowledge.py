"""Knowledge in the console: an article's page, and the published articles that match what a
person types as they log an incident (docs/console.md, "Help as one types").

Both read what the API reads, in the visitor's context: a requester finds published articles
only (projections/search_index.py `search` and the articles' reach), staff their drafts too.
The suggestions are an HTML fragment the log form's script puts under the title; without the
script the form works as before.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from api.deps import services_of
from api.knowledge import ARTICLES
from console import auth
from console.render import render
from domain.errors import NotFound
from domain.search_terms import query_terms
from projections.search_index import Within, search

router = APIRouter(prefix="/console", include_in_schema=False)

#: The most suggestions shown under the title.
SUGGESTED = 5


@router.get("/suggestions")
async def suggestions(request: Request, q: Annotated[str, Query(max_length=200)] = "") -> Response:
    """Published articles matching the words typed: all of them first; failing that, the
    longest word alone (a title being typed rarely has every word of an article's)."""
    who = await auth.visitor(request)
    services = services_of(request)
    within = Within(("knowledge_article",))
    hits = []
    if len(q.strip()) >= 3:
        hits = search(services.views, who.ctx, q, within, limit=SUGGESTED).hits
        words = sorted(query_terms(q), key=len, reverse=True)
        if not hits and len(words) > 1:
            hits = search(services.views, who.ctx, words[0], within, limit=SUGGESTED).hits
    return render(request, "knowledge_suggestions.html", who, hits=hits)


@router.get("/knowledge/{ref}")
async def article(request: Request, ref: Annotated[str, Path(max_length=60)]) -> Response:
    who = await auth.visitor(request)
    try:
        row = ARTICLES.read(services_of(request), who.ctx, ref)
    except NotFound:
        return render(request, "error.html", who, status=404, problem="not-found")
    return render(request, "knowledge_article.html", who, row=row)
