"""Suppliers and their contracts (ISO/IEC 20000-1 8.3.3 service level management, 8.3.4
supplier management): the e-book platform vendor, the network provider, the kiosk maintainer,
and the office's own teams that support a service under an operational level agreement.

    registered -> contract revised* -> retired

A supplier is known by its code (`vendor-ebook`). Its contract (an underpinning contract with an
external supplier, an OLA with an internal one) names the services it supports and its targets:
the time, in business hours of its calendar, within which it delivers on a ticket that waits for
it. Each revision of the contract is a new version of the supplier's record, and says why: a hold
records the version in force (Incident.PutOnHold `supplier`, `contract_version`), so a supplier is
judged by the contract of record, never by a later one (docs/suppliers.md).

A ticket on hold awaiting a supplier runs that supplier's clock: from the hold to the moment the
ticket resumes, is resolved, closed or cancelled, or is put on another hold. The supplier report
judges each such wait against the contract (docs/reports.md).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.aggregate import LifecycleAggregate, applies
from domain.command_base import ActionCommand, Command, by_action
from domain.context import Context
from domain.errors import DomainError, RecordAlreadyExists
from domain.events import DomainEvent
from domain.examples import example
from domain.fields import Name, Reason
from domain.record_numbers import named_id
from domain.service_catalogue import CODE_PATTERN as SERVICE_CODE
from domain.session import Session

CODE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,39}$"
Code = Field(pattern=CODE_PATTERN, min_length=1, max_length=40)
#: At most a year of business minutes (a contract's target).
MAX_MINUTES = 60 * 24 * 366


def supplier_id(code: str) -> UUID:
    return named_id("supplier", code)


class SupplierKind(StrEnum):
    EXTERNAL = "external"  # an underpinning contract
    INTERNAL = "internal"  # an operational level agreement with another part of the office


class SupplierState(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


class Contract(BaseModel):
    """What the supplier agreed to: its reference, the services it supports, and its targets."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    reference: str = Field(
        min_length=1, max_length=200, description="e.g. the SPK or the OLA's document number"
    )
    document: str | None = Field(
        default=None,
        pattern=r"^DOC-\d{6}$",
        max_length=10,
        description="the controlled document, if registered",
    )
    services: list[Annotated[str, Field(pattern=SERVICE_CODE, max_length=40)]] = Field(
        min_length=1, max_length=20, description="the service catalogue's codes"
    )
    valid_from: date
    valid_to: date | None = None
    response_minutes: int | None = Field(default=None, ge=1, le=MAX_MINUTES)
    resolution_minutes: int = Field(
        ge=1, le=MAX_MINUTES, description="delivers on a ticket waiting for it within this"
    )
    calendar: str = Field(
        default="office", min_length=1, max_length=100, description="whose hours it counts in"
    )

    @model_validator(mode="after")
    def _dated(self) -> Contract:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("the contract ends before it starts")
        if len(set(self.services)) != len(self.services):
            raise ValueError("the contract names a service twice")
        return self


class UnknownSupplier(DomainError):
    """A hold names a supplier the office has no contract with, or one retired (422)."""

    code = "unknown-supplier"


# -- events -------------------------------------------------------------------------------------


class SupplierEvent(DomainEvent):
    """A fact in a supplier's record."""


class Registered(SupplierEvent):
    type_name: ClassVar[str] = "Supplier.Registered"
    code: str = Code
    name: str = Name
    kind: SupplierKind
    contract: Contract


class ContractRevised(SupplierEvent):
    type_name: ClassVar[str] = "Supplier.ContractRevised"
    contract: Contract
    reason: str = Reason


class Retired(SupplierEvent):
    type_name: ClassVar[str] = "Supplier.Retired"
    reason: str = Reason


def transition(state: SupplierState | None, event: SupplierEvent) -> SupplierState:
    if isinstance(event, Retired):
        return SupplierState.RETIRED
    if isinstance(event, Registered | ContractRevised):
        return SupplierState.ACTIVE
    assert state is not None, "a supplier's history starts with Supplier.Registered"
    return state


# -- the aggregate ------------------------------------------------------------------------------


class Supplier(
    LifecycleAggregate[SupplierState], events=SupplierEvent, transition=transition, noun="supplier"
):
    KIND: ClassVar[str] = "supplier"

    code: str
    contract: Contract
    state: SupplierState

    @classmethod
    def register(
        cls, ctx: Context, *, code: str, name: str, kind: SupplierKind, contract: Contract
    ) -> Supplier:
        return cls._begin(
            ctx, supplier_id(code), Registered, code=code, name=name, kind=kind, contract=contract
        )

    def revise_contract(self, ctx: Context, *, contract: Contract, reason: str) -> None:
        self._require("revise the contract of", SupplierState.ACTIVE)
        self._record(ContractRevised(**self._envelope(ctx), contract=contract, reason=reason))

    def retire(self, ctx: Context, *, reason: str) -> None:
        self._require("retire", SupplierState.ACTIVE)
        self._record(Retired(**self._envelope(ctx), reason=reason))

    def awaited(self) -> tuple[str, int]:
        """What a hold awaiting this supplier records: its code and its contract's version (the
        record's version). UnknownSupplier if it is retired."""
        if self.state is not SupplierState.ACTIVE:
            raise UnknownSupplier(f"supplier {self.code} is retired")
        return self.code, self.version

    @applies(Registered, ContractRevised)
    def _contracted(self, e: Registered | ContractRevised) -> None:
        if isinstance(e, Registered):
            self.code = e.code
        self.contract = e.contract

    @applies(Retired)
    def _retired(self, e: Retired) -> None:
        pass  # the lifecycle state is what the decisions need


def awaited(session: Session, code: str) -> tuple[str, int]:
    """The supplier a hold names, and its contract's version; UnknownSupplier if there is none."""
    found = session.find(Supplier, supplier_id(code))
    if found is None:
        raise UnknownSupplier(f"no supplier {code} (GET /api/v1/suppliers lists them)")
    return found.awaited()


# -- commands -----------------------------------------------------------------------------------

_EXAMPLE_CONTRACT = {
    "reference": "SPK 027/DPK-BTN/2026",
    "services": ["i-banten"],
    "valid_from": "2026-01-01",
    "valid_to": "2026-12-31",
    "resolution_minutes": 480,
    "calendar": "office",
}


class RegisterSupplier(Command):
    model_config = example(
        {
            "code": "vendor-ebook",
            "name": "Penyedia platform e-book i-Banten",
            "kind": "external",
            "contract": _EXAMPLE_CONTRACT,
        }
    )

    code: str = Code
    name: str = Name
    kind: SupplierKind
    contract: Contract

    def decide(self, session: Session, ctx: Context) -> UUID:
        if session.find(Supplier, supplier_id(self.code)) is not None:
            raise RecordAlreadyExists(f"supplier {self.code} already exists")
        session.service_catalogue().known(self.contract.services)
        session.add(
            Supplier.register(
                ctx, code=self.code, name=self.name, kind=self.kind, contract=self.contract
            )
        )
        return supplier_id(self.code)


class SupplierCommand(ActionCommand):
    """An action on one supplier: POST /api/v1/suppliers/{code}/{action}."""

    def decide(self, session: Session, ctx: Context, record_id: UUID) -> UUID:
        self.call_action(session.get(Supplier, record_id), ctx)
        return record_id


class ReviseContract(SupplierCommand):
    model_config = example({"contract": _EXAMPLE_CONTRACT, "reason": "Renewed for 2026"})

    action = "revise-contract"
    summary = "Revise the supplier's contract: a new version; holds keep the one they recorded"
    contract: Contract
    reason: str = Reason

    def decide(self, session: Session, ctx: Context, record_id: UUID) -> UUID:
        session.service_catalogue().known(self.contract.services)
        return super().decide(session, ctx, record_id)


class RetireSupplier(SupplierCommand):
    model_config = example({"reason": "The contract ended and was not renewed"})

    action = "retire"
    summary = "Retire a supplier: no new holds await it"
    reason: str = Reason


SUPPLIER_COMMANDS = by_action(ReviseContract, RetireSupplier)
