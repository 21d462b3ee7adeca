"""knowledge_articles: one row per knowledge article, for reading one and for the lists (by state,
service, organisation; requesters list only the published ones), newest first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain import knowledge as k
from domain.context import Context
from domain.record_numbers import RecordKind
from domain.visibility import reads_internal
from projections.base import Projection, Row, at, copied, folds_of
from projections.queries import Reach, View, Where
from projections.records import entry, list_columns, list_indexes, numbered, stamped


def _touched(row: Row, ev: k.ArticleEvent, **changes: Any) -> Row:
    return stamped(row, ev, state=k.transition(k.ArticleState(row["state"]), ev), **changes)


def _drafted(_: Row | None, ev: k.Drafted) -> Row:
    return {
        **numbered(ev, RecordKind.KNOWLEDGE_ARTICLE, ev.number),
        **copied(ev, "title body service keywords organisation"),
        "state": k.ArticleState.DRAFT,
        "author": ev.actor.id,
        "review": None,
        "published_at": None,
        "retirement": None,
        "problems": [],
        "drafted_at": at(ev),
        "updated_at": at(ev),
        "version": ev.originator_version,
    }


def _revised(row: Row, ev: k.Revised) -> Row:
    return _touched(row, ev, title=ev.title, body=ev.body, keywords=list(ev.keywords))


def _submitted(row: Row, ev: k.SubmittedForReview) -> Row:
    return _touched(row, ev)


def _changes_requested(row: Row, ev: k.ChangesRequested) -> Row:
    return _touched(row, ev, review=entry(ev, outcome="changes_requested", reason=ev.reason))


def _published(row: Row, ev: k.Published) -> Row:
    return _touched(row, ev, review=entry(ev, outcome="published"), published_at=at(ev))


def _retired(row: Row, ev: k.Retired) -> Row:
    return _touched(row, ev, retirement=entry(ev, reason=ev.reason))


def _problem_linked(row: Row, ev: k.ProblemLinked) -> Row:
    _touched(row, ev)
    link = {"id": str(ev.problem_id), "ref": ev.problem_ref, "known_error": ev.known_error}
    row["problems"].append(entry(ev, **link))
    return row


knowledge_articles = Projection(
    name="knowledge_articles",
    version=1,
    folds=folds_of(
        _drafted,
        _revised,
        _submitted,
        _changes_requested,
        _published,
        _retired,
        _problem_linked,
    ),
    columns=list_columns("service"),
    indexes=list_indexes("service"),
)


@dataclass(frozen=True, slots=True)
class PublishedOrStaff(Reach):
    """A published article is everyone's to read, in every library of the province (a fix found
    at Serang helps Lebak); any other is read by the staff who reach its organisation."""

    def admits(self, ctx: Context, record: Mapping[str, Any]) -> bool:
        if record.get("state") == k.ArticleState.PUBLISHED:
            return True
        return reads_internal(ctx.actor.role) and Reach.admits(self, ctx, record)

    def where(self, ctx: Context) -> Where:
        published: Where = (['"state" = ?'], [k.ArticleState.PUBLISHED.value])
        if not reads_internal(ctx.actor.role):
            return published
        clauses, params = Reach.where(self, ctx)
        if not clauses:
            return [], []
        either = f'("state" = ? OR ({" AND ".join(clauses)}))'
        return [either], [k.ArticleState.PUBLISHED.value, *params]


articles = View(knowledge_articles, PublishedOrStaff())
