"""Finding records in the console (docs/console.md, "Lists, saved filters and search"): the
incident list with its filters, the staff's saved filters, and search across every kind.

- `GET /console/incidents` (`?status=&group=&priority=&service=&category=&q=&filter=&cursor=`):
  the incidents the visitor reaches, newest first, a page of 50, kept by the filters as the API's
  list keeps them (api/incidents.py: the same reach, the same saved filter's parameters, each
  replaced by one given, and `q` the same full-text search);
- `POST /console/filters`: the filters shown saved as a filter of the incidents' list, the
  visitor's own or a group's they keep (the API's SaveFilter: an event like any other), and
  `POST /console/filters/{id}/delete` (the filter stays in the record);
- `GET /console/search?q=&cursor=`: the API's search across incidents, requests, problems, known
  errors, changes and articles, ranked, each hit linked to its page in the console, its snippet
  with the matching words marked; a caller finds what they read (their own records, what is
  published), staff work notes too.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from markupsafe import Markup
from starlette.responses import RedirectResponse, Response

from api.deps import AGENT_ROLES, services_of, writer_of
from api.pages import decode_cursor, encode_cursor
from api.problem_details import ApiProblem, status_of
from api.record_answers import written_row
from api.saved_filters import incident_filter
from api.search import decode_offset, encode_offset, searched_keys
from application.kinds import SAVED_FILTER
from application.pipeline import Submission
from console import auth
from console.render import render
from domain.errors import DomainError
from domain.incident import IncidentState
from domain.saved_filter import DeleteFilter, IncidentQuery, RecordList, SaveFilter
from projections.incident_details import incidents
from projections.saved_filters import kept_by, saved_filters
from projections.search_index import Hit, search

router = APIRouter(prefix="/console", include_in_schema=False)

#: A page of the list, and of a search.
PAGE = 50
SEARCH_PAGE = 20
#: The list's filters: the incidents' saved-filter parameters (domain/saved_filter.py).
FILTERS = tuple(IncidentQuery.model_fields)
#: Where a hit of each kind is read in the console (None: no page of its own here).
PAGES = {
    "incident": "incidents",
    "service_request": "requests",
    "problem": "problems",
    "change": "changes",
    "knowledge_article": "knowledge",
}
Text = Annotated[str | None, Query(max_length=200)]
STATES = frozenset(state.value for state in IncidentState)


@router.get("/incidents")
async def incident_list(
    request: Request,
    status: Annotated[str | None, Query(max_length=20)] = None,
    group: Text = None,
    priority: Annotated[str | None, Query(max_length=1)] = None,
    service: Annotated[str | None, Query(max_length=40)] = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    q: Text = None,
    filter: Annotated[UUID | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    who = await auth.visitor(request)
    services = services_of(request)
    # a filter form sends every field, the ones left at "any" empty
    given = {
        "status": status if status in STATES else None,
        "group": group or None,
        "priority": int(priority) if priority and priority in "12345" else None,
        "service": service or None,
        "category": category or None,
    }
    words = (q or "").strip() or None
    saved = filter if who.role in AGENT_ROLES else None
    try:
        kept = replace(
            incident_filter(services, who.ctx, saved, given),
            among=searched_keys(services, who.ctx, "incident", words),
        )
        after = None if cursor is None else decode_cursor(cursor, incidents.order)
    except ApiProblem as problem:  # a filter not theirs (404), of another list, a cursor not ours
        said = "not-found" if problem.status == 404 else "invalid-input"
        return render(request, "error.html", who, status=problem.status, problem=said)
    except DomainError as refused:  # a saved filter out of reach answers as a missing one
        return render(request, "error.html", who, status=status_of(refused), problem="not-found")
    page = incidents.page(services.views, who.ctx, kept, limit=PAGE, after=after)
    shown = {k: v for k, v in given.items() if v is not None}
    asked = {**shown, **({"q": words} if words else {}), **({"filter": saved} if saved else {})}
    more = None if page.after is None else {**asked, "cursor": encode_cursor(page.after)}
    catalogue = [s for s in services.desk.service_catalogue().services if not s.retired]
    return render(
        request,
        "incidents.html",
        who,
        rows=page.rows,
        asked=asked,
        query=shown,
        words=words or "",
        states=[s.value for s in IncidentState],
        services=catalogue,
        next=None if more is None else "/console/incidents?" + urlencode(more),
        saved=kept_by(services.views, who.ctx.actor.id) if who.role in AGENT_ROLES else None,
        current=saved,
        keeps=who.role in AGENT_ROLES,
        done=done == "saved",
    )


@router.post("/filters")
async def save_filter(request: Request) -> Response:
    """The list's filters kept under a name: the visitor's own, or a group's they keep."""
    who, posted = await auth.posted(request, AGENT_ROLES)
    query = {k: v for k in FILTERS if isinstance(v := posted.get(k), str) and v.strip()}
    name, group = posted.get("name"), posted.get("group")
    try:
        command = SaveFilter.model_validate(
            {
                "name": name.strip() if isinstance(name, str) else "",
                "group": group.strip() if isinstance(group, str) and group.strip() else None,
                "list": RecordList.INCIDENTS,
                "query": query,
            }
        )
    except ValueError:
        return render(request, "error.html", who, status=422, problem="filter-invalid")
    submission = Submission(who.ctx, command, SAVED_FILTER, operation="saved_filter:save")
    try:
        outcome = await writer_of(request).submit(submission)
    except DomainError:  # a group they do not keep filters of
        return render(request, "error.html", who, status=403, problem="forbidden")
    await written_row(services_of(request), outcome, saved_filters, str(outcome.record_id))
    return RedirectResponse(
        f"/console/incidents?filter={outcome.record_id}&done=saved", status_code=303
    )


@router.post("/filters/{filter_id}/delete")
async def delete_filter(request: Request, filter_id: Annotated[UUID, Path()]) -> Response:
    """A saved filter deleted by whoever keeps it (to anyone else it is missing)."""
    who, _ = await auth.posted(request, AGENT_ROLES)
    submission = Submission(who.ctx, DeleteFilter(), SAVED_FILTER, ref=filter_id)
    try:
        outcome = await writer_of(request).submit(submission)
    except DomainError:
        return render(request, "error.html", who, status=404, problem="not-found")
    await written_row(services_of(request), outcome, saved_filters, str(outcome.record_id))
    return RedirectResponse("/console/incidents", status_code=303)


@router.get("/search")
async def search_page(
    request: Request,
    q: Text = None,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    who = await auth.visitor(request)
    words = (q or "").strip()
    hits: list[dict[str, Any]] = []
    more = None
    if words:
        try:
            offset = 0 if cursor is None else decode_offset(cursor)
        except ApiProblem:
            return render(request, "error.html", who, status=404, problem="not-found")
        found = search(services_of(request).views, who.ctx, words, limit=SEARCH_PAGE, offset=offset)
        hits = [_hit(hit, who) for hit in found.hits]
        if found.next_offset is not None:
            more = "/console/search?" + urlencode(
                {"q": words, "cursor": encode_offset(found.next_offset)}
            )
    return render(request, "search.html", who, words=words, hits=hits, next=more)


def _hit(hit: Hit, who: auth.Visitor) -> dict[str, Any]:
    """A hit as the page lists it: its page in the console, if it has one the visitor opens (a
    known error's is its problem's, the staff's), and its snippet as the index made it (the
    record's text escaped, the matching words in <mark>)."""
    kind = hit.kind
    where = PAGES.get(kind) or ("problems" if kind == "known_error" and who.staff else None)
    return {
        "kind": kind,
        "ref": hit.ref,
        "title": hit.title,
        "service": hit.service,
        "href": None if where is None else f"/console/{where}/{hit.ref}",
        "snippet": Markup(hit.snippet) if hit.snippet else None,  # escaped by the index
    }
