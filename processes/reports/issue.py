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
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Protocol

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
from processes.running import Running
from projections.issued_reports import issued_reports

if TYPE_CHECKING:
    from application.desk import ServiceDesk
    from audit.chain import Checkpoint
    from audit.service import Audit

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


#: How the schedule makes a month's reports: (month, report names) -> the reports, in that order.
#: In `itsm serve` they are made in a process of their own (service/reports_apart.py).
MakeReports = Callable[[str, Sequence[str]], list[dict[str, Any]]]


def make_month(desk: ServiceDesk, month: str, names: Sequence[str]) -> list[dict[str, Any]]:
    """The month's reports `names`, from the history read once for them all."""
    reading = reports.read(desk, month_period(month))
    return [reports.make(desk, reading, name) for name in names]


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


def issued_already(services: Running, name: str, month: str) -> bool:
    """Whether report `name` of `month` is issued (by anyone: the schedule, a manager, another
    process)."""
    code = issued_report_code(name, month)
    return services.views.get(issued_reports, str(issued_report_id(code))) is not None


def sign(services: ScheduleHost) -> Checkpoint | None:
    """A checkpoint over everything stored so far, the reports just issued included."""
    if services.audit is None:
        return None
    return services.audit.ledger.checkpoint_now()


class ScheduleHost(Running, Protocol):
    """The services the schedule runs in: with their audit ledger, if any, to sign what it
    issued."""

    @property
    def audit(self) -> Audit | None: ...


class ReportSchedule(Follows):
    """Issues last month's reports on the first working day of the month (and on any later tick
    that finds one missing), every `interval` seconds.

    Making them reads the whole history up to the month's end (a minute at 500,000 incidents),
    so `make` can make them elsewhere: `itsm serve` makes them in a process of its own, where
    they do not hold the API's interpreter lock (service/reports_apart.py). Issuing them, the
    events, stays here."""

    def __init__(
        self, services: ScheduleHost, interval: float = 3600.0, make: MakeReports | None = None
    ) -> None:
        self.services = services
        self._make = make or (lambda month, names: make_month(services.desk, month, names))
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
        missing = [name for name in reports.NAMES if not issued_already(services, name, month)]
        if not missing:
            return []
        issued: list[str] = []
        for name, made in zip(missing, self._make(month, missing), strict=True):
            command = IssueReport(report=name, month=month)
            try:
                services.desk.execute(
                    submission(services.system_context(), command, made, "schedule")
                )
            except RecordAlreadyExists:
                continue  # another process issued it first
            issued.append(issued_report_code(name, month))
            log.info("issued report %s (position %s)", issued[-1], made["position"])
        if issued:
            sign(services)
        return issued

    def _follow_step(self) -> bool:
        self.tick()
        return False
