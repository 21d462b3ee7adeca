"""Idempotency keys: a retry answers what the first request did, to whoever still reaches it.

A key is the caller's (domain/records.py `key_id`: the authenticated principal), recorded in the
same write as the command's events, so a concurrent retry collides in the store instead of
creating a second record. A retry answers the outcome the first request had (the version it left
its record at), and only to a caller who still reaches the record; anyone else is answered as if
it did not exist. A key used again for another request is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from uuid import UUID

from application.kinds import Kind
from application.outcome import Outcome
from domain.context import Context
from domain.errors import IdempotencyKeyReused
from domain.records import IdempotencyKeyRecorded, idempotency_id, key_recorded

if TYPE_CHECKING:
    from application.desk import ServiceDesk


class IdempotencyKeys:
    def __init__(self, desk: ServiceDesk, reaches: Callable[[Context, UUID], bool]) -> None:
        self.desk = desk
        self._reaches = reaches

    def check(
        self,
        ctx: Context,
        key: str | None,
        operation: str,
        target: UUID | None,
        command: Any,
        kind: Kind,
    ) -> IdempotencyKeyRecorded | Outcome | None:
        """The key event to save with the command; the earlier outcome if this is a retry; None
        without a key."""
        if key is None:
            return None
        candidate = key_recorded(ctx, key, operation, target, command.model_dump(mode="json"))
        return self.replayed(ctx, key, candidate, kind) or candidate

    def replayed(
        self,
        ctx: Context,
        key: str | None,
        candidate: IdempotencyKeyRecorded | None,
        kind: Kind,
    ) -> Outcome | None:
        """If the caller used `key` (as sent; `candidate` records its digest) before, the
        outcome of that first request: its record at the version the request left it. A record
        the caller no longer reaches is answered as missing, and a key used for another request
        is refused (IdempotencyKeyReused); None if the key is new."""
        if key is None or candidate is None:
            return None
        recorded = self._recorded(candidate.originator_id)
        if recorded is None and ctx.scope is not None:
            recorded = self._recorded_before_scoping(ctx, key)
        if recorded is None:
            return None
        if not self._reaches(ctx, recorded.record_id):
            target = candidate.record_id if candidate.record_id.int else None
            if target is None:
                raise kind.missing(f"for Idempotency-Key {key!r}")
            raise kind.missing(target, target)
        if (recorded.operation, recorded.fingerprint) != (
            candidate.operation,
            candidate.fingerprint,
        ):
            raise IdempotencyKeyReused(
                f"Idempotency-Key {key!r} was already used for a different request"
            )
        version = self._version_left_by(recorded)
        return Outcome(recorded.record_id, version, position=None, replayed=True)

    def _recorded(self, key_id: UUID) -> IdempotencyKeyRecorded | None:
        earlier = list(self.desk.events.get(key_id, limit=1))
        if not earlier:
            return None
        recorded = earlier[0]
        assert isinstance(recorded, IdempotencyKeyRecorded)
        return recorded

    def _recorded_before_scoping(self, ctx: Context, key: str) -> IdempotencyKeyRecorded | None:
        """A key recorded before keys were scoped to the principal (under the actor's id alone),
        if it is this caller's: recorded by the same actor and role, for a record the caller
        reaches. Another organisation's use of the actor name never made the caller's record,
        so the key is new to the caller."""
        recorded = self._recorded(idempotency_id(ctx.actor.id, key))
        if (
            recorded is None
            or recorded.actor != ctx.actor
            or not self._reaches(ctx, recorded.record_id)
        ):
            return None
        return recorded

    def _version_left_by(self, recorded: IdempotencyKeyRecorded) -> int:
        """The version the keyed request left its record at: that of the record's last event
        written by the request (each carries the request's time and correlation id, as the key
        event does), or the record's last version if none is (a command that changed only other
        records)."""
        written = last = 0
        for event in self.desk.events.get(recorded.record_id):
            last = event.originator_version
            if (event.timestamp, event.correlation_id) == (  # type: ignore[attr-defined]
                recorded.timestamp,
                recorded.correlation_id,
            ):
                written = last
        return written or last


def keyed(key_event: IdempotencyKeyRecorded | None, record_id: UUID) -> list[Any]:
    """The key event to save, naming the record the command answered with (none without a key)."""
    if key_event is None:
        return []
    return [key_event.model_copy(update={"record_id": record_id})]
