"""The SLA policy (ISO/IEC 20000-1 8.3.3): targets per priority, and optionally per service.

There is one policy; its versions are its history (like the priority matrix). A version says, per
priority, a response and a resolution target in business minutes; which on-hold reasons pause the
clock; the warning thresholds; and which business calendar the clock runs on (by default, and per
service: the public union catalogue is watched 24x7). Every ticket records the policy version and
the calendar version in force when it was logged (`RuleVersions`), and is judged by those for
ever; a later version judges only tickets logged after it.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar
from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.aggregate import Aggregate, applies
from domain.calendar import NAMESPACE
from domain.context import Context
from domain.errors import InvalidRule
from domain.events import DomainEvent
from domain.fields import Reasoned
from domain.incident import HoldReason
from domain.organisations import KNOWN_ORGANISATION_PATTERN
from domain.rule_versions import RuleVersion, RuleVersions, SlaTarget
from domain.service_catalogue import CODE_PATTERN as SERVICE_CODE

__all__ = ["RuleVersion", "RuleVersions", "SlaTarget"]  # recorded on tickets; see rule_versions

OFFICE = "office"  # Monday to Friday 08:00-16:00 WIB, without holidays
ROUND_THE_CLOCK = "24x7"
LIBRARY = "library"  # Monday to Saturday 08:00-16:00 WIB, without holidays: opening hours


class Targets(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    response_minutes: int = Field(ge=1, le=525_600)
    resolution_minutes: int = Field(ge=1, le=525_600)

    def minutes(self, target: SlaTarget) -> int:
        return self.response_minutes if target is SlaTarget.RESPONSE else self.resolution_minutes


class ServiceTerms(BaseModel):
    """What differs for one service: its calendar, and targets for some priorities."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    calendar: str | None = Field(default=None, min_length=1, max_length=100)
    targets: dict[int, Targets] = Field(default_factory=dict)


class Agreement(BaseModel):
    """A service level agreement with one customer (an organisation the service keeps: the
    province's own office or one of the eight regency/city libraries) for some services: the
    targets and calendar that differ for its tickets, the workload the targets hold for, and the
    exceptions agreed (ISO/IEC 20000-1 8.3.3). What it leaves out is the policy's."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    code: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{0,39}$", max_length=40, examples=["sla-lebak-wifi"]
    )
    name: str = Field(min_length=1, max_length=200)
    customer: str = Field(
        pattern=KNOWN_ORGANISATION_PATTERN, max_length=64, description="an organisation code"
    )
    services: list[Annotated[str, Field(pattern=SERVICE_CODE, max_length=40)]] = Field(
        default_factory=list, max_length=20, description="service catalogue codes; none: all"
    )
    calendar: str | None = Field(default=None, min_length=1, max_length=100)
    targets: dict[int, Targets] = Field(default_factory=dict, description="per priority 1..5")
    #: At most this many tickets a month (incidents and requests of these services) are covered
    #: by its targets; the agreements report sets the month's workload against it.
    workload_limit: int | None = Field(default=None, ge=1, le=1_000_000)
    #: The exceptions agreed, in words (what the document says); those the clock applies are
    #: `closed_days` and `pause_on`.
    exceptions: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list, max_length=20
    )
    closed_days: list[date] = Field(
        default_factory=list,
        max_length=100,
        description="days the customer is closed by agreement (a stock-take, a move): its"
        " tickets' clocks do not run on them, as on a holiday of the calendar",
    )
    pause_on: list[HoldReason] = Field(
        default_factory=list,
        max_length=len(HoldReason),
        description="hold reasons that pause its tickets' clocks besides the policy's",
    )
    document: str | None = Field(default=None, pattern=r"^DOC-\d{6}$", max_length=10)

    def covers(self, service: str, organisation: str | None) -> bool:
        return organisation == self.customer and (not self.services or service in self.services)


class PolicyTerms(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    calendar: str = Field(min_length=1, max_length=100, description="the default calendar")
    targets: dict[int, Targets] = Field(description="per priority 1..5")
    pause_on: list[HoldReason] = Field(
        max_length=len(HoldReason), description="on-hold reasons that pause the clock"
    )
    warn_at: list[int] = Field(
        max_length=10, description="percentages of a target, ascending, e.g. [75, 90]"
    )
    services: dict[str, ServiceTerms] = Field(default_factory=dict)
    agreements: list[Agreement] = Field(
        default_factory=list,
        max_length=100,
        description="per customer: the first that covers a ticket's organisation and service",
    )

    @model_validator(mode="after")
    def _complete(self) -> PolicyTerms:
        if set(self.targets) != {1, 2, 3, 4, 5}:
            raise ValueError("the policy has targets for every priority, 1 to 5")
        if any(not 1 <= p <= 99 for p in self.warn_at) or self.warn_at != sorted(set(self.warn_at)):
            raise ValueError("warning thresholds are distinct percentages 1..99, ascending")
        for service, terms in self.services.items():
            if not set(terms.targets) <= {1, 2, 3, 4, 5}:
                raise ValueError(f"the targets for {service} are for priorities 1 to 5")
        codes = [a.code for a in self.agreements]
        if len(set(codes)) != len(codes):
            raise ValueError("each agreement has a code of its own")
        for agreement in self.agreements:
            if not set(agreement.targets) <= {1, 2, 3, 4, 5}:
                raise ValueError(f"the targets of {agreement.code} are for priorities 1 to 5")
        return self

    def agreement_for(self, service: str, organisation: str | None) -> Agreement | None:
        """The first agreement that covers the organisation's tickets for the service."""
        return next((a for a in self.agreements if a.covers(service, organisation)), None)

    def calendar_for(self, service: str, organisation: str | None = None) -> str:
        agreed = self.agreement_for(service, organisation)
        if agreed is not None and agreed.calendar:
            return agreed.calendar
        special = self.services.get(service)
        return special.calendar if special and special.calendar else self.calendar

    def targets_for(self, service: str, priority: int, organisation: str | None = None) -> Targets:
        """The agreement's targets for the customer, else the service's, else the policy's."""
        agreed = self.agreement_for(service, organisation)
        if agreed is not None and priority in agreed.targets:
            return agreed.targets[priority]
        special = self.services.get(service)
        if special and priority in special.targets:
            return special.targets[priority]
        return self.targets[priority]

    def pauses_for(self, service: str, organisation: str | None = None) -> frozenset[str]:
        """The hold reasons that pause a ticket's clocks: the policy's, and its agreement's."""
        agreed = self.agreement_for(service, organisation)
        extra = agreed.pause_on if agreed is not None else ()
        return frozenset(str(r) for r in (*self.pause_on, *extra))

    def closed_days_for(self, service: str, organisation: str | None = None) -> frozenset[date]:
        """The days the ticket's agreement closes besides its calendar's holidays."""
        agreed = self.agreement_for(service, organisation)
        return frozenset(agreed.closed_days) if agreed is not None else frozenset()

    def calendars(self) -> set[str]:
        return {
            self.calendar,
            *(t.calendar for t in self.services.values() if t.calendar),
            *(a.calendar for a in self.agreements if a.calendar),
        }


def _hours(h: int) -> int:
    return h * 60


DEFAULT_TERMS = PolicyTerms(
    calendar=OFFICE,
    # business time: one office day is 8 hours
    targets={
        1: Targets(response_minutes=30, resolution_minutes=_hours(4)),
        2: Targets(response_minutes=60, resolution_minutes=_hours(8)),
        3: Targets(response_minutes=_hours(4), resolution_minutes=_hours(24)),
        4: Targets(response_minutes=_hours(8), resolution_minutes=_hours(40)),
        5: Targets(response_minutes=_hours(16), resolution_minutes=_hours(80)),
    },
    # Waiting for the caller, or for a supplier under its own contract, is not the desk's time;
    # waiting for our own change is.
    pause_on=[HoldReason.AWAITING_CALLER, HoldReason.AWAITING_SUPPLIER],
    warn_at=[75, 90],
    # Batupusaka (the union catalogue, with online renewal) is used around the clock
    services={"batupusaka": ServiceTerms(calendar=ROUND_THE_CLOCK)},
)


class PolicyEvent(DomainEvent):
    """The policy's terms, as defined or as a revision leaves them."""

    terms: PolicyTerms


class PolicyDefined(PolicyEvent):
    type_name: ClassVar[str] = "SlaPolicy.Defined"


class PolicyRevised(Reasoned, PolicyEvent):
    type_name: ClassVar[str] = "SlaPolicy.Revised"


class SlaPolicy(Aggregate):
    ID: ClassVar[UUID] = uuid5(NAMESPACE, "sla-policy")

    terms: PolicyTerms

    @classmethod
    def define(cls, ctx: Context, terms: PolicyTerms) -> SlaPolicy:
        return cls._begin(ctx, cls.ID, PolicyDefined, terms=terms)

    def revise(self, ctx: Context, terms: PolicyTerms, reason: str) -> None:
        if terms == self.terms:
            raise InvalidRule("the revised policy is the same as the current one")
        self._record(PolicyRevised(**self._envelope(ctx), terms=terms, reason=reason))

    @applies(PolicyDefined, PolicyRevised)
    def _defined(self, event: PolicyEvent) -> None:
        self.terms = event.terms
