"""Using the console over plain HTTP in tests (the browser tests drive Chromium instead).

The console's cookies are Secure; an HTTP client's cookie jar will not send those to the test
server's http://127.0.0.1 (a browser treats loopback as secure and does). So `Visit` keeps the
cookies itself and sends them by hand, and reads each page's CSRF token as a browser's form would.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import uuid4

import httpx

from application.kinds import PERSON
from application.pipeline import Submission
from domain.actors import Actor, Role
from domain.context import Context
from domain.directory import RegisterPerson, UpdatePerson
from domain.errors import RecordAlreadyExists
from infra.console_store import open_console_store
from service.bootstrap import Services
from tests.integration.conftest import Api

PASSWORD = "kata-sandi-uji-1"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
VERSION = re.compile(r'name="version" value="(\d+)"')
KEEPER = Actor(id="directory.keeper", role=Role.ADMIN)


def person(
    services: Services,
    actor_id: str,
    roles: list[Role],
    *,
    organisation: str = "dpk-banten",
    password: str = PASSWORD,
) -> None:
    """A person of the directory with these roles and a console password."""
    ctx = Context(actor=KEEPER, at=services.clock(), correlation_id=uuid4())
    name = actor_id.replace(".", " ").title()
    register = RegisterPerson(actor_id=actor_id, name=name, roles=roles, organisation=organisation)
    try:
        services.desk.execute(Submission(ctx, register, PERSON))
    except RecordAlreadyExists:
        update = UpdatePerson(roles=roles, organisation=organisation)
        services.desk.execute(Submission(ctx, update, PERSON, ref=actor_id))
    services.runner.catch_up()
    store = open_console_store(services.settings.database_url, services.settings.data_dir)
    try:
        store.set_password(actor_id, password, services.clock())
    finally:
        store.close()


class Visit:
    """One browser's visit: its cookies, and the CSRF token of the last page it read."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30, follow_redirects=False)
        self.cookies: dict[str, str] = {}
        self.token = ""
        #: The last page read (what a person looks at when they fill in its forms).
        self.page = ""

    def close(self) -> None:
        self.http.close()

    def _sent(self, response: httpx.Response) -> httpx.Response:
        for name, value in response.cookies.items():
            self.cookies[name] = value
        for header in response.headers.get_list("set-cookie"):
            if "Max-Age=0" in header or "expires=Thu, 01 Jan 1970" in header:
                self.cookies.pop(header.split("=", 1)[0], None)
        self.page = response.text
        found = CSRF.search(response.text)
        if found:
            self.token = found.group(1)
        return response

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        jar = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return {**({"Cookie": jar} if jar else {}), **(extra or {})}

    def get(self, path: str, *, follow: bool = True) -> httpx.Response:
        response = self._sent(self.http.get(path, headers=self._headers()))
        while follow and response.status_code in (302, 303):
            response = self._sent(
                self.http.get(response.headers["location"], headers=self._headers())
            )
        return response

    def post(
        self,
        path: str,
        data: dict[str, Any],
        *,
        csrf: bool = True,
        follow: bool = True,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body = {**({"csrf": self.token} if csrf else {}), **data}
        response = self._sent(self.http.post(path, data=body, headers=self._headers(headers)))
        while follow and response.status_code in (302, 303):
            response = self._sent(
                self.http.get(response.headers["location"], headers=self._headers())
            )
        return response

    def upload(
        self, path: str, name: str, data: bytes, *, csrf: str | None = None, **fields: str
    ) -> httpx.Response:
        """A file sent as the page's upload form sends it (multipart, with its CSRF token)."""
        body = {"csrf": self.token if csrf is None else csrf, **fields}
        response = self.http.post(
            path, data=body, files={"file": (name, data)}, headers=self._headers()
        )
        return self._sent(response)

    def sign_in(self, actor_id: str, password: str = PASSWORD) -> httpx.Response:
        self.get("/console/sign-in")
        return self.post(
            "/console/sign-in", {"actor_id": actor_id, "password": password, "next": "/console/"}
        )


def version(visit: Visit) -> str:
    """The record's version the last page's forms were made against."""
    found = VERSION.search(visit.page)
    assert found, "the page has no form on a record"
    return found.group(1)


def text(response: httpx.Response) -> str:
    """A page's words, without its markup, in single spaces."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text))


def visit(api: Api, visits: list[Visit]) -> Visit:
    """A new browser's visit to the served console."""
    made = Visit(api.base_url)
    visits.append(made)
    return made
