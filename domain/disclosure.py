"""Disclosures: each time the service hands out what it holds in bulk, or a sensitive record, it
records who took what, when, by which route and with which question (ISO/IEC 20000-1 7.5.3:
distribution, access, retrieval and use controlled; UU PDP for people's personal data).

A disclosure is a record of one event, `Disclosure.Recorded`, written before the answer leaves;
being in the store, it is chained and signed by the audit ledger like every other fact, so the
record of who read what cannot be altered without detection. The access log (`itsm.access`)
still has one line per request; this is the record auditors rely on.

What is recorded:

- exports: an evidence pack (with the SHA-256 of the zip handed out), the history as NDJSON,
  a service report, an issued report's document, the management review's inputs;
- reads of a sensitive record (`SENSITIVE_KINDS`): a person's record in the directory (their
  name, e-mail and phone), an inbound e-mail (a caller's words and address).

Auditors read them with the history: `GET /api/v1/audit/events?type=Disclosure.Recorded`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import Field

from domain.aggregate import Aggregate, applies
from domain.command_base import Command
from domain.context import Context
from domain.events import DomainEvent
from domain.session import Session


class DisclosureKind(StrEnum):
    EVIDENCE_PACK = "evidence-pack"
    HISTORY = "history"
    REPORT = "report"
    ISSUED_REPORT = "issued-report"
    MANAGEMENT_REVIEW = "management-review"
    SENSITIVE_RECORD = "sensitive-record"


#: The kinds whose every read by id is a disclosure, and why they are sensitive.
SENSITIVE_KINDS: dict[str, str] = {
    "person": "a person's name, e-mail address and phone number (personal data, UU PDP)",
    "inbound_mail": "a caller's own words and e-mail address",
}

Route = Field(min_length=1, max_length=200, description="the route template, e.g. /audit/export")
Query = Field(default=None, max_length=2_000, description="the question asked (query string)")
What = Field(default=None, min_length=1, max_length=200, description="the record or report")
Sha256 = Field(default=None, pattern=r"^[0-9a-f]{64}$", description="of what was handed out")


class Recorded(DomainEvent):
    type_name: ClassVar[str] = "Disclosure.Recorded"
    kind: DisclosureKind
    route: str = Route
    query: str | None = Query
    record: str | None = What
    sha256: str | None = Sha256


class Disclosure(Aggregate, events=Recorded):
    KIND: ClassVar[str] = "disclosure"

    @classmethod
    def record(cls, ctx: Context, id: UUID, **fields: object) -> Disclosure:
        return cls._begin(ctx, id, Recorded, **fields)

    @applies(Recorded)
    def _recorded(self, e: Recorded) -> None:
        pass  # nothing to decide: a disclosure is a fact of one event


class RecordDisclosure(Command):
    """Made by the routes that disclose, never a route's body."""

    kind: DisclosureKind
    route: str = Route
    query: str | None = Query
    record: str | None = What
    sha256: str | None = Sha256

    def decide(self, session: Session, ctx: Context) -> UUID:
        disclosure = Disclosure.record(ctx, session.new_id(), **self.model_dump())
        session.add(disclosure)
        return disclosure.id
