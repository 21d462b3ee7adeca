"""search_index: one row per record people search for (incidents, service requests, problems and
their known errors, changes, knowledge articles), with the terms the full-text engine indexes.

A row keeps what its record says in two parts, by who reads it (domain/visibility.py, once for
every event type): `public`, what anyone who reaches the record reads (the title, the
description, public comments, the resolution), and `internal`, what only staff read (work notes,
notes on a hold, an approver's comment, the reasons of an escalation). Each part is also stored as
terms (domain/search_terms.py) in its own text column, widest audience first, so that a caller's
search looks in the public terms alone and a staff search in both. The texts themselves stay in
the row for the snippets.

A problem's known error is published to everyone (the known error database): the problem's
title, symptoms and workaround are what it shows (`GET /known-errors/{ref}`), so they are its
public part, and once published the row is a `known_error` that every reader reaches; the
description and the root cause stay internal, as everything else said on a problem. A published
knowledge article is everyone's too; a draft or a retired one, its organisation's staff's.

A row also keeps its record's service and (an incident's) category, by their codes in the service
catalogue: a search may keep to one, and count its hits by them (`facets`).

Each part holds at most MAX_TEXT characters: what is said past that (a record with hundreds of
long comments) is not indexed, and the row says so (`truncated`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from domain import change as c
from domain import incident as i
from domain import knowledge as k
from domain import problem as p
from domain import service_request as r
from domain.actors import Role
from domain.context import Context
from domain.events import DomainEvent
from domain.record_numbers import RecordKind, number_label
from domain.records import incident_number_label
from domain.search_terms import indexed, query_terms, snippet
from domain.visibility import AUDIENCES, audience, free_text, reads_internal
from projections.base import Column, Projection, Row, at
from projections.queries import Reach, Where
from projections.view_store import Match, ViewStore

#: The most characters of text each part of a row holds (and indexes).
MAX_TEXT = 200_000
#: The kinds a search finds, as hits and the `kinds` parameter name them.
KINDS = ("incident", "service_request", "problem", "known_error", "change", "knowledge_article")


@dataclass(frozen=True, slots=True)
class Searched:
    """A kind of record as the index keeps it: its name, how its number reads, and which field
    of its first event names whose own record it is (its reach: kinds.py `Kind.owner`)."""

    kind: str
    label: Callable[[int], str]
    owner: str | None = None


_SEARCHED: dict[type[DomainEvent], Searched] = {
    i.IncidentEvent: Searched("incident", incident_number_label, owner="caller"),
    r.RequestEvent: Searched(
        "service_request",
        lambda n: number_label(RecordKind.SERVICE_REQUEST, n),
        owner="requester",
    ),
    p.ProblemEvent: Searched("problem", lambda n: number_label(RecordKind.PROBLEM, n)),
    c.ChangeEvent: Searched("change", lambda n: number_label(RecordKind.CHANGE, n)),
    k.ArticleEvent: Searched(
        "knowledge_article", lambda n: number_label(RecordKind.KNOWLEDGE_ARTICLE, n)
    ),
}
#: The events a record's row starts with.
_FIRST = (i.Logged, r.Submitted, p.Logged, c.Raised, k.Drafted)
#: The events that end a record its requester reads (their reach ends some years after).
_ENDING = (i.Closed, i.Cancelled, r.Closed, r.Cancelled, r.Rejected)
#: Events whose text replaces what the row held under the same field (a revision).
_REPLACING = (*_FIRST, k.Revised)
#: What a published known error shows everyone of its problem (besides the title): its symptoms
#: and workaround, as `GET /known-errors/{ref}` does (projections/problems.py KNOWN_ERROR_FACE);
#: the description and the root cause stay the staff's.
_KNOWN_ERROR_TEXT: dict[type[DomainEvent], set[str]] = {
    p.WorkaroundPublished: {"workaround"},
    p.KnownErrorPublished: {"symptoms"},
}


def _searched(event_type: type[DomainEvent]) -> Searched | None:
    for base, searched in _SEARCHED.items():
        if issubclass(event_type, base):
            return searched
    return None


def _started(ev: DomainEvent, searched: Searched) -> Row:
    number: int = getattr(ev, "number")  # noqa: B009 (every first event has one)
    return {
        "kind": searched.kind,
        "id": str(ev.originator_id),
        "number": number,
        "ref": searched.label(number),
        "organisation": getattr(ev, "organisation"),  # noqa: B009
        "owner": getattr(ev, searched.owner) if searched.owner else None,
        "title": "",
        "service": None,
        "category": None,
        "everyone": 0,
        "state": None,
        "ended_at": None,
        "public": {},
        "internal": {},
        "truncated": False,
    }


def _said(row: Row, part: str, slot: str, text: str) -> None:
    """Keep a text in a part of the row under its slot, within MAX_TEXT."""
    held: dict[str, str] = row[part]
    room = MAX_TEXT - sum(len(t) for s, t in held.items() if s != slot)
    if len(text) > room:
        row["truncated"] = True
        text = text[: max(room, 0)]
    if text:
        held[slot] = text
    else:
        held.pop(slot, None)


def _fold(row: Row | None, ev: DomainEvent) -> Row | None:
    """Any event of a searched kind: what it says, in the part of the row its readers read."""
    event_type = type(ev)
    searched = _searched(event_type)
    if searched is None:
        return row
    if isinstance(ev, _FIRST):
        row = _started(ev, searched)
    if row is None:  # an event before its record's first: nothing to search yet
        return None
    replacing = isinstance(ev, _REPLACING)
    if replacing:
        row["title"] = getattr(ev, "title")  # noqa: B009
        row["public"]["title"] = row["title"]
        if isinstance(ev, k.Drafted | k.Revised):
            _said(row, "public", "keywords", " ".join(ev.keywords))
    _classified(row, ev)
    heard = audience(event_type)
    known_error = _KNOWN_ERROR_TEXT.get(event_type, set())
    said = replacing or "public_terms" not in row
    for name in sorted(free_text(event_type)):
        text = getattr(ev, name)
        slot = name if replacing else f"{ev.originator_version}.{name}"
        public = (heard.caller and name in heard.says) or name in known_error
        if text:
            _said(row, "public" if public else "internal", slot, text)
            said = True
    if isinstance(ev, k.ArticleEvent):
        state = k.transition(k.ArticleState(row["state"]) if row["state"] else None, ev)
        row["state"] = state.value
        row["everyone"] = int(state is k.ArticleState.PUBLISHED)
    if isinstance(ev, p.KnownErrorPublished):
        row.update(kind="known_error", everyone=1)
    if isinstance(ev, _ENDING):
        row["ended_at"] = at(ev)
    if said:  # the terms follow from the texts alone: made again only when one changed
        row["public_terms"] = indexed([row["ref"], *row["public"].values()])
        row["internal_terms"] = indexed(row["internal"].values())
    row["version"] = ev.originator_version
    row["updated_at"] = at(ev)
    return row


def _classified(row: Row, ev: DomainEvent) -> None:
    """The service (and category) the record sits in, as its first event or a recategorisation
    says (a change's first service, if it names any)."""
    if isinstance(ev, i.Logged | i.Recategorised):
        row["service"], row["category"] = ev.service, ev.category
    elif isinstance(ev, r.Submitted | p.Logged | k.Drafted):
        row["service"] = ev.service
    elif isinstance(ev, c.Raised):
        row["service"] = ev.services[0] if ev.services else None


_EVENTS = [t for t in AUDIENCES if _searched(t) is not None]

search_index = Projection(
    name="search_index",
    # 2: a known error's description and root cause are the staff's; 3: the service and category;
    # 4: a sign that folds into punctuation ("⑴") is one term (its bytes), not "(1)"; when an
    # incident or a request ended, for the requester's reach
    version=4,
    folds=dict.fromkeys(_EVENTS, _fold),
    columns=(
        Column("kind", "TEXT"),
        Column("number", "INTEGER"),
        Column("organisation", "TEXT"),
        Column("owner", "TEXT"),
        Column("everyone", "INTEGER"),
        Column("service", "TEXT"),
        Column("category", "TEXT"),
        Column("public_terms", "TEXT"),
        Column("internal_terms", "TEXT"),
        Column("ended_at", "TEXT"),
    ),
    indexes=(("kind", "organisation"),),
    text=("public_terms", "internal_terms"),
)


# -- the questions -------------------------------------------------------------------------------

#: A record's own reach: its organisation's staff, and a requester their own (the `owner`) until
#: the years the retention schedule gives after it ended: the same for both kinds a requester
#: owns, incidents and service requests (tests/unit/test_retention_reach_rules.py holds it so).
_OWN = Reach(owner="owner", ended="ended_at", kind="incident")
#: The most hits a search walks through, page after page (a deeper page answers nothing more).
MAX_HITS = 1_000


def reach(ctx: Context) -> Where:
    """The rows a caller reaches: the records their reach admits, and what is everyone's."""
    clauses, params = _OWN.where(ctx)
    if not clauses:
        return [], []
    if not reads_internal(ctx.actor.role) and ctx.actor.role is not Role.REQUESTER:
        return ['"everyone" = 1'], []
    return [f'("everyone" = 1 OR ({" AND ".join(clauses)}))'], params


def admits(ctx: Context, row: Mapping[str, Any]) -> bool:
    """The same rule as `reach`, for one row."""
    if row["everyone"]:
        return True
    if not reads_internal(ctx.actor.role) and ctx.actor.role is not Role.REQUESTER:
        return ctx.scope is None
    return _OWN.admits(ctx, row)


@dataclass(frozen=True, slots=True)
class Hit:
    kind: str
    id: str
    ref: str
    number: int
    title: str
    service: str | None
    category: str | None
    snippet: str | None
    rank: float


@dataclass(frozen=True, slots=True)
class Hits:
    hits: list[Hit]
    #: How many hits to pass over for the next page, when one follows; else None.
    next_offset: int | None


@dataclass(frozen=True, slots=True)
class Within:
    """What a search keeps to besides the caller's reach: kinds of record, a service, a
    category (the facets a reader narrows by)."""

    kinds: Sequence[str] = ()
    service: str | None = None
    category: str | None = None

    def where(self, ctx: Context) -> Where:
        clauses, params = reach(ctx)
        if self.kinds:
            named = {*self.kinds, *(["known_error"] if "problem" in self.kinds else [])}
            clauses = [*clauses, f'"kind" IN ({", ".join("?" for _ in named)})']
            params = [*params, *sorted(named)]
        for column in ("service", "category"):
            value = getattr(self, column)
            if value is not None:
                clauses, params = [*clauses, f'"{column}" = ?'], [*params, value]
        return clauses, params


def search(
    store: ViewStore,
    ctx: Context,
    query: str,
    within: Within = Within(),
    *,
    limit: int,
    offset: int = 0,
) -> Hits:
    """The records the caller reaches whose words hold every term of the query, the best first
    (the engine's rank: bm25 in SQLite, ts_rank in PostgreSQL), `limit` of them from `offset`.
    Staff search work notes too; callers only what they read."""
    wanted = query_terms(query)
    if not wanted or offset >= MAX_HITS:
        return Hits([], None)
    limit = min(limit, MAX_HITS - offset)
    found = _matches(store, ctx, wanted, within, limit + 1, offset)
    staff = reads_internal(ctx.actor.role)
    hits = [_hit(row, rank, wanted, staff) for row, rank in found[:limit]]
    more = len(found) > limit and offset + limit < MAX_HITS
    return Hits(hits, offset + limit if more else None)


@dataclass(frozen=True, slots=True)
class Facets:
    """How the best MAX_HITS records a search finds fall by service and by category
    ("service/category"), most first."""

    service: dict[str, int]
    category: dict[str, int]


def facets(store: ViewStore, ctx: Context, query: str, within: Within = Within()) -> Facets:
    """The counts a reader narrows a search by, over the hits `search` walks through."""
    wanted = query_terms(query)
    if not wanted:
        return Facets({}, {})
    found = _matches(store, ctx, wanted, within, MAX_HITS, 0)
    services = Counter(row["service"] for row, _ in found if row["service"])
    categories = Counter(
        f"{row['service']}/{row['category']}" for row, _ in found if row["category"]
    )
    return Facets(dict(services.most_common()), dict(categories.most_common()))


def _matches(
    store: ViewStore, ctx: Context, wanted: Sequence[str], within: Within, limit: int, offset: int
) -> list[tuple[Row, float]]:
    """The rows (with their rank) holding every term, within the caller's reach and `within`:
    in the public terms for a caller, in the internal ones too for staff."""
    clauses, params = within.where(ctx)
    match = Match(tuple(wanted), within=2 if reads_internal(ctx.actor.role) else 1)
    return store.search(search_index, match, " AND ".join(clauses), params, limit, offset)


def _hit(row: Row, rank: float, wanted: Sequence[str], staff: bool) -> Hit:
    texts = [*row["public"].values(), *(row["internal"].values() if staff else ()), row["ref"]]
    return Hit(
        row["kind"],
        row["id"],
        row["ref"],
        row["number"],
        row["title"],
        row["service"],
        row["category"],
        snippet(texts, wanted),
        rank,
    )


def matching_keys(
    store: ViewStore, ctx: Context, kinds: Sequence[str], query: str, most: int = MAX_HITS
) -> list[str]:
    """The ids of the (at most `most`, best first) records of these kinds the caller reaches
    that the query finds: for a list's `q=`, which keeps the list's own order and cursor."""
    found = search(store, ctx, query, Within(kinds), limit=most)
    return [hit.id for hit in found.hits]


# -- what people looked for in vain ------------------------------------------------------------

#: The most distinct searches kept that found nothing (past it, only those kept are counted).
MAX_MISSES = 10_000


def note_miss(store: ViewStore, ctx: Context, query: str) -> str | None:
    """Count a search that found nothing, for the knowledge owner (`misses`): its terms, one
    counter for each set of terms (in any order), not an event per keystroke. Terms that hold a
    digit are left out (a record number, a member card: no knowledge is missing, and a member's
    id is not kept); the terms counted, or None when none is left."""
    kept = " ".join(sorted(t for t in query_terms(query) if not any(c.isdigit() for c in t)))
    if kept:
        store.note_miss(kept, ctx.at, MAX_MISSES)
    return kept or None
