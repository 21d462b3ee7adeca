"""Request-scoped dependencies: the services, who is calling, and the command context.

They are all `async def` on purpose: each is cheap, and FastAPI runs a plain `def` dependency in a
worker thread, a hop that costs more than the work.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.problems import ApiProblem
from api.writer import CommandWriter
from domain.actors import Actor, Role
from domain.context import Context
from infra.bootstrap import Services

_bearer = HTTPBearer(auto_error=False, description="a token from `itsm tokens create`")

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


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_writer(request: Request) -> CommandWriter:
    writer: CommandWriter = request.app.state.writer
    return writer


WriterDep = Annotated[CommandWriter, Depends(get_writer)]


async def get_actor(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    unauthenticated = ApiProblem(
        401, "unauthenticated", "send Authorization: Bearer <token>", {"WWW-Authenticate": "Bearer"}
    )
    if credentials is None:
        raise unauthenticated
    actor = services.tokens.verify(credentials.credentials)
    if actor is None:
        raise unauthenticated
    return actor


ActorDep = Annotated[Actor, Depends(get_actor)]


def require(actor: Actor, roles: frozenset[Role], what: str) -> None:
    if actor.role not in roles:
        raise ApiProblem(403, "forbidden", f"the role {actor.role} may not {what}")


def allowed(roles: frozenset[Role], what: str) -> Any:
    """A route dependency that refuses other roles before the body is even validated."""

    async def check(actor: ActorDep) -> None:
        require(actor, roles, what)

    return Depends(check)


async def get_reader(actor: ActorDep) -> Actor:
    require(actor, READ_ROLES, "read incidents")
    return actor


ReaderDep = Annotated[Actor, Depends(get_reader)]


async def get_context(
    services: ServicesDep,
    actor: ActorDep,
    x_correlation_id: Annotated[UUID | None, Header()] = None,
) -> Context:
    return Context(actor=actor, at=services.clock(), correlation_id=x_correlation_id or uuid4())


ContextDep = Annotated[Context, Depends(get_context)]

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
