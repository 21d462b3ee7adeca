"""Full-text search: one `GET /search?q=` across the kinds of record people look for, ranked, with
snippets; the same words on each list (`q=`), which keeps that list's order and cursor.

The index is a view like any other (projections/search_index.py); a search finds only what the
caller reaches (their own records, their organisation's, and what is published to everyone) and,
for a caller, only what is said to them: staff search work notes too. docs/search.md says how
words are matched.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from typing import Annotated, Literal

from fastapi import Query, Response
from pydantic import BaseModel, Field

from api.deps import ReaderDep, ServicesDep, authorised
from api.pages import Cursor, Limit
from api.problem_details import ApiProblem
from api.record_answers import json_response
from api.routing import ResourceRouter
from application.kinds import KINDS
from domain.actors import Role
from domain.context import Context
from projections.search_index import MAX_HITS, Hit, Within, matching_keys, note_miss, search
from projections.search_index import facets as count_facets
from service.bootstrap import Services

router = ResourceRouter(prefix="/search", tags=["search"])

SearchKind = Literal[
    "incident", "service_request", "problem", "known_error", "change", "knowledge_article"
]
#: What a search asks: words, numbers (INC-000123) and ids, folded and stemmed alike.
Q = Annotated[
    str,
    Query(
        min_length=1,
        max_length=200,
        description="the words to find (every one of them), any case, with or without affixes"
        " and diacritics; a record number or a member-card id is found whole",
    ),
]
#: The same, on a list: the list keeps the rows the search finds, in its own order.
ListQ = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        description="only the records whose words hold every one of these (full-text search,"
        f" the {MAX_HITS} best matches at most); the list keeps its own order",
    ),
]


class SearchHit(BaseModel):
    kind: SearchKind = Field(
        description="a problem whose known error is published is a `known_error`"
    )
    ref: str = Field(examples=["INC-000123"])
    id: str
    title: str
    service: str | None = Field(description="its service's code in the service catalogue")
    category: str | None = Field(description="an incident's category within its service")
    snippet: str | None = Field(
        description="the words around the first match, as HTML: the record's text escaped, each"
        " matching word in <mark>…</mark>"
    )
    rank: float = Field(description="higher is better; comparable within one answer only")
    url: str = Field(
        examples=["/api/v1/incidents/3f0c…"],
        description="where to read it; a known error's is `/api/v1/known-errors/{id}`, which"
        " requesters may open too",
    )


class SearchFacets(BaseModel):
    service: dict[str, int] = Field(
        description="hits by service code, most first", examples=[{"kiosks-gates": 12}]
    )
    category: dict[str, int] = Field(
        description="hits by service/category, most first", examples=[{"kiosks-gates/kiosk": 9}]
    )


class SearchPage(BaseModel):
    items: list[SearchHit]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null: last")
    facets: SearchFacets | None = Field(
        default=None,
        description=f"with ?facets=true: how the {MAX_HITS} best hits fall by service and category",
    )


_OFFSET = re.compile(rb"o:([0-9]{1,5})")


def encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_offset(cursor: str) -> int:
    """How many hits the pages before passed over; 422 for a cursor this API did not issue."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, binascii.Error):
        raw = b""
    found = _OFFSET.fullmatch(raw)
    if found is None or int(found[1]) >= MAX_HITS:
        raise ApiProblem(422, "invalid-input", "the cursor is not one this API issued")
    return int(found[1])


def _url(hit: Hit) -> str:
    """Where the hit is read: a known error at its own route, which requesters may open (the
    problem behind it is the staff's); any other record at its kind's."""
    if hit.kind == "known_error":
        return f"/api/v1/known-errors/{hit.id}"
    return f"/api/v1{KINDS[hit.kind].path}/{hit.id}"


def _shown(hit: Hit) -> dict[str, object]:
    return {
        "kind": hit.kind,
        "ref": hit.ref,
        "id": hit.id,
        "title": hit.title,
        "service": hit.service,
        "category": hit.category,
        "snippet": hit.snippet,
        "rank": hit.rank,
        "url": _url(hit),
    }


@router.get(
    "",
    response_model=SearchPage,
    summary="Search incidents, requests, problems, known errors, changes and articles by words",
)
def search_records(
    services: ServicesDep,
    ctx: ReaderDep,
    q: Q,
    kinds: Annotated[
        list[SearchKind] | None,
        Query(max_length=6, description="only these kinds (default: every kind)"),
    ] = None,
    service: Annotated[
        str | None, Query(min_length=1, max_length=40, description="only this service's (code)")
    ] = None,
    category: Annotated[
        str | None, Query(min_length=1, max_length=40, description="only this category's (code)")
    ] = None,
    facets: Annotated[
        bool, Query(description="count the hits by service and category (the first page only)")
    ] = False,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Response:
    """Ranked by how well the words match (bm25 on SQLite, ts_rank on PostgreSQL); a page is the
    hits after the ones the cursor passed, at most 1,000 hits deep. Requesters find their own
    records and what is published to everyone (knowledge articles, known errors): self-help
    before logging a ticket. A search that finds nothing is counted for the knowledge owner
    (`/search/misses`)."""
    offset = 0 if cursor is None else decode_offset(cursor)
    within = Within(kinds or (), service, category)
    found = search(services.views, ctx, q, within, limit=limit, offset=offset)
    if not found.hits and offset == 0:
        note_miss(services.views, ctx, q)
    counted = None
    if facets and offset == 0:
        counted = dataclasses.asdict(count_facets(services.views, ctx, q, within))
    return json_response(
        {
            "items": [_shown(hit) for hit in found.hits],
            "next_cursor": None if found.next_offset is None else encode_offset(found.next_offset),
            "facets": counted,
        }
    )


def searched_keys(services: Services, ctx: Context, kind: str, q: str | None) -> list[str] | None:
    """For a list's `q=`: the ids of the records of this kind the words find (None: no `q`)."""
    return None if q is None else matching_keys(services.views, ctx, [kind], q)


class SearchMissOut(BaseModel):
    terms: str = Field(
        description="what was searched for, as searched (folded and stemmed; numbers left out)",
        examples=["kartu hilang ganti"],
    )
    count: int = Field(description="how many searches for these terms found nothing")
    first_seen: str
    last_seen: str


class SearchMisses(BaseModel):
    items: list[SearchMissOut]


#: Who owns the knowledge: they read what people looked for and did not find.
KNOWLEDGE_OWNERS = frozenset({Role.SERVICE_MANAGER, Role.ADMIN})


@router.get(
    "/misses",
    response_model=SearchMisses,
    summary="What people searched for and did not find, the most often first",
)
def search_misses(
    services: ServicesDep,
    _: Annotated[Context, authorised(KNOWLEDGE_OWNERS, "read what searches did not find")],
    limit: Limit = 50,
) -> Response:
    """Articles to write: the searches (requesters' self-help, staff's) that found nothing, each
    query's terms counted, with when they were first and last searched for."""
    return json_response(
        {
            "items": [
                {
                    "terms": miss.terms,
                    "count": miss.count,
                    "first_seen": miss.first_seen.isoformat(),
                    "last_seen": miss.last_seen.isoformat(),
                }
                for miss in services.views.misses(limit)
            ]
        }
    )
