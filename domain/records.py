"""Bookkeeping facts the service records beside the aggregates, in the same transaction.

- Incident numbers: number N is version N of one log, so the store's uniqueness of
  (originator id, version) makes numbers unique even with several API processes, and finding an
  incident by number is one indexed read. A number is written only with the incident it numbers
  (infra/numbers.py says how processes take turns), so the numbers have no gaps.
- Idempotency keys: a key used by an actor is version 1 of an id derived from (actor, key), so a
  concurrent retry collides in the store instead of creating a second record.
"""

from __future__ import annotations

import hashlib
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


def parse_incident_number(text: str) -> int | None:
    prefix, _, digits = text.upper().partition("-")
    if prefix != "INC" or not digits.isdigit() or int(digits) < 1:
        return None
    return int(digits)


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
