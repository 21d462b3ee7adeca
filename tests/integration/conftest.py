"""A real HTTP server on loopback, serving the app (the API and the console) over a temporary data
directory."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.guards import HTTP_PROTOCOL
from console.app import create_app
from domain.actors import Actor, Role
from infra.settings import Settings
from service.bootstrap import Services, build
from tests.conftest import Clock


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Api:
    base_url: str
    services: Services
    #: Every client handed out, closed when the server stops: one left to the garbage collector
    #: warns of its unclosed socket in whichever test runs next on the worker.
    clients: list[httpx.Client] = field(default_factory=list)

    def client(
        self,
        actor: str = "siti.rahma",
        role: Role = Role.AGENT,
        *,
        organisation: str | None = None,
        all_organisations: bool = False,
    ) -> httpx.Client:
        token = self.services.tokens.issue(
            Actor(id=actor, role=role),
            at=self.services.clock(),
            issued_by="tests",
            organisation=organisation,
            all_organisations=all_organisations,
        ).token
        client = httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.clients.append(client)
        return client


@contextmanager
def serving(services: Services, port: int | None = None) -> Iterator[Api]:
    """The app over these services, served by uvicorn on a free loopback port (or this one, for
    a service that must know its address before it starts, as single sign-on's redirect does)."""
    port = port or free_port()
    config = uvicorn.Config(
        create_app(services),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        http=HTTP_PROTOCOL,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    api = Api(f"http://127.0.0.1:{port}", services)
    try:
        yield api
    finally:
        for client in api.clients:
            client.close()
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def api(services: Services) -> Iterator[Api]:
    with serving(services) as served:
        yield served


@pytest.fixture
def visits(api: Api) -> Iterator[list[Any]]:
    """The console visits a test makes (tests/console_helpers.py `visit`), closed as it ends."""
    made: list[Any] = []
    yield made
    for one in made:
        one.close()


@pytest.fixture(scope="session")
def openapi_json(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The OpenAPI document every server of this code serves, made once: it is the routes' and
    the same on either store, and making it takes about a second of CPU each time."""
    data_dir: Path = tmp_path_factory.mktemp("openapi")
    services = build(Settings(data_dir=data_dir), clock=Clock())
    services.start()
    try:
        return json.dumps(create_app(services).openapi())
    finally:
        services.close()


@pytest.fixture
def openapi_document(openapi_json: str) -> dict[str, Any]:
    """The OpenAPI document, this test's own copy to read (and change, if it likes)."""
    document: dict[str, Any] = json.loads(openapi_json)
    return document
