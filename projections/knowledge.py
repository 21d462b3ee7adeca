"""knowledge_articles: one row per knowledge article, for reading one and for the lists (by state,
service, organisation; requesters list only the published ones), newest first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain import knowledge as k
from domain.context import Context
from domain.record_numbers import RecordKind, number_label
from domain.visibility import reads_internal
from projections.base import Column, Projection, Row, at, by
from projections.queries import Reach, View, Where


def _touched(row: Row, ev: k.ArticleEvent, **changes: Any) -> Row:
    row["state"] = k.transition(k.ArticleState(row["state"]), ev)
    row.update(changes)
    row["version"] = ev.originator_version
    row["updated_at"] = at(ev)
    return row


def _drafted(_: Row | None, ev: k.Drafted) -> Row:
    return {
        "id": str(ev.originator_id),
        "number": ev.number,
        "ref": number_label(RecordKind.KNOWLEDGE_ARTICLE, ev.number),
        "title": ev.title,
        "body": ev.body,
        "service": ev.service,
        "keywords": list(ev.keywords),
        "organisation": ev.organisation,
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
    return _touched(
        row, ev, review={"outcome": "changes_requested", "reason": ev.reason, **_when(ev)}
    )


def _published(row: Row, ev: k.Published) -> Row:
    return _touched(row, ev, review={"outcome": "published", **_when(ev)}, published_at=at(ev))


def _retired(row: Row, ev: k.Retired) -> Row:
    return _touched(row, ev, retirement={"reason": ev.reason, **_when(ev)})


def _problem_linked(row: Row, ev: k.ProblemLinked) -> Row:
    _touched(row, ev)
    link = {"id": str(ev.problem_id), "ref": ev.problem_ref, "known_error": ev.known_error}
    row["problems"].append({**link, **_when(ev)})
    return row


def _when(ev: k.ArticleEvent) -> dict[str, Any]:
    return {"at": at(ev), "by": by(ev)}


knowledge_articles = Projection(
    name="knowledge_articles",
    version=1,
    folds={
        k.Drafted: _drafted,
        k.Revised: _revised,
        k.SubmittedForReview: _submitted,
        k.ChangesRequested: _changes_requested,
        k.Published: _published,
        k.Retired: _retired,
        k.ProblemLinked: _problem_linked,
    },
    columns=(
        Column("number", "INTEGER"),
        Column("state", "TEXT"),
        Column("service", "TEXT"),
        Column("organisation", "TEXT"),
    ),
    indexes=(("number",), ("state", "number"), ("service", "number"), ("organisation", "number")),
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
