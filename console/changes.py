"""The console's change pages for change managers and CAB members (docs/console.md, "Changes").

- `/console/changes/calendar?view=week|month&start=YYYY-MM-DD`: the forward schedule of change
  as the API's calendar reads it (api/changes.py `calendar_of`), day by day in Asia/Jakarta, the
  blackout windows and each change's conflicts said in words;
- `/console/changes/awaiting`: the changes waiting for the visitor: their vote as a named CAB
  member, and for a change manager the changes to assess, whose design to accept, to schedule
  (projections/change_details.py `votes_awaited`, `managers_steps`);
- the calendar's blackout windows, declared and withdrawn there by a service manager (the
  forms read off DeclareBlackout and WithdrawBlackout, as the API takes them);
- `/console/changes/{ref}`: a change, its assessment, votes so far, window, timeline, and the
  actions its state offers the visitor, each a form read off the change's command
  (domain/change_commands.py). Approve and reject say why; the domain decides the quorum and
  the approval matrix, and its refusals are shown in words.

Changes are the staff's, as over the API: a requester is refused the awaiting list and a change's
page (403), and reads the calendar's windows without a manager's reason for an override.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from babel.dates import format_date
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import RedirectResponse, Response

from api.changes import BLACKOUT_ROLES, CHANGE_ACTORS, CHANGES, calendar_of
from api.deps import READ_ROLES, STAFF_READ_ROLES, services_of, writer_of
from api.problem_details import status_of
from application.kinds import CHANGE, CHANGE_SCHEDULE
from application.pipeline import Submission
from console import auth
from console.forms import Form, command_from, form_of
from console.i18n import JAKARTA, moment
from console.records import RecordPage, add_record_routes
from console.render import render
from domain.change import ChangeState
from domain.change_commands import CHANGE_COMMANDS, DeclareBlackout, WithdrawBlackout
from domain.errors import DomainError
from projections.base import Row
from projections.change_details import change_details, managers_steps, votes_awaited

router = APIRouter(prefix="/console", include_in_schema=False)

#: The actions a change's page offers in each state, most likely first; the domain still
#: decides (a refusal is said in words).
STATE_ACTIONS: Mapping[ChangeState, tuple[str, ...]] = {
    ChangeState.RAISED: ("assess", "record-backout-plan", "accept-design", "cancel"),
    ChangeState.ASSESSED: (
        "approve",
        "reject",
        "accept-design",
        "record-backout-plan",
        "record-test",
        "cancel",
    ),
    ChangeState.AUTHORISED: ("schedule", "record-test", "cancel"),
    ChangeState.SCHEDULED: ("start-implementation", "schedule", "record-test", "cancel"),
    ChangeState.IMPLEMENTING: ("record-implementation",),
    ChangeState.IMPLEMENTED: ("review", "close"),
    ChangeState.REVIEWED: ("close",),
}
#: A vote: offered to whoever the change names on its CAB and has not voted yet.
VOTES = ("approve", "reject")
#: A CAB member's part on a change is their vote.
CAB_ONLY = frozenset({"cab_member"})

VIEWS = ("week", "month")
WEEKDAYS = 7
WEEK = range(WEEKDAYS)
#: Between the two ends of a window or a period.
DASH = "\N{EN DASH}"
#: A Monday, to name the days of the week from.
MONDAY = date(2024, 1, 1)


# -- the calendar ---------------------------------------------------------------------------------


@dataclass
class Day:
    """One day of the calendar, in Jakarta: the changes and blackouts whose windows touch it."""

    day: date
    inside: bool  # in the month shown (a month view pads no days: every day is inside)
    changes: list[dict[str, Any]] = field(default_factory=list)
    blackouts: list[dict[str, Any]] = field(default_factory=list)


#: The calendar's forms: a blackout declared, and one withdrawn (each blackout's own form).
BLACKOUT = form_of(DeclareBlackout, "blackout")
WITHDRAW = form_of(WithdrawBlackout, "withdraw-blackout")
#: What the calendar says after a blackout was declared or withdrawn.
CALENDAR_DONE = ("blackout", "withdraw-blackout")


@router.get("/changes/calendar")
async def change_calendar(
    request: Request,
    view: Annotated[str | None, Query(max_length=5)] = None,
    start: Annotated[str | None, Query(max_length=10)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    who = await auth.visitor(request)
    return calendar_page(request, who, view, start, done=done if done in CALENDAR_DONE else None)


def calendar_page(
    request: Request,
    who: auth.Visitor,
    view: str | None,
    start: str | None,
    *,
    status: int = 200,
    done: str | None = None,
    failed: Form | None = None,
    refused: DomainError | None = None,
) -> Response:
    """The calendar of the period around `start`; for a service manager with the blackout
    forms (the one sent again with what was typed and its errors, or the refusal said)."""
    if who.role not in READ_ROLES:
        return render(request, "error.html", who, status=403, problem="forbidden")
    shown = view if view in VIEWS else "week"
    services = services_of(request)
    today = services.clock().astimezone(JAKARTA).date()
    first, last = period(shown, _day(start) or today)
    begins = datetime.combine(first, time(), JAKARTA)
    ends = datetime.combine(last + timedelta(days=1), time(), JAKARTA)
    body = calendar_of(services, who.ctx, begins, ends)
    days = [Day(first + timedelta(days=n), True) for n in range((last - first).days + 1)]
    for change in body["changes"]:
        for day in _days_of(change, days):
            day.changes.append(_shown_change(change, day.day, who.lang))
    for blackout in body["blackouts"]:
        for day in _days_of(blackout, days):
            day.blackouts.append({**blackout, "when": _when(blackout, day.day, who.lang)})
    before, after = neighbours(shown, first)
    return render(
        request,
        "changes_calendar.html",
        who,
        view=shown,
        days=days,
        first=first,
        last=last,
        today=today,
        title=_period_title(shown, first, last, who.lang),
        previous=before.isoformat(),
        next=after.isoformat(),
        weekdays=[format_date(MONDAY + timedelta(days=n), "EEE", locale=who.lang) for n in WEEK],
        short_label=lambda d: format_date(d, "EEE d", locale=who.lang),
        day_label=lambda d: format_date(d, "EEEE, d MMMM y", locale=who.lang),
        lead=first.weekday(),
        conflicted=sum(1 for c in body["changes"] if c["conflicts"]),
        counts=(len(body["changes"]), len(body["blackouts"])),
        status=status,
        done=done,
        refused=refused,
        declares=who.role in BLACKOUT_ROLES,
        blackouts=body["blackouts"],
        blackout=failed if failed is not None and failed.action == "blackout" else BLACKOUT,
        withdraw=failed if failed is not None and failed.action == "withdraw-blackout" else None,
        withdrawing=WITHDRAW,
    )


@router.post("/changes/blackouts")
async def declare_blackout(request: Request) -> Response:
    """A blackout window declared by a service manager: the calendar of its week after."""
    who, posted = await auth.posted(request, BLACKOUT_ROLES)
    assert BLACKOUT is not None
    made = command_from(DeclareBlackout, BLACKOUT, posted)
    if isinstance(made, Form):
        return calendar_page(request, who, "week", None, status=422, failed=made)
    assert isinstance(made, DeclareBlackout)
    submission = Submission(who.ctx, made, CHANGE_SCHEDULE, operation="declare_blackout")
    shown = made.start.astimezone(JAKARTA).date().isoformat()
    return await _scheduled(request, who, submission, shown, BLACKOUT, posted)


@router.post("/changes/blackouts/{code}/withdraw")
async def withdraw_blackout(
    request: Request,
    code: Annotated[str, Path(max_length=80)],
    start: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    """A blackout window withdrawn, saying why: the calendar it was withdrawn from after."""
    who, posted = await auth.posted(request, BLACKOUT_ROLES)
    assert WITHDRAW is not None
    # the code kept among what was typed: the calendar shows the form sent again on its blackout
    given = {**{k: v for k, v in posted.items() if isinstance(v, str)}, "code": code}
    made = command_from(WithdrawBlackout, WITHDRAW, given)
    if isinstance(made, Form):
        return calendar_page(request, who, "week", start, status=422, failed=made)
    assert isinstance(made, WithdrawBlackout)
    command = made
    submission = Submission(
        who.ctx,
        command,
        CHANGE_SCHEDULE,
        ref=code,
        operation="withdraw_blackout",
        decision=lambda session: command.decide(session, who.ctx, code),
    )
    shown = start if _day(start) else None
    return await _scheduled(request, who, submission, shown, WITHDRAW, given)


async def _scheduled(
    request: Request,
    who: auth.Visitor,
    submission: Submission,
    shown: str | None,
    form: Form,
    posted: Mapping[str, Any],
) -> Response:
    """The schedule's command decided; the calendar once the views hold it, or the refusal."""
    try:
        outcome = await writer_of(request).submit(submission)
    except DomainError as refused:
        typed = {k: v for k, v in posted.items() if isinstance(v, str)}
        kept = Form(form.action, form.inputs, values=typed)
        return calendar_page(
            request, who, "week", shown, status=status_of(refused), failed=kept, refused=refused
        )
    services = services_of(request)
    timeout = services.settings.read_your_writes_timeout
    await services.caught_up(outcome.record_id, outcome.position or 0, timeout)
    start = f"&start={shown}" if shown else ""
    return RedirectResponse(
        f"/console/changes/calendar?view=week{start}&done={form.action}", status_code=303
    )


def _day(given: str | None) -> date | None:
    try:
        return date.fromisoformat(given) if given else None
    except ValueError:
        return None


def period(view: str, around: date) -> tuple[date, date]:
    """A week from its Monday; a month from its first day to its last."""
    if view == "week":
        monday = around - timedelta(days=around.weekday())
        return monday, monday + timedelta(days=WEEKDAYS - 1)
    first = around.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def neighbours(view: str, first: date) -> tuple[date, date]:
    if view == "week":
        return first - timedelta(days=WEEKDAYS), first + timedelta(days=WEEKDAYS)
    return (first - timedelta(days=1)).replace(day=1), (first + timedelta(days=32)).replace(day=1)


def _period_title(view: str, first: date, last: date, lang: str) -> str:
    if view == "month":
        return format_date(first, "MMMM y", locale=lang)
    since, until = (
        format_date(first, "d MMM", locale=lang),
        format_date(last, "d MMM y", locale=lang),
    )
    return f"{since} {DASH} {until}"


def _window(row: Row) -> tuple[datetime, datetime]:
    return (
        datetime.fromisoformat(row["start"]).astimezone(JAKARTA),
        datetime.fromisoformat(row["end"]).astimezone(JAKARTA),
    )


def _days_of(row: Row, days: list[Day]) -> list[Day]:
    """The days shown that the window touches (a window ending at midnight ends the day before)."""
    start, end = _window(row)
    return [
        d
        for d in days
        if start < datetime.combine(d.day + timedelta(days=1), time(), JAKARTA)
        and end > datetime.combine(d.day, time(), JAKARTA)
    ]


def _clock(at: datetime, lang: str) -> str:
    return f"{at.hour:02d}{':' if lang == 'en' else '.'}{at.minute:02d}"


def _when(row: Row, day: date, lang: str) -> str:
    """The window as that day's cell says it: hours when it begins and ends that day, else the
    moment it begins or ends on another day."""
    start, end = _window(row)
    begins = _clock(start, lang) if start.date() == day else moment(start, lang)
    ends = _clock(end, lang) if end.date() == day else moment(end, lang)
    return f"{begins} {DASH} {ends}"


def _shown_change(change: Row, day: date, lang: str) -> dict[str, Any]:
    conflicts = change["conflicts"]
    return {
        **change,
        "when": _when(change, day, lang),
        "clashes": [c for c in conflicts if c["kind"] == "change"],
        "blacked_out": [c for c in conflicts if c["kind"] == "blackout"],
    }


# -- what waits for the visitor -------------------------------------------------------------------


@router.get("/changes/awaiting")
async def awaiting(request: Request) -> Response:
    who = await auth.visitor(request)
    if who.role not in CHANGE_ACTORS:
        return render(request, "error.html", who, status=403, problem="forbidden")
    store = services_of(request).views
    votes = votes_awaited(store, who.ctx)
    steps = [] if who.role.value in CAB_ONLY else managers_steps(store, who.ctx)
    return render(request, "changes_awaiting.html", who, votes=votes, steps=steps)


# -- a change -------------------------------------------------------------------------------------


def offered(who: auth.Visitor, row: Row) -> tuple[str, ...]:
    """The actions the page offers the visitor on the change: a vote to a named CAB member who
    has not voted; the state's other actions to the staff who act on changes (a CAB member
    only votes)."""
    state = ChangeState(row["state"])
    assessment = row.get("assessment") or {}
    voted = {a["approver"] for a in row.get("approvals") or []}
    me = who.ctx.actor.id
    may_vote = state is ChangeState.ASSESSED and me in assessment.get("cab", ()) and me not in voted
    actions = STATE_ACTIONS.get(state, ())
    if who.role.value in CAB_ONLY:
        actions = tuple(a for a in actions if a in VOTES)
    return tuple(a for a in actions if a not in VOTES or may_vote)


def _facts(row: Row, lang: str) -> list[tuple[str, Any, str]]:
    window, raised_by = row.get("window"), row["raised_by"]["id"]
    when = (
        f"{moment(window['start'], lang)} {DASH} {moment(window['end'], lang)}" if window else None
    )
    return [
        ("State", row["state"], "state"),
        ("change.label.kind", f"change.kind.{row['kind']}", "key"),
        ("change.label.requester", row["requester"], "text"),
        ("change.label.raised", f"{moment(row['raised_at'], lang)} · {raised_by}", "text"),
        ("change.label.services", ", ".join(row.get("services") or []), "text"),
        ("change.label.items-heading", ", ".join(row.get("configuration_items") or []), "text"),
        ("change.label.window", when or "change.label.not-scheduled", "text" if when else "key"),
    ]


#: A change's page: the one road every kind takes (console/records.py), with its assessment,
#: backout plan, tests and votes shown under its facts (changes_extra.html).
CHANGE_PAGE = RecordPage(
    kind=CHANGE,
    path="changes",
    readable=CHANGES,
    view=change_details,
    commands=CHANGE_COMMANDS,
    offer=offered,
    facts=_facts,
    body="description",
    readers=STAFF_READ_ROLES,
    actors=CHANGE_ACTORS,
    words="change.",
    extra="changes_extra.html",
    said=("comment", "reason", "impact", "plan", "notes", "note", "summary", "waiver"),
    marks_internal=False,  # a change is the staff's whole
)
add_record_routes(router, CHANGE_PAGE)
