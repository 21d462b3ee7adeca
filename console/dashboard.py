"""The service manager's dashboard (docs/console.md, "Dashboard"): a period's incidents as the
service reports count them (processes/reports: the same figures, definitions and rules of record
as `GET /api/v1/reports/incidents`), as headline figures, charts made by matplotlib, and the
reports themselves to download (HTML, PDF, CSV) for any ended period.

For service managers, auditors and admins: whom the API's reports serve (api/reports.py
REPORT_READERS). A report handed out is recorded as a disclosure, as over the API.
"""

from __future__ import annotations

import asyncio
import base64
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from api.deps import services_of
from api.disclosures import disclosed
from api.reports import MAX_DAYS, REPORT_READERS, Format, rendered
from console import auth
from console.i18n import translations
from console.render import render
from domain.disclosure import DisclosureKind
from domain.whatif import REPORTING_ZONE
from processes.reports import Language, catalogue
from processes.reports import render as report_render
from processes.reports.figures import Period

router = APIRouter(prefix="/console", include_in_schema=False)

#: The headline figures, in order (the catalogue's `incidents` measures).
HEADLINES = (
    "logged",
    "response_met_pct",
    "resolution_met_pct",
    "backlog",
    "backlog_median_age_days",
    "satisfaction_mean",
)
BACKLOG_AGES = ("backlog_under_1d", "backlog_1_7d", "backlog_7_30d", "backlog_over_30d")
#: The days a dashboard shows unless asked: the thirty ending yesterday (office days, Jakarta).
DEFAULT_DAYS = 30
Day = Annotated[date | None, Query()]


def _period(first: date | None, last: date | None, today: date) -> Period | None:
    """The period asked for, ended and within a report's span; None if it is not one."""
    last = last or today - timedelta(days=1)
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first or last >= today or (last - first).days >= MAX_DAYS:
        return None
    return Period(first, last)


def _chart(figure: Any) -> str:
    """A chart as an image the page shows (an SVG as a data: URI: the page's policy allows
    images from data:, and an SVG shown as an image runs nothing)."""
    return (
        "data:image/svg+xml;base64," + base64.b64encode(report_render.svg(figure).encode()).decode()
    )


def _by(made: dict[str, Any], dimension: str, labels: report_render.Labels, title: str) -> Any:
    """The period's incidents logged per key of a dimension (horizontal bars, largest on top)."""
    from matplotlib.figure import Figure

    rows = sorted(
        (r for r in made["rows"] if r["dimension"] == dimension),
        key=lambda r: r["figures"].get("logged") or 0,
    )
    figure = Figure(figsize=(8, max(2.0, 0.35 * len(rows) + 1)), layout="constrained")
    axes = figure.add_subplot()
    axes.barh(
        [labels.of(dimension, r["key"]) for r in rows],
        [r["figures"].get("logged") or 0 for r in rows],
        color="#0b4f6c",
    )
    axes.set_title(title, fontsize=10)
    axes.tick_params(axis="y", labelsize=8)
    axes.grid(axis="x", alpha=0.3)
    return figure


def _ages(made: dict[str, Any], names: list[str], title: str) -> Any:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 2.6), layout="constrained")
    axes = figure.add_subplot()
    axes.bar(names, [made["total"].get(m) or 0 for m in BACKLOG_AGES], color="#7a4b00")
    axes.set_title(title, fontsize=10)
    axes.grid(axis="y", alpha=0.3)
    return figure


@router.get("/dashboard")
async def dashboard(
    request: Request,
    since: Annotated[date | None, Query(alias="from")] = None,
    until: Annotated[date | None, Query(alias="to")] = None,
) -> Response:
    who = await auth.visitor(request)
    if who.role not in REPORT_READERS:
        return render(request, "error.html", who, status=403, problem="forbidden")
    services = services_of(request)
    today = services.clock().astimezone(REPORTING_ZONE).date()
    period = _period(since, until, today)
    if period is None:
        return render(request, "error.html", who, status=422, problem="invalid-period")
    made = await asyncio.wrap_future(services.reports.submit(period, "incidents"))
    lang: Language = "en" if who.lang == "en" else "id"
    labels = report_render.Labels(lang, services.desk.service_catalogue().name_of)
    definition = catalogue()["incidents"]
    said = {m: definition.measures[m].said_in(lang) for m in (*HEADLINES, *BACKLOG_AGES)}
    trend, by_service = report_render.charts(made, labels)
    words = _words(who.lang)
    charts = [
        (_chart(trend), words["trend"]),
        (_chart(by_service), words["by_service"]),
        (_chart(_by(made, "organisation", labels, words["by_library"])), words["by_library"]),
        (
            _chart(_ages(made, [said[m] for m in BACKLOG_AGES], words["ages"])),
            words["ages"],
        ),
    ]
    return render(
        request,
        "dashboard.html",
        who,
        period=period,
        figures=made["total"],
        headlines=HEADLINES,
        ages=BACKLOG_AGES,
        said=said,
        charts=charts,
        reports=[(name, d.words(lang).title) for name, d in catalogue().items()],
    )


def _words(lang: str) -> dict[str, str]:
    """The charts' titles and alternative texts, from the catalogue."""
    gettext = translations(lang).gettext
    return {
        "trend": gettext("SLA attainment by month (response and resolution, %)"),
        "by_service": gettext("Incidents logged, by service"),
        "by_library": gettext("Incidents logged, by library"),
        "ages": gettext("Open incidents at the period's end, by age"),
    }


@router.get("/reports/{name}")
async def report_file(
    request: Request,
    name: Annotated[str, Path(max_length=40, pattern=r"^[a-z]+$")],
    since: Annotated[date, Query(alias="from")],
    until: Annotated[date, Query(alias="to")],
    format_: Annotated[Format, Query(alias="format")] = Format.HTML,
) -> Response:
    """A service report to download, as the API hands it out (and recorded as a disclosure)."""
    who = await auth.visitor(request)
    if who.role not in REPORT_READERS or format_ is Format.JSON:
        return render(request, "error.html", who, status=403, problem="forbidden")
    services = services_of(request)
    today = services.clock().astimezone(REPORTING_ZONE).date()
    period = _period(since, until, today)
    if name not in catalogue() or period is None:
        return render(request, "error.html", who, status=404, problem="not-found")
    made = await asyncio.wrap_future(services.reports.submit(period, name))
    filename = f"{name}-{period.first}-{period.last}"
    disclosed(request, who.ctx, DisclosureKind.REPORT, record=filename, sha256=made["digest"])
    lang: Language = "en" if who.lang == "en" else "id"
    return rendered(services, made, format_, lang, services.clock(), filename)
