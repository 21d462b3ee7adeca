"""notifications: one row per notification decided, with where its delivery stands.

It answers three questions: what is due to be sent now (the dispatcher's queue: `state` and
`due_at`), who was told what about a record (its history, by `record_id`), and what is on the
dead-letter list (`state` dead). `resends` counts the attempts that started after one that never
recorded its outcome (a crash between sending and recording): such a message may have reached its
receiver twice, with the same Message-ID or webhook-id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain import notification as n
from domain.context import Context
from projections.base import Column, Projection, Row, at, folds_of, iso
from projections.queries import STAFF, select_where
from projections.records import stamped
from projections.view_store import ViewStore


def utc(moment: datetime) -> str:
    """A moment as `due_at` keeps it: ISO 8601 in UTC, so that text order is time order."""
    return iso(moment.astimezone(UTC))


def _decided(_: Row | None, ev: n.Decided) -> Row:
    return {
        "id": str(ev.originator_id),
        "topic": ev.topic,
        "channel": ev.channel,
        "recipient": ev.recipient,
        # a webhook's URL; not a person's address, which stays in their sealed record only
        # (docs/privacy.md): the staff read it there, and it is erased with them
        "address": ev.address if ev.channel == n.Channel.WEBHOOK else None,
        "language": ev.language,
        "record_id": str(ev.record_id),
        "record_ref": ev.record_ref,
        "record_version": ev.record_version,
        "event_type": ev.event_type,
        "organisation": ev.organisation,
        "subject": ev.subject,
        "message_id": ev.message_id,
        "mandatory": ev.mandatory,
        "state": n.DeliveryState.PENDING,
        "due_at": utc(ev.not_before) if ev.not_before else at(ev),
        "decided_at": at(ev),
        "attempts": 0,
        "resends": 0,
        "attempt_started_at": None,
        "sent_at": None,
        "answer": None,
        "last_error": None,
        "withdrawn_reason": None,
        "updated_at": at(ev),
        "version": ev.originator_version,
    }


def _attempt_started(row: Row, ev: n.AttemptStarted) -> Row:
    return stamped(
        row,
        ev,
        state=n.DeliveryState.SENDING,
        attempts=ev.attempt,
        resends=row["resends"] + int(ev.resend),
        attempt_started_at=at(ev),
    )


def _sent(row: Row, ev: n.Sent) -> Row:
    return stamped(row, ev, state=n.DeliveryState.SENT, sent_at=at(ev), answer=ev.answer)


def _failed(row: Row, ev: n.AttemptFailed) -> Row:
    due = utc(ev.retry_at) if ev.retry_at else row["due_at"]
    state = n.DeliveryState.RETRYING if ev.retry_at else row["state"]
    return stamped(row, ev, state=state, due_at=due, last_error=ev.reason)


def _dead(row: Row, ev: n.DeadLettered) -> Row:
    return stamped(row, ev, state=n.DeliveryState.DEAD, last_error=ev.reason)


def _requeued(row: Row, ev: n.Requeued) -> Row:
    return stamped(row, ev, state=n.DeliveryState.PENDING, due_at=at(ev))


def _withdrawn(row: Row, ev: n.Withdrawn) -> Row:
    return stamped(row, ev, state=n.DeliveryState.WITHDRAWN, withdrawn_reason=ev.reason)


notifications = Projection(
    name="notifications",
    version=3,
    folds=folds_of(_decided, _attempt_started, _sent, _failed, _dead, _requeued, _withdrawn),
    columns=(
        Column("state", "TEXT"),
        Column("due_at", "TEXT"),
        Column("record_id", "TEXT"),
        Column("channel", "TEXT"),
        Column("recipient", "TEXT"),
        Column("organisation", "TEXT"),
    ),
    indexes=(("state", "due_at"), ("record_id",)),
)


# -- look-ups -----------------------------------------------------------------------------------


def listed(
    views: ViewStore,
    ctx: Context,
    *,
    state: n.DeliveryState | None = None,
    recipient: str | None = None,
    limit: int = 50,
) -> list[Row]:
    """The notifications within the reader's reach, newest first: all, or those in one state
    (dead: the dead letters), or those to one recipient."""
    conditions: list[str] = []
    params: list[Any] = []
    if state is not None:
        conditions.append('"state" = ?')
        params.append(state.value)
    if recipient is not None:
        conditions.append('"recipient" = ?')
        params.append(recipient)
    tail = f'ORDER BY "due_at" DESC LIMIT {int(limit)}'
    return select_where(views, notifications, ctx, STAFF, conditions, params, tail)


def of_record(views: ViewStore, record_id: str) -> list[Row]:
    """A record's notifications, in the order they were due."""
    return views.select(notifications, '"record_id" = ?', (record_id,), tail='ORDER BY "due_at"')
