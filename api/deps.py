"""Request-scoped dependencies: who is calling, whether they may, and the command context.

One dependency per route does it all (`authorised`): FastAPI spends tens of microseconds on each
dependency and on each parameter it resolves, more than the work of most of them. So the role
check and the context are one dependency (the token was checked by the gate, api/gate.py, before
the body was read), routes reach the services through `request.app.state`, and the headers of a
write are read by the functions below and documented for OpenAPI by hand (`documented`).
Dependencies are `async def`: FastAPI runs a plain `def` in a worker thread, a hop that costs
more than the work.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticUndefined

from api.gate import CHALLENGE
from api.params import MAX_INT
from api.problem_details import ApiProblem
from application.writer import CommandWriter
from domain.actors import Identity, Role
from domain.context import Context
from infra.logs import CORRELATION_ID as CORRELATION_ID_TEXT
from infra.logs import CORRELATION_ID_PATTERN, current_correlation_id
from service.bootstrap import Services

#: Roles that work incidents. Requesters may log incidents and speak for their own; auditors
#: read; integrations ingest circulation streams and raise changes through the intake.
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
#: Who reads work that is not their own: queues, clocks, problems, changes. Requesters read only
#: their own records (api/scoping.py).
STAFF_READ_ROLES = READ_ROLES - {Role.REQUESTER}


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
    """The API's security scheme and its role check in one: the gate (api/gate.py) has
    authenticated the bearer token before the body was read; the actor it names must have one
    of `roles`. The answer is the context a command runs in."""

    def __init__(self, roles: frozenset[Role], what: str) -> None:
        super().__init__(
            auto_error=False,
            scheme_name="HTTPBearer",
            description=(
                "a token from `itsm tokens create`, or a single sign-on access token; a route's"
                " security requirement lists the roles that may call it (any one of them)"
            ),
        )
        self.roles = roles
        self.what = what

    async def __call__(self, request: Request) -> Context:  # type: ignore[override]
        identity: Identity | None = request.scope.get("state", {}).get("identity")
        if identity is None:  # a route the gate does not guard: no one was authenticated
            raise ApiProblem(
                401, "unauthenticated", "send Authorization: Bearer <token>", CHALLENGE
            )
        if identity.actor.role not in self.roles:
            raise ApiProblem(
                403, "forbidden", f"the role {identity.actor.role} may not {self.what}"
            )
        # The identity rides along as the command's scope: every record a route reads or a
        # command loads is checked against it (api/scoping.py, Context.reaches).
        return Context(
            actor=identity.actor,
            at=services_of(request).clock(),
            correlation_id=correlation_id(request),
            scope=identity,
        )


def authorised(roles: frozenset[Role], what: str) -> Any:
    """The dependency for a route that `roles` may use: the caller's Context, or 403 (a caller
    without a valid token has had 401 from the gate before the body was read). The roles appear
    in the route's OpenAPI security requirement (any one of them may call it), which is where
    docs/authorisation.md is read from."""
    return Security(Authorised(roles, what), scopes=sorted(roles))


ReaderDep = Annotated[Context, authorised(READ_ROLES, "read incidents")]
StaffReaderDep = Annotated[Context, authorised(STAFF_READ_ROLES, "read others' work")]


# -- the headers of a write ---------------------------------------------------------------------


def _header(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }


#: A UUID's text (any case). Documented as a patterned string rather than `format: uuid`: a
#: generated client types a `uuid` header as a UUID object, which its HTTP layer cannot send.
CORRELATION_ID = _header(
    "X-Correlation-ID",
    "a UUID (e.g. 0b6f1c9e-8a4d-4c1e-9f3a-2d7b5e6a1c04), recorded in every event this request"
    " causes, to trace it across systems",
    pattern=CORRELATION_ID_PATTERN,
    minLength=36,
    maxLength=36,
)
IDEMPOTENCY_KEY = _header(
    "Idempotency-Key",
    "a retry with the same key returns the first answer and changes nothing",
    minLength=1,
    maxLength=255,
)
#: The longest If-Match read: an ETag of the largest version ("9223372036854775807"), padded.
IF_MATCH_LENGTH = 64
IF_MATCH = _header(
    "If-Match",
    'the ETag you last read, e.g. "3"; a stale one gets 412, and so does a weak one (W/"3"):'
    " If-Match compares strongly (RFC 9110)",
    maxLength=IF_MATCH_LENGTH,
)


def documented(*headers: dict[str, Any]) -> dict[str, Any]:
    """A route's `openapi_extra` for headers it reads itself."""
    return {"parameters": list(headers)}


def action_body(command_type: type[BaseModel]) -> tuple[Any, Any]:
    """An action route's body annotation and default: required when the command has a required
    field, else optional (no body is the empty command). The schema then says which, so a
    generated client takes `body: ResolveIncident` or `body: StartWork | Unset`, never a None (which
    openapi-python-client would send as it is)."""
    try:
        empty = command_type.model_validate({})
    except ValidationError:
        return command_type, PydanticUndefined
    return command_type, empty


def correlation_id(request: Request) -> UUID:
    """The request's X-Correlation-ID, or a new one."""
    given = request.headers.get("x-correlation-id")
    if given is None:  # the one the access log gave the request, so its events carry it too
        return UUID(current) if (current := current_correlation_id()) else uuid4()
    # The documented pattern, not UUID()'s wider reading ("{...}", "urn:uuid:...", no hyphens):
    # what the schema refuses, the server refuses too.
    if CORRELATION_ID_TEXT.fullmatch(given) is None:
        raise ApiProblem(
            422, "invalid-input", f"X-Correlation-ID must be a UUID, not {given[:64]!r}"
        )
    return UUID(given)


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= 255:
        raise ApiProblem(422, "invalid-input", "Idempotency-Key must be 1 to 255 characters")
    return key


_ETAG = re.compile(r'\s*(W/)?"?([0-9]{1,19})"?\s*')  # ASCII digits: int() also reads "١٢"


def expected_version(request: Request) -> int | None:
    """The version the If-Match header names; None when absent or `*` (any version)."""
    if_match = request.headers.get("if-match")
    if if_match is None or if_match.strip() == "*":
        return None
    tag = _ETAG.fullmatch(if_match) if len(if_match) <= IF_MATCH_LENGTH else None
    if tag is None or int(tag[2]) > MAX_INT:
        shown = if_match if len(if_match) <= IF_MATCH_LENGTH else if_match[:IF_MATCH_LENGTH] + "…"
        raise ApiProblem(
            422, "invalid-input", f'If-Match must be an ETag such as "3", not {shown!r}'
        )
    if tag[1]:  # RFC 9110 13.1.1: If-Match uses the strong comparison; a weak tag never matches
        raise ApiProblem(
            412,
            "version-conflict",
            f"If-Match uses strong comparison: {if_match.strip()} never matches",
        )
    return int(tag[2])
