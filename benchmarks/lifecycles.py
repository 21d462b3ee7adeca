"""The REST lifecycles the foundation benchmark drives, one per record kind: what each client
sends, in order, and the answers it may count.

Each client creates its own record, drives it through the whole lifecycle, and starts again; every
step is one command and one request. A create answers 201 (202: recorded, the views lag behind,
api/record_answers.py), an action 200 (or 202); any other answer stops the run (_expect.py).

Only what the API offers today is used: a service request from a catalogue item that needs no
approval, a standard change from a pre-approved template (so one agent drives it alone, no CAB),
and a problem resolved through a change the client implemented before the clock started. The
catalogue item and the template are defined once per server, as admin, before the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

#: The answers a create may give, and those an action may give.
CREATED = frozenset({201, 202})
DONE = frozenset({200, 202})

GROUP = "library-ict"
CATALOGUE_ITEM = "bench-card-reprint"
TEMPLATE = "bench-cache-flush"
#: Where each standard change's window is booked: far ahead, each its own hour, so no two clash
#: (they touch no configuration item, so they could not clash anyway) and none is in a blackout.
WINDOWS_FROM = datetime(2030, 1, 1, tzinfo=UTC)

Body = dict[str, Any] | None


@dataclass(frozen=True)
class Turn:
    """What a step's body may depend on: the client, its cycle, and the record the client
    prepared before the clock (the change a problem is resolved through)."""

    client: int
    cycle: int
    prepared: str | None = None

    @property
    def tag(self) -> str:
        return f"{self.client}-{self.cycle}"

    def window(self) -> dict[str, str]:
        start = WINDOWS_FROM + timedelta(hours=self.client * 100_000 + self.cycle)
        return {"start": start.isoformat(), "end": (start + timedelta(minutes=30)).isoformat()}


def fixed(body: Body) -> Callable[[Turn], Body]:
    return lambda _: body


@dataclass(frozen=True)
class Step:
    """One command: the create (`action` None: a POST to the collection) or a POST to the
    record's `{Location}/{action}`. `operation` names it in figures and in a stopped run."""

    operation: str
    action: str | None
    body: Callable[[Turn], Body]

    @property
    def expected(self) -> frozenset[int]:
        return CREATED if self.action is None else DONE


@dataclass(frozen=True)
class Lifecycle:
    name: str  # as the loadgen's config and --lines say it
    line: str  # the report line
    collection: str
    steps: tuple[Step, ...]  # the create first
    #: run once per client before the clock; its record's id is each turn's `prepared`
    prepare: Lifecycle | None = None

    def __post_init__(self) -> None:
        if not self.steps or self.steps[0].action is not None:
            raise ValueError(f"{self.name}: a lifecycle starts by creating its record")
        if any(step.action is None for step in self.steps[1:]):
            raise ValueError(f"{self.name}: only the first step creates")

    @property
    def commands(self) -> int:
        return len(self.steps)

    @property
    def mix(self) -> str:
        return ", ".join(step.operation for step in self.steps)


def no_body(_: Turn) -> Body:
    return None


def action(
    operation: str, body: Callable[[Turn], Body] = no_body, *, path: str | None = None
) -> Step:
    """An action step; `path` where the route's name would read like another kind's."""
    return Step(operation, path or operation, body)


INCIDENT = Lifecycle(
    "incident",
    "c_rest",
    "/api/v1/incidents",
    (
        Step(
            "log",
            None,
            lambda t: {
                "title": f"Catalogue terminal {t.tag} frozen",
                "service": "catalogue-search",
                "caller": "budi.santoso",
                "impact": "medium",
                "urgency": "high",
                "assignment_group": GROUP,
            },
        ),
        action("start-work"),
        action("add-work-note", lambda t: {"text": f"Rebooted terminal {t.tag}."}),
        action("resolve", fixed({"code": "fixed", "notes": "Client cache cleared."})),
    ),
)

REQUEST = Lifecycle(
    "request",
    "c_request",
    "/api/v1/service-requests",
    (
        Step(
            "submit",
            None,
            lambda t: {"catalogue_item": CATALOGUE_ITEM, "title": f"Lost card {t.tag}"},
        ),
        action("start-fulfilment"),
        action("complete-step", fixed({"step": 1, "note": "Printed at the desk."})),
        action("fulfil", fixed({"notes": "Card handed over."})),
        action("close"),
    ),
)

CHANGE = Lifecycle(
    "change",
    "c_change",
    "/api/v1/changes",
    (
        Step(
            "raise",
            None,
            lambda t: {"kind": "standard", "template": TEMPLATE, "title": f"Flush {t.tag}"},
        ),
        action("schedule", Turn.window),
        action("start-implementation"),
        action(
            "record-implementation", fixed({"outcome": "successful", "notes": "Cache flushed."})
        ),
        action("close"),
    ),
)

#: What a problem is resolved through: a change implemented successfully and not yet closed (a
#: closed change no longer counts as implemented, Change.implemented_successfully).
IMPLEMENTED_CHANGE = replace(CHANGE, name="implemented change", steps=CHANGE.steps[:-1])

PROBLEM = Lifecycle(
    "problem",
    "c_problem",
    "/api/v1/problems",
    (
        Step(
            "log-problem",
            None,
            lambda t: {"title": f"Terminals freeze {t.tag}", "service": "catalogue-search"},
        ),
        action("start-investigation"),
        action("record-root-cause", fixed({"root_cause": "The client cache fills the disk."})),
        action("publish-workaround", fixed({"workaround": "Clear the client cache."})),
        action("publish-known-error", fixed({"symptoms": "The terminal freezes."})),
        action(
            "resolve-problem",
            lambda t: {"change": t.prepared, "notes": "Cache capped."},
            path="resolve",
        ),
        action("close-problem", path="close"),
    ),
    prepare=IMPLEMENTED_CHANGE,
)

#: In the order a round runs them; the incident's rate is what the others are compared with.
LIFECYCLES: dict[str, Lifecycle] = {c.name: c for c in (INCIDENT, REQUEST, CHANGE, PROBLEM)}

#: Defined once per server, as admin, before the clock: (path, body). Each answers 201. Work is
#: assigned only to groups the directory holds, so the group comes first.
SETUP: tuple[tuple[str, dict[str, Any]], ...] = (
    ("/api/v1/directory/groups", {"code": GROUP, "name": "Library ICT"}),
    (
        "/api/v1/catalogue-items",
        {
            "code": CATALOGUE_ITEM,
            "title": "Reprint a library card",
            "service": "catalogue-search",
            "fulfilment_group": GROUP,
            "steps": ["Print the card"],
        },
    ),
    (
        "/api/v1/change-templates",
        {
            "code": TEMPLATE,
            "title": "Flush a catalogue terminal's cache",
            "backout_plan": "Restore the cache from last night's copy.",
        },
    ),
)
