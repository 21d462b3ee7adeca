"""Legal holds (docs/retention.md, "Legal holds"): a service manager or an admin places a hold
on a record for a matter and releases it; while any hold stands nothing of the record is
destroyed (a document version's disposition, a file's removal for privacy: 409
`under-legal-hold`). Keepers and auditors read the holds."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request, Response

from api.deps import authorised
from api.models import LegalHoldDetails, LegalHoldList
from api.reads import Readable
from api.record_answers import answer, decided
from api.record_routes import RecordRoutes
from api.routing import ResourceRouter
from application.kinds import LEGAL_HOLD
from domain.actors import Role
from domain.context import Context
from domain.legal_hold import HELD_PATTERN, KEEPERS, PlaceLegalHold, ReleaseLegalHold
from projections.legal_holds import holds, legal_holds

router = ResourceRouter(prefix="/legal-holds", tags=["legal holds"])

HeldPath = Annotated[str, Path(max_length=10, pattern=HELD_PATTERN, examples=["DOC-000003"])]
HOLDS = Readable(holds, "legal hold", lambda ref: ("record_ref", ref))
HoldKeepers = Annotated[Context, authorised(KEEPERS, "place and release legal holds")]
HoldReaders = Annotated[Context, authorised(KEEPERS | {Role.AUDITOR}, "read legal holds")]


@router.post(
    "/releases",
    response_model=LegalHoldDetails,
    summary="Release a record's hold for one matter, saying why",
)
async def release_legal_hold(
    request: Request, ctx: HoldKeepers, command: ReleaseLegalHold
) -> Response:
    services, outcome = await decided(request, ctx, "release_legal_hold", command, LEGAL_HOLD)
    location = f"/api/v1/legal-holds/{command.record}"
    return await answer(services, outcome, legal_holds, location, 200, ctx=ctx)


ROUTES = RecordRoutes(router, HOLDS, LEGAL_HOLD, LegalHoldDetails, ref=HeldPath, reader=HoldReaders)
ROUTES.add_create(
    PlaceLegalHold,
    name="place_legal_hold",
    caller=authorised(KEEPERS, "place legal holds"),
    summary="Hold a record for a matter: nothing of it is destroyed until every hold is released",
    located=lambda command, _: str(getattr(command, "record")),  # noqa: B009
)
ROUTES.add_list(
    name="list_legal_holds",
    model=LegalHoldList,
    summary="Held records (and those once held), by number",
    filters={"held": Annotated[bool | None, Query(description="only those held now")]},
    columns={"held": "holding"},
)
ROUTES.add_read(
    name="get_legal_hold",
    summary="A record's holds: the matters it is held for, and those released",
    history_name="get_legal_hold_history",
)
