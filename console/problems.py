"""Problems in the console (docs/console.md, "Problems"): the staff's record of a cause, worked
from logged through investigation and a known error to resolved and closed. Its page is the one
road every kind takes (console/records.py); what differs is declared here. Problems are the
staff's, as over the API: a requester is answered 403.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.deps import STAFF_READ_ROLES, services_of
from api.problem_records import PROBLEM_ACTORS, PROBLEMS
from application.kinds import PROBLEM
from console import auth
from console.i18n import moment
from console.records import RecordPage, add_record_routes, by_state
from console.render import render
from domain.problem import OPEN_STATES, ProblemState
from domain.problem_commands import PROBLEM_COMMANDS
from projections.base import Row
from projections.problems import problem_details, problems_by_priority

router = APIRouter(prefix="/console", include_in_schema=False)

P = ProblemState
OPEN = {state.value for state in OPEN_STATES}
#: The most problems the list shows.
LISTED = 200
#: The actions a problem's page offers in each state, most likely first (the domain decides).
ACTIONS: dict[str, tuple[str, ...]] = {
    P.LOGGED: (
        "start-investigation",
        "reprioritise",
        "escalate",
        "add-work-note",
        "link-incident",
        "cancel",
    ),
    P.INVESTIGATING: (
        "record-root-cause",
        "publish-workaround",
        "publish-known-error",
        "record-action",
        "add-work-note",
        "link-incident",
        "link-change",
        "link-configuration-item",
        "escalate",
        "reprioritise",
        "cancel",
    ),
    P.KNOWN_ERROR: (
        "resolve",
        "decide-potential-action",
        "publish-workaround",
        "record-action",
        "add-work-note",
        "link-incident",
        "link-change",
        "cancel",
    ),
    P.RESOLVED: ("close", "add-work-note"),
}


def _facts(row: Row, lang: str) -> list[tuple[str, Any, str]]:
    return [
        ("State", row["state"], "state"),
        ("Priority", row["priority"], "priority"),
        ("problem.label.service", row["service"], "text"),
        ("problem.label.investigator", row.get("investigator"), "text"),
        ("problem.label.incidents", len(row.get("incidents") or []), "text"),
        ("problem.label.root-cause", (row.get("root_cause") or {}).get("text"), "text"),
        ("problem.label.workaround", (row.get("workaround") or {}).get("text"), "text"),
        ("Logged", moment(row["logged_at"], lang), "text"),
    ]


PROBLEM_PAGE = RecordPage(
    kind=PROBLEM,
    path="problems",
    readable=PROBLEMS,
    view=problem_details,
    commands=PROBLEM_COMMANDS,
    offer=by_state(ACTIONS, {}),
    facts=_facts,
    body="description",
    readers=STAFF_READ_ROLES,
    actors=PROBLEM_ACTORS,
    words="problem.",
    said=("text", "reason", "root_cause", "workaround", "symptoms", "notes", "description"),
    marks_internal=False,  # a problem is the staff's whole
)


@router.get("/problems")
async def problem_list(request: Request) -> Response:
    """The open problems the visitor reaches, by priority then age (the problem queue)."""
    who = await auth.visitor(request)
    if who.role not in STAFF_READ_ROLES:
        return render(request, "error.html", who, status=403, problem="forbidden")
    views = services_of(request).views
    rows = problems_by_priority.rows(views, who.ctx)
    shown = [row for row in rows if row["state"] in OPEN][:LISTED]
    return render(request, "problems_list.html", who, rows=shown)


add_record_routes(router, PROBLEM_PAGE)  # after /problems: its {ref} is not a list
