"""Issuing service reports (ISO/IEC 20000-1 9.4; docs/reports.md): a report of a month made from
the record and kept as an issued report, on the first working day of the next month by the
office's business calendar (Asia/Jakarta), and on a service manager's request.

Issuing is idempotent: a report and month are issued once (the record's id derives from them),
so two schedules, a restart, or a manager and the schedule together write it once. After
issuing, the audit ledger signs a checkpoint over it, so the report is under a signature at once
rather than at the ledger's next interval.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from application.kinds import ISSUED_REPORT
from application.pipeline import Submission
from domain.calendar import CalendarSpec
from domain.context import Context
from domain.errors import RecordAlreadyExists
from domain.issued_report import IssueReport, issued_report_code, issued_report_id
from domain.whatif import REPORTING_ZONE
from infra.follower import Follower, Follows
from processes import reports
from processes.reports.figures import Period
from projections.issued_reports import issued_reports

if TYPE_CHECKING:
    from audit.chain import Checkpoint
    from service.bootstrap import Services

log = logging.getLogger(__name__)

#: The business calendar whose first working day of a month issues the last month's reports.
OFFICE_CALENDAR = "office"


def month_period(month: str) -> Period:
    year, number = (int(part) for part in month.split("-"))
    return Period.month(year, number)


def month_before(day: date) -> str:
    return f"{day.replace(day=1) - timedelta(days=1):%Y-%m}"


def first_working_day(calendar: CalendarSpec, year: int, month: int) -> date:
    """The month's first day with working hours (its first day if a month had none)."""
    first = day = date(year, month, 1)
    while day.month == month:
        if calendar.windows(day):
            return day
        day += timedelta(days=1)
    return first


def due_month(calendar: CalendarSpec, today: date) -> str | None:
    """The month whose reports are due by `today`: last month's, from this month's first working
    day on; None before it."""
    if today < first_working_day(calendar, today.year, today.month):
        return None
    return month_before(today)


def make_for(
    services: Services, command: IssueReport, reading: reports.Reading | None = None
) -> dict[str, Any]:
    """The report the command asks to issue, made from the record as stored now (from
    `reading`, the month's history read once for all its reports, where one is given)."""
    desk = services.desk
    if reading is None:
        reading = reports.read(desk, month_period(command.month))
    return reports.make(desk, reading, command.report)


def submission(
    ctx: Context, command: IssueReport, made: dict[str, Any], trigger: str
) -> Submission:
    return Submission(
        ctx,
        command,
        ISSUED_REPORT,
        operation="issued_report:issue",
        decision=lambda session: command.decide(session, ctx, made, trigger),
    )


def sign(services: Services) -> Checkpoint | None:
    """A checkpoint over everything stored so far, the reports just issued included."""
    if services.audit is None:
        return None
    return services.audit.ledger.checkpoint_now()


class ReportSchedule(Follows):
    """Issues last month's reports on the first working day of the month (and on any later tick
    that finds one missing), every `interval` seconds."""

    def __init__(self, services: Services, interval: float = 3600.0) -> None:
        self.services = services
        self._follower = Follower(
            "report-schedule", self._follow_step, idle=interval, log=log, backoff=(1.0, interval)
        )

    def tick(self) -> list[str]:
        """The codes of the reports this tick issued."""
        services = self.services
        today = services.clock().astimezone(REPORTING_ZONE).date()
        calendar = services.desk.business_calendar(OFFICE_CALENDAR).spec()
        month = due_month(calendar, today)
        if month is None:
            return []
        issued: list[str] = []
        reading = None  # the month's history, read once for every report still to issue
        for name in reports.NAMES:
            code = issued_report_code(name, month)
            if services.views.get(issued_reports, str(issued_report_id(code))) is not None:
                continue
            command = IssueReport(report=name, month=month)
            reading = reading or reports.read(services.desk, month_period(month))
            made = make_for(services, command, reading)
            try:
                services.desk.execute(
                    submission(services.system_context(), command, made, "schedule")
                )
            except RecordAlreadyExists:
                continue  # another process issued it first
            issued.append(code)
            log.info("issued report %s (position %s)", code, made["position"])
        if issued:
            sign(services)
        return issued

    def _follow_step(self) -> bool:
        self.tick()
        return False
