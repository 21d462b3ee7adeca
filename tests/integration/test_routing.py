"""Routing a request costs the same whichever router serves it (api/routing.py): the app tries
only the routes of routers whose first segments the path names, and finds exactly the route it
found by trying every route in turn."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import BaseRoute, Match

from api.app import create_app
from api.routing import ResourceRouter
from infra.settings import Settings
from service.bootstrap import build


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    services = build(Settings(data_dir=Path(tmp_path_factory.mktemp("routing")) / "var"))
    yield create_app(services)
    services.close()


def scope(method: str, path: str) -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


def routed(app: FastAPI, method: str, path: str) -> BaseRoute | None:
    """The app's route for the request, as FastAPI's router chooses it: the first that matches
    in full, else the first that matches in part."""
    partial = None
    for route in app.router.routes:
        match, _ = route.matches(scope(method, path))
        if match == Match.FULL:
            return chosen(route, method, path)
        if match == Match.PARTIAL and partial is None:
            partial = route
    return None if partial is None else chosen(partial, method, path)


def chosen(route: BaseRoute, method: str, path: str) -> BaseRoute:
    """Within an included router, the route it hands the request to."""
    inner = getattr(route, "_match", None)
    if inner is None:
        return route
    _, _, found, _ = inner(scope(method, path))
    assert found is not None
    return found


def every_route_tried(app: FastAPI, method: str, path: str) -> BaseRoute | None:
    """The route FastAPI chose when every router tried every one of its routes."""
    fast = ResourceRouter.matches
    ResourceRouter.matches = APIRouter.matches  # type: ignore[method-assign]
    try:
        return routed(app, method, path)
    finally:
        ResourceRouter.matches = fast  # type: ignore[method-assign]


def concrete(path_format: str) -> str:
    return re.sub(r"\{[^}]*\}", "X-000001", path_format)


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of a request for each route of the app."""
    return sorted(
        (method, concrete(route.path))
        for route in app.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    )


def test_a_request_for_a_resource_tries_only_the_routes_of_its_own_router(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    tried: list[str] = []
    matches = APIRoute.matches

    def counted(route: APIRoute, s: dict[str, object]) -> tuple[Match, dict[str, object]]:
        tried.append(route.path)
        return matches(route, s)  # type: ignore[arg-type]

    monkeypatch.setattr(APIRoute, "matches", counted)
    own = {route.path for route in app.router.routes if isinstance(route, APIRoute)}  # the app's
    for path in ("/api/v1/problems/PRB-000001/close", "/api/v1/changes/CHG-000001/schedule"):
        tried.clear()
        route = routed(app, "POST", path)
        assert isinstance(route, APIRoute)
        assert route.path.endswith(path.rsplit("/", 1)[1])
        resource = path.split("/")[3]
        assert tried
        assert all(p.startswith(f"/{resource}") or p in own for p in tried), tried


def test_every_route_is_found_as_when_every_route_was_tried(app: FastAPI) -> None:
    for method, path in api_routes(app):
        assert routed(app, method, path) is every_route_tried(app, method, path), (method, path)


SEGMENTS = st.sampled_from(
    ["api", "v1", "incidents", "changes", "change-templates", "problems", "sla", "queues", "x"]
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "POST"]),
    segments=st.lists(SEGMENTS | st.text("abc-/{}", max_size=6), max_size=6),
    slash=st.booleans(),
)
def test_any_path_is_routed_as_when_every_route_was_tried(
    app: FastAPI, method: str, segments: list[str], slash: bool
) -> None:
    path = "/" + "/".join(segments) + ("/" if slash else "")
    assert routed(app, method, path) is every_route_tried(app, method, path)
