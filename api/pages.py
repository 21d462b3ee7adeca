"""What every list and every history answers: a page of items with the cursor of the next one,
and a record's events with what each changed.

A list takes `limit` (1 to 200) and `cursor` (the `next_cursor` of the page before) and answers
`{"items": [...], "next_cursor": "..." | null}`; the cursor is opaque to clients (the order
column's value of the last row, projections/queries.py), and one this API did not issue is
refused with 422.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable
from typing import Annotated, Any
from uuid import UUID

from fastapi import Query
from pydantic import BaseModel, Field

from api.params import MAX_INT
from api.problem_details import ApiProblem
from api.schemas import ActorOut
from projections.base import Row
from projections.queries import MAX_PAGE, Order, Page

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="the most items on one page")]
Cursor = Annotated[
    str | None,
    Query(max_length=200, description="the `next_cursor` of the page before; absent: the first"),
]

_NUMBER = re.compile(rb"n:([0-9]{1,19})")  # ASCII digits: int() also reads "١٢"
_CODE = re.compile(rb"c:(.{1,100})", re.DOTALL)


def encode_cursor(value: int | str) -> str:
    text = f"n:{value}" if isinstance(value, int) else f"c:{value}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, order: Order) -> int | str:
    """The order column's value a cursor of this list carries; 422 for any other text."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, binascii.Error):
        raw = b""
    if order.column == "number":
        found = _NUMBER.fullmatch(raw)
        if found is not None and 1 <= int(found[1]) <= MAX_INT:  # past it, no number of ours
            return int(found[1])
    else:
        code = _CODE.fullmatch(raw)
        if code is not None:
            try:
                return code[1].decode()
            except UnicodeDecodeError:
                pass
    raise ApiProblem(422, "invalid-input", "the cursor is not one this API issued")


def page_body(page: Page, items: Callable[[Row], Row] | None = None) -> dict[str, Any]:
    """A page as lists answer it; `items` shapes each row (default: as stored)."""
    shaped: Iterable[Row] = page.rows if items is None else map(items, page.rows)
    return {
        "items": list(shaped),
        "next_cursor": None if page.after is None else encode_cursor(page.after),
    }


class RecordPage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class HistoryEvent(BaseModel):
    version: int
    type: str = Field(examples=["Incident.Assigned"])
    at: str
    actor: ActorOut
    correlation_id: UUID
    data: dict[str, Any]
    changes: dict[str, dict[str, Any]] = Field(
        description='what the event changed in the record: {field: {"from", "to"}}, or'
        ' {field: {"added": [...]}} for a list that grew',
        examples=[
            {
                "state": {"from": "logged", "to": "assigned"},
                "group": {"from": None, "to": "kiosk-team"},
            }
        ],
    )


class Told(BaseModel):
    """A notification about the record: whom, what, and whether it reached them."""

    id: UUID
    topic: str = Field(examples=["incident.resolved"])
    channel: str = Field(examples=["email"])
    recipient: str
    address: str | None = Field(description="where it went (staff only)")
    language: str
    record_version: int = Field(description="the version of the record whose event it tells")
    subject: str
    message_id: str
    mandatory: bool
    state: str = Field(examples=["sent"])
    decided_at: str
    attempts: int
    resends: int = Field(description="attempts that may have repeated a delivery after a crash")
    sent_at: str | None
    answer: str | None = Field(description="the receiving server's answer")
    last_error: str | None
    withdrawn_reason: str | None = Field(
        default=None, description="why a notification due later was not sent after all"
    )


class History(BaseModel):
    record_id: UUID
    as_of: str | None = Field(default=None, description="only events up to this time")
    events: list[HistoryEvent]
    notifications: list[Told] = Field(
        default_factory=list,
        description="who was told what of the record (a caller: only their own)",
    )
