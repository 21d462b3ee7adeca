"""The criteria for a major incident (ISO/IEC 20000-1 8.6.1, item 38 of docs/iso20000.md): a rule
of record, versioned as the priority matrix is.

The criteria are an aggregate of their own, defined with the defaults on first start and revised
with a reason by a service manager or an admin; each revision is a new version. When an incident
meets them (as it is logged, reprioritised, or as reports of the same outage are linked to it as
its children) the service records on it that a major incident is proposed, naming the criteria
met and the version of the rule (Incident.MajorIncidentProposed), and the incident's group, its
manager and the major-incident broadcast list are told. A person still declares it
(`declare-major`): the rule proposes, it never declares.

- critical service: priority at most `critical_priority` on a service listed in
  `critical_services`;
- related reports: at least `related_reports` children linked within `within_minutes` (the
  reports of one outage gathering under it);
- organisation-wide: priority at most `organisation_wide_priority` on any service (None: not a
  criterion), for an outage that stops every library whatever the service.

The defaults propose only on related reports (10 within an hour): which services are critical is
the office's decision, recorded as a revision with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.aggregate import Aggregate, applies
from domain.command_base import Command
from domain.context import Context
from domain.errors import InvalidRule
from domain.events import DomainEvent
from domain.fields import Reason, Reasoned
from domain.service_catalogue import CODE_PATTERN
from domain.session import Session


class Criterion(StrEnum):
    CRITICAL_SERVICE = "critical-service"
    RELATED_REPORTS = "related-reports"
    ORGANISATION_WIDE = "organisation-wide"


ServiceCode = Annotated[str, Field(pattern=CODE_PATTERN, min_length=1, max_length=40)]


class Criteria(BaseModel):
    """What makes an incident a candidate for a major incident (see the module's docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    critical_services: list[ServiceCode] = Field(
        default_factory=list,
        max_length=100,
        description="the services whose outage is major: codes of the service catalogue",
    )
    critical_priority: int = Field(
        default=1, ge=1, le=5, description="on a critical service, this priority or higher"
    )
    related_reports: int = Field(
        default=10, ge=2, le=500, description="this many children (reports of one outage)..."
    )
    within_minutes: int = Field(
        default=60, ge=1, le=10_080, description="...linked within this many minutes"
    )
    organisation_wide_priority: int | None = Field(
        default=None, ge=1, le=5, description="this priority or higher on any service (null: off)"
    )

    @field_validator("critical_services")
    @classmethod
    def _sorted_once(cls, codes: list[str]) -> list[str]:
        return sorted(set(codes))

    def met(
        self,
        *,
        service: str,
        priority: int,
        children_linked_at: Iterable[datetime] = (),
    ) -> list[Criterion]:
        """The criteria an incident meets: its service, its priority, and when its children
        were linked."""
        found = []
        if service in self.critical_services and priority <= self.critical_priority:
            found.append(Criterion.CRITICAL_SERVICE)
        linked = sorted(children_linked_at)
        window = timedelta(minutes=self.within_minutes)
        n = self.related_reports
        if any(linked[k + n - 1] - linked[k] <= window for k in range(len(linked) - n + 1)):
            found.append(Criterion.RELATED_REPORTS)
        if self.organisation_wide_priority is not None and (
            priority <= self.organisation_wide_priority
        ):
            found.append(Criterion.ORGANISATION_WIDE)
        return found


DEFAULT_CRITERIA = Criteria()


class CriteriaEvent(DomainEvent):
    """The criteria, as defined or as a revision leaves them."""

    criteria: Criteria


class CriteriaDefined(CriteriaEvent):
    type_name: ClassVar[str] = "MajorIncidentCriteria.Defined"


class CriteriaRevised(Reasoned, CriteriaEvent):
    type_name: ClassVar[str] = "MajorIncidentCriteria.Revised"


class MajorIncidentCriteria(Aggregate):
    """There is one rule; its versions are its history."""

    ID: ClassVar[UUID] = uuid5(
        UUID("1d3b5a8e-2c4f-4e6a-9b0d-7f1e3c5a9b2d"), "major-incident-criteria"
    )

    criteria: Criteria

    @classmethod
    def define(cls, ctx: Context, criteria: Criteria) -> MajorIncidentCriteria:
        return cls._begin(ctx, cls.ID, CriteriaDefined, criteria=criteria)

    def revise(self, ctx: Context, criteria: Criteria, reason: str) -> None:
        if criteria == self.criteria:
            raise InvalidRule("the revised criteria are the same as the current ones")
        self._record(CriteriaRevised(**self._envelope(ctx), criteria=criteria, reason=reason))

    @applies(CriteriaDefined, CriteriaRevised)
    def _defined(self, event: CriteriaEvent) -> None:
        self.criteria = event.criteria


class ReviseMajorIncidentCriteria(Command):
    """POST /api/v1/major-incident-criteria/revisions: the criteria from now on, and why; the
    critical services are the service catalogue's."""

    criteria: Criteria
    reason: str = Reason

    def decide(self, session: Session, ctx: Context, rule_id: UUID) -> UUID:
        session.service_catalogue().known(list(self.criteria.critical_services))
        session.get(MajorIncidentCriteria, rule_id).revise(ctx, self.criteria, self.reason)
        return rule_id
