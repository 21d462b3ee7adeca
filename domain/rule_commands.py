"""Commands on the rules of record: the priority matrix, the SLA policy, the business calendars,
the service catalogue.

Each revision is a new version of its aggregate; records keep the version they were judged by.
They take the one command pipeline as every record does (application/pipeline.py): the one
matrix and the one policy are found by their fixed ids, a calendar by its name.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from domain.calendar import BusinessCalendar, HolidayYear, Hours, calendar_id
from domain.change_policy import catalogue_touches, require_implemented_change
from domain.commands import Command
from domain.context import Context
from domain.errors import CalendarNotFound
from domain.fields import Reason
from domain.priority import Cells, PriorityMatrix
from domain.service_catalogue import ServiceCatalogue, Services
from domain.session import Session
from domain.sla import PolicyTerms, SlaPolicy


class RevisePriorityMatrix(Command):
    cells: Cells
    reason: str = Reason

    def decide(self, session: Session, ctx: Context, matrix_id: UUID) -> UUID:
        session.get(PriorityMatrix, matrix_id).revise(ctx, self.cells, self.reason)
        return matrix_id


class ReviseServiceCatalogue(Command):
    services: Services
    reason: str = Reason
    #: The implemented change a revision of services under change control names.
    change: str | None = Field(default=None, min_length=1, max_length=40)

    def decide(self, session: Session, ctx: Context, catalogue_id: UUID) -> UUID:
        catalogue = session.get(ServiceCatalogue, catalogue_id)
        before = catalogue.services
        catalogue.revise(ctx, self.services, self.reason)
        policy = session.change_policy()
        if policy is not None:
            listed = policy.terms.control.services
            touched = catalogue_touches(before, self.services, listed)
            if touched:
                require_implemented_change(session, self.change, touched)
        return catalogue_id


class ReviseSlaPolicy(Command):
    terms: PolicyTerms
    reason: str = Reason

    def decide(self, session: Session, ctx: Context, policy_id: UUID) -> UUID:
        missing = [
            name
            for name in self.terms.calendars()
            if session.find(BusinessCalendar, calendar_id(name)) is None
        ]
        if missing:
            raise CalendarNotFound(f"the policy names calendars that do not exist: {missing}")
        session.service_catalogue().known(list(self.terms.services))
        session.get(SlaPolicy, policy_id).revise(ctx, self.terms, self.reason)
        return policy_id


class AmendHolidays(Command):
    year: int = Field(ge=1970, le=2200)
    holidays: HolidayYear
    reason: str = Reason

    def decide(self, session: Session, ctx: Context, calendar: UUID) -> UUID:
        session.get(BusinessCalendar, calendar).amend_holidays(
            ctx, year=self.year, holidays=self.holidays, reason=self.reason
        )
        return calendar


class ReviseHours(Command):
    hours: Hours
    reason: str = Reason

    def decide(self, session: Session, ctx: Context, calendar: UUID) -> UUID:
        session.get(BusinessCalendar, calendar).revise_hours(
            ctx, hours=self.hours, reason=self.reason
        )
        return calendar
