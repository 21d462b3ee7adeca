"""The two routes of every versioned rule of record (the priority matrix, the service catalogue,
the change policy, the major-incident criteria): `GET ""` reads the version in force or any
earlier one, `POST /revisions` makes a new version with a reason (If-Match: the version read),
answered 201 with the version in force. Each rule says only what is its own: its answer and
revision bodies, how it is read, and how a revision is made.

No `from __future__ import annotations`: the routes are built here, and FastAPI must see each
rule's real body type.
"""

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Request
from pydantic import BaseModel

from api.deps import (
    CORRELATION_ID,
    IF_MATCH,
    ReaderDep,
    ServicesDep,
    authorised,
    documented,
    expected_version,
    services_of,
)
from api.params import Version
from api.problem_details import ApiProblem
from api.routing import ResourceRouter
from application.desk import ServiceDesk
from domain.actors import Role
from domain.aggregate import Aggregate
from domain.context import Context

#: Who revises a rule of record.
KEEPERS = frozenset({Role.SERVICE_MANAGER, Role.ADMIN})

R = TypeVar("R", bound=BaseModel)


def add_rule_routes(
    router: ResourceRouter,
    *,
    noun: str,
    answer: type[BaseModel],
    revision: type[R],
    read: Callable[[ServiceDesk, int | None], Aggregate | None],
    shown: Callable[[Any], BaseModel],
    revise: Callable[[ServiceDesk, Context, R, int | None], object],
    names: tuple[str, str],
    summaries: tuple[str, str],
) -> None:
    """GET "" (`names[0]`) and POST /revisions (`names[1]`) for the rule `noun`: `read` finds a
    version (None, or LookupError, if there is none), `shown` answers it, `revise` records a
    revision for the If-Match version."""
    keepers = authorised(KEEPERS, f"revise the {noun}")

    def version_of(desk: ServiceDesk, version: int | None) -> BaseModel:
        try:
            found = read(desk, version)
        except LookupError:
            found = None
        if found is None:
            said = "in force" if version is None else f"version {version}"
            raise ApiProblem(404, "not-found", f"no {noun} {said}")
        return shown(found)

    def get_rule(services: ServicesDep, _: ReaderDep, version: Version = None) -> Any:
        return version_of(services.desk, version)

    def revise_rule(
        request: Request,
        body: revision,  # type: ignore[valid-type]
        ctx: Annotated[Context, keepers],
    ) -> Any:
        desk = services_of(request).desk
        revise(desk, ctx, body, expected_version(request))
        return version_of(desk, None)

    router.add_api_route(
        "", get_rule, methods=["GET"], response_model=answer, summary=summaries[0], name=names[0]
    )
    router.add_api_route(
        "/revisions",
        revise_rule,
        methods=["POST"],
        response_model=answer,
        status_code=201,
        summary=summaries[1],
        name=names[1],
        openapi_extra=documented(IF_MATCH, CORRELATION_ID),
    )
