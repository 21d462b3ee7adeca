"""What a decision may ask of the records it reads and changes.

A command decides within one session: it finds the records it needs (by id, number or code),
changes them through their aggregates, creates new ones and takes their numbers. The application
gives each command its session (application/session.py) and saves every event the session holds
in one atomic write; the domain sees only this protocol, so it stays free of stores and clocks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar
from uuid import UUID

from domain.aggregate import Aggregate

if TYPE_CHECKING:
    from datetime import datetime

    from domain.actors import Role
    from domain.change import CmdbImpact
    from domain.change_policy import ChangePolicy
    from domain.commands import Rules
    from domain.internal_audit import Work
    from domain.record_numbers import RecordKind
    from domain.rule_versions import RuleVersions
    from domain.service_catalogue import ServiceCatalogue

A = TypeVar("A", bound=Aggregate)


class Session(Protocol):
    @property
    def rules(self) -> Rules:
        """The rules of record incidents are judged by (matrix, reopen window)."""
        ...

    def find(self, cls: type[A], record_id: UUID) -> A | None:
        """The record, or None if nothing of this kind is stored under that id."""
        ...

    def get(self, cls: type[A], record_id: UUID, ref: object = None) -> A:
        """The record, if the command's caller reaches it; else the kind's not-found (a record out
        of reach is answered as one that does not exist)."""
        ...

    def find_any(self, record_id: UUID) -> Aggregate | None:
        """The record of whichever kind is stored under that id, or None."""
        ...

    def get_or_new(self, cls: type[A], record_id: UUID) -> A:
        """A record that exists from its first event on, such as the change schedule."""
        ...

    def new_id(self) -> UUID:
        """The id of a record this command creates (ids come from the application, as time
        does, so that the domain stays a pure function of its inputs)."""
        ...

    def add(self, record: Aggregate) -> None:
        """A record the command creates."""
        ...

    def allocate(self, kind: str, record_id: UUID) -> int:
        """The next number of a kind ("INC", or a RecordKind), for a record this command
        creates; taken only if the command is written."""
        ...

    def find_numbered(self, kind: RecordKind, ref: str) -> UUID:
        """A record's id from its id or number (CHG-000042); existence is not checked."""
        ...

    def find_incident(self, ref: str) -> UUID:
        """An incident's id from its id or number (INC-000042); existence is not checked."""
        ...

    def sla_rules_for(self, service: str, organisation: str | None = None) -> RuleVersions | None:
        """The SLA policy and calendar versions a ticket of `organisation` for `service` logged
        now is judged by."""
        ...

    def service_catalogue(self) -> ServiceCatalogue:
        """The service catalogue in force: the services, categories and subcategories a record
        may name."""
        ...

    def work_in(
        self, kinds: frozenset[str], actors: frozenset[str], since: datetime, until: datetime
    ) -> dict[str, Work]:
        """Of `actors`, those who acted on a record of one of `kinds` (application/kinds.py
        names) in [since, until), each with one record they acted on (the first, in the
        record's order): read from the store's events."""
        ...

    def impact_of(self, codes: list[str]) -> CmdbImpact:
        """What the CMDB says depends on these configuration items (transitively), and the
        services of those and of these: the impact query of
        GET /api/v1/configuration-items/{code}/impact, asked of the configuration items view."""
        ...

    def change_policy(self) -> ChangePolicy | None:
        """The change policy in force (None only before it is first defined)."""
        ...

    def under_legal_hold(self) -> list[UUID]:
        """The records a legal hold stands on now (domain/legal_hold.py)."""
        ...

    def directory_roles(self, actor_id: str) -> frozenset[Role]:
        """The roles the directory holds for a person (none if it does not know them, or they
        are deactivated)."""
        ...
