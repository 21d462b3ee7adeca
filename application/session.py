"""The records one command reads and changes (domain/session.py is what a decision sees).

A session reads a record, in this order of preference: as this command already holds it; as an
earlier command of the same group commit left it (`Batch`); as the desk last saved or read it (its
cache): the record the command names as it is there (the store is the arbiter, so a decision on a
stale state cannot be saved, and a refusal on one is checked again on a fresh session), any other
while the store's last version of it is the cache's (one look at the store instead of reading all
its events: the change schedule, a catalogue item, a template); else from the store.
Every record it hands out is its own copy, so a refused command leaves nothing behind.

Numbers: a new record takes the next number of its kind, the last stored as this process knows
it (`ServiceDesk.last_number`; or the last the batch took) plus one. A command's numbers join
the batch only when the command is accepted, so a refused command takes none and the numbers have
no gaps.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID, uuid4

from application.impartiality import kinds_known, labelled, worked
from application.kinds import KINDS, aggregates, kind_of
from domain.actors import Role
from domain.aggregate import Aggregate
from domain.change import CmdbImpact, ImpactedItem
from domain.change_policy import ChangePolicy
from domain.commands import Rules
from domain.context import Context
from domain.directory import Person, person_id
from domain.events import DomainEvent
from domain.incident import Incident
from domain.internal_audit import Work
from domain.priority import PriorityMatrix
from domain.record_numbers import RecordKind, RecordNumberAllocated, number_label, number_log
from domain.records import INCIDENT_NUMBERS, INCIDENT_PREFIX, NumberAllocated
from domain.rule_versions import RuleVersions
from domain.service_catalogue import ServiceCatalogue
from projections.configuration_items import impact_of, items
from projections.legal_holds import legal_holds

if TYPE_CHECKING:
    from application.desk import ServiceDesk

A = TypeVar("A", bound=Aggregate)


@dataclass
class Batch:
    """What a group commit has decided so far: the records as its commands left them, the
    numbers it took, the events to save (with each command's slice), and its idempotency keys."""

    records: dict[UUID, Aggregate] = field(default_factory=dict)
    numbers: dict[str, int] = field(default_factory=dict)
    events: list[DomainEvent] = field(default_factory=list)
    #: command index -> (record id, its version after the command, slice of `events`)
    owners: dict[int, tuple[UUID, int, slice]] = field(default_factory=dict)
    keys: set[UUID] = field(default_factory=set)

    def add(self, i: int, session: Session, record_id: UUID, events: list[DomainEvent]) -> None:
        start = len(self.events)
        self.events.extend(events)
        self.records.update(session.records)
        self.numbers.update(session.numbers)
        self.owners[i] = (record_id, session.version_of(record_id), slice(start, len(self.events)))


class Session:
    def __init__(
        self,
        desk: ServiceDesk,
        ctx: Context | None,
        *,
        batch: Batch | None = None,
        cached: UUID | None = None,
    ) -> None:
        self.desk = desk
        self._ctx = ctx
        self._batch = batch
        self._cached = cached
        self.records: dict[UUID, Aggregate] = {}
        self.numbers: dict[str, int] = {}
        self._loose: list[DomainEvent] = []
        self._matrix: PriorityMatrix | None = None

    @property
    def rules(self) -> Rules:
        """The rules of record, the matrix as the command first read it. Made afresh each time,
        not kept: its finder refers to this session, and a session that referred to it in turn
        would be a reference cycle, which only the garbage collector frees (every command's
        session, then, and all it holds, piling up for the next collection)."""
        if self._matrix is None:
            self._matrix = self.desk.priority_matrix()
        return Rules(
            matrix=self._matrix,
            reopen_window=self.desk.reopen_window,
            find_incident=lambda incident_id: self.find(Incident, incident_id),
            major_incident_criteria=self.desk.major_incident_criteria(),
        )

    def sla_rules_for(self, service: str, organisation: str | None = None) -> RuleVersions | None:
        return self.desk.sla_rules_for(service, organisation)

    def service_catalogue(self) -> ServiceCatalogue:
        return self.desk.service_catalogue()

    def change_policy(self) -> ChangePolicy | None:
        try:
            return self.desk.change_policy()
        except LookupError:
            return None

    def under_legal_hold(self) -> list[UUID]:
        views = self.desk.views
        if views is None:
            return []
        return [UUID(row["record_id"]) for row in views.select(legal_holds, '"holding" = 1')]

    def directory_roles(self, actor_id: str) -> frozenset[Role]:
        person = self.find(Person, person_id(actor_id))
        if person is None or not person.active:
            return frozenset()
        return frozenset(person.roles)

    def impact_of(self, codes: list[str]) -> CmdbImpact:
        """The impact query of GET /api/v1/configuration-items/{code}/impact, for each code, on
        the configuration items view as it stands (empty where the desk has no views)."""
        views = self.desk.views
        if views is None or not codes or self._ctx is None:
            return CmdbImpact()
        rows = items.rows(views, self._ctx)
        by_code = {row["code"]: row for row in rows}
        distances: dict[str, int] = {}
        for code in codes:
            for found in impact_of(rows, code):
                if found["code"] not in codes:
                    distances[found["code"]] = min(
                        found["distance"], distances.get(found["code"], found["distance"])
                    )
        services = {
            by_code[code]["service"]
            for code in [*codes, *distances]
            if code in by_code and by_code[code]["service"]
        }
        return CmdbImpact(
            items=[
                ImpactedItem(code=code, distance=distance)
                for code, distance in sorted(distances.items(), key=lambda kv: (kv[1], kv[0]))
            ],
            services=sorted(services),
        )

    # -- reading ----------------------------------------------------------------------------------

    def find(self, cls: type[A], record_id: UUID) -> A | None:
        record = self._held(record_id)
        if record is None:
            events = list(self.desk.events.get(record_id))
            if not events:
                return None
            try:
                record = cls.project(None, events)  # type: ignore[arg-type]
            except LookupError:  # the id belongs to another kind of record
                return None
            if record is None:
                return None
            self.desk.remember(record)
            record = record.copy()
            self.records[record_id] = record
        return record if isinstance(record, cls) else None

    def _held(self, record_id: UUID) -> Aggregate | None:
        """The record as this command, its batch, or the cache holds it; a copy of the batch's
        or the cache's, which this command may change freely. The cache's copy of the record the
        command names is decided on as it is (the store refuses a decision on a stale state);
        of any other record, only while the store holds no later version of it: a record the
        command only reads is never saved, so the store could not refuse what a stale copy
        decided."""
        record = self.records.get(record_id)
        if record is not None:
            return record
        if self._batch is not None:
            record = self._batch.records.get(record_id)
        if record is None:
            record = self.desk.cached(record_id)
            if record is not None and not self._current(record):
                record = None
        if record is not None:
            record = record.copy()
            self.records[record_id] = record
        return record

    def _current(self, cached: Aggregate) -> bool:
        """Whether the cache's copy may be decided on: the record the command names always,
        any other while the store holds no later version of it."""
        return cached.id == self._cached or self.desk.stored_version(cached.id) == cached.version

    def get(self, cls: type[A], record_id: UUID, ref: object = None) -> A:
        record = self.find(cls, record_id)
        # A record out of the caller's reach is answered as one that does not exist: its
        # existence is not the caller's to learn (docs/security.md, "Organisations").
        if record is None or (self._ctx is not None and not record.reachable(self._ctx)):
            raise kind_of(cls).missing(ref if ref is not None else record_id, record_id)
        return record

    def find_any(self, record_id: UUID) -> Aggregate | None:
        held = self._held(record_id)
        if held is not None:
            return held
        first = list(self.desk.events.get(record_id, limit=1))
        if not first:
            return None
        for cls in aggregates():
            if type(first[0]) in cls._appliers:
                return self.find(cls, record_id)
        return None

    def get_or_new(self, cls: type[A], record_id: UUID) -> A:
        record = self.find(cls, record_id)
        if record is None:
            record = cls(record_id)
            self.records[record_id] = record
        return record

    def find_numbered(self, kind: RecordKind, ref: str) -> UUID:
        return self.desk.find_numbered(kind, ref)

    def find_incident(self, ref: str) -> UUID:
        return self.desk.find_incident(ref)

    def work_in(
        self, kinds: frozenset[str], actors: frozenset[str], since: datetime, until: datetime
    ) -> dict[str, Work]:
        desk = self.desk
        found = worked(desk.recorder, desk.mapper, kinds_known(kinds), actors, since, until)
        return labelled(found, self._label)

    def _label(self, kind: str, record_id: UUID) -> str:
        """A record as people read it: its number with its kind's prefix, its code, or its id."""
        first = next(iter(self.desk.events.get(record_id, limit=1)), None)
        number, code = getattr(first, "number", None), getattr(first, "code", None)
        prefix = KINDS[kind].prefix
        if prefix is not None and isinstance(number, int):
            return f"{prefix}-{number:06d}"
        return str(code) if code else str(record_id)

    # -- changing ---------------------------------------------------------------------------------

    def new_id(self) -> UUID:
        return uuid4()

    def add(self, record: Aggregate) -> None:
        self.records[record.id] = record

    def allocate(self, kind: str, record_id: UUID) -> int:
        assert self._ctx is not None, "a read-only session allocates nothing"
        number = self.numbers.get(kind)
        if number is None and self._batch is not None:
            number = self._batch.numbers.get(kind)
        if number is None:
            number = self.desk.last_number(kind)
        number += 1
        self.numbers[kind] = number
        self._loose.append(self._allocation(kind, number, record_id, self._ctx))
        return number

    @staticmethod
    def _allocation(kind: str, number: int, record_id: UUID, ctx: Context) -> DomainEvent:
        if kind == INCIDENT_PREFIX:
            return NumberAllocated(
                originator_id=INCIDENT_NUMBERS,
                originator_version=number,
                record_id=record_id,
                **ctx.stamp(),
            )
        record_kind = RecordKind(kind)
        return RecordNumberAllocated(
            originator_id=number_log(record_kind),
            originator_version=number,
            kind=record_kind,
            record_id=record_id,
            label=number_label(record_kind, number),
            **ctx.stamp(),
        )

    def version_of(self, record_id: UUID) -> int:
        return self.records[record_id].version

    def events(self) -> list[DomainEvent]:
        """Every event the command decided, in one list: the records' own, then the numbers'."""
        pending: list[DomainEvent] = []
        for record in self.records.values():
            pending.extend(record.collect_events())
        return [*pending, *self._loose]


@functools.cache
def number_log_of(kind: str) -> UUID:
    """The log a kind's numbers are the versions of (a name-based UUID: worked out once)."""
    return INCIDENT_NUMBERS if kind == INCIDENT_PREFIX else number_log(RecordKind(kind))
