"""Service reports (docs/reports.md): the report catalogue, and any report of a period that has
ended, as JSON, CSV, an HTML page or a PDF. Service managers, auditors and admins ask (reports
count every organisation's records). A report is made from the record as stored when it is asked
for; it names the position it read up to and the digest of its figures."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request, Response

from api.deps import ServicesDep, authorised
from api.disclosures import disclosed
from api.models import ReportCatalogue, ServiceReport
from api.problem_details import NOT_FOUND, ApiProblem
from api.record_answers import json_response
from api.routing import ResourceRouter
from domain.actors import Role
from domain.context import Context
from domain.disclosure import DisclosureKind
from domain.whatif import REPORTING_ZONE
from processes import reports
from processes.reports import Language, catalogue, render
from processes.reports.figures import Period
from service.bootstrap import Services

router = ResourceRouter(prefix="/reports", tags=["reports"])

REPORT_READERS = frozenset({Role.SERVICE_MANAGER, Role.AUDITOR, Role.ADMIN})
ReaderDep = Annotated[Context, authorised(REPORT_READERS, "read service reports")]
#: The longest period one report covers.
MAX_DAYS = 366


class Format(StrEnum):
    JSON = "json"
    CSV = "csv"
    HTML = "html"
    PDF = "pdf"


MEDIA_TYPES = {
    Format.JSON: "application/json",
    Format.CSV: "text/csv; charset=utf-8",
    Format.HTML: "text/html; charset=utf-8",
    Format.PDF: "application/pdf",
}
#: A report page is shown as it is: no script, nothing fetched, in a sandbox.
PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"

LanguageQuery = Annotated[
    Literal["id", "en"], Query(alias="lang", description="id (Bahasa Indonesia) or en")
]
ReportName = Annotated[
    str, Path(max_length=40, pattern=r"^[a-z]+$", description="a name of the report catalogue")
]


@router.get(
    "",
    response_model=ReportCatalogue,
    summary="The report catalogue: each report's purpose, audience, frequency and figures",
)
def report_catalogue(_: ReaderDep, language: LanguageQuery = "id") -> Response:
    """Every report the service makes, with the definition of each figure it shows (ISO/IEC
    20000-1 9.1's metric catalogue, 9.4's reporting requirements)."""
    return json_response({"reports": [_entry(d, language) for d in catalogue().values()]})


def _entry(definition: reports.ReportDefinition, language: Language) -> dict[str, Any]:
    words = definition.words(language)
    return {
        "name": definition.name,
        "title": words.title,
        "purpose": words.purpose,
        "clauses": definition.clauses,
        "owner": definition.owner,
        "frequency": definition.frequency,
        "audience": definition.audience,
        "dimensions": definition.dimensions,
        "measures": [
            {"name": name, "unit": m.unit, "definition": m.said_in(language)}
            for name, m in definition.measures.items()
        ],
    }


def last_month(today: date) -> Period:
    first = today.replace(day=1) - timedelta(days=1)
    return Period.month(first.year, first.month)


@router.get(
    "/{name}",
    response_model=ServiceReport,
    summary="A service report of a period that has ended (JSON, CSV, HTML or PDF)",
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            }
        },
        **NOT_FOUND,
    },
)
def service_report(
    name: ReportName,
    request: Request,
    services: ServicesDep,
    ctx: ReaderDep,
    since: Annotated[
        date | None,
        Query(alias="from", description="first day (Asia/Jakarta); default: last month's"),
    ] = None,
    until: Annotated[
        date | None, Query(alias="to", description="last day, before today; default: last month's")
    ] = None,
    format_: Annotated[Format, Query(alias="format")] = Format.JSON,
    language: LanguageQuery = "id",
) -> Response:
    """The figures for the whole period, for each value of each of the report's dimensions, and
    for each month, as the catalogue defines them. Clocked records are judged by the rules they
    recorded, as of the period's end. `from` and `to` are office days, both included; the period
    must have ended (`to` before today) and span at most 366 days."""
    if name not in catalogue():
        raise ApiProblem(404, "not-found", f"no report {name!r}: GET /api/v1/reports lists them")
    now = services.clock()
    today = now.astimezone(REPORTING_ZONE).date()
    default = last_month(today)
    period = _period(since or default.first, until or default.last, today)
    made = services.reports.make(period, name)  # in a child: it reads the whole history
    filename = f"{name}-{period.first}-{period.last}"
    disclosed(request, ctx, DisclosureKind.REPORT, record=filename, sha256=made["digest"])
    return rendered(services, made, format_, language, now, filename)


def rendered(
    services: Services,
    made: dict[str, Any],
    format_: Format,
    language: Language,
    generated: datetime | str,
    filename: str,
) -> Response:
    """A report (processes/reports.make's) as CSV, an HTML page or a PDF (or as made: JSON)."""
    if format_ is Format.JSON:
        return json_response(made)
    at = datetime.fromisoformat(generated) if isinstance(generated, str) else generated
    labels = render.Labels(language, services.desk.service_catalogue().name_of)
    headers: dict[str, str] = {"Content-Language": language}
    if format_ is Format.CSV:
        body: str | bytes = render.csv_text(made, labels)
        headers["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    elif format_ is Format.HTML:
        body = render.html(made, labels, at)
        headers["Content-Security-Policy"] = PAGE_POLICY
    else:
        body = render.pdf(made, labels, at)
        headers["Content-Disposition"] = f'attachment; filename="{filename}.pdf"'
    return Response(body, media_type=MEDIA_TYPES[format_], headers=headers)


def _period(first: date, last: date, today: date) -> Period:
    if last < first:
        raise ApiProblem(
            422, "invalid-period", f"the period ends ({last}) before it starts ({first})"
        )
    if last >= today:
        raise ApiProblem(
            422, "period-not-ended", f"a report is of a period that has ended: `to` before {today}"
        )
    if (last - first).days >= MAX_DAYS:
        raise ApiProblem(422, "invalid-period", f"a report spans at most {MAX_DAYS} days")
    return Period(first, last)
