"""Bookkeeping facts the service records beside the aggregates, in the same transaction.

- Incident numbers: number N is version N of one log, so the store's uniqueness of
  (originator id, version) makes numbers unique and gap-free even with several API processes,
  and finding an incident by number is one indexed read.
- Idempotency keys: a key used by an actor is version 1 of an id derived from (actor, key), so a
  concurrent retry collides in the store instead of creating a second record.
"""

from __future__ import annotations

import hashlib
import re
from typing import ClassVar
from uuid import UUID, uuid5

import orjson
from pydantic import Field

from domain.events import DomainEvent

_NAMESPACE = UUID("6f0f7c1e-5d0a-4f43-9a37-2b8e0c9d4a61")

INCIDENT_NUMBERS = uuid5(_NAMESPACE, "incident-numbers")


class NumberAllocated(DomainEvent):
    type_name: ClassVar[str] = "IncidentNumber.Allocated"
    record_id: UUID


def incident_number_label(number: int) -> str:
    return f"INC-{number:06d}"


#: The most digits a record number may have: every such number fits the stores' 64-bit integers
#: (SQLite's INTEGER, PostgreSQL's bigint), so a longer one is no number of ours, not an overflow.
NUMBER_DIGITS = 18
_NUMBER = re.compile(rf"[0-9]{{1,{NUMBER_DIGITS}}}")  # ASCII only: int() also reads "١٢"


def parse_record_number(prefix: str, text: str) -> int | None:
    """The number in `PREFIX-000042` (any case), or None if the text is no such number."""
    given, _, digits = text.upper().partition("-")
    if given != prefix or not _NUMBER.fullmatch(digits) or int(digits) < 1:
        return None
    return int(digits)


def parse_incident_number(text: str) -> int | None:
    return parse_record_number("INC", text)


class IdempotencyKeyRecorded(DomainEvent):
    type_name: ClassVar[str] = "IdempotencyKey.Recorded"
    key: str = Field(min_length=1, max_length=255)
    operation: str
    fingerprint: str
    record_id: UUID


def idempotency_id(actor_id: str, key: str) -> UUID:
    return uuid5(_NAMESPACE, f"idempotency\n{actor_id}\n{key}")


def fingerprint(operation: str, target: object, body: object) -> str:
    """A stable digest of a request, to tell a true retry from a reused key."""
    canonical = orjson.dumps([operation, str(target), body], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()
