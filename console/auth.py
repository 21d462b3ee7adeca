"""Who is using the console, and whether a form came from it (docs/console.md, "Signing in").

A session is a random id in an HttpOnly, Secure, SameSite=Lax cookie, known to the console store
by its digest (infra/console_store.py); signing out deletes it. Every request reads the person's
directory entry again: a person deactivated, erased or no longer holding the role they signed in
with is signed out at their next click. The context a page reads and acts in is the one the API
builds from a token (api/deps.py): the same actor, role and organisation, so a page reaches
exactly the records the API would, and a command is decided by the same pipeline.

Every form carries the session's CSRF token, compared in constant time; the sign-in form, before
there is a session, carries a token that must equal the one in its own cookie (double submit).
A POST whose Origin names another site is refused whatever it carries.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit
from uuid import uuid4

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import Response

from api.deps import services_of
from console.i18n import language
from domain.actors import Actor, Identity, Role
from domain.context import Context
from infra.console_store import ConsoleStore, Session
from projections import directory
from projections.base import Row

SESSION_COOKIE = "itsm_session"
CSRF_COOKIE = "itsm_csrf"
LANGUAGE_COOKIE = "itsm_lang"
#: A working day and then some: a session signed in at seven ends before the next morning.
SESSION_TTL = timedelta(hours=12)
#: The role a person with several acts in first: the least powerful that works the queues.
ROLE_ORDER = (
    Role.AGENT,
    Role.RESOLVER,
    Role.CAB_MEMBER,
    Role.CHANGE_MANAGER,
    Role.SERVICE_MANAGER,
    Role.AUDITOR,
    Role.ADMIN,
    Role.REQUESTER,
)
CONSOLE_ROLES = frozenset(ROLE_ORDER)


class SignInNeeded(Exception):
    """No session, or one that ended: the page answers with the sign-in form."""


class FormRefused(Exception):
    """A form without the right CSRF token, or from another site."""


@dataclass(frozen=True)
class Visitor:
    """A signed-in person, as a page sees them."""

    session: Session
    ctx: Context
    person: Row
    roles: tuple[Role, ...]
    lang: str

    @property
    def role(self) -> Role:
        return self.ctx.actor.role

    @property
    def staff(self) -> bool:
        return self.role is not Role.REQUESTER


def store_of(request: Request) -> ConsoleStore:
    store: ConsoleStore = request.app.state.console_store
    return store


def roles_of(person: Row) -> tuple[Role, ...]:
    """The roles a person may act in here, the first the one they start in."""
    held = {r for r in person.get("roles") or [] if r in CONSOLE_ROLES}
    return tuple(role for role in ROLE_ORDER if role in held)


async def visitor(request: Request) -> Visitor:
    """The signed-in person, or SignInNeeded."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id or len(session_id) > 100:
        raise SignInNeeded
    services = services_of(request)
    session = await run_in_threadpool(store_of(request).session, session_id, services.clock())
    if session is None:
        raise SignInNeeded
    person = directory.person(services.views, session.actor_id)
    if person is None or not person["active"]:
        raise SignInNeeded
    roles = roles_of(person)
    role = Role(session.role)
    if role not in roles:
        raise SignInNeeded
    actor = Actor(id=session.actor_id, role=role)
    identity = Identity(actor, organisation=person["organisation"])
    ctx = Context(actor=actor, at=services.clock(), correlation_id=uuid4(), scope=identity)
    chosen = request.cookies.get(LANGUAGE_COOKIE) or person.get("language")
    return Visitor(session, ctx, person, roles, language(chosen))


class Forbidden(Exception):
    """The visitor's role may not do this: answered with a 403 page (console/app.py)."""


async def posted(
    request: Request, roles: Collection[Role] | None = None
) -> tuple[Visitor, FormData]:
    """The visitor and the form they sent, once it is this console's (`check_form`) and, with
    `roles`, their role is among them (else Forbidden: as over the API)."""
    who = await visitor(request)
    form = await request.form()
    check_form(request, form, who.session.csrf)
    if roles is not None and who.role not in roles:
        raise Forbidden
    return who, form


def check_form(request: Request, form: Any, expected: str | None) -> None:
    """Refuse a form that is not this console's: another site's Origin, or a CSRF token that is
    missing or not the one expected (the session's, or the sign-in cookie's)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        parts = urlsplit(origin)
        if parts.netloc != request.headers.get("host", ""):
            raise FormRefused
    given = form.get("csrf")
    if not isinstance(given, str) or not expected:
        raise FormRefused
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise FormRefused


def sign_in_token(request: Request) -> str:
    """The sign-in form's CSRF token: the one its cookie already holds, or a new one."""
    held = request.cookies.get(CSRF_COOKIE)
    return held if held and len(held) <= 100 else secrets.token_urlsafe(32)


def set_cookie(response: Response, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        secure=True,
        samesite="lax",
        path="/",
    )


def sign_in_url(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/console/sign-in?next={quote(here, safe='')}"


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a page of the console, never another site."""
    if not target or not target.startswith("/console/") or target.startswith("//"):
        return "/console/"
    return target
