"""knowledge_articles: one row per knowledge article, for reading one and for the lists (by state,
service, organisation; requesters list only the published ones), newest first."""

from __future__ import annotations

from typing import Any

from domain import knowledge as k
from domain.record_numbers import RecordKind, number_label
from projections.base import Column, Projection, Row, at, by


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
