"""The service desk application: the event store, the rules of record, and the entry points
into the one command pipeline (application/pipeline.py) for every kind of record.

The desk holds what every command and read shares: the store (an eventsourcing Application), the
records as last saved or read by this process (a cache the pipeline decides on; the store is the
arbiter), the write and number locks, the versioned rules (priority matrix, SLA policy, business
calendars), and reads by reference. Entry points (the API's writer, the consumers, the CLI, the
SLA watcher) submit commands through `execute`/`execute_batch`, or the shorthands below.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Notification, Recording, StoredEvent

from application.kinds import (
    BUSINESS_CALENDAR,
    CHANGE_POLICY,
    INCIDENT,
    MAJOR_INCIDENT_CRITERIA,
    PRIORITY_MATRIX,
    SERVICE_CATALOGUE,
    SLA_POLICY,
    Kind,
)
from application.outcome import Outcome
from application.pipeline import Decision, Pipeline, Submission
from application.session import Session, number_log_of
from domain.aggregate import Aggregate
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
from domain.change_policy import ChangePolicy, ChangePolicyTerms, ReviseChangePolicy
from domain.commands import IncidentCommand, LogIncident
from domain.context import Context
from domain.errors import (
    CalendarNotFound,
    IncidentNotFound,
    NotFound,
    RecordNotFound,
    RuleVersionNotFound,
)
from domain.events import DomainEvent
from domain.incident import Incident, Logged
from domain.major_incident import (
    DEFAULT_CRITERIA,
    Criteria,
    MajorIncidentCriteria,
    ReviseMajorIncidentCriteria,
)
from domain.priority import DEFAULT_CELLS, Cells, PriorityMatrix
from domain.record_numbers import RecordKind, RecordNumberAllocated
from domain.records import INCIDENT_PREFIX, NumberAllocated, parse_record_number
from domain.rule_commands import (
    AmendHolidays,
    ReviseHours,
    RevisePriorityMatrix,
    ReviseServiceCatalogue,
    ReviseSlaPolicy,
)
from domain.rule_versions import RuleVersion, RuleVersions
from domain.service_catalogue import ServiceCatalogue, Services, shipped_services
from domain.sla import DEFAULT_TERMS, LIBRARY, OFFICE, PolicyTerms, SlaPolicy
from domain.sla import ROUND_THE_CLOCK as ROUND_THE_CLOCK_CALENDAR
from domain.sla_clock import TicketClock
from domain.sla_incident import ticket as incident_ticket
from domain.sla_rules import RuleBook
from domain.sla_rules import Rules as SlaRules
from projections.view_store import ViewStore

A = TypeVar("A", bound=Aggregate)
K = TypeVar("K")
T = TypeVar("T")

#: The records a new version of which changes the rules new records are judged by.
_RULES = (
    PriorityMatrix,
    SlaPolicy,
    BusinessCalendar,
    ServiceCatalogue,
    ChangePolicy,
    MajorIncidentCriteria,
)

#: The events that take a record's number.
_NUMBERS = (NumberAllocated, RecordNumberAllocated)

#: Seconds a process may judge new incidents by the matrix it last read (a revision made in
#: this process takes effect at once; one made by another process within this many seconds).
MATRIX_REFRESH = 1.0


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
        #: Records as last saved or read by this process, most recently used last.
        self.cache_size = cache_size
        self._cache: OrderedDict[UUID, Aggregate] = OrderedDict()
        self._cache_lock = threading.Lock()
        #: The rules in force as lately read (see `_recent`): the matrix (under None), and by
        #: service the SLA rules new tickets for it are judged by.
        self._matrix: dict[None, tuple[float, PriorityMatrix]] = {}
        self._catalogue: dict[None, tuple[float, ServiceCatalogue]] = {}
        self._change_policy: dict[None, tuple[float, ChangePolicy]] = {}
        self._major: dict[None, tuple[float, MajorIncidentCriteria | None]] = {}
        self._sla_rules: dict[tuple[str, str | None], tuple[float, RuleVersions | None]] = {}
        #: Resolves the (id, version) a ticket recorded; versions never change, so it caches.
        self.rulebook = RuleBook(self._rule_version)
        self._clock = time.monotonic
        #: Held around each write to the store; shared with other processes where they exist.
        self.write_lock = write_lock or threading.Lock()
        #: Held (before the write lock) while new incidents take numbers and are written, where
        #: the write lock does not keep other processes out (infra/numbers.py); else None.
        self.number_lock = number_lock
        #: The last number of each kind (by its number log) this process knows to be stored: a
        #: new record takes the next without reading the log. Only what a write committed or a
        #: read found enters it, so it can lag the store (another process numbered since) but
        #: never lead it; a lagging number meets the one stored under the log's uniqueness of
        #: (log, version), the write is refused and empties this, and the command is decided
        #: again on the number the store holds. So numbers stay unique and without gaps.
        self._last_numbers: dict[UUID, int] = {}
        #: The read models, where the composition root gives them (service/bootstrap.py): a
        #: decision that records what a view said (a change's assessment records the impact
        #: the configuration items view gives) asks them through its session.
        self.views: ViewStore | None = None
        #: Called after each commit, e.g. to wake the projections that follow the store.
        self.after_commit: Callable[[], None] | None = None
        #: Other followers of the store in this process (the notifier), woken after each too.
        self.also_woken: list[Callable[[], None]] = []
        self.pipeline = Pipeline(self)

    # -- commands: entry points into the pipeline ------------------------------------------------

    def execute(self, submission: Submission) -> Outcome:
        return self.pipeline.execute(submission)

    def execute_batch(self, submissions: Sequence[Submission]) -> list[Outcome | Exception]:
        return self.pipeline.execute_batch(submissions)

    def log_incident(
        self, ctx: Context, command: LogIncident, *, idempotency_key: str | None = None
    ) -> Outcome:
        return self.execute(Submission(ctx, command, idempotency_key=idempotency_key))

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
        return self.execute(
            Submission(
                ctx,
                command,
                ref=incident_id,
                expected_version=expected_version,
                idempotency_key=idempotency_key,
            )
        )

    def run(
        self,
        ctx: Context,
        operation: str,
        command: Any,
        decide: Decision,
        *,
        kind: Kind = INCIDENT,
        target: UUID | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Outcome:
        """Run a decision of the caller's own (seeding, the circulation rules) through the
        pipeline; `target` names the record it acts on, if any."""
        return self.execute(
            Submission(
                ctx,
                command,
                kind,
                ref=target,
                operation=operation,
                decision=decide,
                expected_version=expected_version,
                idempotency_key=idempotency_key,
            )
        )

    # -- reads ------------------------------------------------------------------------------------

    def incident(self, incident_id: UUID) -> Incident:
        """An incident's current state, read from the store."""
        return self.read(Incident, incident_id)

    def read(self, cls: type[A], record_id: UUID, ref: object = None) -> A:
        """A record's current state, read from the store; not found if it is of another kind."""
        return Session(self, None).get(cls, record_id, ref)

    def incident_at_version(self, incident_id: UUID, version: int) -> Incident:
        try:
            incident = self.repository.get(
                incident_id, version=version, projector_func=Incident.project
            )
        except (AggregateNotFoundError, LookupError):
            raise IncidentNotFound(f"no incident {incident_id} at version {version}") from None
        assert isinstance(incident, Incident)
        return incident

    def find_by_number(
        self,
        prefix: str,
        ref: str,
        missing: type[NotFound] = RecordNotFound,
        noun: str = "record",
    ) -> UUID:
        """A record's id from its number (INC-000042, CHG-000042) or its id; existence is not
        checked. `missing` (naming a `noun`) if the text is neither, or no record has the
        number."""
        number = parse_record_number(prefix, ref)
        if number is not None:
            found = list(self.events.get(number_log_of(prefix), gt=number - 1, lte=number))
            if not found:
                raise missing(f"no {noun} numbered {ref}")
            allocation = found[0]
            assert isinstance(allocation, NumberAllocated | RecordNumberAllocated)
            return allocation.record_id
        try:
            return UUID(ref)
        except ValueError:
            raise missing(f"{ref!r} is neither an id nor a {prefix} number") from None

    def find_incident(self, ref: str) -> UUID:
        """An incident's id from its UUID or its number (INC-000042); existence is not checked."""
        return self.find_by_number(INCIDENT_PREFIX, ref, IncidentNotFound, "incident")

    def find_numbered(self, kind: RecordKind, ref: str) -> UUID:
        """A record's id from its UUID or its number (CHG-000042); existence is not checked."""
        return self.find_by_number(kind.value, ref)

    def history(self, incident_id: UUID) -> Sequence[DomainEvent]:
        return self.record_history(incident_id, Logged, IncidentNotFound)

    def record_history(
        self,
        record_id: UUID,
        first_type: type[DomainEvent],
        missing: type[RecordNotFound] | type[IncidentNotFound] = RecordNotFound,
    ) -> list[DomainEvent]:
        """A record's events in order; refused unless its first event is of `first_type`."""
        events = list(self._stored(record_id))
        if not events or not isinstance(events[0], first_type):
            raise missing(f"no such record {record_id}", record_id)
        return events

    def events_until(self, record_id: UUID, version: int) -> list[DomainEvent]:
        """A record's events up to and including `version` (the record as it then stood)."""
        return list(self.events.get(record_id, lte=version))  # type: ignore[arg-type]

    def erase_subject(self, subject: UUID, at: datetime) -> bool:
        """Destroy a person's key (infra/subject_keys.py): what was sealed under it reads erased
        from now on, wherever its bytes are. False if it already was; the desk's records as
        last read are dropped, so none still holds what it opened."""
        sealer = getattr(self.mapper, "sealer", None)
        if sealer is None:
            raise RuntimeError("this desk seals nothing: it has no keys to destroy")
        erased: bool = sealer.keys.erase(subject, at)
        with self._cache_lock:
            self._cache.clear()
        return erased

    def _stored(self, originator_id: UUID) -> Iterator[DomainEvent]:
        """A record's events as stored (every event this service stores is a DomainEvent)."""
        return self.events.get(originator_id)  # type: ignore[return-value]

    # -- the cache of records as last saved or read ----------------------------------------------

    def cached(self, record_id: UUID) -> Aggregate | None:
        """The record as this process last saved or read it (the caller copies before changing)."""
        with self._cache_lock:
            record = self._cache.get(record_id)
            if record is not None:
                self._cache.move_to_end(record_id)
            return record

    def remember(self, *records: Aggregate) -> None:
        """Keep records as saved or read; a new version of a rule this process saved takes
        effect at once (MATRIX_REFRESH is for revisions made by other processes)."""
        cache = self._cache
        with self._cache_lock:
            for record in records:
                cache[record.id] = record
                cache.move_to_end(record.id)
                if isinstance(record, _RULES):
                    self._rules_saved(record)
            while len(cache) > self.cache_size:
                cache.popitem(last=False)

    def _rules_saved(self, record: Aggregate) -> None:
        if isinstance(record, PriorityMatrix):
            self._matrix.clear()
        elif isinstance(record, ServiceCatalogue):
            self._catalogue.clear()
        elif isinstance(record, ChangePolicy):
            self._change_policy.clear()
        elif isinstance(record, MajorIncidentCriteria):
            self._major.clear()
        else:
            self._sla_rules.clear()

    def stored_version(self, record_id: UUID) -> int:
        """The last version of a record the store holds (0 if none): one row, however long
        its history."""
        last = self.recorder.select_events(record_id, desc=True, limit=1)
        return last[0].originator_version if last else 0

    def forget(self, record_ids: Iterable[UUID]) -> None:
        with self._cache_lock:
            for record_id in record_ids:
                self._cache.pop(record_id, None)

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
            return self._recent(self._matrix, None, self._read_matrix)
        return self._read_matrix(version)

    def _read_matrix(self, version: int | None = None) -> PriorityMatrix:
        try:
            matrix = self.repository.get(
                PriorityMatrix.ID, version=version, projector_func=PriorityMatrix.project
            )
        except AggregateNotFoundError:
            raise LookupError("the priority matrix has not been defined") from None
        assert isinstance(matrix, PriorityMatrix)
        return matrix

    def _recent(self, kept: dict[K, tuple[float, T]], key: K, read: Callable[[], T]) -> T:
        """What `read()` gives, kept under `key` and read again once it is MATRIX_REFRESH seconds
        old (a rule this process saves clears what is kept at once: `remember`)."""
        found = kept.get(key)
        if found is not None and self._clock() - found[0] < MATRIX_REFRESH:
            return found[1]
        value = read()
        kept[key] = (self._clock(), value)
        return value

    def revise_priority_matrix(
        self, ctx: Context, cells: Cells, reason: str, *, expected_version: int | None = None
    ) -> Outcome:
        command = RevisePriorityMatrix(cells=cells, reason=reason)
        return self._revise(ctx, command, PRIORITY_MATRIX, "matrix", expected_version)

    # -- the major-incident criteria (docs/incidents.md#major-incidents) ---------------------------

    def ensure_major_incident_criteria(self, ctx: Context) -> None:
        """Define the criteria with their defaults on first start; a no-op once they exist."""
        if not self._exists(MajorIncidentCriteria.ID):
            with contextlib.suppress(IntegrityError):  # another process defined them first
                self.save(MajorIncidentCriteria.define(ctx, DEFAULT_CRITERIA))

    def major_incident_criteria(self, version: int | None = None) -> MajorIncidentCriteria | None:
        """The criteria in force (re-read at most every MATRIX_REFRESH seconds, as the matrix
        is), or at a version; None if there are none (or no such version)."""
        if version is None:
            return self._recent(self._major, None, self._read_major)
        found = self._read_major(version)
        return found if found is not None and found.version == version else None

    def _read_major(self, version: int | None = None) -> MajorIncidentCriteria | None:
        found = self._get(MajorIncidentCriteria.ID, version, MajorIncidentCriteria.project)
        assert found is None or isinstance(found, MajorIncidentCriteria)
        return found

    def revise_major_incident_criteria(
        self,
        ctx: Context,
        criteria: Criteria,
        reason: str,
        *,
        expected_version: int | None = None,
    ) -> Outcome:
        command = ReviseMajorIncidentCriteria(criteria=criteria, reason=reason)
        return self._revise(ctx, command, MAJOR_INCIDENT_CRITERIA, "criteria", expected_version)

    # -- the service catalogue (docs/service-catalogue.md) -----------------------------------------

    def ensure_service_catalogue(self, ctx: Context) -> None:
        """Define the shipped catalogue on first start; a no-op once it exists."""
        if not self._exists(ServiceCatalogue.ID):
            with contextlib.suppress(IntegrityError):  # another process defined it first
                self.save(ServiceCatalogue.define(ctx, shipped_services()))

    def service_catalogue(self, version: int | None = None) -> ServiceCatalogue:
        """The catalogue in force (re-read at most every MATRIX_REFRESH seconds, as the matrix
        is), or at a version; LookupError if there is none."""
        if version is None:
            return self._recent(self._catalogue, None, self._read_catalogue)
        return self._read_catalogue(version)

    def _read_catalogue(self, version: int | None = None) -> ServiceCatalogue:
        found = self._get(ServiceCatalogue.ID, version, ServiceCatalogue.project)
        if found is None or (version is not None and found.version != version):
            raise LookupError(f"no service catalogue version {version or 'in force'}")
        assert isinstance(found, ServiceCatalogue)
        return found

    def revise_service_catalogue(
        self,
        ctx: Context,
        services: Services,
        reason: str,
        *,
        expected_version: int | None = None,
        change: str | None = None,
    ) -> Outcome:
        """A new version of the catalogue; one that adds, retires or changes a service under
        change control names the implemented change (`change`, docs/change-policy.md)."""
        command = ReviseServiceCatalogue(services=services, reason=reason, change=change)
        return self._revise(ctx, command, SERVICE_CATALOGUE, "catalogue", expected_version)

    # -- the change policy (docs/change-policy.md) -------------------------------------------------

    def ensure_change_policy(self, ctx: Context) -> None:
        """Define the change policy with its defaults on first start; a no-op once it exists."""
        if not self._exists(ChangePolicy.ID):
            with contextlib.suppress(IntegrityError):  # another process defined it first
                self.save(ChangePolicy.define(ctx))

    def change_policy(self, version: int | None = None) -> ChangePolicy:
        """The change policy in force (re-read at most every MATRIX_REFRESH seconds, as the
        matrix is), or at a version; LookupError if there is none."""
        if version is None:
            return self._recent(self._change_policy, None, self._read_change_policy)
        return self._read_change_policy(version)

    def _read_change_policy(self, version: int | None = None) -> ChangePolicy:
        found = self._get(ChangePolicy.ID, version, ChangePolicy.project)
        if found is None or (version is not None and found.version != version):
            raise LookupError(f"no change policy version {version or 'in force'}")
        assert isinstance(found, ChangePolicy)
        return found

    def revise_change_policy(
        self,
        ctx: Context,
        terms: ChangePolicyTerms,
        reason: str,
        *,
        expected_version: int | None = None,
    ) -> Outcome:
        command = ReviseChangePolicy(terms=terms, reason=reason)
        return self._revise(ctx, command, CHANGE_POLICY, "change policy", expected_version)

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

    def sla_rules_for(self, service: str, organisation: str | None = None) -> RuleVersions | None:
        """The policy and calendar versions a ticket of `organisation` for `service` logged now is
        judged by (its agreement may name the calendar: domain/sla.py; re-read at most every
        MATRIX_REFRESH seconds; a change made in this process applies at once). None only before
        the policy is defined."""
        return self._recent(
            self._sla_rules,
            (service, organisation),
            lambda: self._sla_rules_now(service, organisation),
        )

    def _sla_rules_now(self, service: str, organisation: str | None) -> RuleVersions | None:
        try:
            policy = self.sla_policy()
            name = policy.terms.calendar_for(service, organisation)
            calendar = self.business_calendar(name)
        except (RuleVersionNotFound, CalendarNotFound):
            return None
        return RuleVersions(
            policy=RuleVersion(id=policy.id, version=policy.version),
            calendar=RuleVersion(id=calendar.id, version=calendar.version),
            calendar_name=name,
        )

    def revise_sla_policy(
        self, ctx: Context, terms: PolicyTerms, reason: str, *, expected_version: int | None = None
    ) -> Outcome:
        command = ReviseSlaPolicy(terms=terms, reason=reason)
        return self._revise(ctx, command, SLA_POLICY, "policy", expected_version)

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
        command = AmendHolidays(year=year, holidays=holidays, reason=reason)
        return self._revise(ctx, command, BUSINESS_CALENDAR, name, expected_version)

    def revise_calendar_hours(
        self,
        ctx: Context,
        name: str,
        hours: Hours,
        reason: str,
        *,
        expected_version: int | None = None,
    ) -> Outcome:
        command = ReviseHours(hours=hours, reason=reason)
        return self._revise(ctx, command, BUSINESS_CALENDAR, name, expected_version)

    def _revise(
        self, ctx: Context, command: Any, kind: Kind, ref: str, expected_version: int | None
    ) -> Outcome:
        """A new version of a rule, through the pipeline; the kind's fixed id or name finds it
        (`ref` names it in the answers)."""
        operation = f"revise_{kind.name}"
        return self.execute(
            Submission(
                ctx, command, kind, ref=ref, operation=operation, expected_version=expected_version
            )
        )

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
        stored, positions = self._locked_commit(events)
        self.wake_followers()
        return [
            Recording(
                event, Notification(s.originator_id, s.originator_version, s.topic, s.state, p)
            )
            for event, s, p in zip(events, stored, positions, strict=True)
        ]

    def write(self, events: list[DomainEvent], *, locked: bool = False) -> Sequence[int]:
        """Events in one atomic write; the global position each took, in order. `locked`: the
        caller holds the write lock already (`numbering`)."""
        return (self._commit(events) if locked else self._locked_commit(events))[1]

    def _locked_commit(self, events: list[DomainEvent]) -> tuple[list[StoredEvent], Sequence[int]]:
        with self.write_lock:
            return self._commit(events)

    def _commit(self, events: list[DomainEvent]) -> tuple[list[StoredEvent], Sequence[int]]:
        """Record events (the write lock held) and note the numbers they stored; the events as
        stored, and their positions. Straight to the recorder, as the library's EventStore.put
        does it, without the Recording and Notification it builds for each event: a command
        needs only the positions (the library's Application._record would also wrap the events
        in a ProcessingEvent, only to fill an aggregate cache the desk does not use)."""
        if not events:  # a command that decided nothing (PostgreSQL's recorder answers None)
            return [], []
        try:
            stored = list(map(self.mapper.to_stored_event, events))
            positions = self.recorder.insert_events(stored)
        except BaseException:
            self._last_numbers.clear()  # whatever the store now holds, read it again
            raise
        assert positions is not None  # an application recorder says where each event went
        for event in events:
            if isinstance(event, _NUMBERS):
                self._last_numbers[event.originator_id] = event.originator_version
        return stored, positions

    def wake_followers(self) -> None:
        """Wake whoever follows the store (the projections, or the relay in Kafka mode, and any
        other follower in this process)."""
        if self.after_commit is not None:
            self.after_commit()
        for wake in self.also_woken:
            wake()

    def numbering(self) -> AbstractContextManager[bool]:
        """Hold the numbers while new records are decided and written: the number lock, then
        the write lock (always in that order); says that the write lock is held."""
        return _Numbering(self.number_lock, self.write_lock)

    def last_number(self, kind: str) -> int:
        """The last number of a kind stored (0 before the first), as far as this process knows:
        the store refuses a next number another process has taken (`_last_numbers`)."""
        log = number_log_of(kind)
        last = self._last_numbers.get(log)
        if last is None:
            last = self._last_numbers[log] = self.stored_version(log)
        return last


class _Numbering:
    """The number lock (if there is one), then the write lock; released in reverse however the
    block ends. A plain class rather than a generator: it is on every create's path, where a
    generator-based context manager cost a measurable share of the command."""

    __slots__ = ("_numbers", "_writes")

    def __init__(
        self, numbers: AbstractContextManager[Any] | None, writes: AbstractContextManager[Any]
    ) -> None:
        self._numbers = numbers
        self._writes = writes

    def __enter__(self) -> bool:
        numbers = self._numbers
        if numbers is not None:
            numbers.__enter__()
        try:
            self._writes.__enter__()
        except BaseException:
            if numbers is not None:
                numbers.__exit__(None, None, None)
            raise
        return True

    def __exit__(self, *exc: Any) -> None:
        try:
            self._writes.__exit__(*exc)
        finally:
            if self._numbers is not None:
                self._numbers.__exit__(*exc)
