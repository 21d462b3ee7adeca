"""Liveness and readiness, outside the versioned API and without authentication."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import ServicesDep
from api.problems import problem

router = APIRouter(tags=["meta"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=None,
    summary="The store answers and the projections are following it",
)
def readyz(services: ServicesDep) -> Response | dict[str, object]:
    try:
        head = services.desk.recorder.max_notification_id() or 0
    except Exception as error:  # the store does not answer: not ready, and say why
        return problem(503, "not-ready", f"the event store does not answer: {error}")
    if not services.is_following:
        return problem(503, "not-ready", "the projections are not following the event store")
    return {
        "status": "ready",
        "store_position": head,
        "projection_position": services.runner.position,
    }
