"""RFC 9457 problem details: every error the API returns, with a stable `code`.

One table maps domain errors to HTTP status. Clients branch on `code`; `type` is a URI that names
the same code and is documented at GET /problems/{code}.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from api.models import ErrorCode
from domain import (
    canned_response,
    change,
    directory,
    document,
    errors,
    internal_audit,
    nonconformity,
)
from infra.serialisation import UndecodableEvent

MEDIA_TYPE = "application/problem+json"

#: domain error class -> HTTP status. The most specific class in an error's MRO wins.
STATUS: dict[type[errors.DomainError], int] = {
    errors.NotFound: 404,
    errors.IllegalTransition: 409,
    errors.NothingChanged: 409,
    errors.NotAMajorIncident: 409,
    errors.AlreadyAMajorIncident: 409,
    errors.ReopenWindowClosed: 409,
    errors.ConfirmationWindowOpen: 409,
    errors.NotTheCaller: 403,
    errors.AlreadyRated: 409,
    errors.VersionConflict: 412,
    errors.Contention: 503,
    errors.InvalidRule: 422,
    errors.IdempotencyKeyReused: 422,
    errors.DuplicateOfItself: 422,
    errors.DuplicateNotFound: 422,
    errors.SourceRecordNotFound: 422,
    # configuration items, changes, service requests, problems
    errors.RecordAlreadyExists: 409,
    errors.NotPermitted: 403,
    errors.AlreadyDecided: 409,
    errors.BackoutPlanMissing: 409,
    errors.ScheduleConflict: 409,
    errors.InvalidWindow: 422,
    errors.DependencyCycle: 422,
    errors.ParentCycle: 422,
    errors.FilterListChanged: 422,
    errors.AlreadyHasParent: 409,
    errors.TooManyRelated: 422,
    errors.ChangeNotImplemented: 409,
    change.TestsNotPassed: 409,
    change.WaiverNotAllowed: 409,
    change.UnknownTest: 422,
    change.BelowApprovalMatrix: 409,
    change.DesignAcceptanceRequired: 409,
    change.DesignReviewNotRequired: 409,
    errors.ReviewRequired: 409,
    errors.FulfilmentStepsOutstanding: 409,
    errors.RootCauseMissing: 409,
    errors.ArticleNotPublished: 409,
    errors.UnderLegalHold: 409,
    errors.UnknownPotentialAction: 422,
    errors.PotentialActionAlreadyDecided: 409,
    # attachments: a removed file is gone (410), not missing; the upload's own limits
    errors.AttachmentAlreadyRemoved: 409,
    errors.AttachmentGone: 410,
    errors.FileTooLarge: 413,
    errors.UnsupportedFileType: 415,
    # the directory: a person or group a command's body names that is not there is an invalid
    # command (422); the record the path names, missing, is 404 (the pipeline says which)
    directory.UnknownPerson: 422,
    directory.UnknownGroup: 422,
    directory.NotAGroupMember: 422,
    canned_response.UnknownCannedResponse: 422,
    # internal audits and nonconformities
    internal_audit.AuditorNotImpartial: 409,
    internal_audit.InvalidAuditDates: 422,
    nonconformity.ActionsOutstanding: 409,
    nonconformity.ActionAlreadyDone: 409,
    nonconformity.UnknownAction: 422,
    # controlled documents: the author never approves (403, as not-permitted); a version with
    # nothing in it, one not yet at the end of its retention, one not ended are not disposable
    document.ContentMissing: 409,
    document.RetentionNotElapsed: 409,
    document.NotDisposable: 409,
}

TITLES: dict[str, str] = {
    "not-found": "Not found",
    "auditor-not-impartial": "The auditor worked in a process in scope during the audited period",
    "not-an-auditor-of-this-audit": "Only the audit's auditors record its findings",
    "invalid-audit-dates": "The audit's dates are not in order",
    "actions-outstanding": "The corrective actions are not all done (or there are none)",
    "action-already-done": "The corrective action is already done",
    "unknown-action": "The nonconformity has no such corrective action",
    "verifier-not-independent": "The owner of the work cannot verify it",
    "incident-not-found": "No such incident",
    "illegal-transition": "Not allowed in the record's current state",
    "incident-closed": "The incident is closed",
    "nothing-changed": "The command changes nothing",
    "priority-unchanged": "Priority unchanged",
    "assignment-unchanged": "Assignment unchanged",
    "escalation-target-unchanged": "Escalation target unchanged",
    "not-a-major-incident": "Not a major incident",
    "already-a-major-incident": "Already a major incident",
    "reopen-window-closed": "The reopen window has closed",
    "confirmation-window-open": "The caller's confirmation window is still open",
    "not-the-caller": "Only the caller may do this",
    "already-rated": "The record is already rated: a caller rates it once",
    "version-conflict": "The record has changed since you read it",
    "contention": "The records kept changing under the command; nothing was written, try again",
    "invalid-rule": "Invalid rule",
    "idempotency-key-reused": "Idempotency-Key reused for a different request",
    "duplicate-of-itself": "An incident cannot duplicate itself",
    "duplicate-not-found": "The incident named as the original is not one you can reach",
    "source-record-not-found": "The record named as the source is not one you can reach",
    "record-not-found": "No such record",
    "record-already-exists": "A record with that reference already exists",
    "not-permitted": "Your standing does not allow this decision",
    "outside-organisation": "The record would belong to an organisation you do not work for",
    "requester-cannot-approve": "The requester cannot approve their own record",
    "not-a-named-approver": "Only a named approver may decide",
    "already-decided": "This approver has already decided",
    "backout-plan-missing": "A backout plan is required before authorisation",
    "schedule-conflict": "The window conflicts with another change or a blackout",
    "invalid-window": "The window is not valid",
    "dependency-cycle": "The dependency would make a cycle",
    "change-not-implemented": "Configuration items change only through an implemented change",
    "review-required": "A review is required first",
    "notice-already-taken-in": "The notice has already raised its change",
    "tests-not-passed": "Implementation waits until every test on the change's checklist passed"
    " (a normal change plans at least one; an emergency change may waive them, saying why)",
    "waiver-not-allowed": "Only an emergency change starts with its tests waived",
    "unknown-test": "The change's checklist has no such test",
    "below-approval-matrix": "The CAB or its quorum is below the change policy's approval matrix",
    "approver-role-not-allowed": "The approver holds no role the approval matrix names",
    "design-acceptance-required": "A change of major impact needs its design and transition"
    " accepted before it is authorised",
    "design-review-not-required": "The change is not of major impact",
    "already-linked": "The records are already linked",
    "not-linked": "The records are not linked",
    "article-not-published": "Only a published knowledge article may be named",
    "under-legal-hold": "The record is under legal hold: nothing of it is destroyed",
    "already-has-parent": "The incident already has a parent",
    "parent-cycle": "The link would make an incident its own parent",
    "no-parent": "The incident has no parent",
    "filter-list-changed": "A saved filter's list does not change",
    "too-many-related": "The incident holds as many related records as it may",
    "sla-alerts-already-recorded": "These SLA alerts are already recorded",
    "sla-alert-not-due": "An SLA alert is recorded only once its moment has passed",
    "calendar-not-found": "No such business calendar",
    "rule-version-not-found": "No such version of the SLA rules",
    "fulfilment-steps-outstanding": "Fulfilment steps are still outstanding",
    "root-cause-missing": "Record the root cause first",
    "unknown-potential-action": "The problem has no such potential action",
    "potential-action-already-decided": "The potential action is already decided",
    "author-cannot-approve": "An author of a version cannot approve or return it",
    "content-missing": "The version has no content: attach a file or give a link",
    "retention-not-elapsed": "The version's retention has not run yet",
    "not-disposable": "Only a superseded or withdrawn version not yet disposed of is disposed of",
    "controlled-file": "The file is a version's content: it goes only by its disposition",
    "person-not-found": "No such person in the directory",
    "canned-response-not-found": "No such canned response",
    "group-not-found": "No such group in the directory",
    "broadcast-list-not-found": "No such broadcast list",
    "person-inactive": "The person is deactivated",
    "not-a-group-member": "The agent is not a member of the group",
    "invalid-input": "The request is not valid",
    "too-many-records": "Too many records for one bulk action",
    "filter-of-another-list": "The saved filter is for another list",
    "unauthenticated": "A valid bearer token is required",
    "forbidden": "Your role may not do this",
    "rate-limited": "Too many requests",
    "request-too-large": "Request too large",
    "projection-lag": "Recorded, but the views have not caught up yet",
    "not-ready": "Not ready",
    "ledger-behind": "The audit ledger has not chained every event yet",
    "record-unreadable": "The record holds a stored event this service cannot decode",
    "rebuild-unavailable": "This read model cannot be rebuilt here",
    "internal-error": "Internal error",
    "method-not-allowed": "Method not allowed",
    "bad-request": "The request is malformed",
}


class Problem(BaseModel):
    """An RFC 9457 problem: what went wrong, for people (`title`, `detail`) and for programs
    (`code`, stable; `type` names the same code)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["/problems/version-conflict"])
    title: str
    status: int
    detail: str
    code: str = Field(examples=["version-conflict"])
    instance: str | None = None


def documented(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


#: The problems any route of a resource may answer, for the OpenAPI document.
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: documented("The request cannot be parsed (a body that is not UTF-8, a bad length)"),
    401: documented("No valid bearer token"),
    403: documented("The caller's role (or organisation) may not do this"),
    413: documented("The request body is too large"),
    422: documented("The request is not valid, or breaks a rule"),
    429: documented("Too many requests from this token or address; see Retry-After"),
}
#: And of a route that names something that may not exist.
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: documented("No such thing")}
CONFLICT: dict[int | str, dict[str, Any]] = {409: documented("Not allowed in the current state")}
#: And those of a route that acts on one record.
RECORD_RESPONSES: dict[int | str, dict[str, Any]] = {
    **RESPONSES,
    404: documented("No such record"),
    409: documented("Not allowed in the record's current state"),
    412: documented("If-Match names a version that is no longer current"),
}


def problem_body(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    """A problem's fields: the body of a problem answer, or one item of a bulk action's."""
    return {
        "type": f"/problems/{code}",
        "title": TITLES.get(code, code.replace("-", " ").capitalize()),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }


def problem(
    status: int, code: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    body = problem_body(status, code, detail, **extra)
    return Response(orjson.dumps(body), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def status_of(error: errors.DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 422


class ApiProblem(Exception):
    """An HTTP-level problem raised by the API layer itself (auth, headers)."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers


def _errors(exc: RequestValidationError | ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _methods_of(app: FastAPI, scope: Scope) -> list[str]:
    """Every method some route answers at the request's path: Starlette names only the first
    route's, and a resource's GET and POST are two routes (in routers within routers)."""
    return [
        method
        for method in METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in app.routes)
    ]


def install(app: FastAPI) -> None:
    """Answer every error as a problem, and publish the Problem schema the responses refer to."""
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build_openapi()  # and cached as app.openapi_schema
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Problem"] = Problem.model_json_schema()
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(errors.DomainError)
    async def _domain(request: Request, exc: errors.DomainError) -> Response:
        extra: dict[str, Any] = {}
        if isinstance(exc, errors.ScheduleConflict):
            extra["conflicts"] = exc.conflicts
        headers = {"Retry-After": "1"} if isinstance(exc, errors.Contention) else None
        return problem(
            status_of(exc),
            exc.code,
            exc.detail,
            instance=request.url.path,
            headers=headers,
            **extra,
        )

    @app.exception_handler(ApiProblem)
    async def _api(request: Request, exc: ApiProblem) -> Response:
        return problem(exc.status, exc.code, exc.detail, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return problem(422, "invalid-input", "the request is not valid", errors=_errors(exc))

    @app.exception_handler(ValidationError)
    async def _invalid_domain(request: Request, exc: ValidationError) -> Response:
        return problem(422, "invalid-input", "the request breaks a rule", errors=_errors(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {400: "bad-request", 404: "not-found", 405: "method-not-allowed"}.get(
            exc.status_code, "http-error"
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # RFC 9110 15.5.6: say which methods the resource has
            headers["Allow"] = ", ".join(_methods_of(app, request.scope))
        return problem(exc.status_code, code, str(exc.detail), headers=headers or None)

    @app.exception_handler(UndecodableEvent)
    async def _unreadable(request: Request, exc: UndecodableEvent) -> Response:
        # The store is fine; this record cannot be replayed until the event can be decoded.
        detail = f"the record holds an event this service cannot decode ({exc.event}); see /readyz"
        return problem(503, "record-unreadable", detail)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        return problem(500, "internal-error", "an unexpected error occurred; it has been logged")

    @app.get(
        "/problems/{code}",
        name="describe_error_code",
        response_model=ErrorCode,
        tags=["meta"],
        summary="What a problem code means",
        responses={**NOT_FOUND, 422: RESPONSES[422]},
    )
    def describe(code: Annotated[str, Path(max_length=100)]) -> dict[str, str]:
        if code not in TITLES:
            raise ApiProblem(404, "not-found", f"no problem code {code!r}")
        return {"code": code, "title": TITLES[code]}
