"""The routes every kind of record has the same way: create (POST), list (a page with a cursor),
read (now or as of a moment) and its history. A kind's router calls these with what is its own
(its command, view, roles, filters, names and summaries) and writes out only what no other kind
has.

Each route is a function given a real signature (`inspect.Signature`), so FastAPI sees each kind's
own body, path and query types and the OpenAPI document names them as before.
"""

# No `from __future__ import annotations`: FastAPI must see each route's real parameter types.

import inspect
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from api.deps import CORRELATION_ID, IDEMPOTENCY_KEY, ServicesDep, documented
from api.models import READ, written
from api.pages import Cursor, Limit, decode_cursor, page_body
from api.params import AsOf
from api.reads import Readable, add_history, shown_row
from api.record_answers import answer, decided, etag, json_response
from application.kinds import Kind
from application.outcome import Outcome
from domain.context import Context
from projections.base import Projection
from projections.queries import Filter, View
from service.bootstrap import Services

KEYWORD = inspect.Parameter.KEYWORD_ONLY


def _signed(route: Callable[..., Any], name: str, *parameters: inspect.Parameter) -> None:
    """Name `route` (its operation id) and give it `parameters` as FastAPI reads them."""
    route.__name__ = name
    route.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        list(parameters), return_annotation=Response
    )


def by_id(_: BaseModel, outcome: Outcome) -> str:
    """A created record is found at its id."""
    return str(outcome.record_id)


def by_code(command: BaseModel, _: Outcome) -> str:
    """A created record known by a code (a configuration item, a catalogue item) is found at it."""
    return str(getattr(command, "code"))  # noqa: B009 (a command of a coded kind has a code)


def add_create(
    router: APIRouter,
    command: type[BaseModel],
    *,
    name: str,
    kind: Kind,
    caller: Any,
    projection: Projection,
    model: type[BaseModel],
    summary: str,
    operation: str | None = None,
    located: Callable[[BaseModel, Outcome], str] = by_id,
) -> None:
    """POST "" on `router`: `command` creates a record of `kind`, for callers `caller` admits,
    answered 201 with the record's view (`projection`, `model`) once the views include it."""
    base = router.prefix

    async def create(request: Request, ctx: Context, command: BaseModel) -> Response:
        services, outcome = await decided(request, ctx, operation or name, command, kind)
        location = f"/api/v1{base}/{located(command, outcome)}"
        return await answer(services, outcome, projection, location, 201, ctx=ctx)

    _signed(
        create,
        name,
        inspect.Parameter("request", KEYWORD, annotation=Request),
        inspect.Parameter("ctx", KEYWORD, annotation=Annotated[Context, caller]),
        inspect.Parameter("command", KEYWORD, annotation=command),
    )
    router.add_api_route(
        "",
        create,
        methods=["POST"],
        response_model=model,
        responses=written(201),
        status_code=201,
        summary=summary,
        openapi_extra=documented(IDEMPOTENCY_KEY, CORRELATION_ID),
    )


def add_list(
    router: APIRouter,
    view: View,
    *,
    name: str,
    reader: Any,
    model: type[BaseModel],
    summary: str,
    filters: Mapping[str, Any] | None = None,
    columns: Mapping[str, str] | None = None,
    shown: Projection | None = None,
) -> None:
    """GET "" on `router`: a page of `view`'s rows the caller reaches, newest first, after a
    cursor. `filters` are the query parameters (name: type), each asking its column (`columns`
    renames one) to equal it; with `shown`, each row as the caller reads it (`shown_row`)."""
    asked = dict(filters or {})
    renamed = columns or {}

    def listed(
        services: Services, ctx: Context, limit: int, cursor: str | None, **query: Any
    ) -> Response:
        kept = Filter(equal={renamed.get(key, key): query[key] for key in asked})
        after = None if cursor is None else decode_cursor(cursor, view.order)
        page = view.page(services.views, ctx, kept, limit=limit, after=after)
        if shown is None:
            return json_response(page_body(page))
        return json_response(page_body(page, lambda row: shown_row(services, ctx, shown, row)))

    _signed(
        listed,
        name,
        inspect.Parameter("services", KEYWORD, annotation=ServicesDep),
        inspect.Parameter("ctx", KEYWORD, annotation=reader),
        *(
            inspect.Parameter(key, KEYWORD, annotation=kind, default=None)
            for key, kind in asked.items()
        ),
        inspect.Parameter("limit", KEYWORD, annotation=Limit, default=50),
        inspect.Parameter("cursor", KEYWORD, annotation=Cursor, default=None),
    )
    router.add_api_route("", listed, methods=["GET"], response_model=model, summary=summary)


def add_read(
    router: APIRouter,
    kind: Readable,
    *,
    name: str,
    param: str,
    ref: Any,
    reader: Any,
    model: type[BaseModel],
    summary: str,
    history_reader: Any = None,
    history_name: str | None = None,
    history: bool = True,
) -> None:
    """GET .../{param} on `router`: the record as the caller reads it, now or as of a moment
    (`Readable.read`), with its ETag; and GET .../{param}/history (`add_history`), for callers
    `history_reader` admits (by default those `reader` admits), as `history_name` (by default
    `name` + "_history"); `history=False` leaves the history to the router (to keep its routes'
    order)."""

    def read(services: Services, ctx: Context, as_of: datetime | None, **path: str) -> Response:
        row = kind.read(services, ctx, path[param], as_of)
        return json_response(row, headers={"ETag": etag(row["version"])})

    _signed(
        read,
        name,
        inspect.Parameter(param, KEYWORD, annotation=ref),
        inspect.Parameter("services", KEYWORD, annotation=ServicesDep),
        inspect.Parameter("ctx", KEYWORD, annotation=reader),
        inspect.Parameter("as_of", KEYWORD, annotation=AsOf, default=None),
    )
    router.add_api_route(
        f"/{{{param}}}",
        read,
        methods=["GET"],
        response_model=model,
        responses=READ,
        summary=summary,
    )
    if history:
        add_history(
            router,
            kind,
            name=history_name or f"{name}_history",
            param=param,
            ref=ref,
            reader=history_reader or reader,
        )
