"""The application path for configuration items, changes, service requests and problems.

Incidents have their group-committed path (domain/service_desk.py). These records are written
far less often, so each command runs on its own, with the same guarantees:

- every record a decision needs is read fresh from the store (a `Session`), and every event the
  decision records, on any record (both sides of a link, the change schedule, a number
  allocation, the idempotency key), is saved in one atomic write;
- the store's uniqueness of (record, version) is the concurrency control: a write that loses a
  race is decided again on the fresh state, unless the client named the version it expects
  (If-Match), which then gets a version conflict;
- an Idempotency-Key is the caller's (domain/records.py `key_id`): a retry returns the first
  outcome (the record as the first request left it), to a caller who still reaches the record
  (anyone else is answered as if it did not exist), and a reused key with another request is
  refused;
- a number is allocated in the command's own write (the last stored plus one), so a refused
  command allocates none and the numbers have no gaps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from pydantic import BaseModel

from domain.aggregate import Aggregate
from domain.change import Change, ChangeTemplate
from domain.change_schedule import ChangeSchedule
from domain.configuration_item import ConfigurationItem
from domain.context import Context
from domain.errors import NotFound, RecordNotFound, VersionConflict
from domain.events import DomainEvent
from domain.incident import Incident
from domain.problem import Problem
from domain.record_numbers import (
    RecordKind,
    RecordNumberAllocated,
    number_label,
    number_log,
    parse_number,
)
from domain.records import IdempotencyKeyRecorded, key_recorded
from domain.service_desk import MAX_ATTEMPTS, Outcome, ServiceDesk
from domain.service_request import CatalogueItem, ServiceRequest

A = TypeVar("A", bound=Aggregate)

#: Every kind of record a command of this desk may answer with, to find one by id alone.
RECORD_KINDS: tuple[type[Aggregate], ...] = (
    Change,
    ChangeTemplate,
    ChangeSchedule,
    ConfigurationItem,
    Problem,
    ServiceRequest,
    CatalogueItem,
    Incident,
)


class Session:
    """The records one command reads and changes, all from the store as it is now."""

    def __init__(self, desk: ServiceDesk, ctx: Context | None) -> None:
        self.desk = desk
        self._ctx = ctx
        self._records: dict[UUID, Aggregate] = {}
        self._loose: list[DomainEvent] = []
        self._numbers: dict[RecordKind, int] = {}

    def find(self, cls: type[A], record_id: UUID) -> A | None:
        """The record, or None if nothing of this kind is stored under that id."""
        known = self._records.get(record_id)
        if known is not None:
            return known if isinstance(known, cls) else None
        events = list(self.desk.events.get(record_id))
        if not events:
            return None
        try:
            record = cls.project(None, events)  # type: ignore[arg-type]
        except LookupError:  # the id belongs to another kind of record
            return None
        if record is None:
            return None
        self._records[record_id] = record
        return record

    def get(self, cls: type[A], record_id: UUID, ref: object = None) -> A:
        record = self.find(cls, record_id)
        # A record out of the caller's reach is answered as one that does not exist: its
        # existence is not the caller's to learn (docs/security.md, "Organisations").
        if record is None or (self._ctx is not None and not record.reachable(self._ctx)):
            kind = getattr(cls, "KIND", cls.__name__)
            raise RecordNotFound(f"no {kind} {ref if ref is not None else record_id}", record_id)
        return record

    def find_any(self, record_id: UUID) -> Aggregate | None:
        """The record of whichever kind is stored under that id (the kind whose aggregate
        applies its first event), or None."""
        known = self._records.get(record_id)
        if known is not None:
            return known
        first = list(self.desk.events.get(record_id, limit=1))
        if not first:
            return None
        for cls in RECORD_KINDS:
            if type(first[0]) in cls._appliers:
                return self.find(cls, record_id)
        return None

    def get_or_new(self, cls: type[A], record_id: UUID) -> A:
        """A record that exists from its first event on, such as the change schedule."""
        record = self.find(cls, record_id)
        if record is None:
            record = cls(record_id)
            self._records[record_id] = record
        return record

    def find_numbered(self, kind: RecordKind, ref: str) -> UUID:
        """A record's id from its id or number (CHG-000042); see RecordsDesk.find_numbered."""
        return RecordsDesk(self.desk).find_numbered(kind, ref)

    def add(self, record: Aggregate) -> None:
        self._records[record.id] = record

    def allocate(self, kind: RecordKind, record_id: UUID) -> int:
        """The next number of a kind, for a record this command creates."""
        assert self._ctx is not None, "a read-only session allocates nothing"
        number = self._numbers.get(kind)
        if number is None:
            last = list(self.desk.events.get(number_log(kind), desc=True, limit=1))
            number = last[0].originator_version if last else 0
        number += 1
        self._numbers[kind] = number
        self._loose.append(
            RecordNumberAllocated(
                originator_id=number_log(kind),
                originator_version=number,
                kind=kind,
                record_id=record_id,
                label=number_label(kind, number),
                **self._ctx.stamp(),
            )
        )
        return number

    def incidents(self) -> list[UUID]:
        return [i for i, record in self._records.items() if isinstance(record, Incident)]

    def version_of(self, record_id: UUID) -> int:
        return self._records[record_id].version

    def events(self) -> list[DomainEvent]:
        pending: list[DomainEvent] = []
        for record in self._records.values():
            pending.extend(record.collect_events())
        return [*pending, *self._loose]


#: A decision: reads and changes records through the session; returns the id of the record the
#: command is about (its answer).
Decision = Callable[[Session], UUID]


class RecordsDesk:
    """Runs commands on configuration items, changes, service requests and problems."""

    def __init__(self, desk: ServiceDesk) -> None:
        self.desk = desk

    def run(
        self,
        ctx: Context,
        operation: str,
        command: BaseModel,
        decide: Decision,
        *,
        target: UUID | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Outcome:
        key_event = self._idempotency(ctx, idempotency_key, operation, target, command)
        if isinstance(key_event, Outcome):
            return key_event
        for _ in range(MAX_ATTEMPTS):
            session = Session(self.desk, ctx)
            if target is not None and expected_version is not None:
                # checked before deciding; a write in between makes the save collide, and the
                # next attempt then finds the new version here
                actual = self._version(target)
                if actual != expected_version:
                    raise VersionConflict(expected_version, actual)
            record_id = decide(session)
            events = session.events()
            if key_event is not None:
                events.append(key_event.model_copy(update={"record_id": record_id}))
            try:
                recordings = self.desk.save(*events)
            except IntegrityError:
                replay = self._replayed(ctx, idempotency_key, key_event)
                if replay is not None:
                    return replay
                continue  # a concurrent write won: decide again on the stored state
            # incidents this command linked changed beside the group commit's cache
            self.desk._forget(session.incidents())
            return ServiceDesk._outcome(record_id, session.version_of(record_id), recordings)
        raise RuntimeError(f"{operation}: the records are changing too fast to update")

    # -- reads --------------------------------------------------------------------------------

    def read(self, cls: type[A], record_id: UUID, ref: object = None) -> A:
        return Session(self.desk, None).get(cls, record_id, ref)

    def _version(self, record_id: UUID) -> int:
        last = list(self.desk.events.get(record_id, desc=True, limit=1))
        return last[0].originator_version if last else 0

    def find_numbered(self, kind: RecordKind, ref: str) -> UUID:
        """A record's id from its UUID or its number (CHG-000042); existence is not checked."""
        number = parse_number(kind, ref)
        if number is not None:
            found = list(self.desk.events.get(number_log(kind), gt=number - 1, lte=number))
            if not found:
                raise RecordNotFound(f"no record numbered {ref}")
            allocation = found[0]
            assert isinstance(allocation, RecordNumberAllocated)
            return allocation.record_id
        try:
            return UUID(ref)
        except ValueError:
            raise RecordNotFound(f"{ref!r} is neither an id nor a {kind.value} number") from None

    def history(self, record_id: UUID, first_type: type[DomainEvent]) -> list[DomainEvent]:
        """A record's events in order; refused unless its first event is of `first_type`."""
        events: list[DomainEvent] = list(self.desk.events.get(record_id))  # type: ignore[arg-type]
        if not events or not isinstance(events[0], first_type):
            raise RecordNotFound(f"no such record {record_id}")
        return events

    # -- idempotency --------------------------------------------------------------------------

    def _idempotency(
        self, ctx: Context, key: str | None, operation: str, target: UUID | None, command: Any
    ) -> IdempotencyKeyRecorded | Outcome | None:
        if key is None:
            return None
        candidate = key_recorded(ctx, key, operation, target, command.model_dump(mode="json"))
        return self._replayed(ctx, key, candidate) or candidate

    def _replayed(
        self, ctx: Context, key: str | None, candidate: IdempotencyKeyRecorded | None
    ) -> Outcome | None:
        if key is None or candidate is None:
            return None
        target = candidate.record_id if candidate.record_id.int else None

        def missing() -> NotFound:
            if target is None:
                return RecordNotFound(f"no record for Idempotency-Key {key!r}")
            return RecordNotFound(f"no record {target}", target)

        return self.desk.replay(
            ctx, key, candidate, lambda found: self._reaches(ctx, found), missing
        )

    def _reaches(self, ctx: Context, record_id: UUID) -> bool:
        record = Session(self.desk, None).find_any(record_id)
        return record is not None and record.reachable(ctx)
