"""The change policy (ISO/IEC 20000-1 8.5.1): one versioned rule, like the priority matrix.

It says three things, each judged by the version in force when a change is judged (the change
records that version):

- **the approval matrix**: for a normal or emergency change, by its risk, which roles may
  approve and the least quorum. `assess` refuses a CAB or a quorum below it; `approve` refuses an
  approver who holds none of its roles (by their token or the directory).
- **the criteria for changes with major impact**: what it does to a service, its risk, touching
  an item of a critical level or a critical service, or more than so many items. A change that
  meets one is routed to service design and transition (Change.RoutedToDesignAndTransition names
  the criteria met) and is not authorised before a design-and-transition acceptance is recorded.
- **what is under change control**: the configuration item types whose records change only
  through an implemented change, and the services a catalogue revision may add, retire or
  change only naming one.

The policy is defined with the defaults below on first start; a service manager or an admin
revises it with a reason; any version stays readable.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Self, TypeAlias, TypeVar
from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.actors import Role
from domain.aggregate import Aggregate, applies
from domain.change import Change, ChangeKind, Risk, ServiceAction
from domain.commands import Command
from domain.configuration_item import CiType, Criticality
from domain.context import Context
from domain.errors import ChangeNotImplemented, NothingChanged, NotPermitted
from domain.events import DomainEvent
from domain.fields import Reason, Reasoned
from domain.record_numbers import RecordKind, number_label
from domain.service_catalogue import CODE_PATTERN as SERVICE_CODE_PATTERN
from domain.service_catalogue import Services
from domain.session import Session

#: The kinds the matrix judges: a standard change is authorised by its template.
JUDGED_KINDS = (ChangeKind.NORMAL, ChangeKind.EMERGENCY)
ServiceCode = Field(pattern=SERVICE_CODE_PATTERN, min_length=1, max_length=40)
#: A list's service catalogue code, bounded.
ListedService: TypeAlias = Annotated[str, ServiceCode]


T = TypeVar("T")


def _distinct(values: list[T]) -> list[T]:
    if len(set(values)) != len(values):
        raise ValueError("each value is named once")
    return values


class Approvers(BaseModel):
    """Who may approve a change of one kind and risk, and how many of them at least."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    roles: list[Role] = Field(min_length=1, max_length=10)
    quorum: int = Field(ge=1, le=50)

    _distinct_roles = field_validator("roles")(_distinct)


class MajorCriteria(BaseModel):
    """What makes a change one of major impact (8.5.1.1), to be routed to service design and
    transition: any one of them."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    service_actions: list[ServiceAction] = Field(default_factory=list, max_length=5)
    risks: list[Risk] = Field(default_factory=list, max_length=3)
    #: An item the change names of one of these criticality levels.
    item_criticality: list[Criticality] = Field(default_factory=list, max_length=4)
    #: A service the change names, or one the CMDB says depends on its items, of these.
    critical_services: list[ListedService] = Field(default_factory=list, max_length=100)
    #: More than this many configuration items (None: no such criterion).
    more_items_than: int | None = Field(default=None, ge=1, le=1_000)

    _distinct_actions = field_validator("service_actions")(_distinct)
    _distinct_risks = field_validator("risks")(_distinct)
    _distinct_levels = field_validator("item_criticality")(_distinct)
    _distinct_services = field_validator("critical_services")(_distinct)

    @field_validator("service_actions")
    @classmethod
    def _an_action(cls, actions: list[ServiceAction]) -> list[ServiceAction]:
        if ServiceAction.NONE in actions:
            raise ValueError("a change that does nothing to a service is not of major impact")
        return actions


class ChangeControl(BaseModel):
    """What changes only through a change."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    #: Configuration item types whose records change only through an implemented change.
    ci_types: list[CiType] = Field(max_length=len(CiType))
    #: Services a catalogue revision adds, retires or changes only naming an implemented change.
    services: list[ListedService] = Field(max_length=100)

    _distinct_types = field_validator("ci_types")(_distinct)
    _distinct_services = field_validator("services")(_distinct)


class ChangePolicyTerms(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    #: By kind (normal, emergency), then risk: who approves and the least quorum.
    approval: dict[ChangeKind, dict[Risk, Approvers]]
    major: MajorCriteria
    control: ChangeControl

    @model_validator(mode="after")
    def _every_cell(self) -> Self:
        if set(self.approval) != set(JUDGED_KINDS):
            raise ValueError("the matrix names approvers for normal and emergency changes only")
        for kind, by_risk in self.approval.items():
            if set(by_risk) != set(Risk):
                raise ValueError(f"the matrix names approvers for every risk of a {kind} change")
        return self

    def approvers(self, kind: ChangeKind, risk: Risk) -> Approvers:
        return self.approval[kind][risk]


#: What a new service starts with: a CAB member or change manager approves a normal change of
#: low or medium risk, two of them and a service manager's role among the allowed a high one;
#: an emergency CAB of one; major impact is a service added, retired or transferred, a high
#: risk, a critical item, or more than ten items; every item type and the core library systems
#: are under change control.
DEFAULT_TERMS = ChangePolicyTerms(
    approval={
        ChangeKind.NORMAL: {
            Risk.LOW: Approvers(roles=[Role.CAB_MEMBER, Role.CHANGE_MANAGER], quorum=1),
            Risk.MEDIUM: Approvers(roles=[Role.CAB_MEMBER, Role.CHANGE_MANAGER], quorum=1),
            Risk.HIGH: Approvers(
                roles=[Role.CAB_MEMBER, Role.CHANGE_MANAGER, Role.SERVICE_MANAGER], quorum=2
            ),
        },
        ChangeKind.EMERGENCY: {
            risk: Approvers(
                roles=[Role.CAB_MEMBER, Role.CHANGE_MANAGER, Role.SERVICE_MANAGER], quorum=1
            )
            for risk in Risk
        },
    },
    major=MajorCriteria(
        service_actions=[ServiceAction.ADD, ServiceAction.REMOVE, ServiceAction.TRANSFER],
        risks=[Risk.HIGH],
        item_criticality=[Criticality.CRITICAL],
        critical_services=[],
        more_items_than=10,
    ),
    control=ChangeControl(
        ci_types=list(CiType),
        services=["inlislite-slims", "circulation", "catalogue-search", "batupusaka"],
    ),
)


def major_criteria_met(
    criteria: MajorCriteria,
    *,
    service_action: ServiceAction,
    risk: Risk | None,
    items: dict[str, Criticality],
    services: list[str],
) -> list[str]:
    """The criteria a change meets, each said in words naming what met it (empty: none)."""
    met = []
    if service_action in criteria.service_actions:
        met.append(f"service action: {service_action}")
    if risk is not None and risk in criteria.risks:
        met.append(f"risk: {risk}")
    critical = sorted(code for code, level in items.items() if level in criteria.item_criticality)
    if critical:
        met.append(f"critical items: {', '.join(critical)}")
    touched = sorted(set(services) & set(criteria.critical_services))
    if touched:
        met.append(f"critical services: {', '.join(touched)}")
    if criteria.more_items_than is not None and len(items) > criteria.more_items_than:
        met.append(f"items: {len(items)} (more than {criteria.more_items_than})")
    return met


def catalogue_touches(before: Services, after: Services, listed: list[str]) -> list[str]:
    """The services under change control a catalogue revision adds, retires or changes."""
    old = {service.code: service for service in before}
    return [s.code for s in after if s.code in listed and old.get(s.code) != s]


def require_implemented_change(session: Session, ref: str | None, services: list[str]) -> None:
    """A revision of services under change control names a change that was implemented
    successfully, names those services and does something to a service (ChangeNotImplemented,
    409, otherwise)."""
    listed = ", ".join(services)
    if ref is None:
        raise ChangeNotImplemented(
            f"{listed} are under change control: name the implemented change (`change`)"
        )
    change = session.get(Change, session.find_numbered(RecordKind.CHANGE, ref), ref)
    label = number_label(RecordKind.CHANGE, change.number)
    if not change.implemented_successfully:
        raise ChangeNotImplemented(f"{label} is {change.state}: not implemented successfully")
    missing = sorted(set(services) - set(change.services))
    if missing or change.service_action is ServiceAction.NONE:
        raise ChangeNotImplemented(
            f"{label} does not change the services {', '.join(missing or services)}"
        )


# -- events ------------------------------------------------------------------------------------


class PolicyEvent(DomainEvent):
    """The policy's terms, as defined or as a revision leaves them."""

    terms: ChangePolicyTerms


class PolicyDefined(PolicyEvent):
    type_name: ClassVar[str] = "ChangePolicy.Defined"


class PolicyRevised(Reasoned, PolicyEvent):
    type_name: ClassVar[str] = "ChangePolicy.Revised"


class ChangePolicy(Aggregate, events=PolicyEvent):
    """There is one change policy; its versions are its history."""

    KIND: ClassVar[str] = "change policy"
    ID: ClassVar[UUID] = uuid5(UUID("1d3b5a8e-2c4f-4e6a-9b0d-7f1e3c5a9b2d"), "change-policy")

    terms: ChangePolicyTerms

    @classmethod
    def define(cls, ctx: Context, terms: ChangePolicyTerms = DEFAULT_TERMS) -> ChangePolicy:
        return cls._begin(ctx, cls.ID, PolicyDefined, terms=terms)

    def revise(self, ctx: Context, terms: ChangePolicyTerms, reason: str) -> None:
        if ctx.actor.role not in (Role.SERVICE_MANAGER, Role.ADMIN):
            raise NotPermitted("the change policy is revised by a service manager")
        if terms == self.terms:
            raise NothingChanged("the revised policy is the same as the one in force")
        self._record(PolicyRevised(**self._envelope(ctx), terms=terms, reason=reason))

    @applies(PolicyDefined, PolicyRevised)
    def _defined(self, event: PolicyEvent) -> None:
        self.terms = event.terms


class ReviseChangePolicy(Command):
    """A new version of the change policy (a service manager or admin), saying why."""

    terms: ChangePolicyTerms
    reason: str = Reason

    def decide(self, session: Session, ctx: Context, policy_id: UUID) -> UUID:
        session.get(ChangePolicy, policy_id).revise(ctx, self.terms, self.reason)
        return policy_id
