"""Liveness and readiness, outside the versioned API and without authentication."""

from __future__ import annotations

from fastapi import Response

from api.deps import ServicesDep
from api.models import Liveness, Readiness
from api.problem_details import problem
from api.routing import ResourceRouter
from infra.follower import Failing
from infra.serialisation import UndecodableEvent
from projections.view_store import SkippedMessage

router = ResourceRouter(tags=["meta"])


@router.get("/healthz", response_model=Liveness, summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="The store answers and the projections are following it",
    description="503 names each follower (projections, audit ledger, SLA watch) that stopped at a"
    " stored event it cannot decode: its position, event and the reason. In Kafka mode it also"
    " names the messages on the events topic the projections passed over because they cannot"
    " decode them (the views lack them): position, event and reason where the message says"
    " them, its partition and offset, and the dead-letter topic it went to. It also names each"
    " follower whose step has kept failing (retried with backoff) for longer than"
    " ITSM_READY_FAILING_AFTER (30 s): `failing: [{follower, reason, seconds, attempts}]`.",
)
def readyz(services: ServicesDep) -> Response | dict[str, object]:
    try:
        head = services.desk.recorder.max_notification_id() or 0
    except Exception as error:  # the store does not answer: not ready, and say why
        return problem(503, "not-ready", f"the event store does not answer: {error}")
    if not services.is_following:
        return problem(503, "not-ready", "the projections are not following the event store")
    stuck = {name: error for name, error in services.stuck().items() if error is not None}
    skipped = services.skipped()
    failing = services.failing()
    if stuck or skipped or failing:  # it serves what it holds, but the views may not keep up
        said = [
            f"{name} stopped at {where(error)}: {error.reason}" for name, error in stuck.items()
        ]
        shown = [{"follower": name, **error.describe()} for name, error in stuck.items()]
        if skipped and services.kafka is not None:
            dead_letters = services.kafka.dead_letter_topic
            said.append(
                f"projections passed over {services.views.skipped_count()} message(s) they cannot"
                f" decode, sent to {dead_letters}: "
                + "; ".join(f"{passed_over(s)}: {s.reason}" for s in skipped)
            )
            shown += [
                {"follower": "projections", **s.describe(), "dead_letter_topic": dead_letters}
                for s in skipped
            ]
        said += [
            f"{name} has failed for {f.seconds():.0f} s ({f.attempts} attempts): {reason(f)}"
            for name, f in failing.items()
        ]
        return problem(
            503,
            "not-ready",
            "; ".join(said),
            stuck=shown,
            failing=[
                {
                    "follower": name,
                    "reason": reason(f),
                    "seconds": round(f.seconds(), 1),
                    "attempts": f.attempts,
                }
                for name, f in failing.items()
            ],
            store_position=head,
            projection_position=services.runner.position,
        )
    return {
        "status": "ready",
        "store_position": head,
        "projection_position": services.runner.position,
    }


def reason(failing: Failing) -> str:
    """Why a follower's step fails, in a line (the error's own words, cut short)."""
    said = " ".join(str(failing.error).split()) or type(failing.error).__name__
    return said[:300]


def where(error: UndecodableEvent) -> str:
    """The event, with its position where the follower read it from the log."""
    if error.position is None:  # read with its record (the SLA watcher)
        return f"event {error.event}"
    return f"position {error.position} (event {error.event})"


def passed_over(message: SkippedMessage) -> str:
    """A skipped message: where it lies on the topic, and the event where it says which."""
    known = [f"position {message.position}"] if message.position is not None else []
    known += [f"event {message.event}"] if message.event is not None else []
    said = f" ({', '.join(known)})" if known else ""
    return f"partition {message.partition} offset {message.offset}{said}"
