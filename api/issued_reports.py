"""Issued service reports (docs/reports.md): a month's report kept as a record, issued by the
monthly schedule or by a service manager, read as JSON, CSV, HTML or PDF, made again from its
position to check it, and the decisions management takes from it. Service managers, auditors and
admins read them; service managers and admins issue and record decisions."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import replace
from typing import Annotated

from fastapi import Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import (
    CORRELATION_ID,
    IDEMPOTENCY_KEY,
    IF_MATCH,
    ServicesDep,
    authorised,
    documented,
    expected_version,
    idempotency_key,
    services_of,
)
from api.disclosures import disclosed
from api.models import IssuedReportDetails, IssuedReportList, ReportCheck, written
from api.problem_details import NOT_FOUND, ApiProblem
from api.reads import Readable, coded
from api.record_answers import answer, json_response, submitted
from api.record_routes import RecordRoutes
from api.reports import REPORT_READERS, Format, LanguageQuery, rendered
from api.routing import ResourceRouter
from application.kinds import ISSUED_REPORT
from application.pipeline import Submission
from domain.actors import Role
from domain.context import Context
from domain.disclosure import DisclosureKind
from domain.errors import NotFound
from domain.issued_report import (
    CODE_PATTERN,
    IssueReport,
    RecordDecision,
    issued_report_code,
    issued_report_id,
)
from domain.record_numbers import RecordKind
from domain.whatif import REPORTING_ZONE
from processes import reports
from processes.reports.issue import month_period, sign, submission
from projections.issued_reports import issued_reports
from projections.queries import BY_CODE, SHARED, View

router = ResourceRouter(prefix="/issued-reports", tags=["reports"])

CodePath = Annotated[str, Path(max_length=60, pattern=CODE_PATTERN, examples=["2026-11-incidents"])]
NEWEST_FIRST = replace(BY_CODE, descending=True)
#: Every issued report, to those who read reports (the route admits them), newest month first.
ISSUED = Readable(
    View(issued_reports, SHARED, NEWEST_FIRST), "issued report", coded(issued_report_id)
)
ReaderDep = Annotated[Context, authorised(REPORT_READERS, "read issued reports")]
ISSUERS = frozenset({Role.SERVICE_MANAGER, Role.ADMIN})
IssuerDep = Annotated[Context, authorised(ISSUERS, "issue reports and record decisions")]

ROUTES = RecordRoutes(
    router, ISSUED, ISSUED_REPORT, IssuedReportDetails, ref=CodePath, reader=ReaderDep, param="code"
)


@router.post(
    "",
    status_code=201,
    response_model=IssuedReportDetails,
    responses=written(201),
    summary="Issue a month's report now (the schedule issues each on the next month's first"
    " working day)",
    openapi_extra=documented(IDEMPOTENCY_KEY, CORRELATION_ID),
)
async def issue_report(request: Request, ctx: IssuerDep, command: IssueReport) -> Response:
    """Made from the record as stored now, kept with its position and digest, and signed into
    the audit ledger by a checkpoint. Once for a report and month (409 `record-already-exists`);
    the month must have ended (422 `period-not-ended`)."""
    services = services_of(request)
    if command.report not in reports.catalogue():
        raise ApiProblem(
            422, "unknown-report", f"no report {command.report!r}: GET /api/v1/reports"
        )
    today = services.clock().astimezone(REPORTING_ZONE).date()
    if month_period(command.month).last >= today:
        raise ApiProblem(422, "period-not-ended", f"{command.month} has not ended")
    # made in a process of its own: it reads the whole history (a minute at 500k incidents),
    # which in this process would hold the interpreter lock every other request waits for
    made = await asyncio.wrap_future(
        services.reports.submit(month_period(command.month), command.report)
    )
    given = submission(ctx, command, made, "request")
    given = replace(given, idempotency_key=idempotency_key(request))
    services, outcome = await submitted(request, given)
    await run_in_threadpool(sign, services)
    code = issued_report_code(command.report, command.month)
    return await answer(
        services, outcome, issued_reports, f"/api/v1/issued-reports/{code}", 201, ctx=ctx
    )


ROUTES.add_list(
    name="list_issued_reports",
    model=IssuedReportList,
    summary="List issued reports, newest month first, each with the decisions taken from it",
    filters={"report": Annotated[str | None, Query(max_length=40, pattern=r"^[a-z]+$")]},
)
ROUTES.add_read(
    name="get_issued_report",
    summary="Read an issued report as it was issued, with the decisions taken from it",
)


@router.get(
    "/{code}/document",
    summary="An issued report as CSV, an HTML page or a PDF, in Bahasa Indonesia or English",
    response_class=Response,
    responses={
        200: {
            "description": "the report as a document of the format asked for",
            "content": {
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
                "text/html": {"schema": {"type": "string", "format": "binary"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **NOT_FOUND,
    },
)
def issued_report_document(
    code: CodePath,
    request: Request,
    services: ServicesDep,
    ctx: ReaderDep,
    format_: Annotated[Format, Query(alias="format")] = Format.HTML,
    language: LanguageQuery = "id",
) -> Response:
    row = ISSUED.row(services, ctx, code)
    disclosed(request, ctx, DisclosureKind.ISSUED_REPORT, record=code, sha256=row["digest"])
    return rendered(services, row["body"], format_, language, row["issued_at"], code)


@router.get(
    "/{code}/check",
    response_model=ReportCheck,
    summary="Make the report again from the position it was made from, and compare",
    responses=NOT_FOUND,
)
def check_issued_report(code: CodePath, services: ServicesDep, ctx: ReaderDep) -> Response:
    """The report made again from the record up to the position it names: the same digest
    unless the record before that position changed (which the audit ledger would show) or the
    way reports are made changed since (docs/reports.md says what each change of a figure's
    definition means for reports issued before it)."""
    row = ISSUED.row(services, ctx, code)
    body = row["body"]
    period = month_period(body["period"]["from"][:7])
    again = services.reports.make(period, row["report"], position=row["position"])
    return json_response(
        {
            "code": code,
            "position": row["position"],
            "issued_digest": row["digest"],
            "digest_now": again["digest"],
            "same": again["digest"] == row["digest"],
        }
    )


@router.post(
    "/{code}/record-decision",
    response_model=IssuedReportDetails,
    responses=written(),
    summary=RecordDecision.summary,
    description=RecordDecision.__doc__ or RecordDecision.summary,
    openapi_extra=documented(IF_MATCH, IDEMPOTENCY_KEY, CORRELATION_ID),
)
async def record_decision(
    code: CodePath, request: Request, ctx: IssuerDep, command: RecordDecision
) -> Response:
    services = services_of(request)
    improvement = None
    # a number that names no improvement is refused as an invalid command (422) when decided
    with suppress(NotFound):
        if command.improvement is not None:
            improvement = services.desk.find_numbered(RecordKind.IMPROVEMENT, command.improvement)
    record_id = issued_report_id(code)
    services, outcome = await submitted(
        request,
        Submission(
            ctx,
            command,
            ISSUED_REPORT,
            ref=code,
            operation="issued_report:record-decision",
            decision=lambda session: command.decide(session, ctx, record_id, improvement),
            expected_version=expected_version(request),
            idempotency_key=idempotency_key(request),
        ),
    )
    return await answer(
        services, outcome, issued_reports, f"/api/v1/issued-reports/{code}", 200, ctx=ctx
    )
