"""What-if comparisons on the service manager's dashboard (docs/console.md, "What-if"): a period's
incidents judged again under other SLA rules, beside the rules of record, as the API's what-if
runs them (docs/whatif.md: the same job, the same report; the record is only read).

- `GET /console/whatif`: the question: a period of logging, other resolution targets for any
  priority (hours; empty: as of record), and whether *cuti bersama* had been working days (the
  office calendar without them);
- `POST /console/whatif`: the run started (a job of the API's what-if runner), then its page;
- `GET /console/whatif/{job}`: running, it refreshes itself every few seconds (no script: a
  refresh header); done, the figures record beside what-if (all, by priority, by month, the
  tickets that flip) and the compliance chart by month (matplotlib); failed, why.

For whom the API's what-if serves: service managers, auditors, admins (api/whatif.py ANALYSTS).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from api.deps import services_of
from api.whatif import ANALYSTS
from console import auth
from console.render import render
from domain.calendar import HolidayKind
from domain.errors import DomainError
from domain.sla import PolicyTerms
from domain.whatif import REPORTING_ZONE
from processes.reports import render as report_render
from processes.whatif import CalendarFile, WhatIf
from processes.whatif_output import chart

router = APIRouter(prefix="/console", include_in_schema=False)

PRIORITIES = (1, 2, 3, 4, 5)
#: The longest resolution target a what-if may ask for, in hours (a year).
MAX_HOURS = 8_760
#: The longest period a console what-if judges (a year, as a report's).
MAX_DAYS = 366
#: The period asked unless another is: the ninety days ending yesterday (office days, Jakarta).
DEFAULT_DAYS = 90
#: How often a running what-if's page asks again, in seconds.
REFRESH = 3
#: The flips a page lists (the API's report holds every one).
FLIPS_SHOWN = 20
#: The calendar whose *cuti bersama* a what-if may make working days.
OFFICE = "office"


@dataclass
class Question:
    """What the form asks, as typed, with each field's error (a message key)."""

    since: str
    until: str
    hours: dict[int, str] = field(default_factory=dict)
    cuti_bersama_working: bool = False
    errors: dict[str, str] = field(default_factory=dict)


@router.get("/whatif")
async def whatif_form(request: Request) -> Response:
    who = await auth.visitor(request)
    if who.role not in ANALYSTS:
        return render(request, "error.html", who, status=403, problem="forbidden")
    today = services_of(request).clock().astimezone(REPORTING_ZONE).date()
    last = today - timedelta(days=1)
    asked = Question((last - timedelta(days=DEFAULT_DAYS - 1)).isoformat(), last.isoformat())
    return _form(request, who, asked)


@router.post("/whatif")
async def whatif_start(request: Request) -> Response:
    who, posted = await auth.posted(request, ANALYSTS)
    services = services_of(request)
    asked = _asked(posted)
    terms = services.desk.sla_policy(None).terms
    whatif = _whatif(asked, terms, services.desk.business_calendar(OFFICE))
    if whatif is None:
        return _form(request, who, asked, status=422)
    try:
        job = services.whatif_jobs.submit(who.ctx, whatif)
    except DomainError:  # a rule the service would refuse: said beside the targets
        asked.errors["targets"] = "whatif.error.rule"
        return _form(request, who, asked, status=422)
    return RedirectResponse(f"/console/whatif/{job}", status_code=303)


@router.get("/whatif/{job}")
async def whatif_page(request: Request, job: Annotated[UUID, Path()]) -> Response:
    who = await auth.visitor(request)
    if who.role not in ANALYSTS:
        return render(request, "error.html", who, status=403, problem="forbidden")
    found = services_of(request).whatif_jobs.get(job)
    if found is None:
        return render(request, "error.html", who, status=404, problem="not-found")
    report = found.get("report")
    response = render(
        request,
        "whatif.html",
        who,
        job=found,
        asked=found["request"],
        report=report,
        by_priority=_rows(report, "priority"),
        by_month=_rows(report, "month"),
        flips=(report or {}).get("flips", [])[:FLIPS_SHOWN],
        chart=_chart(report, who.lang) if report and _rows(report, "month") else None,
        refresh=REFRESH,
    )
    if found["status"] == "running":
        response.headers["Refresh"] = str(REFRESH)
    return response


def _form(request: Request, who: auth.Visitor, asked: Question, status: int = 200) -> Response:
    policy = services_of(request).desk.sla_policy(None).terms
    of_record = {p: policy.targets[p].resolution_minutes / 60 for p in PRIORITIES}
    return render(
        request,
        "whatif_form.html",
        who,
        status=status,
        asked=asked,
        priorities=PRIORITIES,
        of_record=of_record,
        max_hours=MAX_HOURS,
    )


def _asked(posted: FormData) -> Question:
    def given(name: str) -> str:
        value = posted.get(name)
        return value.strip()[:20] if isinstance(value, str) else ""

    return Question(
        since=given("from"),
        until=given("to"),
        hours={p: given(f"p{p}") for p in PRIORITIES},
        cuti_bersama_working=posted.get("cuti_bersama") is not None,
    )


def _whatif(asked: Question, terms: PolicyTerms, office: Any) -> WhatIf | None:
    """The what-if the question makes, or None with the question's errors filled in."""
    since, until = _day(asked.since), _day(asked.until)
    if since is None:
        asked.errors["from"] = "whatif.error.day"
    if until is None:
        asked.errors["to"] = "whatif.error.day"
    if since is not None and until is not None and not 0 <= (until - since).days < MAX_DAYS:
        asked.errors["to"] = "whatif.error.period"
    targets = dict(terms.targets)
    for priority, typed in asked.hours.items():
        if not typed:
            continue
        hours = int(typed) if typed.isdigit() else 0
        if not 1 <= hours <= MAX_HOURS:
            asked.errors[f"p{priority}"] = "whatif.error.hours"
            continue
        targets[priority] = targets[priority].model_copy(update={"resolution_minutes": hours * 60})
    changed = targets != terms.targets
    if not changed and not asked.cuti_bersama_working:
        asked.errors["targets"] = "whatif.error.nothing"
    if asked.errors:
        return None
    calendars = [_without_cuti_bersama(office)] if asked.cuti_bersama_working else []
    policy = PolicyTerms.model_validate({**terms.model_dump(), "targets": targets})
    return WhatIf(policy=policy if changed else None, calendars=calendars, since=since, until=until)


def _without_cuti_bersama(office: Any) -> CalendarFile:
    """The office calendar in force, its *cuti bersama* days worked (national holidays kept)."""
    years = {
        year: entry.model_copy(
            update={"holidays": [h for h in entry.holidays if h.kind != HolidayKind.CUTI_BERSAMA]}
        )
        for year, entry in office.years.items()
    }
    return CalendarFile(name=OFFICE, time_zone=office.time_zone, hours=office.hours, years=years)


def _day(typed: str) -> date | None:
    try:
        return date.fromisoformat(typed)
    except ValueError:
        return None


def _rows(report: dict[str, Any] | None, dimension: str) -> list[dict[str, Any]]:
    return [r for r in (report or {}).get("rows", []) if r["dimension"] == dimension]


def _chart(report: dict[str, Any], lang: str) -> str:
    """The compliance chart by month, as an image the page shows (an SVG as a data: URI)."""
    svg = report_render.svg(chart(report, "en" if lang == "en" else "id"))
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
