"""saved_filters: the queues people keep (domain/saved_filter.py), one row per filter: its name,
owner (a person or a group), the list it is for and its parameters.

Its readers ask two questions of it: the filters a person keeps (their own and their groups'),
and one such filter by id; a filter kept by someone else is answered as none at all.
"""

from __future__ import annotations

from uuid import UUID

from domain import saved_filter as f
from projections import directory
from projections.base import Column, Projection, Row, at, by, folds_of
from projections.records import stamped
from projections.view_store import ViewStore


def _saved(_: Row | None, ev: f.Saved) -> Row:
    return {
        "id": str(ev.originator_id),
        "name": ev.name,
        "owner_kind": ev.owner_kind,
        "owner": ev.owner,
        "list": ev.list,
        "query": ev.query.model_dump(mode="json"),
        "deleted": False,
        "saved_at": at(ev),
        "saved_by": by(ev),
        "updated_at": at(ev),
        "version": ev.originator_version,
    }


def _revised(row: Row, ev: f.Revised) -> Row:
    return stamped(row, ev, name=ev.name, query=ev.query.model_dump(mode="json"))


def _deleted(row: Row, ev: f.Deleted) -> Row:
    return stamped(row, ev, deleted=True)


saved_filters = Projection(
    name="saved_filters",
    version=1,
    folds=folds_of(_saved, _revised, _deleted),
    columns=(Column("owner", "TEXT"),),
    indexes=(("owner",),),
)


# -- look-ups -----------------------------------------------------------------------------------


def _owners(views: ViewStore, actor_id: str) -> set[tuple[str, str]]:
    """(kind, owner) of the filters `actor_id` keeps: their own, and each group they are a
    member or the manager of (domain/saved_filter.py `keeps`, as the views hold it)."""
    groups = {
        row["code"]
        for row in views.rows(directory.directory_groups).values()
        if not row["disbanded"] and (actor_id in row["members"] or row["manager"] == actor_id)
    }
    return {(f.OwnerKind.PERSON, actor_id)} | {(f.OwnerKind.GROUP, code) for code in groups}


def kept_by(views: ViewStore, actor_id: str) -> list[Row]:
    """The filters `actor_id` keeps, not deleted, by name."""
    owners = _owners(views, actor_id)
    marks = ", ".join("?" for _ in owners)
    rows = views.select(
        saved_filters,
        f'"owner" IN ({marks})',
        [owner for _, owner in owners],
    )
    kept = [
        row for row in rows if not row["deleted"] and (row["owner_kind"], row["owner"]) in owners
    ]
    return sorted(kept, key=lambda row: (row["name"], row["id"]))


def kept_filter(views: ViewStore, actor_id: str, filter_id: UUID) -> Row | None:
    """The filter, if `actor_id` keeps it and it is not deleted; else None."""
    row = views.get(saved_filters, str(filter_id))
    if row is None or row["deleted"]:
        return None
    return row if (row["owner_kind"], row["owner"]) in _owners(views, actor_id) else None
