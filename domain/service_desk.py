"""The service desk application: the one place commands meet the event store.

Each method loads what the decision needs, lets the aggregate decide, and saves every resulting
event in one atomic write: the incident's events, the number it was given, and the idempotency key
that asked for it. The store's uniqueness of (aggregate, version) is the concurrency control: a
lost race is retried against the fresh state, or reported as a version conflict when the client
asked for a specific version (If-Match).

Numbers: a new incident takes the next number (the last stored plus one) while the command holds
the number lock and the write lock, and keeps it only if it is written in that hold; so a refused
command takes no number and the numbers have no gaps (infra/numbers.py).

Idempotency keys are the caller's (domain/records.py `key_id`). A retry answers the outcome the
first request had (the version it left the record at), and only to a caller who still reaches
the record; anyone else is answered as if it did not exist.

`execute_batch` is the group commit: it decides many commands in turn, each on the state the
earlier ones left, and saves all their events in one atomic write (one fsync). A refused command
writes nothing and holds up no other; a batch the store refuses as a whole is run again one
command at a time, so every guarantee of the single-command path holds for a batch too.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, Recording

from domain.calendar import (
    LIBRARY_HOURS,
    OFFICE_HOURS,
    ROUND_THE_CLOCK,
    BusinessCalendar,
    HolidayYear,
    Hours,
    calendar_id,
    shipped_holidays,
)
from domain.commands import IncidentCommand, LogIncident, Rules
from domain.context import Context
from domain.errors import (
    CalendarNotFound,
    DomainError,
    IdempotencyKeyReused,
    IncidentNotFound,
    NotFound,
    RuleVersionNotFound,
    VersionConflict,
)
from domain.events import DomainEvent
from domain.incident import Incident, Logged
from domain.priority import DEFAULT_CELLS, Cells, PriorityMatrix
from domain.records import (
    INCIDENT_NUMBERS,
    IdempotencyKeyRecorded,
    NumberAllocated,
    idempotency_id,
    key_recorded,
    parse_incident_number,
)
from domain.rule_versions import RuleVersion, RuleVersions
from domain.sla import DEFAULT_TERMS, LIBRARY, OFFICE, PolicyTerms, SlaPolicy
from domain.sla import ROUND_THE_CLOCK as ROUND_THE_CLOCK_CALENDAR
from domain.sla_clock import TicketClock
from domain.sla_incident import ticket as incident_ticket
from domain.sla_rules import RuleBook
from domain.sla_rules import Rules as SlaRules

#: How often a command is retried after losing a race with a concurrent writer.
MAX_ATTEMPTS = 20
#: Seconds a process may judge new incidents by the matrix it last read (a revision made in
#: this process takes effect at once; one made by another process within this many seconds).
MATRIX_REFRESH = 1.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command did: which record, at which version, and up to which global position."""

    record_id: UUID
    version: int
    #: The global position of the record's last event written (what its views must reach to show
    #: it: in Kafka mode the record's partition carries it); None when a retry was replayed.
    position: int | None
    #: A retry of an earlier request: nothing was written, and `version` is the one the first
    #: request left the record at (its answer is the record as it then stood).
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Submission:
    """One command waiting for the group commit: who asks what, of which incident."""

    ctx: Context
    command: LogIncident | IncidentCommand
    incident: str | None = None  # the incident an action is for, by id or number; None to log
    expected_version: int | None = None  # If-Match
    idempotency_key: str | None = None


@dataclass
class _Batch:
    """What a batch has decided so far: the incidents as its commands left them, and the events
    to save, with the slice of them that belongs to each command."""

    incidents: dict[UUID, Incident] = field(default_factory=dict)
    events: list[DomainEvent] = field(default_factory=list)
    #: command index -> (incident id, its version after the command, slice of `events`)
    owners: dict[int, tuple[UUID, int, slice]] = field(default_factory=dict)
    keys: set[UUID] = field(default_factory=set)  # idempotency key ids already in the batch
    #: The last incident number taken: the last stored, then one more for each log decided.
    last_number: int = 0

    def add(self, i: int, incident: Incident, events: list[DomainEvent | None]) -> None:
        start = len(self.events)
        self.events.extend(e for e in events if e is not None)
        self.incidents[incident.id] = incident
        self.owners[i] = (incident.id, incident.version, slice(start, len(self.events)))


class _RunAlone(Exception):
    """A command that cannot share this batch; it runs on its own after the batch's write."""


class ServiceDesk(Application[UUID]):
    name = "ServiceDesk"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        reopen_window: timedelta,
        cache_size: int = 10_000,
        write_lock: AbstractContextManager[Any] | None = None,
        number_lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        super().__init__(env)
        self.reopen_window = reopen_window
        #: Incidents as last saved or read by this process, most recently used last.
        self.cache_size = cache_size
        self._cache: OrderedDict[UUID, Incident] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._matrix: tuple[float, PriorityMatrix] | None = None
        #: service -> (read at, the SLA rules new tickets for it are judged by)
        self._sla_rules: dict[str, tuple[float, RuleVersions | None]] = {}
        #: Resolves the (id, version) a ticket recorded; versions never change, so it caches.
        self.rulebook = RuleBook(self._rule_version)
        self._clock = time.monotonic
        #: Held around each write to the store; shared with other processes where they exist.
        self.write_lock = write_lock or threading.Lock()
        #: Held (before the write lock) while new incidents take numbers and are written, where
        #: the write lock does not keep other processes out (infra/numbers.py); else nothing.
        self.number_lock = number_lock or contextlib.nullcontext()
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
            with self._numbering() as last_number:
                incident, allocation = self._new_incident(ctx, command, matrix, last_number + 1)
                events = [*incident.collect_events(), allocation]
                keyed = self._keyed(key_event, incident.id)
                try:
                    recordings = self._write([*events, *([keyed] if keyed else [])], locked=True)
                except IntegrityError:  # a retry won the key, or a writer without the lock
                    recordings = None  # took the number (the importer): look again
            if recordings is None:
                replay = self._replayed(ctx, idempotency_key, key_event)
                if replay:
                    return replay
                continue
            self._notify(recordings)
            self._remember(incident)
            return self._outcome(incident.id, incident.version, recordings)
        raise RuntimeError("could not allocate an incident number: too much contention")

    def _new_incident(
        self, ctx: Context, command: LogIncident, matrix: PriorityMatrix, number: int
    ) -> tuple[Incident, NumberAllocated]:
        """A new incident numbered `number`, decided but not saved, and the allocation of its
        number. Called while the numbers are held (`_numbering`)."""
        incident = Incident.log(
            ctx,
            id=uuid4(),
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
            sla=self.sla_rules_for(command.service),
            organisation=ctx.organisation_for(command.organisation),
        )
        if command.assignment_group:
            incident.assign(ctx, group=command.assignment_group, agent=command.agent)
        allocation = NumberAllocated(
            originator_id=INCIDENT_NUMBERS,
            originator_version=number,
            record_id=incident.id,
            **ctx.stamp(),
        )
        return incident, allocation

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
        rules = self._rules()
        # Decide on the cached state first. The store is the arbiter: a decision on a stale state
        # cannot be saved (its version is taken), and a refusal on a stale state is checked again
        # against the store before it is reported.
        fresh = False
        for _ in range(MAX_ATTEMPTS):
            incident = self._load(incident_id, fresh=fresh)
            try:
                self._decide(incident, ctx, command, rules, expected_version)
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

    def _rules(self) -> Rules:
        return Rules(
            matrix=self.priority_matrix(),
            reopen_window=self.reopen_window,
            find_incident=self._find_stored,
        )

    def _find_stored(self, incident_id: UUID) -> Incident | None:
        """An incident as last stored (existence and organisation never change), or None."""
        try:
            return self._load(incident_id, fresh=False)
        except IncidentNotFound:
            return None

    @staticmethod
    def _decide(
        incident: Incident,
        ctx: Context,
        command: IncidentCommand,
        rules: Rules,
        expected_version: int | None,
    ) -> None:
        if not incident.reachable(ctx):  # answered as if it did not exist (docs/security.md)
            raise IncidentNotFound(f"no incident {incident.number}")
        if expected_version is not None and incident.version != expected_version:
            raise VersionConflict(expected_version, incident.version)
        command.execute(incident, ctx, rules)

    # -- the group commit -------------------------------------------------------------------------

    def execute_batch(self, submissions: Sequence[Submission]) -> list[Outcome | Exception]:
        """Run commands as one group commit; for each, its outcome or the error that refused it.

        Each command is decided on the state the earlier ones in the batch left, and the events
        of all that were accepted are saved in one atomic write. A command that is refused, or
        that cannot share the batch (its idempotency key is already in it), is run again on its
        own after the write, exactly as `log_incident` or `handle` would run it: so a refusal is
        always confirmed against the store, and a retry finds the outcome the first one recorded.
        If the store refuses the whole write (another process wrote first), nothing of it is
        stored, and every command is run on its own.

        Unlike a single command's write, the batch's write does not call `after_commit`: whoever
        batches folds the batch into the projections itself (see api/writer.py), so waking the
        projection thread as well would only have it contend for the views.
        """
        results: dict[int, Outcome | Exception] = {}
        alone: list[int] = []
        rules = self._rules()
        # A batch that logs incidents holds the numbers while it decides and writes, so that
        # its logs take the numbers after the last stored, and only those it writes.
        numbering = any(isinstance(s.command, LogIncident) for s in submissions)
        with self._numbering() if numbering else contextlib.nullcontext(0) as last_number:
            batch = _Batch(last_number=last_number)
            for i, submission in enumerate(submissions):
                try:
                    replay = self._decide_in_batch(batch, i, submission, rules)
                except (DomainError, _RunAlone):
                    alone.append(i)
                except Exception as error:  # e.g. the store does not answer: this one fails
                    results[i] = error
                else:
                    if replay is not None:
                        results[i] = replay
            if batch.events:
                try:
                    recordings = self._write(batch.events, locked=numbering)
                except IntegrityError:  # a state the batch decided on was stale: read again
                    self._forget(batch.incidents)
                    alone = sorted({*alone, *batch.owners})
                except Exception as error:
                    results.update(dict.fromkeys(batch.owners, error))
                else:
                    for incident in batch.incidents.values():
                        self._remember(incident)
                    for i, (record_id, version, events) in batch.owners.items():
                        results[i] = self._outcome(record_id, version, recordings[events])
        for i in alone:
            results[i] = self._alone(submissions[i])
        return [results[i] for i in range(len(submissions))]

    def _decide_in_batch(
        self, batch: _Batch, i: int, submission: Submission, rules: Rules
    ) -> Outcome | None:
        """Decide one command into the batch (None), or find the outcome of the request it
        retries. Raises the refusal, or _RunAlone."""
        ctx, command = submission.ctx, submission.command
        target = None if submission.incident is None else self.find_incident(submission.incident)
        operation = "log_incident" if isinstance(command, LogIncident) else command.action
        key = submission.idempotency_key
        key_event = self._idempotency(ctx, key, operation, target, command)
        if isinstance(key_event, Outcome):
            return key_event
        if key_event is not None and key_event.originator_id in batch.keys:
            raise _RunAlone  # a retry of a command in this batch: it finds that one's outcome
        if isinstance(command, LogIncident):
            number = batch.last_number + 1
            incident, allocation = self._new_incident(ctx, command, rules.matrix, number)
            events = [*incident.collect_events(), allocation]
            batch.last_number = number  # taken: nothing below refuses
        else:
            assert target is not None, "an incident command names its incident"
            earlier = batch.incidents.get(target)
            # A copy either way, so that a refusal leaves the batch's state as it was.
            incident = copy.deepcopy(earlier) if earlier else self._load(target, fresh=False)
            self._decide(incident, ctx, command, rules, submission.expected_version)
            events = list(incident.collect_events())
        batch.add(i, incident, [*events, self._keyed(key_event, incident.id)])
        if key_event is not None:
            batch.keys.add(key_event.originator_id)
        return None

    def _alone(self, submission: Submission) -> Outcome | Exception:
        """Run one command on its own, as the single-command methods do."""
        ctx, command, key = submission.ctx, submission.command, submission.idempotency_key
        try:
            if isinstance(command, LogIncident):
                return self.log_incident(ctx, command, idempotency_key=key)
            assert submission.incident is not None, "an incident command names its incident"
            return self.handle(
                ctx,
                self.find_incident(submission.incident),
                command,
                expected_version=submission.expected_version,
                idempotency_key=key,
            )
        except Exception as error:
            return error

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

    def _forget(self, incident_ids: Iterable[UUID]) -> None:
        with self._cache_lock:
            for incident_id in incident_ids:
                self._cache.pop(incident_id, None)

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

    # -- SLA rules: the policy and the business calendars (docs/sla.md) ----------------------------

    def ensure_sla_rules(self, ctx: Context) -> None:
        """Define the shipped calendars and the default policy on first start; no-ops after."""
        calendars = {
            OFFICE: (OFFICE_HOURS, shipped_holidays()),
            ROUND_THE_CLOCK_CALENDAR: (ROUND_THE_CLOCK, {}),
            LIBRARY: (LIBRARY_HOURS, shipped_holidays()),
        }
        for name, (hours, years) in calendars.items():
            if not self._exists(calendar_id(name)):
                with contextlib.suppress(IntegrityError):  # another process defined it first
                    self.save(
                        BusinessCalendar.define(
                            ctx, name=name, time_zone="Asia/Jakarta", hours=hours, years=years
                        )
                    )
        if not self._exists(SlaPolicy.ID):
            with contextlib.suppress(IntegrityError):
                self.save(SlaPolicy.define(ctx, DEFAULT_TERMS))

    def _exists(self, aggregate_id: UUID) -> bool:
        return bool(list(self.events.get(aggregate_id, limit=1)))

    def sla_policy(self, version: int | None = None) -> SlaPolicy:
        """The SLA policy in force, or at a version."""
        policy = self._get(SlaPolicy.ID, version, SlaPolicy.project)
        if policy is None:
            raise RuleVersionNotFound(f"no SLA policy version {version or 'in force'}")
        assert isinstance(policy, SlaPolicy)
        return policy

    def business_calendar(self, name: str, version: int | None = None) -> BusinessCalendar:
        calendar = self._get(calendar_id(name), version, BusinessCalendar.project)
        if calendar is None:
            if version is not None and self._exists(calendar_id(name)):
                raise RuleVersionNotFound(f"no version {version} of the calendar {name!r}")
            raise CalendarNotFound(f"no business calendar {name!r}")
        assert isinstance(calendar, BusinessCalendar)
        return calendar

    def calendar_names(self) -> list[str]:
        """The calendars the policy in force names, and the shipped ones."""
        names = {OFFICE, ROUND_THE_CLOCK_CALENDAR, LIBRARY, *self.sla_policy().terms.calendars()}
        return sorted(n for n in names if self._exists(calendar_id(n)))

    def _get(self, aggregate_id: UUID, version: int | None, project: Any) -> Any:
        try:
            return self.repository.get(aggregate_id, version=version, projector_func=project)
        except AggregateNotFoundError:
            return None

    def _rule_version(self, aggregate_id: UUID, version: int) -> object:
        """A policy or calendar at a version, for the rule book (LookupError if there is none)."""
        project = SlaPolicy.project if aggregate_id == SlaPolicy.ID else BusinessCalendar.project
        found = self._get(aggregate_id, version, project)
        if found is None or found.version != version:
            raise RuleVersionNotFound(f"no version {version} of the rules {aggregate_id}")
        return found

    def sla_rules_for(self, service: str) -> RuleVersions | None:
        """The policy and calendar versions a ticket for `service` logged now is judged by (re-read
        at most every MATRIX_REFRESH seconds; a change made in this process applies at once).
        None only before the policy is defined."""
        cached = self._sla_rules.get(service)
        if cached is not None and self._clock() - cached[0] < MATRIX_REFRESH:
            return cached[1]
        try:
            policy = self.sla_policy()
            name = policy.terms.calendar_for(service)
            calendar = self.business_calendar(name)
        except (RuleVersionNotFound, CalendarNotFound):
            rules = None
        else:
            rules = RuleVersions(
                policy=RuleVersion(id=policy.id, version=policy.version),
                calendar=RuleVersion(id=calendar.id, version=calendar.version),
                calendar_name=name,
            )
        self._sla_rules[service] = (self._clock(), rules)
        return rules

    def revise_sla_policy(
        self, ctx: Context, terms: PolicyTerms, reason: str, *, expected_version: int | None = None
    ) -> Outcome:
        policy = self.sla_policy()
        missing = [n for n in terms.calendars() if not self._exists(calendar_id(n))]
        if missing:
            raise CalendarNotFound(f"the policy names calendars that do not exist: {missing}")
        return self._revise(policy, expected_version, lambda: policy.revise(ctx, terms, reason))

    def amend_holidays(
        self,
        ctx: Context,
        name: str,
        year: int,
        holidays: HolidayYear,
        reason: str,
        *,
        expected_version: int | None = None,
    ) -> Outcome:
        calendar = self.business_calendar(name)
        return self._revise(
            calendar,
            expected_version,
            lambda: calendar.amend_holidays(ctx, year=year, holidays=holidays, reason=reason),
        )

    def revise_calendar_hours(
        self,
        ctx: Context,
        name: str,
        hours: Hours,
        reason: str,
        *,
        expected_version: int | None = None,
    ) -> Outcome:
        calendar = self.business_calendar(name)
        return self._revise(
            calendar,
            expected_version,
            lambda: calendar.revise_hours(ctx, hours=hours, reason=reason),
        )

    def _revise(self, rules: Any, expected_version: int | None, decide: Any) -> Outcome:
        if expected_version is not None and rules.version != expected_version:
            raise VersionConflict(expected_version, rules.version)
        decide()
        self._sla_rules.clear()
        try:
            recordings = self.save(rules)
        except IntegrityError:
            raise VersionConflict(rules.version - 1, rules.version) from None
        return self._outcome(rules.id, rules.version, recordings)

    def sla_clock(self, incident_id: UUID, as_of: datetime) -> tuple[SlaRules, TicketClock]:
        """An incident's SLA clocks as of a moment, from its history (not from a view)."""
        return self.rulebook.judge(incident_ticket(self.history(incident_id)), as_of)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """Save aggregates' pending events and loose events in one atomic write.

        The library's save() recognises events through a runtime protocol check that costs more
        than the rest of a command; here every event is a DomainEvent, so check that instead.
        """
        events: list[DomainEvent] = []
        for obj in objs:
            if isinstance(obj, DomainEvent):
                events.append(obj)
            elif obj is not None:
                events.extend(obj.collect_events())
        recordings = self._write(events)
        self._notify(recordings)
        return recordings

    def _write(self, events: list[DomainEvent], *, locked: bool = False) -> list[Recording[UUID]]:
        """Events in one atomic write (the library's aggregate cache is not used: see _load).
        `locked`: the caller holds the write lock already (`_numbering`)."""
        batch: ProcessingEvent[UUID] = ProcessingEvent()
        batch.events.extend(events)
        if locked:
            return self._record(batch)
        with self.write_lock:
            return self._record(batch)

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        if self.after_commit is not None:
            self.after_commit()

    # -- helpers ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _numbering(self) -> Iterator[int]:
        """Hold the incident numbers while new incidents are decided and written: the number
        lock, then the write lock (always in that order). Yields the last number stored; a log
        decided in the hold takes the next, and only a log written in the hold keeps it, so a
        refused command, or a write the store refuses, takes none."""
        with self.number_lock, self.write_lock:
            yield self._stored_last_number()

    def _stored_last_number(self) -> int:
        last = self.recorder.select_events(INCIDENT_NUMBERS, desc=True, limit=1)
        return last[0].originator_version if last else 0

    def _idempotency(
        self, ctx: Context, key: str | None, operation: str, target: UUID | None, command: Any
    ) -> IdempotencyKeyRecorded | Outcome | None:
        """The key event to save with the command, or the earlier outcome if this is a retry."""
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
                return IncidentNotFound(f"no incident for Idempotency-Key {key!r}")
            return IncidentNotFound(f"no incident {target}")

        return self.replay(ctx, key, candidate, lambda found: self._reaches(ctx, found), missing)

    def _reaches(self, ctx: Context, incident_id: UUID) -> bool:
        incident = self._find_stored(incident_id)
        return incident is not None and incident.reachable(ctx)

    def replay(
        self,
        ctx: Context,
        key: str,
        candidate: IdempotencyKeyRecorded,
        reaches: Callable[[UUID], bool],
        missing: Callable[[], NotFound],
    ) -> Outcome | None:
        """If the caller used `key` (as sent; `candidate` records its digest) before, the
        outcome of that first request: its record at the version the request left it. A record
        the caller no longer reaches is answered as missing (`missing()`), and a key used for
        another request is refused (IdempotencyKeyReused); None if the key is new. Every kind's
        command path uses this."""
        recorded = self._recorded_key(candidate.originator_id)
        if recorded is None and ctx.scope is not None:
            recorded = self._recorded_before_scoping(ctx, key, reaches)
        if recorded is None:
            return None
        if not reaches(recorded.record_id):
            raise missing()
        if (recorded.operation, recorded.fingerprint) != (
            candidate.operation,
            candidate.fingerprint,
        ):
            raise IdempotencyKeyReused(
                f"Idempotency-Key {key!r} was already used for a different request"
            )
        version = self._version_left_by(recorded)
        return Outcome(recorded.record_id, version, position=None, replayed=True)

    def _recorded_key(self, key_id: UUID) -> IdempotencyKeyRecorded | None:
        earlier = list(self.events.get(key_id, limit=1))
        if not earlier:
            return None
        recorded = earlier[0]
        assert isinstance(recorded, IdempotencyKeyRecorded)
        return recorded

    def _recorded_before_scoping(
        self, ctx: Context, key: str, reaches: Callable[[UUID], bool]
    ) -> IdempotencyKeyRecorded | None:
        """A key recorded before keys were scoped to the principal (under the actor's id alone),
        if it is this caller's: recorded by the same actor and role, for a record the caller
        reaches. Another organisation's use of the actor name never made the caller's record,
        so the key is new to the caller."""
        recorded = self._recorded_key(idempotency_id(ctx.actor.id, key))
        if recorded is None or recorded.actor != ctx.actor or not reaches(recorded.record_id):
            return None
        return recorded

    def _version_left_by(self, recorded: IdempotencyKeyRecorded) -> int:
        """The version the keyed request left its record at: that of the record's last event
        written by the request (each carries the request's time and correlation id, as the key
        event does), or the record's last version if none is (a command that changed only other
        records)."""
        written = last = 0
        for event in self._stored(recorded.record_id):
            last = event.originator_version
            if (event.timestamp, event.correlation_id) == (
                recorded.timestamp,
                recorded.correlation_id,
            ):
                written = last
        return written or last

    def events_until(self, record_id: UUID, version: int) -> list[DomainEvent]:
        """A record's events up to and including `version` (the record as it then stood)."""
        return list(self.events.get(record_id, lte=version))  # type: ignore[arg-type]

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
