"""The service desk application: the one place commands meet the event store.

Each method loads what the decision needs, lets the aggregate decide, and saves every resulting
event in one atomic write: the incident's events, the number it was given, and the idempotency key
that asked for it. The store's uniqueness of (aggregate, version) is the concurrency control: a
lost race is retried against the fresh state, or reported as a version conflict when the client
asked for a specific version (If-Match).
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, Recording

from domain.commands import IncidentCommand, LogIncident, Rules
from domain.context import Context
from domain.errors import DomainError, IdempotencyKeyReused, IncidentNotFound, VersionConflict
from domain.events import DomainEvent
from domain.incident import Incident, Logged
from domain.priority import DEFAULT_CELLS, Cells, PriorityMatrix
from domain.records import (
    INCIDENT_NUMBERS,
    IdempotencyKeyRecorded,
    NumberAllocated,
    fingerprint,
    idempotency_id,
    parse_incident_number,
)

#: How often a command is retried after losing a race with a concurrent writer.
MAX_ATTEMPTS = 20
#: Seconds a process may judge new incidents by the matrix it last read (a revision made in
#: this process takes effect at once; one made by another process within this many seconds).
MATRIX_REFRESH = 1.0


class NumberSource(Protocol):
    """Proposes incident numbers that no other process of this service proposes."""

    def claim(self) -> int: ...

    def skip_past(self, number: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command did: which record, at which version, and up to which global position."""

    record_id: UUID
    version: int
    #: The global position of the record's last event written (what its views must reach to show
    #: it: in Kafka mode the record's partition carries it); None when a retry was replayed.
    position: int | None
    replayed: bool = False


class ServiceDesk(Application[UUID]):
    name = "ServiceDesk"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        reopen_window: timedelta,
        numbers: NumberSource,
        cache_size: int = 10_000,
        write_lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        super().__init__(env)
        self.reopen_window = reopen_window
        #: Incidents as last saved or read by this process, most recently used last.
        self.cache_size = cache_size
        self._cache: OrderedDict[UUID, Incident] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._matrix: tuple[float, PriorityMatrix] | None = None
        self._clock = time.monotonic
        self.numbers = numbers
        #: Held around each write to the store; shared with other processes where they exist.
        self.write_lock = write_lock or threading.Lock()
        self._numbers_synced = False
        #: Called after each commit, e.g. to wake the projections that follow the store.
        self.after_commit: Callable[[], None] | None = None

    # -- incidents: commands ----------------------------------------------------------------------

    def log_incident(
        self, ctx: Context, command: LogIncident, *, idempotency_key: str | None = None
    ) -> Outcome:
        key_event = self._idempotency(ctx, idempotency_key, "log_incident", None, command)
        if isinstance(key_event, Outcome):
            return key_event
        matrix = self.priority_matrix()
        for _ in range(MAX_ATTEMPTS):
            incident_id = uuid4()
            number = self._allocate_number()
            incident = Incident.log(
                ctx,
                id=incident_id,
                number=number,
                title=command.title,
                description=command.description,
                service=command.service,
                configuration_item=command.configuration_item,
                caller=command.caller,
                channel=command.channel,
                impact=command.impact,
                urgency=command.urgency,
                matrix=matrix,
            )
            if command.assignment_group:
                incident.assign(ctx, group=command.assignment_group, agent=command.agent)
            allocation = NumberAllocated(
                originator_id=INCIDENT_NUMBERS,
                originator_version=number,
                record_id=incident_id,
                **ctx.stamp(),
            )
            try:
                recordings = self.save(incident, allocation, self._keyed(key_event, incident_id))
            except IntegrityError:
                replay = self._replayed(ctx, idempotency_key, key_event)
                if replay:
                    return replay
                self._resync_numbers()  # another process took the number: look again
                continue
            self._remember(incident)
            return self._outcome(incident_id, incident.version, recordings)
        raise RuntimeError("could not allocate an incident number: too much contention")

    def handle(
        self,
        ctx: Context,
        incident_id: UUID,
        command: IncidentCommand,
        *,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Outcome:
        """Run one lifecycle command against one incident."""
        key_event = self._idempotency(ctx, idempotency_key, command.action, incident_id, command)
        if isinstance(key_event, Outcome):
            return key_event
        rules = Rules(matrix=self.priority_matrix(), reopen_window=self.reopen_window)
        # Decide on the cached state first. The store is the arbiter: a decision on a stale state
        # cannot be saved (its version is taken), and a refusal on a stale state is checked again
        # against the store before it is reported.
        fresh = False
        for _ in range(MAX_ATTEMPTS):
            incident = self._load(incident_id, fresh=fresh)
            try:
                if expected_version is not None and incident.version != expected_version:
                    raise VersionConflict(expected_version, incident.version)
                command.execute(incident, ctx, rules)
            except DomainError:
                if fresh:
                    raise
                fresh = True
                continue
            try:
                recordings = self.save(incident, self._keyed(key_event, incident_id))
            except IntegrityError:
                replay = self._replayed(ctx, idempotency_key, key_event)
                if replay:
                    return replay
                fresh = True  # a concurrent write won: decide again on the stored state
                continue
            self._remember(incident)
            return self._outcome(incident_id, incident.version, recordings)
        raise RuntimeError(f"incident {incident_id} is changing too fast to update")

    # -- incidents: reads -------------------------------------------------------------------------

    def incident(self, incident_id: UUID) -> Incident:
        """An incident's current state, read from the store."""
        return self._load(incident_id, fresh=True)

    def _load(self, incident_id: UUID, *, fresh: bool) -> Incident:
        if not fresh:
            with self._cache_lock:
                cached = self._cache.get(incident_id)
                if cached is not None:
                    self._cache.move_to_end(incident_id)
                    return copy.deepcopy(cached)
        try:
            incident = Incident.project(None, self._stored(incident_id))
        except LookupError:  # the id belongs to another kind of record
            incident = None
        if incident is None:
            raise IncidentNotFound(f"no incident {incident_id}")
        self._remember(incident)
        return copy.deepcopy(incident)

    def _remember(self, incident: Incident) -> None:
        with self._cache_lock:
            self._cache[incident.id] = incident
            self._cache.move_to_end(incident.id)
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def incident_at_version(self, incident_id: UUID, version: int) -> Incident:
        try:
            incident = self.repository.get(
                incident_id, version=version, projector_func=Incident.project
            )
        except (AggregateNotFoundError, LookupError):
            raise IncidentNotFound(f"no incident {incident_id} at version {version}") from None
        assert isinstance(incident, Incident)
        return incident

    def find_incident(self, ref: str) -> UUID:
        """An incident's id from its UUID or its number (INC-000042); existence is not checked."""
        number = parse_incident_number(ref)
        if number is not None:
            allocations = list(self.events.get(INCIDENT_NUMBERS, gt=number - 1, lte=number))
            if not allocations:
                raise IncidentNotFound(f"no incident numbered {ref}")
            allocation = allocations[0]
            assert isinstance(allocation, NumberAllocated)
            return allocation.record_id
        try:
            return UUID(ref)
        except ValueError:
            raise IncidentNotFound(f"{ref!r} is neither an incident id nor a number") from None

    def history(self, incident_id: UUID) -> Sequence[DomainEvent]:
        events = list(self._stored(incident_id))
        if not events or not isinstance(events[0], Logged):
            raise IncidentNotFound(f"no incident {incident_id}")
        return events

    def _stored(self, originator_id: UUID) -> Iterator[DomainEvent]:
        """A record's events as stored (every event this service stores is a DomainEvent)."""
        return self.events.get(originator_id)  # type: ignore[return-value]

    # -- the priority matrix --------------------------------------------------------------------

    def ensure_priority_matrix(self, ctx: Context, cells: Cells = DEFAULT_CELLS) -> None:
        """Define the matrix on first start; a no-op once it exists."""
        try:
            self.priority_matrix()
        except LookupError:
            with contextlib.suppress(IntegrityError):  # another process defined it first
                self.save(PriorityMatrix.define(ctx, cells))

    def priority_matrix(self, version: int | None = None) -> PriorityMatrix:
        """The matrix in force (or at a version). The current one is re-read from the store at
        most every MATRIX_REFRESH seconds; every incident records the version it was judged by."""
        if version is None:
            cached = self._matrix
            if cached is not None and self._clock() - cached[0] < MATRIX_REFRESH:
                return cached[1]
        try:
            matrix = self.repository.get(
                PriorityMatrix.ID, version=version, projector_func=PriorityMatrix.project
            )
        except AggregateNotFoundError:
            raise LookupError("the priority matrix has not been defined") from None
        assert isinstance(matrix, PriorityMatrix)
        if version is None:
            self._matrix = (self._clock(), matrix)
        return matrix

    def revise_priority_matrix(
        self, ctx: Context, cells: Cells, reason: str, *, expected_version: int | None = None
    ) -> Outcome:
        matrix = self.priority_matrix()
        if expected_version is not None and matrix.version != expected_version:
            raise VersionConflict(expected_version, matrix.version)
        matrix.revise(ctx, cells, reason)
        self._matrix = None
        try:
            recordings = self.save(matrix)
        except IntegrityError:
            raise VersionConflict(matrix.version - 1, self.priority_matrix().version) from None
        return self._outcome(matrix.id, matrix.version, recordings)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """Save aggregates' pending events and loose events in one atomic write.

        The library's save() recognises events through a runtime protocol check that costs more
        than the rest of a command; here every event is a DomainEvent, so check that instead.
        """
        batch: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, DomainEvent):
                batch.events.append(obj)
            elif obj is not None:
                batch.events.extend(obj.collect_events())
                batch.aggregates[obj.id] = obj
        with self.write_lock:
            recordings = self._record(batch)
        self._notify(recordings)
        return recordings

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        if self.after_commit is not None:
            self.after_commit()

    # -- helpers ----------------------------------------------------------------------------------

    def _allocate_number(self) -> int:
        """A proposed number; the store arbitrates. A number claimed by a command that then
        fails is not reused, so numbers may have (rare) gaps."""
        if not self._numbers_synced:
            self.numbers.skip_past(self._stored_last_number())
            self._numbers_synced = True
        return self.numbers.claim()

    def _resync_numbers(self) -> None:
        self.numbers.skip_past(self._stored_last_number())

    def _stored_last_number(self) -> int:
        last = list(self.events.get(INCIDENT_NUMBERS, desc=True, limit=1))
        return last[0].originator_version if last else 0

    def _idempotency(
        self, ctx: Context, key: str | None, operation: str, target: UUID | None, command: Any
    ) -> IdempotencyKeyRecorded | Outcome | None:
        """The key event to save with the command, or the earlier outcome if this is a retry."""
        if key is None:
            return None
        digest = fingerprint(operation, target, command.model_dump(mode="json"))
        candidate = IdempotencyKeyRecorded(
            originator_id=idempotency_id(ctx.actor.id, key),
            originator_version=1,
            key=key,
            operation=operation,
            fingerprint=digest,
            record_id=target or UUID(int=0),
            **ctx.stamp(),
        )
        return self._replayed(ctx, key, candidate) or candidate

    def _replayed(
        self, ctx: Context, key: str | None, candidate: IdempotencyKeyRecorded | None
    ) -> Outcome | None:
        if key is None or candidate is None:
            return None
        earlier = list(self.events.get(candidate.originator_id, limit=1))
        if not earlier:
            return None
        recorded = earlier[0]
        assert isinstance(recorded, IdempotencyKeyRecorded)
        if (recorded.operation, recorded.fingerprint) != (
            candidate.operation,
            candidate.fingerprint,
        ):
            raise IdempotencyKeyReused(
                f"Idempotency-Key {key!r} was already used for a different request"
            )
        incident = self.incident(recorded.record_id)
        return Outcome(recorded.record_id, incident.version, position=None, replayed=True)

    @staticmethod
    def _keyed(key_event: IdempotencyKeyRecorded | None, record_id: UUID) -> DomainEvent | None:
        if key_event is None:
            return None
        return key_event.model_copy(update={"record_id": record_id})

    @staticmethod
    def _outcome(record_id: UUID, version: int, recordings: list[Recording[UUID]]) -> Outcome:
        position = max(
            (r.notification.id for r in recordings if r.domain_event.originator_id == record_id),
            default=None,
        )
        return Outcome(record_id, version, position)
