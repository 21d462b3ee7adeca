"""The FastAPI application. Nothing is built at import time: `create_app(services)`."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from api import (
    attachments,
    audit,
    bulk,
    canned_responses,
    change_policy,
    changes,
    circulation,
    configuration_items,
    directory,
    docs_assets,
    documents,
    health,
    improvements,
    inbound_mail,
    incidents,
    internal_audits,
    issued_reports,
    knowledge,
    legal_holds,
    major_incident_criteria,
    management_review,
    metrics,
    nonconformities,
    notifications,
    priority_matrix,
    problem_details,
    problem_records,
    projection_rebuilds,
    query_parameters,
    queues,
    reports,
    retention,
    saved_filters,
    search,
    service_catalogue,
    service_requests,
    sla,
    suppliers,
    webhook_endpoints,
    whatif,
)
from api.access_log import AccessLog
from api.gate import Gate
from api.guards import FORM_FRAMING, BodyLimit
from application.writer import CommandWriter
from service.bootstrap import Services

API_PREFIX = "/api/v1"

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

DESCRIPTION = """
The record system for the ICT services of the Banten provincial library office: incidents
(ISO/IEC 20000-1 8.6.1), service requests from the catalogue, problems and known errors, changes
with their calendar and templates, configuration items, and knowledge articles (drafted,
reviewed, published, retired; requesters read the published ones), each with its whole
lifecycle; the directory of people, resolver groups and broadcast lists work is assigned within;
SLA clocks and rules, open-work queues, the versioned priority matrix and the audit ledger.
Every kind of record is read alike: `as_of` on every read, field-level `/history`, and cursor
pages on every list. Every change is an event that names who did it and when; `/history` shows
them.

Authenticate with `Authorization: Bearer <token>` (`itsm tokens create`). Errors are RFC 9457
problem details with a stable `code`. Writes honour `Idempotency-Key` (a retry answers
`Idempotent-Replayed: true`); actions honour `If-Match` with the record's `ETag`. Operation ids
are short and stable, so a generated client reads well (docs/api.md).
"""


def operation_id(route: APIRoute) -> str:
    """A route's operationId is its name: short, readable and stable, so a generated client's
    functions are `resolve_incident`, not the default's name + path + method. Route names are
    unique (tests/integration/test_generated_client.py holds it)."""
    return route.name


def create_app(services: Services, *, lifespan: Lifespan | None = None) -> FastAPI:
    app = FastAPI(
        lifespan=lifespan,
        title="ITSM — DPK Provinsi Banten",
        version="0.1.0",
        description=DESCRIPTION,
        # /docs and /redoc come from api/docs_assets.py, with their scripts served from here.
        docs_url=None,
        redoc_url=None,
        # The service exports no OpenTelemetry; left on, FastAPI looks for providers in the
        # environment on every request (about 3% of a command's CPU).
        telemetry={"tracing": False, "metrics": False, "logs": False},
        responses={422: problem_details.RESPONSES[422]},
        dependencies=[query_parameters.REJECT_UNKNOWN_QUERY_PARAMETERS],
        generate_unique_id_function=operation_id,
    )
    app.state.services = services
    app.state.writer = CommandWriter(
        services.desk, services.runner if services.kafka is None else None
    )
    app.add_middleware(
        BodyLimit,
        max_bytes=services.settings.max_request_bytes,
        upload_bytes=services.settings.max_attachment_bytes + FORM_FRAMING,
    )
    # Outside the body limit: a caller is throttled and authenticated before its body is read.
    app.add_middleware(Gate, services=services)
    problem_details.install(app)
    # Each level of included routers matches the request path again (FastAPI 0.16x), so the
    # resources are included directly under the version prefix.
    for router, responses in (
        (incidents.router, problem_details.RECORD_RESPONSES),
        (queues.router, problem_details.RESPONSES),
        (priority_matrix.router, problem_details.RECORD_RESPONSES),
        (change_policy.router, problem_details.RECORD_RESPONSES),
        (major_incident_criteria.router, problem_details.RECORD_RESPONSES),
        (service_catalogue.router, problem_details.RECORD_RESPONSES),
        (sla.router, problem_details.RECORD_RESPONSES),
        (configuration_items.router, problem_details.RECORD_RESPONSES),
        (changes.router, problem_details.RECORD_RESPONSES),
        (changes.templates, problem_details.RECORD_RESPONSES),
        (audit.router, problem_details.RESPONSES),
        (circulation.router, problem_details.RESPONSES),
        (service_requests.router, problem_details.RECORD_RESPONSES),
        (service_requests.catalogue, problem_details.RECORD_RESPONSES),
        (problem_records.router, problem_details.RECORD_RESPONSES),
        (problem_records.known, problem_details.RECORD_RESPONSES),
        (knowledge.router, problem_details.RECORD_RESPONSES),
        (improvements.router, problem_details.RECORD_RESPONSES),
        (internal_audits.router, problem_details.RECORD_RESPONSES),
        (nonconformities.router, problem_details.RECORD_RESPONSES),
        (management_review.router, problem_details.RESPONSES),
        (documents.router, problem_details.RECORD_RESPONSES),
        (retention.router, problem_details.RECORD_RESPONSES),
        (notifications.router, problem_details.RECORD_RESPONSES),
        (webhook_endpoints.router, problem_details.RECORD_RESPONSES),
        (canned_responses.router, problem_details.RECORD_RESPONSES),
        (projection_rebuilds.router, problem_details.RESPONSES),
        (whatif.router, problem_details.RESPONSES),
        (reports.router, problem_details.RESPONSES),
        (issued_reports.router, problem_details.RECORD_RESPONSES),
        (suppliers.router, problem_details.RECORD_RESPONSES),
        (legal_holds.router, problem_details.RECORD_RESPONSES),
        *((router, problem_details.RECORD_RESPONSES) for router in directory.ROUTERS),
        (inbound_mail.router, problem_details.RESPONSES),
        *((router, problem_details.RESPONSES) for router in attachments.ROUTERS),
        (bulk.router, problem_details.RESPONSES),
        (saved_filters.router, problem_details.RECORD_RESPONSES),
        (search.router, problem_details.RESPONSES),
    ):
        app.include_router(router, prefix=API_PREFIX, responses=responses)
    app.include_router(health.router)
    docs_assets.install(app)
    metrics.install(app, services)
    # Added last, so outermost: it times the whole request and sets the correlation id first.
    app.add_middleware(AccessLog)
    return app
