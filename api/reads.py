"""Reading one record, of any kind, the same way: found by its reference within the caller's reach
(else not found, as if it did not exist), as it is now or as it stood at a moment (`as_of`), and
its history with what each event changed, each as the caller reads it (api/scoping.py).

A kind says how to read it once (`Readable`): its view (projections/queries.py), its noun, and how
a reference (a number, an id, a code) names a row. The record as of a moment, and what each event
changed, are the record's own events folded by the view's fold (audit/replay.py), so "as of now"
is exactly the view.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast
from uuid import UUID

import orjson
from fastapi import APIRouter, Response

from api.deps import ServicesDep
from api.pages import History
from api.params import AsOf
from api.scoping import readable, reads_internal, shown
from audit import replay
from domain.context import Context
from domain.errors import NotFound, RecordNotFound
from domain.events import DomainEvent
from domain.records import parse_record_number
from projections.base import Projection, Row
from projections.notifications import of_record
from projections.queries import View
from service.bootstrap import Services

#: How a reference names a row: (column, value), or (None, key) for the row's key.
Locator = Callable[[str], tuple[str | None, Any]]


def numbered(prefix: str) -> Locator:
    """A numbered record's reference: its number (INC-000042) or its id (a UUID)."""

    def locate(ref: str) -> tuple[str | None, Any]:
        number = parse_record_number(prefix, ref)
        return ("number", number) if number is not None else (None, str(UUID(ref)))

    return locate


def coded(record_id: Callable[[str], UUID]) -> Locator:
    """A record known by a code (a configuration item, a catalogue item): its key is the id the
    code names."""
    return lambda code: (None, str(record_id(code)))


def _row_id(row: Row) -> UUID:
    return UUID(row["id"])


@dataclass(frozen=True, slots=True)
class Readable:
    """One kind of record, as the routes read it."""

    view: View
    noun: str
    locate: Locator
    not_found: type[NotFound] = RecordNotFound
    #: The record's id, from its row (by default the row's `id`).
    record_of: Callable[[Row], UUID] = field(default=_row_id)

    def missing(self, ref: str) -> NotFound:
        return self.not_found(f"no {self.noun} {ref}")

    def row(self, services: Services, ctx: Context, ref: str) -> Row:
        """The record's row as stored, if the caller reaches it; else not found."""
        try:
            column, value = self.locate(ref)
        except ValueError:
            raise self.missing(ref) from None
        store = services.views
        if column is None:
            row = self.view.by_key(store, ctx, value)
        else:
            row = self.view.by(store, ctx, column, value)
        if row is None:
            raise self.missing(ref)
        return row

    def events(self, services: Services, ctx: Context, ref: str) -> tuple[UUID, list[DomainEvent]]:
        """The record's id and every event of it, if the caller reaches it."""
        record_id = self.record_of(self.row(services, ctx, ref))
        return record_id, record_events(services, record_id)

    def read(
        self, services: Services, ctx: Context, ref: str, as_of: datetime | None = None
    ) -> Row:
        """The record as the caller reads it: now (the view's row), or as it stood at `as_of`
        (folded from its events up to then). A moment before it existed: not found."""
        if as_of is None:
            row = self.row(services, ctx, ref)
            return shown_row(services, ctx, self.view.projection, row, self.record_of(row))
        _, events = self.events(services, ctx, ref)
        then = replay.as_of(self.view.projection, events, as_of, internal=reads_internal(ctx))
        if then is None:
            raise self.not_found(f"{self.noun} {ref} did not exist yet at {as_of.isoformat()}")
        return then

    def history(
        self, services: Services, ctx: Context, ref: str, as_of: datetime | None = None
    ) -> dict[str, Any]:
        """Every event of the record the caller reads (up to `as_of`), each with what it changed
        in the record as the view shows it. A moment before the record existed: not found."""
        record_id, events = self.events(services, ctx, ref)
        if as_of is not None:
            events = [e for e in events if e.timestamp <= as_of]
            if not events:
                raise self.not_found(f"{self.noun} {ref} did not exist yet at {as_of.isoformat()}")
        return self.history_of(services, ctx, record_id, events, as_of)

    def history_of(
        self,
        services: Services,
        ctx: Context,
        record_id: UUID,
        events: list[DomainEvent],
        as_of: datetime | None = None,
    ) -> dict[str, Any]:
        """The history of these events of the record (read already, within the caller's reach)."""
        body = history_body(record_id, self.view, readable(ctx, events), as_of)
        body["notifications"] = told(services, ctx, record_id, as_of)
        return body


def history_body(
    record_id: UUID, view: View, events: Sequence[DomainEvent], as_of: datetime | None = None
) -> dict[str, Any]:
    """A history as every kind answers it (api/pages.py History)."""
    changes = replay.changes(view.projection, events)
    return {
        "record_id": str(record_id),
        "as_of": as_of.isoformat() if as_of else None,
        "events": [history_entry(e, c) for e, c in zip(events, changes, strict=True)],
    }


def told(
    services: Services, ctx: Context, record_id: UUID, as_of: datetime | None = None
) -> list[dict[str, Any]]:
    """Who was told what of the record, and whether it reached them (up to `as_of`): every
    notification for staff; for a caller, only their own, without the address it went to."""
    rows = of_record(services.views, str(record_id))
    if as_of is not None:
        rows = [row for row in rows if datetime.fromisoformat(row["decided_at"]) <= as_of]
    if not reads_internal(ctx):
        rows = [{**row, "address": None} for row in rows if row["recipient"] == ctx.actor.id]
    return [{name: row.get(name) for name in TOLD} for row in rows]


#: What a history shows of each notification (api/pages.py Told).
TOLD = (
    "id",
    "topic",
    "channel",
    "recipient",
    "address",
    "language",
    "record_version",
    "subject",
    "message_id",
    "mandatory",
    "state",
    "decided_at",
    "attempts",
    "resends",
    "sent_at",
    "answer",
    "last_error",
    "withdrawn_reason",
)


def history_entry(event: DomainEvent, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "version": event.originator_version,
        "type": event.type_name,
        "at": event.timestamp.isoformat(),
        "actor": {"id": event.actor.id, "role": event.actor.role.value},
        "correlation_id": str(event.correlation_id),
        "data": event.data(),
        "changes": changes or {},
    }


def record_events(services: Services, record_id: UUID) -> list[DomainEvent]:
    """Every event of one record, in order."""
    return cast(list[DomainEvent], list(services.desk.events.get(record_id)))


def shown_row(
    services: Services,
    ctx: Context,
    projection: Projection,
    row: Row,
    record_id: UUID | None = None,
) -> Row:
    """One record's row as the caller reads it (api/scoping.py `shown`): for a requester, folded
    again from the record's events as they read them. A record they read nothing of answers as a
    missing one."""

    def record() -> UUID:  # asked only when the row is folded again: some rows have no id
        return record_id or UUID(row["id"])

    seen = shown(ctx, projection, row, lambda: record_events(services, record()))
    if seen is None:
        raise RecordNotFound(f"no record {record()}")
    return seen


def add_history(
    router: APIRouter, kind: Readable, *, name: str, param: str, ref: Any, reader: Any
) -> None:
    """GET .../{param}/history on `router`: the kind's history (`Readable.history`), for callers
    that `reader` admits, as the function `name` (its operation id)."""

    def history(services: Services, ctx: Context, as_of: datetime | None, **path: str) -> Response:
        body = kind.history(services, ctx, path[param], as_of)
        return Response(orjson.dumps(body), media_type="application/json")

    history.__name__ = name
    keyword = inspect.Parameter.KEYWORD_ONLY
    history.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(param, keyword, annotation=ref),
            inspect.Parameter("services", keyword, annotation=ServicesDep),
            inspect.Parameter("ctx", keyword, annotation=reader),
            inspect.Parameter("as_of", keyword, annotation=AsOf, default=None),
        ],
        return_annotation=Response,
    )
    router.add_api_route(
        f"/{{{param}}}/history",
        history,
        methods=["GET"],
        response_model=History,
        summary="Every event, in order, with actor, time and what it changed (or up to a moment)",
    )
