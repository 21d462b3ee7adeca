"""Request-scoped dependencies: who is calling, whether they may, and the command context.

One dependency per route does it all (`authorised`): FastAPI spends tens of microseconds on each
dependency it resolves, more than the work of most of them, so the token check, the role check
and the context are one. Routes reach the services through `request.app.state` for the same
reason. Dependencies are `async def`: FastAPI runs a plain `def` in a worker thread, a hop that
costs more than the work.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import Depends, Header, Request
from fastapi.security import HTTPBearer

from api.problems import ApiProblem
from api.writer import CommandWriter
from domain.actors import Role
from domain.context import Context
from infra.bootstrap import Services

#: Roles that work incidents. Requesters may log incidents and speak for their own; auditors
#: read; integrations only ingest streams (a later resource).
AGENT_ROLES = frozenset(
    {
        Role.AGENT,
        Role.RESOLVER,
        Role.CHANGE_MANAGER,
        Role.CAB_MEMBER,
        Role.SERVICE_MANAGER,
        Role.ADMIN,
    }
)
READ_ROLES = AGENT_ROLES | {Role.REQUESTER, Role.AUDITOR}


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def writer_of(request: Request) -> CommandWriter:
    writer: CommandWriter = request.app.state.writer
    return writer


async def get_services(request: Request) -> Services:
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]


class Authorised(HTTPBearer):
    """The API's security scheme and its check in one: the bearer token names the actor, whose
    role must be one of `roles`; the answer is the context a command runs in."""

    def __init__(self, roles: frozenset[Role], what: str) -> None:
        super().__init__(
            auto_error=False,
            scheme_name="HTTPBearer",
            description="a token from `itsm tokens create`",
        )
        self.roles = roles
        self.what = what

    async def __call__(  # type: ignore[override]
        self, request: Request, x_correlation_id: Annotated[UUID | None, Header()] = None
    ) -> Context:
        credentials = await super().__call__(request)
        services = services_of(request)
        actor = None if credentials is None else services.tokens.verify(credentials.credentials)
        if actor is None:
            raise ApiProblem(
                401,
                "unauthenticated",
                "send Authorization: Bearer <token>",
                {"WWW-Authenticate": "Bearer"},
            )
        if actor.role not in self.roles:
            raise ApiProblem(403, "forbidden", f"the role {actor.role} may not {self.what}")
        return Context(actor=actor, at=services.clock(), correlation_id=x_correlation_id or uuid4())


def authorised(roles: frozenset[Role], what: str) -> Any:
    """The dependency for a route that `roles` may use: the caller's Context, or 401/403 before
    the body is even validated."""
    return Depends(Authorised(roles, what))


ReaderDep = Annotated[Context, authorised(READ_ROLES, "read incidents")]

IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=255,
        description="a retry with the same key returns the first answer and changes nothing",
    ),
]

IfMatch = Annotated[
    str | None,
    Header(description='the ETag you last read, e.g. "3"; a stale one gets 412'),
]


def expected_version(if_match: str | None) -> int | None:
    """The version an If-Match header names; None when absent or `*` (any version)."""
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise ApiProblem(
            422, "invalid-input", f'If-Match must be an ETag such as "3", not {if_match!r}'
        )
    return int(tag)
