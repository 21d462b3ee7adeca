"""Liveness and readiness, outside the versioned API and without authentication."""

from __future__ import annotations

from fastapi import Response

from api.deps import ServicesDep
from api.models import Liveness, Readiness
from api.problem_details import problem
from api.routing import ResourceRouter
from infra.serialisation import UndecodableEvent

router = ResourceRouter(tags=["meta"])


@router.get("/healthz", response_model=Liveness, summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="The store answers and the projections are following it",
    description="503 names each follower (projections, audit ledger, SLA watch) that stopped at a"
    " stored event it cannot decode: its position, event and the reason.",
)
def readyz(services: ServicesDep) -> Response | dict[str, object]:
    try:
        head = services.desk.recorder.max_notification_id() or 0
    except Exception as error:  # the store does not answer: not ready, and say why
        return problem(503, "not-ready", f"the event store does not answer: {error}")
    if not services.is_following:
        return problem(503, "not-ready", "the projections are not following the event store")
    stuck = {name: error for name, error in services.stuck().items() if error is not None}
    if stuck:  # it serves what it holds, but a follower stopped at an event it cannot decode
        return problem(
            503,
            "not-ready",
            "; ".join(
                f"{name} stopped at {where(error)}: {error.reason}" for name, error in stuck.items()
            ),
            stuck=[{"follower": name, **error.describe()} for name, error in stuck.items()],
            store_position=head,
            projection_position=services.runner.position,
        )
    return {
        "status": "ready",
        "store_position": head,
        "projection_position": services.runner.position,
    }


def where(error: UndecodableEvent) -> str:
    """The event, with its position where the follower read it from the log."""
    if error.position is None:  # read with its record (the SLA watcher)
        return f"event {error.event}"
    return f"position {error.position} (event {error.event})"
