"""document_register: the register of controlled documents (ISO/IEC 20000-1 7.5), one row per
document with every version (its content, authors, approval, publication, supersession and
disposition), for reading one and for the lists (by kind, state, owner, clause, and whether a
review is due), newest first.

Who reads which rows is `DocumentReach`: service managers, admins and auditors every document;
other staff the published ones and those they own or registered; requesters the published
documents of the kinds the office publishes to its customers (the service catalogue, SLAs,
policies).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain import document as d
from domain.actors import Role
from domain.context import Context
from domain.record_numbers import RecordKind
from projections.base import Column, Projection, Row, at, by, copied, folds_of
from projections.queries import Reach, View, Where
from projections.records import entry, numbered, stamped

#: The roles that read every document, whatever its state: those who approve and those who audit.
READS_EVERY_DOCUMENT = frozenset({Role.SERVICE_MANAGER, Role.ADMIN, Role.AUDITOR, Role.SYSTEM})


def clause_index(clauses: list[str]) -> str:
    """The clauses as one text column a list filters on: "|8.5.1.1|7.5|" (a clause is found by
    "|8.5.1.1|", never by a prefix of another)."""
    return "|" + "|".join(clauses) + "|" if clauses else ""


def _touched(row: Row, ev: d.DocumentEvent, **changes: Any) -> Row:
    return stamped(row, ev, state=d.transition(d.DocumentState(row["state"]), ev), **changes)


def _version(row: Row, number: int) -> dict[str, Any]:
    """The row's entry of version `number`."""
    found: dict[str, Any] = next(v for v in row["versions"] if v["number"] == number)
    return found


def _new_version(ev: d.DocumentEvent, number: int, link: str | None, note: str | None) -> Row:
    return {
        "number": number,
        "state": d.VersionState.DRAFT,
        "content": None if link is None else {"attachment_id": None, "link": link},
        "note": note,
        "drafted": entry(ev),
        "authors": [ev.actor.id],
        "submitted": None,
        "approval": None,
        "returns": [],
        "published": None,
        "ended": None,
        "disposition": None,
    }


def _registered(_: Row | None, ev: d.Registered) -> Row:
    return {
        **numbered(ev, RecordKind.DOCUMENT, ev.number),
        **copied(ev, "title kind owner origin medium review_months"),
        "clauses": list(ev.clauses),
        "clause_index": clause_index(list(ev.clauses)),
        "source": None if ev.source is None else ev.source.model_dump(mode="json"),
        "retention": ev.retention.model_dump(mode="json"),
        "state": d.DocumentState.DRAFT,
        "current_version": None,
        "next_review": None,
        "review_due_noticed": None,
        "reviews": [],
        "withdrawal": None,
        "versions": [_new_version(ev, 1, ev.link, ev.note)],
        "registered_at": at(ev),
        "registered_by": by(ev),
        "registrant": ev.actor.id,
        "updated_at": at(ev),
        "version": ev.originator_version,
    }


def _version_drafted(row: Row, ev: d.VersionDrafted) -> Row:
    row["versions"].append(_new_version(ev, ev.version, ev.link, ev.note))
    return _touched(row, ev)


def _content_set(row: Row, ev: d.ContentSet) -> Row:
    version = _version(row, ev.version)
    attachment = None if ev.attachment_id is None else str(ev.attachment_id)
    version["content"] = {"attachment_id": attachment, "link": ev.link}
    if ev.actor.id not in version["authors"]:
        version["authors"].append(ev.actor.id)
    return _touched(row, ev)


def _submitted(row: Row, ev: d.SubmittedForApproval) -> Row:
    version = _version(row, ev.version)
    version.update(state=d.VersionState.SUBMITTED, submitted=entry(ev))
    return _touched(row, ev)


def _approved(row: Row, ev: d.Approved) -> Row:
    version = _version(row, ev.version)
    version.update(state=d.VersionState.APPROVED, approval=entry(ev, comment=ev.comment))
    return _touched(row, ev)


def _returned(row: Row, ev: d.Returned) -> Row:
    version = _version(row, ev.version)
    version["state"] = d.VersionState.DRAFT
    version["returns"].append(entry(ev, reason=ev.reason))
    return _touched(row, ev)


def _published(row: Row, ev: d.Published) -> Row:
    if ev.supersedes is not None:
        old = _version(row, ev.supersedes)
        old.update(
            state=d.VersionState.SUPERSEDED,
            ended=entry(ev, why="superseded", on=d.office_day(ev.timestamp).isoformat()),
        )
    version = _version(row, ev.version)
    next_review = ev.next_review.isoformat()
    version.update(state=d.VersionState.PUBLISHED, published=entry(ev, next_review=next_review))
    return _touched(row, ev, current_version=ev.version, next_review=next_review)


def _reviewed(row: Row, ev: d.Reviewed) -> Row:
    next_review = ev.next_review.isoformat()
    row["reviews"].append(entry(ev, version=ev.version, next_review=next_review, note=ev.note))
    return _touched(row, ev, next_review=next_review)


def _review_due(row: Row, ev: d.ReviewDueNoticed) -> Row:
    return _touched(row, ev, review_due_noticed=ev.due.isoformat())


def _withdrawn(row: Row, ev: d.Withdrawn) -> Row:
    on = d.office_day(ev.timestamp).isoformat()
    for version in row["versions"]:
        if version["state"] in (d.VersionState.PUBLISHED, *d.OPEN_VERSION):
            version.update(state=d.VersionState.WITHDRAWN, ended=entry(ev, why="withdrawn", on=on))
    withdrawal = entry(ev, reason=ev.reason)
    return _touched(row, ev, withdrawal=withdrawal, current_version=None, next_review=None)


def _disposed(row: Row, ev: d.VersionDisposed) -> Row:
    version = _version(row, ev.version)
    attachment = None if ev.attachment_id is None else str(ev.attachment_id)
    version["disposition"] = entry(
        ev, disposal=ev.disposal, attachment_id=attachment, sha256=ev.sha256, note=ev.note
    )
    return _touched(row, ev)


def _file_event(row: Row, ev: d.AttachmentAdded | d.InternalAttachmentAdded) -> Row:
    return _touched(row, ev)  # the files are the attachments view's (projections/attachments.py)


def _file_removed(row: Row, ev: d.AttachmentRemoved) -> Row:
    return _touched(row, ev)


document_register = Projection(
    name="document_register",
    version=1,
    folds=folds_of(
        _registered,
        _version_drafted,
        _content_set,
        _submitted,
        _approved,
        _returned,
        _published,
        _reviewed,
        _review_due,
        _withdrawn,
        _disposed,
        _file_event,
        _file_removed,
    ),
    columns=(
        Column("number", "INTEGER"),
        Column("state", "TEXT"),
        Column("kind", "TEXT"),
        Column("owner", "TEXT"),
        Column("registrant", "TEXT"),
        Column("clause_index", "TEXT"),
        Column("next_review", "TEXT"),
    ),
    indexes=(
        ("number",),
        ("state", "number"),
        ("kind", "number"),
        ("owner", "number"),
        ("next_review",),
    ),
)


@dataclass(frozen=True, slots=True)
class DocumentReach(Reach):
    """Service managers, admins and auditors read every document; other staff the published ones
    and those they own or registered; a requester the published documents of the kinds the office
    publishes to its customers. The register is the office's: no organisation divides it."""

    def admits(self, ctx: Context, record: Mapping[str, Any]) -> bool:
        role = ctx.actor.role
        if ctx.scope is None or role in READS_EVERY_DOCUMENT:
            return True
        published = record.get("state") == d.DocumentState.PUBLISHED
        if role is Role.REQUESTER:
            return published and record.get("kind") in d.CUSTOMER_KINDS
        mine = ctx.actor.id in (record.get("owner"), record.get("registrant"))
        return published or mine

    def where(self, ctx: Context) -> Where:
        role = ctx.actor.role
        if ctx.scope is None or role in READS_EVERY_DOCUMENT:
            return [], []
        published = d.DocumentState.PUBLISHED.value
        if role is Role.REQUESTER:
            kinds = sorted(k.value for k in d.CUSTOMER_KINDS)
            marks = ", ".join("?" for _ in kinds)
            return ['"state" = ?', f'"kind" IN ({marks})'], [published, *kinds]
        me = ctx.actor.id
        return ['("state" = ? OR "owner" = ? OR "registrant" = ?)'], [published, me, me]

    @property
    def fields(self) -> set[str]:
        return {"state", "kind", "owner", "registrant"}


documents = View(document_register, DocumentReach())
