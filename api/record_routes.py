"""The routes every kind of record has the same way: create (POST), list (a page with a cursor),
read (now or as of a moment), its history and one POST per action. A kind's router says once what
they share (`RecordRoutes`: its router, how it is read, its kind, its answer's model, its
reference and who reads it), adds each with what is its own (command, roles, filters, names,
summaries), and writes out only what no other kind has.

Each route is a function given a real signature (`inspect.Signature`), so FastAPI sees each kind's
own body, path and query types and the OpenAPI document names them as before.
"""

# No `from __future__ import annotations`: FastAPI must see each route's real parameter types.

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from api.deps import CORRELATION_ID, IDEMPOTENCY_KEY, ServicesDep, documented
from api.disclosures import disclosed
from api.models import READ, written
from api.pages import Cursor, Limit, decode_cursor, page_body
from api.params import AsOf
from api.reads import Readable, add_history, shown_row
from api.record_answers import add_actions, answer, decided, etag, json_response
from api.saved_filters import SavedFilterId, saved_query
from api.search import ListQ, searched_keys
from application.kinds import Kind
from application.outcome import Outcome
from domain.actors import Role
from domain.change_commands import RecordCommand
from domain.context import Context
from domain.disclosure import SENSITIVE_KINDS, DisclosureKind
from domain.record_numbers import RecordKind
from domain.saved_filter import RecordList
from projections.base import Projection
from projections.queries import Filter
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


@dataclass(frozen=True, slots=True)
class RecordRoutes:
    """One kind's standard routes on its router, and what they share."""

    router: APIRouter
    #: How the routes read it (its view, noun and references).
    readable: Readable
    #: The kind its writes are of.
    kind: Kind
    #: Its record as an answer shows it (the create's, the read's and the actions' model).
    model: type[BaseModel]
    #: Its path parameter's type, and who reads it.
    ref: Any
    reader: Any
    #: The path parameter's name.
    param: str = "ref"

    @property
    def projection(self) -> Projection:
        return self.readable.view.projection

    def add_create(
        self,
        command: type[BaseModel],
        *,
        name: str,
        caller: Any,
        summary: str,
        operation: str | None = None,
        located: Callable[[BaseModel, Outcome], str] = by_id,
    ) -> None:
        """POST "": `command` creates a record, for callers `caller` admits, answered 201 with
        the record's view once the views include it; `located` says where it is found."""
        base, kind, projection = self.router.prefix, self.kind, self.projection

        async def create(request: Request, ctx: Context, command: BaseModel) -> Response:
            services, outcome = await decided(request, ctx, operation or name, command, kind)
            location = f"/api/v1{base}/{quote(located(command, outcome), safe='')}"
            return await answer(services, outcome, projection, location, 201, ctx=ctx)

        _signed(
            create,
            name,
            inspect.Parameter("request", KEYWORD, annotation=Request),
            inspect.Parameter("ctx", KEYWORD, annotation=Annotated[Context, caller]),
            inspect.Parameter("command", KEYWORD, annotation=command),
        )
        self.router.add_api_route(
            "",
            create,
            methods=["POST"],
            response_model=self.model,
            responses=written(201),
            status_code=201,
            summary=summary,
            openapi_extra=documented(IDEMPOTENCY_KEY, CORRELATION_ID),
        )

    def add_list(
        self,
        *,
        name: str,
        model: type[BaseModel],
        summary: str,
        filters: Mapping[str, Any] | None = None,
        columns: Mapping[str, str] | None = None,
        shown: bool = False,
        searched: bool = False,
        saved: RecordList | None = None,
    ) -> None:
        """GET "": a page of the rows the caller reaches, newest first, after a cursor. `filters`
        are the query parameters (name: type), each asking its column (`columns` renames one) to
        equal it; `shown`: each row as the caller reads it (`shown_row`); `searched`: `q=` keeps
        the records whose words a full-text search finds (api/search.py); `saved`: `filter=`
        takes the parameters of a saved filter of this list (api/saved_filters.py)."""
        view, asked, renamed = self.readable.view, dict(filters or {}), columns or {}
        kind = self.kind.name

        def listed(
            services: Services,
            ctx: Context,
            limit: int,
            cursor: str | None,
            q: str | None = None,
            filter: UUID | None = None,
            **query: Any,
        ) -> Response:
            if saved is not None:
                query = saved_query(services, ctx, saved, filter, query)
            kept = Filter(
                equal={renamed.get(key, key): query.get(key) for key in asked},
                among=searched_keys(services, ctx, kind, q),
            )
            after = None if cursor is None else decode_cursor(cursor, view.order)
            page = view.page(services.views, ctx, kept, limit=limit, after=after)
            if not shown:
                return json_response(page_body(page))
            projection = view.projection
            return json_response(
                page_body(page, lambda row: shown_row(services, ctx, projection, row))
            )

        _signed(
            listed,
            name,
            inspect.Parameter("services", KEYWORD, annotation=ServicesDep),
            inspect.Parameter("ctx", KEYWORD, annotation=self.reader),
            *(
                inspect.Parameter(key, KEYWORD, annotation=t, default=None)
                for key, t in asked.items()
            ),
            *(
                [inspect.Parameter("filter", KEYWORD, annotation=SavedFilterId, default=None)]
                if saved
                else []
            ),
            *(
                [inspect.Parameter("q", KEYWORD, annotation=ListQ, default=None)]
                if searched
                else []
            ),
            inspect.Parameter("limit", KEYWORD, annotation=Limit, default=50),
            inspect.Parameter("cursor", KEYWORD, annotation=Cursor, default=None),
        )
        self.router.add_api_route(
            "", listed, methods=["GET"], response_model=model, summary=summary
        )

    def add_read(
        self,
        *,
        name: str,
        summary: str,
        history_reader: Any = None,
        history_name: str | None = None,
        history: bool = True,
    ) -> None:
        """GET .../{param}: the record as the caller reads it, now or as of a moment
        (`Readable.read`), with its ETag; and GET .../{param}/history (`add_history`) for callers
        `history_reader` admits (by default the readers), as `history_name` (by default `name` +
        "_history"). `history=False` leaves the history to the router (to keep its routes'
        order)."""
        readable, param = self.readable, self.param
        sensitive = self.kind.name in SENSITIVE_KINDS  # each read is recorded as a disclosure

        def read(
            request: Request, services: Services, ctx: Context, as_of: datetime | None, **path: str
        ) -> Response:
            row = readable.read(services, ctx, path[param], as_of)
            if sensitive:
                disclosed(request, ctx, DisclosureKind.SENSITIVE_RECORD, record=path[param])
            return json_response(row, headers={"ETag": etag(row["version"])})

        _signed(
            read,
            name,
            inspect.Parameter("request", KEYWORD, annotation=Request),
            inspect.Parameter(param, KEYWORD, annotation=self.ref),
            inspect.Parameter("services", KEYWORD, annotation=ServicesDep),
            inspect.Parameter("ctx", KEYWORD, annotation=self.reader),
            inspect.Parameter("as_of", KEYWORD, annotation=AsOf, default=None),
        )
        self.router.add_api_route(
            f"/{{{param}}}",
            read,
            methods=["GET"],
            response_model=self.model,
            responses=READ,
            summary=summary,
        )
        if history:
            self.add_history(name=history_name or f"{name}_history", reader=history_reader)

    def add_history(self, *, name: str, reader: Any = None) -> None:
        """GET .../{param}/history (`add_history`), for callers `reader` admits (by default the
        readers)."""
        add_history(
            self.router,
            self.readable,
            name=name,
            param=self.param,
            ref=self.ref,
            reader=reader or self.reader,
        )

    def add_actions(
        self,
        commands: Iterable[type[RecordCommand]],
        *,
        roles_of: Callable[[type[RecordCommand]], frozenset[Role]],
    ) -> None:
        """One POST route per action command (`add_actions`), for callers of `roles_of` it."""
        prefix = self.kind.prefix
        assert prefix is not None, "actions are a numbered kind's: the path names a number or id"
        add_actions(
            self.router,
            commands,
            kind=RecordKind(prefix),
            projection=self.projection,
            noun=self.readable.noun,
            roles_of=roles_of,
            model=self.model,
        )
