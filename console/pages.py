"""The console's pages (docs/console.md): server-rendered, each reading and acting through the same
application layer as the API, in the visitor's own context.

- `/console/sign-in`, `/console/sign-out`, `/console/role` (act in another of one's roles),
  `/console/language/{id|en}`;
- `/console/queue`: the groups' open work by priority then age, with each ticket's SLA state and
  the business time left;
- `/console/incidents/{ref}`: the incident, its SLA clocks, its timeline (who and when; public
  comments and internal work notes apart), and the actions its state offers, each a form;
- `/console/incidents/new`: log an incident; `/console/my`: a requester's own incidents.

A record out of the visitor's reach answers 404, as the API does; a command refused answers the
page again with the refusal in words; a form posted against an older version of the record
answers with what changed since.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from api.deps import services_of, writer_of
from api.incidents import INCIDENTS, REQUESTER_ACTIONS
from api.problem_details import ApiProblem
from api.saved_filters import incident_filter
from application.kinds import INCIDENT
from application.pipeline import Submission
from console import auth, sso
from console.forms import Form, command_from, form_of
from console.i18n import duration, moment, translations
from console.records import RecordPage, add_record_routes, by_state, to_new_record
from console.render import render
from domain.actors import Role
from domain.commands import INCIDENT_COMMANDS, LogIncident
from domain.errors import DomainError, NotFound
from domain.incident import IncidentState
from domain.sla_clock import ClockState
from projections import directory
from projections.incident_details import incident_details, incidents
from projections.open_work import queued
from projections.queries import EVERYTHING
from projections.service_requests import service_requests
from projections.sla_clocks import watched
from projections.sla_index import counting_targets

router = APIRouter(prefix="/console", include_in_schema=False)
#: Where to go after signing in or choosing a language (a console page: auth.safe_next).
Next = Annotated[str | None, Query(max_length=500)]

#: The actions an incident's page offers in each state, most likely first (the domain still
#: decides: an action refused in words is shown as such).
STAFF_ACTIONS: Mapping[str, tuple[str, ...]] = {
    IncidentState.LOGGED: ("assign", "start-work", "add-comment", "add-work-note", "cancel"),
    IncidentState.ASSIGNED: ("start-work", "assign", "add-comment", "add-work-note", "cancel"),
    IncidentState.IN_PROGRESS: (
        "resolve",
        "put-on-hold",
        "add-comment",
        "add-work-note",
        "assign",
    ),
    IncidentState.ON_HOLD: ("resume", "add-comment", "add-work-note"),
    IncidentState.RESOLVED: ("close", "add-work-note"),
}
REQUESTER_OFFERED: Mapping[str, tuple[str, ...]] = {
    IncidentState.RESOLVED: ("confirm", "reopen", "add-comment"),
    IncidentState.CLOSED: ("rating",),
    IncidentState.LOGGED: ("add-comment",),
    IncidentState.ASSIGNED: ("add-comment",),
    IncidentState.IN_PROGRESS: ("add-comment",),
    IncidentState.ON_HOLD: ("add-comment",),
}
#: Fields of the log form, in order; the staff's add whom it is for and where it goes.
LOG_FIELDS = ("title", "description", "service", "impact", "urgency")
STAFF_LOG_FIELDS = ("caller", "assignment_group")


# -- signing in -----------------------------------------------------------------------------------


@router.get("/sign-in")
async def sign_in_page(request: Request, next: Next = None) -> Response:
    token = auth.sign_in_token(request)
    after = auth.safe_next(next)
    page = render(
        request,
        "sign_in.html",
        None,
        csrf=token,
        next=after,
        refused=False,
        actor_id="",
        sso=sso.offered(request),
    )
    auth.set_cookie(page, auth.CSRF_COOKIE, token)
    return page


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await request.form()
    auth.check_form(request, form, request.cookies.get(auth.CSRF_COOKIE))
    actor_id, password = _text(form, "actor_id", 200), _text(form, "password", 200)
    services = services_of(request)
    store = auth.store_of(request)
    failures = request.app.state.sign_in_failures
    keys = (request.client.host if request.client else "", actor_id)
    try:
        for limiter, key in zip(failures, keys, strict=True):
            limiter.check_room(key)
    except ApiProblem as limited:
        page = render(request, "error.html", None, status=429, problem="rate-limited")
        page.headers.update(limited.headers or {})
        return page
    person = _person(request, actor_id)
    roles = auth.roles_of(person) if person else ()
    known = await run_in_threadpool(store.check_password, actor_id, password)
    if not (known and person and person["active"] and roles):
        for limiter, key in zip(failures, keys, strict=True):
            limiter.count(key)
        token = auth.sign_in_token(request)
        page = render(
            request,
            "sign_in.html",
            None,
            status=401,
            csrf=token,
            next=auth.safe_next(_text(form, "next", 500)),
            refused=True,
            actor_id=actor_id,
            sso=sso.offered(request),
        )
        auth.set_cookie(page, auth.CSRF_COOKIE, token)
        return page
    assert person is not None
    session = await run_in_threadpool(
        store.open_session, actor_id, roles[0].value, services.clock(), auth.SESSION_TTL
    )
    done = RedirectResponse(auth.safe_next(_text(form, "next", 500)), status_code=303)
    auth.set_cookie(done, auth.SESSION_COOKIE, session.id, int(auth.SESSION_TTL.total_seconds()))
    done.delete_cookie(auth.CSRF_COOKIE, path="/")
    return done


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    who, _ = await auth.posted(request)
    await run_in_threadpool(auth.store_of(request).close_session, who.session.id)
    done = RedirectResponse("/console/sign-in", status_code=303)
    done.delete_cookie(auth.SESSION_COOKIE, path="/")
    return done


@router.post("/role")
async def switch_role(request: Request) -> Response:
    """Act in another of one's roles: a new session (a new id), the old one ended."""
    who, form = await auth.posted(request)
    wanted = _text(form, "role", 40)
    if wanted not in {r.value for r in who.roles}:
        return render(request, "error.html", who, status=403, problem="forbidden")
    store, services = auth.store_of(request), services_of(request)
    session = await run_in_threadpool(
        store.open_session, who.session.actor_id, wanted, services.clock(), auth.SESSION_TTL
    )
    await run_in_threadpool(store.close_session, who.session.id)
    done = RedirectResponse("/console/", status_code=303)
    auth.set_cookie(done, auth.SESSION_COOKIE, session.id, int(auth.SESSION_TTL.total_seconds()))
    return done


@router.get("/language/{lang}")
async def choose_language(lang: Annotated[str, Path(max_length=2)], next: Next = None) -> Response:
    """A preference of this browser's (the directory's choice stays as it is)."""
    done = RedirectResponse(auth.safe_next(next), status_code=303)
    if lang in ("id", "en"):
        auth.set_cookie(done, auth.LANGUAGE_COOKIE, lang, 365 * 24 * 3600)
    return done


# -- pages ----------------------------------------------------------------------------------------


#: Where each role's day starts; anyone else's at the queue (staff) or their own incidents.
HOMES = {
    Role.AUDITOR: "/console/audit",
    Role.CAB_MEMBER: "/console/changes/awaiting",
    Role.CHANGE_MANAGER: "/console/changes/awaiting",
    Role.SERVICE_MANAGER: "/console/dashboard",
}


@router.get("/")
async def home(request: Request) -> Response:
    who = await auth.visitor(request)
    default = "/console/queue" if who.staff else "/console/my"
    return RedirectResponse(HOMES.get(who.role, default), status_code=303)


@router.get("/queue")
async def queue(
    request: Request, group: Annotated[str | None, Query(max_length=200)] = None
) -> Response:
    who = await auth.visitor(request)
    if not who.staff:
        return render(request, "error.html", who, status=403, problem="forbidden")
    group = group or None
    services = services_of(request)
    rows = queued(services.views, who.ctx, group)
    clocks = _clocks(request, who, {row["id"] for row in rows})
    words = translations(who.lang).gettext
    states = {state: words(f"state.{state}") for state in IncidentState}
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for row in rows:  # what each cell says, worked out here: 500 rows of template logic cost more
        sla = clocks.get(row["id"])
        left = None if sla is None else sla["remaining"]
        groups.setdefault(row["group"], []).append(
            {
                **row,
                "state_label": states[row["state"]],
                "sla_state": sla and sla["state"],
                "sla_label": sla and words(f"sla.{sla['state']}"),
                "left": _left(left, who.lang, words),
                "logged": moment(row["logged_at"], who.lang),
            }
        )
    return render(request, "queue.html", who, groups=groups, group=group)


@router.get("/my")
async def my_records(request: Request) -> Response:
    who = await auth.visitor(request)
    services = services_of(request)
    kept = replace(incident_filter(services, who.ctx, None, {}), among=None)
    page = incidents.page(services.views, who.ctx, kept, limit=100, after=None)
    asked = service_requests.page(services.views, who.ctx, EVERYTHING, limit=100, after=None)
    return render(request, "my.html", who, rows=page.rows, requests=asked.rows)


@router.get("/incidents/new")
async def new_incident(request: Request) -> Response:
    who = await auth.visitor(request)
    return render(request, "incident_new.html", who, **_log_form(request, who))


@router.post("/incidents/new")
async def log_incident(request: Request) -> Response:
    who, posted = await auth.posted(request)
    fields = {name: _text(posted, name, 10_000) for name in (*LOG_FIELDS, *STAFF_LOG_FIELDS)}
    if not who.staff or not fields["caller"]:
        fields["caller"] = who.ctx.actor.id
    values = {k: v for k, v in fields.items() if v}
    values["channel"] = "portal"
    form = form_of(LogIncident, "log")
    assert form is not None
    made = command_from(LogIncident, form, values)
    if isinstance(made, Form):
        return render(
            request, "incident_new.html", who, status=422, **_log_form(request, who, made)
        )
    try:
        outcome = await writer_of(request).submit(Submission(who.ctx, made))
    except DomainError as refused:
        return render(
            request,
            "incident_new.html",
            who,
            status=409 if not isinstance(refused, NotFound) else 422,
            refused=refused,
            **_log_form(request, who, replace(form, values=values)),
        )
    return await to_new_record(request, outcome, INCIDENT_PAGE, "log")


INCIDENT_PAGE = RecordPage(
    kind=INCIDENT,
    path="incidents",
    readable=INCIDENTS,
    view=incident_details,
    commands=INCIDENT_COMMANDS,
    offer=by_state(STAFF_ACTIONS, REQUESTER_OFFERED),
    requester_may=REQUESTER_ACTIONS,
    facts=lambda row, _: [
        ("State", row["state"], "state"),
        ("Priority", row["priority"], "priority"),
        ("field.service", row["service"], "text"),
        ("field.caller", row["caller"], "text"),
        ("Group", row.get("group"), "text"),
        ("Agent", row.get("agent"), "text"),
        ("Logged", row["logged_at"], "moment"),
    ],
    body="description",
)
add_record_routes(router, INCIDENT_PAGE)


#: Each shown ticket's clock as last judged: (row version, when, state, time left), reused for
#: a minute while its row is unchanged. Judging 500 afresh took 22 ms of a queue's page, and the
#: time left is shown to the minute; a new event (a new row version) is judged at once.
_JUDGED: dict[str, tuple[int, datetime, ClockState, timedelta | None]] = {}
REJUDGE_AFTER = timedelta(minutes=1)
_JUDGED_MOST = 50_000


def _clocks(request: Request, who: auth.Visitor, ids: set[str]) -> dict[str, dict[str, Any]]:
    """Each queued ticket's SLA state and the business time left on its more urgent target."""
    services = services_of(request)
    now, index = services.clock(), services.sla_index
    if len(_JUDGED) > _JUDGED_MOST:
        _JUDGED.clear()
    found: dict[str, dict[str, Any]] = {}
    for row in watched(services.views, who.ctx):
        if row["id"] not in ids:
            continue
        known = _JUDGED.get(row["id"])
        if known is None or known[0] != row["version"] or not now - REJUDGE_AFTER < known[1] <= now:
            _, clock = index.judge(row, now)
            counting = counting_targets(clock)
            remaining = min((t.remaining - t.overrun for t in counting), default=None)
            known = _JUDGED[row["id"]] = (row["version"], now, clock.state, remaining)
        found[row["id"]] = {"state": known[2], "remaining": known[3]}
    return found


def _left(remaining: timedelta | None, lang: str, words: Any) -> str:
    if remaining is None:
        return ""
    if remaining >= timedelta(0):
        return str(words("%(time)s left") % {"time": duration(remaining, lang)})
    return str(words("%(time)s over") % {"time": duration(-remaining, lang)})


def _log_form(request: Request, who: auth.Visitor, form: Form | None = None) -> dict[str, Any]:
    services = services_of(request)
    catalogue = [s for s in services.desk.service_catalogue().services if not s.retired]
    made = form or form_of(LogIncident, "log")
    assert made is not None
    shown = LOG_FIELDS + (STAFF_LOG_FIELDS if who.staff else ())
    inputs = {i.name: i for i in made.inputs}
    return {"form": made, "inputs": [inputs[name] for name in shown], "services": catalogue}


def _text(form: FormData, name: str, limit: int) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _person(request: Request, actor_id: str) -> dict[str, Any] | None:
    if not actor_id:
        return None
    return directory.person(services_of(request).views, actor_id)
