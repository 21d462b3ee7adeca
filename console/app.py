"""The service's one app: the REST API (api/app.py) and the web console on it (docs/console.md).

The console is a second entry point into the same application layer: its pages read through the
API's readers in the visitor's context and submit commands to the API's one writer, so it can do
nothing the API does not allow. `/` leads to it; its assets are served from console/static, by the
service itself (no CDN: the office's server may have no internet).
"""

from __future__ import annotations

import inspect
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse, Response

from api.app import Lifespan
from api.app import create_app as create_api
from api.guards import RateLimiter
from console import (
    audit,
    auth,
    changes,
    dashboard,
    knowledge,
    lists,
    pages,
    problems,
    requests,
    sso,
    whatif,
)
from console.render import render
from infra.console_store import open_console_store
from service.bootstrap import Services

STATIC = Path(__file__).parent / "static"


def create_app(services: Services, *, lifespan: Lifespan | None = None) -> FastAPI:
    app = create_api(services, lifespan=lifespan)
    settings = services.settings
    app.state.console_store = open_console_store(settings.database_url, settings.data_dir)
    # failed sign-ins, counted by address and by the name tried, as the API's gate counts
    # failed tokens (ITSM_ADDRESS_FAILURE_LIMIT): guessing is slowed from one place or at one
    # person
    app.state.sign_in_failures = (
        RateLimiter(settings.address_failure_limit, "failed sign-ins from this address"),
        RateLimiter(settings.address_failure_limit, "failed sign-ins as this person"),
    )
    services.closing.append(app.state.console_store.close)
    app.include_router(pages.router)
    app.include_router(dashboard.router)
    app.include_router(knowledge.router)
    app.include_router(requests.router)
    app.include_router(problems.router)
    app.include_router(audit.router)
    app.include_router(changes.router)
    app.include_router(sso.router)
    app.include_router(whatif.router)
    app.include_router(lists.router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/console/", status_code=303)

    answer_invalid = app.exception_handlers[RequestValidationError]

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        """A console page asked with what it does not take answers a page in words (422); the
        API answers problem+json as always."""
        if not request.url.path.startswith("/console/"):
            answered = answer_invalid(request, exc)
            return await answered if inspect.isawaitable(answered) else answered
        try:
            who = await auth.visitor(request)
        except auth.SignInNeeded:
            who = None
        return render(request, "error.html", who, status=422, problem="invalid-input")

    @app.exception_handler(auth.SignInNeeded)
    async def sign_in_needed(request: Request, _: auth.SignInNeeded) -> Response:
        return RedirectResponse(auth.sign_in_url(request), status_code=303)

    @app.exception_handler(auth.Forbidden)
    async def forbidden(request: Request, _: auth.Forbidden) -> Response:
        who = await auth.visitor(request)
        return render(request, "error.html", who, status=403, problem="forbidden")

    @app.exception_handler(auth.FormRefused)
    async def form_refused(request: Request, _: auth.FormRefused) -> Response:
        try:
            who = await auth.visitor(request)
        except auth.SignInNeeded:
            who = None
        return render(request, "error.html", who, status=403, problem="form-refused")

    return app
