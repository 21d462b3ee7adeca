"""The directory: people (by actor id), resolver groups and broadcast lists (by code), and each
caller's own entry (`/directory/me`).

Who may do what (docs/directory.md):

- admins register, change, deactivate and reactivate people; admins and service managers (who
  keep the service catalogue, whose items name the groups that fulfil them) form and change
  groups and broadcast lists;
- staff read the directory: the groups and lists whole, the people of the organisations they
  see (a regency library's staff, its own people; admins, service managers and auditors, all);
- a requester reads no one's entry but their own;
- everyone with an entry reads it at GET /directory/me, and chooses there the language they are
  written to in and the optional notifications they mute: the path names no one, so no one
  changes someone else's.

A missing record the path names answers 404 (`person-not-found`, `group-not-found`,
`broadcast-list-not-found`); a person or group a command's body names that the directory does not
hold answers 422 with the same codes (api/problem_details.py).
"""

# No `from __future__ import annotations`: the per-action routes are built in a loop, and FastAPI
# must see each route's real body type.

from collections.abc import Iterable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Path, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.deps import (
    CORRELATION_ID,
    IDEMPOTENCY_KEY,
    IF_MATCH,
    READ_ROLES,
    STAFF_READ_ROLES,
    ServicesDep,
    action_body,
    authorised,
    documented,
    expected_version,
    idempotency_key,
    services_of,
)
from api.models import (
    READ,
    BroadcastListDetails,
    BroadcastListList,
    GroupDetails,
    GroupList,
    PersonDetails,
    PersonList,
    written,
)
from api.reads import Readable, coded
from api.record_answers import acted, add_action_route, answer, etag, json_response, submitted
from api.record_routes import RecordRoutes
from api.routing import ResourceRouter
from application.kinds import BROADCAST_LIST, GROUP, PERSON
from application.pipeline import Submission
from domain.actors import Role
from domain.commands import ActionCommand
from domain.context import Context
from domain.directory import (
    GROUP_COMMANDS,
    LIST_COMMANDS,
    PERSON_COMMANDS,
    BroadcastListNotFound,
    ChooseLanguage,
    ChooseMutes,
    CreateBroadcastList,
    ErasePerson,
    FormGroup,
    GroupNotFound,
    Organisation,
    PersonNotFound,
    RegisterPerson,
    broadcast_list_id,
    group_id,
    person_id,
)
from domain.errors import PersonAlreadyErased
from domain.text import ACTOR_ID_PATTERN
from projections.directory import broadcast_lists, directory_groups, directory_people
from projections.queries import BY_CODE, SHARED, Order, Reach, View

people = ResourceRouter(prefix="/directory/people", tags=["directory"])
groups = ResourceRouter(prefix="/directory/groups", tags=["directory"])
lists = ResourceRouter(prefix="/directory/broadcast-lists", tags=["directory"])
me = ResourceRouter(prefix="/directory/me", tags=["directory"])

ADMINS = frozenset({Role.ADMIN})
#: Groups and lists: admins, and the service managers who keep the catalogue that names groups.
KEEPERS = frozenset({Role.ADMIN, Role.SERVICE_MANAGER})

ActorPath = Annotated[
    str, Path(min_length=1, max_length=200, pattern=ACTOR_ID_PATTERN, examples=["siti.rahma"])
]
CodePath = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9-]{0,79}$")]

#: People: the organisations the caller sees; a requester, their own entry only.
PEOPLE = Readable(
    View(directory_people, Reach(owner="actor_id"), Order("actor_id")),
    "person",
    coded(person_id),
    not_found=PersonNotFound,
)
#: Groups and lists are the staff's, whatever their organisation (work crosses them).
GROUPS = Readable(
    View(directory_groups, SHARED, BY_CODE), "group", coded(group_id), not_found=GroupNotFound
)
LISTS = Readable(
    View(broadcast_lists, SHARED, BY_CODE),
    "broadcast list",
    coded(broadcast_list_id),
    not_found=BroadcastListNotFound,
)

ReaderDep = Annotated[Context, authorised(READ_ROLES, "read the directory")]
StaffReaderDep = Annotated[Context, authorised(STAFF_READ_ROLES, "read the directory")]


def add_coded_actions(
    routes: RecordRoutes, commands: Iterable[type[ActionCommand]], roles: frozenset[Role]
) -> None:
    """One POST route per action on a record known by a code (an actor id, a group's code):
    decided on the record the path names, with If-Match and Idempotency-Key, answered with the
    record's view."""
    for command_type in commands:
        _add_coded_action(routes, command_type, roles)


def _add_coded_action(
    routes: RecordRoutes, command_type: type[ActionCommand], roles: frozenset[Role]
) -> None:
    kind, noun, action = routes.kind, routes.readable.noun, command_type.action
    caller = authorised(roles, f"{action.replace('-', ' ')} ({noun})")
    base, projection = routes.router.prefix, routes.projection
    body, default = action_body(command_type)
    ref_type = routes.ref

    async def act(
        request: Request,
        ref: ref_type,  # type: ignore[valid-type]
        ctx: Annotated[Context, caller],
        command: Annotated[body, Body()] = default,  # type: ignore[valid-type]
    ) -> Response:
        given: ActionCommand = command or command_type.model_validate({})
        return await acted(
            request, ctx, given, kind, ref, f"/api/v1{base}/{quote(ref, safe='')}", projection
        )

    name = f"{action}_{noun}".replace("-", "_").replace(" ", "_")
    add_action_route(routes.router, command_type, act, name=name, model=routes.model)


def by_actor(command: BaseModel, _: Any) -> str:
    return str(getattr(command, "actor_id"))  # noqa: B009 (a RegisterPerson has an actor id)


def by_code(command: BaseModel, _: Any) -> str:
    return str(getattr(command, "code"))  # noqa: B009 (a group or a list has a code)


# -- people ---------------------------------------------------------------------------------------

PEOPLE_ROUTES = RecordRoutes(
    people, PEOPLE, PERSON, PersonDetails, ref=ActorPath, reader=ReaderDep, param="ref"
)
PEOPLE_ROUTES.add_create(
    RegisterPerson,
    name="register_person",
    caller=authorised(ADMINS, "register people"),
    summary="Register a person in the directory (an admin)",
    located=by_actor,
)
PEOPLE_ROUTES.add_list(
    name="list_people",
    model=PersonList,
    summary="List people by actor id (a requester: only their own entry)",
    filters={"organisation": Organisation | None, "active": bool | None},
    shown=True,
)
PEOPLE_ROUTES.add_read(
    name="get_person",
    summary="Read a person's entry by actor id (as it is now, or as of a moment)",
    history_name="get_person_history",
)
#: Erasing has a route of its own: the key goes once the erasure is recorded.
_KEPT_PEOPLE = [command for command in PERSON_COMMANDS.values() if command is not ErasePerson]
add_coded_actions(PEOPLE_ROUTES, _KEPT_PEOPLE, ADMINS)


async def erase_person(
    request: Request,
    ref: ActorPath,
    ctx: Annotated[Context, authorised(ADMINS, "erase (person)")],
    command: Annotated[ErasePerson, Body()],
) -> Response:
    """Erase a person's own data (docs/privacy.md): recorded first, then their key destroyed."""
    services = services_of(request)
    subject = person_id(ref)
    try:
        services, outcome = await submitted(
            request,
            Submission(
                ctx,
                command,
                PERSON,
                ref=ref,
                operation="person:erase",
                expected_version=expected_version(request),
                idempotency_key=idempotency_key(request),
            ),
        )
    except PersonAlreadyErased:
        # a crash after an earlier erasure was recorded may have left the key: not now
        await run_in_threadpool(services.desk.erase_subject, subject, ctx.at)
        raise
    # The erasure is on record: now the key goes. A crash between leaves a key that opens what
    # no view shows any more; asking again destroys it (above).
    await run_in_threadpool(services.desk.erase_subject, subject, ctx.at)
    location = f"/api/v1/directory/people/{quote(ref, safe='')}"
    return await answer(services, outcome, directory_people, location, 200, ctx=ctx)


add_action_route(people, ErasePerson, erase_person, name="erase_person", model=PersonDetails)


# -- groups ---------------------------------------------------------------------------------------

GROUP_ROUTES = RecordRoutes(
    groups, GROUPS, GROUP, GroupDetails, ref=CodePath, reader=StaffReaderDep, param="ref"
)
GROUP_ROUTES.add_create(
    FormGroup,
    name="form_group",
    caller=authorised(KEEPERS, "form groups"),
    summary="Form a resolver group of registered people",
    located=by_code,
)
GROUP_ROUTES.add_list(
    name="list_groups",
    model=GroupList,
    summary="List resolver groups by code",
    filters={"organisation": Organisation | None},
)
GROUP_ROUTES.add_read(
    name="get_group",
    summary="Read a group by code: members, manager, hours, on-call rota",
    history_name="get_group_history",
)
add_coded_actions(GROUP_ROUTES, GROUP_COMMANDS.values(), KEEPERS)


# -- broadcast lists ------------------------------------------------------------------------------

LIST_ROUTES = RecordRoutes(
    lists,
    LISTS,
    BROADCAST_LIST,
    BroadcastListDetails,
    ref=CodePath,
    reader=StaffReaderDep,
    param="ref",
)
LIST_ROUTES.add_create(
    CreateBroadcastList,
    name="create_broadcast_list",
    caller=authorised(KEEPERS, "create broadcast lists"),
    summary="Create a broadcast list (major-incident: told of every major incident)",
    located=by_code,
)
LIST_ROUTES.add_list(
    name="list_broadcast_lists", model=BroadcastListList, summary="List broadcast lists by code"
)
LIST_ROUTES.add_read(
    name="get_broadcast_list",
    summary="Read a broadcast list by code",
    history_name="get_broadcast_list_history",
)
add_coded_actions(LIST_ROUTES, LIST_COMMANDS.values(), KEEPERS)


# -- the caller's own entry -----------------------------------------------------------------------


@me.get(
    "",
    response_model=PersonDetails,
    responses=READ,
    summary="Your own entry in the directory",
)
def get_my_entry(services: ServicesDep, ctx: ReaderDep) -> Response:
    row = PEOPLE.read(services, ctx, ctx.actor.id)
    return json_response(row, headers={"ETag": etag(row["version"])})


def _add_own(command_type: type[ActionCommand], name: str) -> None:
    """POST /directory/me/{action}: the action on the caller's own entry, and no one else's."""
    body, default = action_body(command_type)

    async def own(
        request: Request,
        ctx: ReaderDep,
        command: Annotated[body, Body()] = default,  # type: ignore[valid-type]
    ) -> Response:
        given: ActionCommand = command or command_type.model_validate({})
        ref = ctx.actor.id
        location = f"/api/v1/directory/people/{ref}"
        return await acted(request, ctx, given, PERSON, ref, location, directory_people)

    own.__name__ = name
    me.add_api_route(
        f"/{command_type.action}",
        own,
        methods=["POST"],
        response_model=PersonDetails,
        responses=written(),
        summary=f"{command_type.summary} (your own)",
        openapi_extra=documented(IF_MATCH, IDEMPOTENCY_KEY, CORRELATION_ID),
    )


_add_own(ChooseMutes, "choose_my_mutes")
_add_own(ChooseLanguage, "choose_my_language")

#: The directory's routers, for api/app.py.
ROUTERS: tuple[APIRouter, ...] = (people, groups, lists, me)
