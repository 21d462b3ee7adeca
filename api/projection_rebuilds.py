"""Shadow rebuilds of read models: a service manager or admin starts one and follows its status.

The rebuild runs in this API process (projections/shadow.py): the live view keeps serving while
its shadow is folded from the first event, then the two are swapped atomically. Its status lives
in this process, so with several workers it is asked of the worker that started it (its Location
says which rebuild; another worker answers 404).
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Request, Response
from pydantic import BaseModel, Field

from api.deps import authorised, services_of
from api.params import NamePath
from api.problem_details import CONFLICT, NOT_FOUND, ApiProblem
from api.routing import ResourceRouter
from domain.actors import Role
from domain.context import Context
from projections import BY_NAME
from projections.shadow import Rebuild, Rebuilds

router = ResourceRouter(prefix="/projections", tags=["projections"])

REBUILDERS = authorised(frozenset({Role.SERVICE_MANAGER, Role.ADMIN}), "rebuild read models")
_registry_lock = threading.Lock()


class RebuildOut(BaseModel):
    id: UUID
    projection: str
    state: Literal["running", "succeeded", "failed"]
    position: int = Field(description="global position of the store the shadow has folded up to")
    head: int = Field(description="the head of the store when last measured")
    rate: float = Field(description="positions per second so far")
    eta_seconds: float | None = Field(description="seconds left at that rate (0 once finished)")
    events: int = Field(description="events read, once finished")
    started_at: datetime
    finished_at: datetime | None
    error: str | None


def _out(run: Rebuild) -> RebuildOut:
    return RebuildOut(
        id=run.id,
        projection=run.projection,
        state=run.state,
        position=run.position,
        head=run.head,
        rate=round(run.rate, 1),
        eta_seconds=None if run.eta_seconds is None else round(run.eta_seconds, 1),
        events=run.events,
        started_at=run.started_at,
        finished_at=run.finished_at,
        error=run.error,
    )


def _rebuilds(request: Request) -> Rebuilds:
    with _registry_lock:
        rebuilds: Rebuilds | None = getattr(request.app.state, "rebuilds", None)
        if rebuilds is None:
            services = services_of(request)
            rebuilds = Rebuilds(
                services.desk.recorder, services.desk.mapper, services.views, services.clock
            )
            request.app.state.rebuilds = rebuilds
        return rebuilds


def _projection_named(name: str) -> None:
    if name not in BY_NAME:
        raise ApiProblem(404, "not-found", f"no projection {name!r}")


@router.post(
    "/{name}/rebuilds",
    status_code=202,
    response_model=RebuildOut,
    summary="Rebuild a read model in a shadow view and swap it in (the live one keeps serving)",
    responses={**NOT_FOUND, **CONFLICT},
)
def start_rebuild(
    name: NamePath, request: Request, response: Response, _: Annotated[Context, REBUILDERS]
) -> RebuildOut:
    _projection_named(name)
    if services_of(request).kafka is not None:
        raise ApiProblem(
            409, "rebuild-unavailable", "views fed from Kafka are rebuilt by their consumer"
        )
    run = _rebuilds(request).start(BY_NAME[name])
    response.headers["Location"] = f"{request.url.path}/{run.id}"
    return _out(run)


@router.get(
    "/{name}/rebuilds/{rebuild_id}",
    response_model=RebuildOut,
    summary="A shadow rebuild's status: position, rate, ETA, outcome",
    responses=NOT_FOUND,
)
def rebuild_status(
    name: NamePath, rebuild_id: UUID, request: Request, _: Annotated[Context, REBUILDERS]
) -> RebuildOut:
    _projection_named(name)
    run = _rebuilds(request).get(rebuild_id)
    if run is None or run.projection != name:
        raise ApiProblem(404, "not-found", f"no rebuild {rebuild_id} of {name} in this process")
    return _out(run)
