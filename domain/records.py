"""Bookkeeping facts the service records beside the aggregates, in the same transaction.

- Incident numbers: number N is version N of one log, so the store's uniqueness of
  (originator id, version) makes numbers unique even with several API processes, and finding an
  incident by number is one indexed read. A number is written only with the incident it numbers
  (infra/numbers.py says how processes take turns), so the numbers have no gaps.
- Idempotency keys: a key is its owner's, and is version 1 of an id derived from (owner, key), so
  a concurrent retry collides in the store instead of creating a second record. The owner is the
  authenticated principal (`key_id`); the event keeps its stored type and fields, and the key
  and operation it records say what the key was used for. The key is recorded as a digest
  (`key_digest`: SHA-256 of the scoped key), never as the client sent it: a retry finds its key
  by the id derived from the key it sends, so nothing needs the raw key back, and a client's
  key (which may hold anything) is not kept for ever in the store and its exports. (Keys
  recorded before this are raw; they stay as they are, and still replay.) The record's version
  that the keyed request left is that of its last event with the key event's time and
  correlation id (one command's events all carry its context), so a retry can answer the first
  answer.
"""

from __future__ import annotations

import hashlib
import re
from typing import ClassVar
from uuid import UUID, uuid5

import orjson
from pydantic import Field

from domain.context import Context
from domain.events import DomainEvent

_NAMESPACE = UUID("6f0f7c1e-5d0a-4f43-9a37-2b8e0c9d4a61")

INCIDENT_NUMBERS = uuid5(_NAMESPACE, "incident-numbers")
#: The prefix of incident numbers, and the kind a session allocates them by.
INCIDENT_PREFIX = "INC"


class NumberAllocated(DomainEvent):
    type_name: ClassVar[str] = "IncidentNumber.Allocated"
    record_id: UUID


def incident_number_label(number: int) -> str:
    return f"{INCIDENT_PREFIX}-{number:06d}"


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
    return parse_record_number(INCIDENT_PREFIX, text)


class IdempotencyKeyRecorded(DomainEvent):
    type_name: ClassVar[str] = "IdempotencyKey.Recorded"
    key: str = Field(min_length=1, max_length=255)  # `key_digest` (before: the key as sent)
    operation: str
    fingerprint: str
    record_id: UUID


def idempotency_id(actor_id: str, key: str) -> UUID:
    """The id of a key owned by an actor id alone: every key recorded before keys were scoped
    to the principal, and the keys of the service's own processes (`key_id`)."""
    return uuid5(_NAMESPACE, _owned_by_actor(actor_id, key))


def _owned_by_actor(actor_id: str, key: str) -> str:
    return f"idempotency\n{actor_id}\n{key}"


def key_id(ctx: Context, key: str) -> UUID:
    """The id a command's Idempotency-Key is recorded under: the key of the caller as
    authenticated (actor id, role, organisation and whether they were granted every
    organisation, as the token or single sign-on says), so that one actor name in two
    organisations, or with two roles, never shares a key. The service's own processes (no scope:
    the SLA watcher, circulation rules, the CLI) own their keys by actor id, as every key was
    owned before keys were scoped, so their stored keys still hold. The two derivations start
    with different words, so their ids never meet."""
    return uuid5(_NAMESPACE, _scoped(ctx, key))


def key_digest(ctx: Context, key: str) -> str:
    """What a key event records of the key: SHA-256 of the scoped key (as `key_id` derives the
    id from), so equal keys of one owner have equal digests and nothing else can be read."""
    return "sha256:" + hashlib.sha256(_scoped(ctx, key).encode()).hexdigest()


def _scoped(ctx: Context, key: str) -> str:
    scope = ctx.scope
    if scope is None:
        return _owned_by_actor(ctx.actor.id, key)
    actor = scope.actor
    granted = "all-organisations" if scope.all_organisations else "own-organisation"
    return (
        f"idempotency-of-principal\n{actor.id}\n{actor.role.value}\n{scope.home}\n{granted}\n{key}"
    )


def key_recorded(
    ctx: Context, key: str, operation: str, target: UUID | None, body: object
) -> IdempotencyKeyRecorded:
    """The key event a command saves with its events (its record id set once it is known)."""
    return IdempotencyKeyRecorded(
        originator_id=key_id(ctx, key),
        originator_version=1,
        key=key_digest(ctx, key),
        operation=operation,
        fingerprint=fingerprint(operation, target, body),
        record_id=target or UUID(int=0),
        **ctx.stamp(),
    )


def fingerprint(operation: str, target: object, body: object) -> str:
    """A stable digest of a request, to tell a true retry from a reused key."""
    canonical = orjson.dumps([operation, str(target), body], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()
