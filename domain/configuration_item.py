"""Configuration items (ISO/IEC 20000-1 8.2.6): services, applications, servers, kiosks, gates...

A configuration item is known by its code (`inlislite-serang-app`); its id derives from the code.
It depends on other items; each dependency is recorded on both sides (the dependant's
`depends_on`, the other's `dependants`), so impact and conflicts follow the graph both ways.

After its registration an item changes only through a change that names it and was implemented
successfully (a standard change from a template included): every later event carries that
change's id and number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import AfterValidator, Field

from domain.aggregate import Aggregate, applies
from domain.context import Context
from domain.errors import DomainError, NothingChanged
from domain.events import DomainEvent
from domain.fields import Items, Name, NamesChange, NamesProblem, Note, OptionalName
from domain.record_numbers import named_id

CODE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,79}$"
_CODE = re.compile(CODE_PATTERN)

Code = Field(pattern=CODE_PATTERN, min_length=1, max_length=80)


class CiType(StrEnum):
    SITE = "site"  # a library: the provincial office or a regency/city library (an organisation)
    SERVICE = "service"
    APPLICATION = "application"
    DATABASE = "database"
    SERVER = "server"
    NETWORK = "network"
    KIOSK = "kiosk"
    RFID_GATE = "rfid_gate"
    PRINTER = "printer"
    WORKSTATION = "workstation"
    MOBILE_APP = "mobile_app"


class Criticality(StrEnum):
    """How much the services depend on the item: what its record's detail and its checks suit."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class CiStatus(StrEnum):
    PLANNED = "planned"
    ACTIVE = "active"
    MAINTENANCE = "maintenance"
    RETIRED = "retired"


class DiscrepancyUnexplained(DomainError):
    """A verification that found a discrepancy says what it is (an invalid command: 422)."""

    code = "discrepancy-unexplained"


def ci_id(code: str) -> UUID:
    return named_id("configuration-item", code)


def check_codes(codes: Iterable[str]) -> list[str]:
    """Codes, each valid, without repeats, in a stable order."""
    seen = sorted(set(codes))
    for code in seen:
        if not _CODE.match(code):
            raise ValueError(f"{code!r} is not a configuration item code (a-z, 0-9, '-')")
    return seen


#: A list of item codes: each valid, no repeats, sorted (so equal sets are equal lists).
CodeList = Annotated[list[Annotated[str, Code]], AfterValidator(check_codes)]


# -- events ------------------------------------------------------------------------------------


class ConfigurationItemEvent(DomainEvent):
    """A fact in a configuration item's history."""


class Registered(ConfigurationItemEvent):
    type_name: ClassVar[str] = "ConfigurationItem.Registered"
    code: str = Code
    name: str = Name
    ci_type: CiType
    owner: str = Name
    status: CiStatus
    service: str | None = OptionalName
    location: str | None = OptionalName
    depends_on: CodeList = Items
    #: What it is, in words (stored before descriptions: none), and how critical it is.
    description: str | None = Note
    criticality: Criticality = Criticality.MEDIUM


class ThroughChange(NamesChange, ConfigurationItemEvent):
    """An event after registration: it names the change it was made through, or none where the
    item's type is not under change control and it was edited directly (the change policy)."""

    change_id: UUID | None  # type: ignore[assignment]
    change_ref: str | None = Field(min_length=1, max_length=40)  # type: ignore[assignment]


class StatusChanged(ThroughChange):
    type_name: ClassVar[str] = "ConfigurationItem.StatusChanged"
    status: CiStatus


class OwnerChanged(ThroughChange):
    type_name: ClassVar[str] = "ConfigurationItem.OwnerChanged"
    owner: str = Name


class DependencyAdded(ThroughChange):
    type_name: ClassVar[str] = "ConfigurationItem.DependencyAdded"
    on: str = Code


class DependencyRemoved(ThroughChange):
    type_name: ClassVar[str] = "ConfigurationItem.DependencyRemoved"
    on: str = Code


class DependantAdded(ConfigurationItemEvent):
    """The other side of a dependency: `dependant` now depends on this item. Recorded with the
    dependant's registration, or through a change."""

    type_name: ClassVar[str] = "ConfigurationItem.DependantAdded"
    dependant: str = Code
    change_id: UUID | None = None
    change_ref: str | None = Field(default=None, min_length=1, max_length=40)


class DependantRemoved(ThroughChange):
    type_name: ClassVar[str] = "ConfigurationItem.DependantRemoved"
    dependant: str = Code


# -- the aggregate -----------------------------------------------------------------------------


class ProblemLinked(NamesProblem, ConfigurationItemEvent):
    """A problem names this item (the problem records Problem.ConfigurationItemLinked); a link,
    not a change to the item's configuration."""

    type_name: ClassVar[str] = "ConfigurationItem.ProblemLinked"


class ChangeLinked(NamesChange, ConfigurationItemEvent):
    """A change was raised on this item (the change names it in Change.Raised)."""

    type_name: ClassVar[str] = "ConfigurationItem.ChangeLinked"


class VerificationResult(StrEnum):
    ACCURATE = "accurate"  # the record matches the item as found
    DISCREPANCY = "discrepancy"  # it does not: a change must put it right (the note says what)


class VerificationSource(StrEnum):
    MANUAL = "manual"  # someone looked at the item itself
    #: the reconciliation compared the record with what the circulation stream hears of the
    #: device (processes/cmdb_reconcile.py): a kiosk or gate heard from, or silent
    CIRCULATION = "circulation"


class Verified(ConfigurationItemEvent):
    """Someone, or the reconciliation, compared the record with the item itself (8.2.6:
    configuration information verified at planned intervals). A discrepancy is put right by a
    change, never by an edit (`DiscrepancyCorrected` names it)."""

    type_name: ClassVar[str] = "ConfigurationItem.Verified"
    result: VerificationResult
    note: str | None = Note
    source: VerificationSource = VerificationSource.MANUAL


class DiscrepancyCorrected(ThroughChange):
    """The change that put right the discrepancy the last verification found."""

    type_name: ClassVar[str] = "ConfigurationItem.DiscrepancyCorrected"
    note: str | None = Note


class ConfigurationItem(Aggregate, events=ConfigurationItemEvent):
    KIND: ClassVar[str] = "configuration item"

    code: str
    status: CiStatus
    owner: str
    depends_on: frozenset[str]
    dependants: frozenset[str]
    #: What the change policy asks of a change (item 18: types under change control; the
    #: criteria of major impact: its criticality).
    ci_type: CiType
    criticality: Criticality
    #: whether the last verification found a discrepancy no change has corrected since
    discrepancy: bool

    @classmethod
    def register(
        cls,
        ctx: Context,
        *,
        code: str,
        name: str,
        ci_type: CiType,
        owner: str,
        status: CiStatus,
        service: str | None,
        location: str | None,
        depends_on: list[str],
        description: str | None = None,
        criticality: Criticality = Criticality.MEDIUM,
    ) -> ConfigurationItem:
        return cls._begin(
            ctx,
            ci_id(code),
            Registered,
            code=code,
            name=name,
            ci_type=ci_type,
            owner=owner,
            status=status,
            service=service,
            location=location,
            depends_on=depends_on,
            description=description,
            criticality=criticality,
        )

    def change_status(
        self, ctx: Context, change: tuple[UUID, str] | None, status: CiStatus
    ) -> None:
        if status is self.status:
            raise NothingChanged(f"{self.code} is already {status}")
        self._record(StatusChanged(**self._through(ctx, change), status=status))

    def change_owner(self, ctx: Context, change: tuple[UUID, str] | None, owner: str) -> None:
        if owner == self.owner:
            raise NothingChanged(f"{self.code} is already owned by {owner}")
        self._record(OwnerChanged(**self._through(ctx, change), owner=owner))

    def add_dependency(self, ctx: Context, change: tuple[UUID, str] | None, on: str) -> None:
        if on in self.depends_on:
            raise NothingChanged(f"{self.code} already depends on {on}")
        self._record(DependencyAdded(**self._through(ctx, change), on=on))

    def remove_dependency(self, ctx: Context, change: tuple[UUID, str] | None, on: str) -> None:
        if on not in self.depends_on:
            raise NothingChanged(f"{self.code} does not depend on {on}")
        self._record(DependencyRemoved(**self._through(ctx, change), on=on))

    def add_dependant(
        self, ctx: Context, dependant: str, change: tuple[UUID, str] | None = None
    ) -> None:
        self._record(
            DependantAdded(
                **self._envelope(ctx),
                dependant=dependant,
                change_id=change[0] if change else None,
                change_ref=change[1] if change else None,
            )
        )

    def remove_dependant(
        self, ctx: Context, change: tuple[UUID, str] | None, dependant: str
    ) -> None:
        self._record(DependantRemoved(**self._through(ctx, change), dependant=dependant))

    def link_problem(self, ctx: Context, *, problem_id: UUID, problem_ref: str) -> None:
        self._record(
            ProblemLinked(**self._envelope(ctx), problem_id=problem_id, problem_ref=problem_ref)
        )

    def link_change(self, ctx: Context, *, change_id: UUID, change_ref: str) -> None:
        self._record(
            ChangeLinked(**self._envelope(ctx), change_id=change_id, change_ref=change_ref)
        )

    def verify(
        self,
        ctx: Context,
        *,
        result: VerificationResult,
        note: str | None,
        source: VerificationSource = VerificationSource.MANUAL,
    ) -> None:
        if result is VerificationResult.DISCREPANCY and not note:
            raise DiscrepancyUnexplained("a discrepancy needs a note saying what differs")
        self._record(Verified(**self._envelope(ctx), result=result, note=note, source=source))

    def correct_discrepancy(
        self, ctx: Context, change: tuple[UUID, str], note: str | None = None
    ) -> None:
        """Name the implemented change that put right the discrepancy found."""
        if not self.discrepancy:
            raise NothingChanged(f"{self.code} has no discrepancy open to correct")
        self._record(DiscrepancyCorrected(**self._through(ctx, change), note=note))

    def _through(self, ctx: Context, change: tuple[UUID, str] | None) -> dict[str, object]:
        """The envelope and the change it goes through (None: edited directly)."""
        change_id, change_ref = change if change is not None else (None, None)
        return {**self._envelope(ctx), "change_id": change_id, "change_ref": change_ref}

    @applies(Registered)
    def _registered(self, e: Registered) -> None:
        self.code, self.status, self.owner = e.code, e.status, e.owner
        self.ci_type, self.criticality = e.ci_type, e.criticality
        self.depends_on = frozenset(e.depends_on)
        self.dependants = frozenset()
        self.discrepancy = False

    @applies(StatusChanged)
    def _status_changed(self, e: StatusChanged) -> None:
        self.status = e.status

    @applies(OwnerChanged)
    def _owner_changed(self, e: OwnerChanged) -> None:
        self.owner = e.owner

    @applies(DependencyAdded)
    def _dependency_added(self, e: DependencyAdded) -> None:
        self.depends_on = self.depends_on | {e.on}

    @applies(DependencyRemoved)
    def _dependency_removed(self, e: DependencyRemoved) -> None:
        self.depends_on = self.depends_on - {e.on}

    @applies(DependantAdded)
    def _dependant_added(self, e: DependantAdded) -> None:
        self.dependants = self.dependants | {e.dependant}

    @applies(DependantRemoved)
    def _dependant_removed(self, e: DependantRemoved) -> None:
        self.dependants = self.dependants - {e.dependant}

    # -- the graph -------------------------------------------------------------------------------

    @applies(Verified)
    def _verified(self, e: Verified) -> None:
        self.discrepancy = e.result is VerificationResult.DISCREPANCY

    @applies(DiscrepancyCorrected)
    def _corrected(self, e: DiscrepancyCorrected) -> None:
        self.discrepancy = False

    @applies(ProblemLinked, ChangeLinked)
    def _linked(self, e: ConfigurationItemEvent) -> None:
        pass  # links matter to people and projections, not to the item's decisions


def reachable(edges: Mapping[str, Iterable[str]], start: Iterable[str]) -> set[str]:
    """Every node reachable from `start` along `edges` in one or more steps (excluding the
    starting nodes unless a path leads back to them)."""
    found: set[str] = set()
    frontier = list(start)
    while frontier:
        node = frontier.pop()
        for nxt in edges.get(node, ()):
            if nxt not in found:
                found.add(nxt)
                frontier.append(nxt)
    return found


def impact(depends_on: Mapping[str, Iterable[str]], code: str) -> set[str]:
    """Everything that depends on `code`, directly or transitively: what its failure touches."""
    dependants: dict[str, set[str]] = {}
    for item, targets in depends_on.items():
        for target in targets:
            dependants.setdefault(target, set()).add(item)
    return reachable(dependants, [code]) - {code}


def related(
    depends_on: Mapping[str, Iterable[str]],
    dependants: Mapping[str, Iterable[str]],
    codes: Iterable[str],
) -> set[str]:
    """The items themselves, what they depend on and what depends on them, transitively: the
    items a change to `codes` may disturb, for the conflict check."""
    start = set(codes)
    return start | reachable(depends_on, start) | reachable(dependants, start)
