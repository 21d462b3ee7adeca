"""RFC 9457 problem details: every error the API returns, with a stable `code`.

One table maps domain errors to HTTP status. Clients branch on `code`; `type` is a URI that names
the same code and is documented at GET /problems/{code}.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain import errors

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
    errors.VersionConflict: 412,
    errors.InvalidRule: 422,
    errors.IdempotencyKeyReused: 422,
    errors.DuplicateOfItself: 422,
}

TITLES: dict[str, str] = {
    "not-found": "Not found",
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
    "version-conflict": "The record has changed since you read it",
    "invalid-rule": "Invalid rule",
    "idempotency-key-reused": "Idempotency-Key reused for a different request",
    "duplicate-of-itself": "An incident cannot duplicate itself",
    "sla-alerts-already-recorded": "These SLA alerts are already recorded",
    "sla-alert-not-due": "An SLA alert is recorded only once its moment has passed",
    "calendar-not-found": "No such business calendar",
    "rule-version-not-found": "No such version of the SLA rules",
    "invalid-input": "The request is not valid",
    "unauthenticated": "A valid bearer token is required",
    "forbidden": "Your role may not do this",
    "projection-lag": "Recorded, but the views have not caught up yet",
    "not-ready": "Not ready",
    "internal-error": "Internal error",
}


def problem(
    status: int, code: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    body = {
        "type": f"/problems/{code}",
        "title": TITLES.get(code, code.replace("-", " ").capitalize()),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
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


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.DomainError)
    async def _domain(request: Request, exc: errors.DomainError) -> Response:
        return problem(status_of(exc), exc.code, exc.detail, instance=request.url.path)

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
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        return problem(500, "internal-error", "an unexpected error occurred; it has been logged")

    @app.get("/problems/{code}", tags=["meta"], summary="What a problem code means")
    def describe(code: str) -> dict[str, str]:
        if code not in TITLES:
            raise ApiProblem(404, "not-found", f"no problem code {code!r}")
        return {"code": code, "title": TITLES[code]}
