"""inbound_mail: what became of each message the helpdesk mailbox received, for admins and
auditors (GET /api/v1/inbound-mail): when it came, from whom, its outcome (applied, ignored,
dead), what it did to which record, and why it was not applied.

The mail reader reads its position in the mailbox from here too (`last_uid`): the highest UID
recorded under the folder's UIDVALIDITY. The view may lag behind the store; a reader that starts
from a lagging position reads a few messages again and finds each recorded (by Message-ID), so
the lag costs a few reads, never a second application.
"""

from __future__ import annotations

from typing import Any

from domain import inbound_mail as m
from projections.base import Column, Projection, Row, at, by, folds_of
from projections.records import stamped
from projections.view_store import ViewStore


def _settled(row: Row | None, ev: m.Applied | m.Ignored | m.DeadLettered) -> Row:
    if row is None:
        row = {
            "id": str(ev.originator_id),
            "message_id": ev.message_id,
            "received_at": at(ev),
            "redeliveries": 0,
            "replays": 0,
        }
    row.update(
        state=_STATES[type(ev)],
        sender=ev.sender,
        subject=ev.subject,
        action=None,
        record_id=None,
        record_ref=None,
        acted_as=None,
        reason=None,
        sha256=row.get("sha256"),
        size=row.get("size"),
        settled_by=by(ev),
    )
    if ev.uidvalidity is not None:
        row.update(uidvalidity=ev.uidvalidity, uid=ev.uid)
    else:
        row.setdefault("uidvalidity", None)
        row.setdefault("uid", None)
    match ev:
        case m.Applied():
            row.update(
                action=ev.action,
                record_id=str(ev.record_id),
                record_ref=ev.record_ref,
                acted_as=ev.acted_as,
            )
        case m.Ignored():
            row["reason"] = ev.reason
        case m.DeadLettered():
            row.update(reason=ev.reason, sha256=ev.sha256, size=ev.size)
    return stamped(row, ev)


_STATES: dict[type[Any], str] = {
    m.Applied: m.MailState.APPLIED,
    m.Ignored: m.MailState.IGNORED,
    m.DeadLettered: m.MailState.DEAD,
}


def _replayed(row: Row, ev: m.Replayed) -> Row:
    return stamped(row, ev, replays=row["replays"] + 1, state=m.MailState.REPLAYING)


def _redelivered(row: Row, ev: m.Redelivered) -> Row:
    # The latest place it was read at: under a new UIDVALIDITY, the reader's position there.
    return stamped(
        row, ev, redeliveries=row["redeliveries"] + 1, uidvalidity=ev.uidvalidity, uid=ev.uid
    )


inbound_mail = Projection(
    name="inbound_mail",
    version=1,
    folds=folds_of(_settled, _replayed, _redelivered),
    columns=(
        Column("state", "TEXT"),
        Column("received_at", "TEXT"),
        Column("uidvalidity", "INTEGER"),
        Column("uid", "INTEGER"),
    ),
    indexes=(("received_at",), ("state", "received_at"), ("uidvalidity", "uid")),
)


def last_uid(views: ViewStore, uidvalidity: int) -> int:
    """The highest UID recorded under this UIDVALIDITY (0: none yet)."""
    rows = views.select(
        inbound_mail, '"uidvalidity" = ?', (uidvalidity,), 'ORDER BY "uid" DESC LIMIT 1'
    )
    return int(rows[0]["uid"]) if rows else 0


#: The most rows one page of the list holds.
MAX_PAGE = 200


def listed(
    views: ViewStore,
    *,
    state: str | None = None,
    after: tuple[str, str] | None = None,
    limit: int = 50,
) -> list[Row]:
    """The messages newest first, of one outcome if asked; `after` the (received_at, id) of the
    last row of the page before, to read the next one."""
    clauses, params = [], []
    if state is not None:
        clauses.append('"state" = ?')
        params.append(state)
    if after is not None:
        clauses.append('("received_at" < ? OR ("received_at" = ? AND "key" < ?))')
        params.extend((after[0], after[0], after[1]))
    return views.select(
        inbound_mail,
        " AND ".join(clauses),
        params,
        f'ORDER BY "received_at" DESC, "key" DESC LIMIT {min(max(limit, 1), MAX_PAGE)}',
    )
