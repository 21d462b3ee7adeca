"""Service requests: submit, read, list (the queues), history, one POST per lifecycle action;
the service catalogue they are made from."""

# No `from __future__ import annotations`: the per-action routes are built in a loop, and FastAPI
# must see each route's real body type.

from typing import Annotated

from fastapi import Query

from api.deps import AGENT_ROLES, ReaderDep, authorised
from api.directory import add_coded_actions
from api.models import CatalogueItem, CatalogueItemList, ServiceRequestDetails, ServiceRequestList
from api.params import CodePath, RequestRef
from api.reads import Readable, coded, numbered
from api.record_routes import RecordRoutes, by_code
from api.routing import ResourceRouter
from application.kinds import CATALOGUE_ITEM, SERVICE_REQUEST
from domain.actors import Role
from domain.change_commands import RecordCommand
from domain.record_numbers import RecordKind
from domain.request_commands import (
    CATALOGUE_ITEM_COMMANDS,
    REQUEST_COMMANDS,
    DefineCatalogueItem,
    RequestCommand,
    SubmitServiceRequest,
)
from domain.saved_filter import RecordList
from domain.service_request import RequestState, catalogue_item_id
from projections.service_requests import catalogue as catalogue_view
from projections.service_requests import service_requests

router = ResourceRouter(prefix="/service-requests", tags=["service requests"])
catalogue = ResourceRouter(prefix="/catalogue-items", tags=["service requests"])

SUBMITTERS = AGENT_ROLES | {Role.REQUESTER}
#: How requests are read: a requester reaches those they asked for; others, their organisation's
#: (projections/service_requests.py).
REQUESTS = Readable(service_requests, "service request", numbered(RecordKind.SERVICE_REQUEST))
CATALOGUE = Readable(
    catalogue_view,
    "catalogue item",
    coded(catalogue_item_id),
    record_of=lambda row: catalogue_item_id(row["code"]),
)
CATALOGUE_KEEPERS = frozenset({Role.SERVICE_MANAGER, Role.ADMIN})
SERVICE_MANAGERS = authorised(CATALOGUE_KEEPERS, "define catalogue items")


ROUTES = RecordRoutes(
    router, REQUESTS, SERVICE_REQUEST, ServiceRequestDetails, ref=RequestRef, reader=ReaderDep
)
ROUTES.add_create(
    SubmitServiceRequest,
    name="submit_service_request",
    caller=authorised(SUBMITTERS, "submit service requests"),
    summary="Submit a service request from a catalogue item",
)
ROUTES.add_list(
    name="list_service_requests",
    model=ServiceRequestList,
    summary="List service requests (a queue), newest first",
    filters={
        "state": RequestState | None,
        "group": Annotated[str | None, Query(max_length=200)],
        "requester": Annotated[str | None, Query(max_length=200)],
    },
    columns={"group": "fulfilment_group"},
    shown=True,
    searched=True,
    saved=RecordList.SERVICE_REQUESTS,
)
ROUTES.add_read(
    name="get_service_request", summary="Read a service request by id or number (REQ-000001)"
)


def _roles(command: type[RecordCommand]) -> frozenset[Role]:
    requesters_too = issubclass(command, RequestCommand) and command.requesters_too
    return SUBMITTERS if requesters_too else AGENT_ROLES


ROUTES.add_actions(REQUEST_COMMANDS.values(), roles_of=_roles)

CATALOGUE_ROUTES = RecordRoutes(
    catalogue,
    CATALOGUE,
    CATALOGUE_ITEM,
    CatalogueItem,
    ref=CodePath,
    reader=ReaderDep,
    param="code",
)
CATALOGUE_ROUTES.add_list(
    name="list_catalogue_items",
    model=CatalogueItemList,
    summary="The service catalogue: what may be requested",
)
CATALOGUE_ROUTES.add_read(
    name="get_catalogue_item", summary="A catalogue item: its approval rule and fulfilment steps"
)
add_coded_actions(CATALOGUE_ROUTES, CATALOGUE_ITEM_COMMANDS.values(), CATALOGUE_KEEPERS)
CATALOGUE_ROUTES.add_create(
    DefineCatalogueItem,
    name="define_catalogue_item",
    caller=SERVICE_MANAGERS,
    summary="Define a catalogue item (a service manager)",
    located=by_code,
)
