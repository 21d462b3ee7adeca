"""Open work per group, ordered by priority then age: what each team should pick up next."""

from __future__ import annotations

from itertools import groupby
from typing import Annotated, Any

import orjson
from fastapi import Query, Response

from api.deps import ServicesDep, StaffReaderDep
from api.routing import ResourceRouter
from api.schemas import Queues
from projections.open_work import queued

router = ResourceRouter(tags=["queues"])

ITEM_FIELDS = (
    *("id", "ref", "title", "service", "category"),
    *("priority", "state", "agent", "major", "logged_at"),
)


@router.get("/queues", response_model=Queues, summary="Open work per group")
def get_queues(
    services: ServicesDep,
    ctx: StaffReaderDep,
    group: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="items shown per group")] = 100,
) -> Response:
    rows = queued(services.views, ctx, group)  # the caller's organisation's
    queues: list[dict[str, Any]] = []
    for name, members in groupby(rows, key=lambda row: row["group"]):
        items = list(members)
        queues.append(
            {
                "group": name,
                "open": len(items),
                "items": [{k: row[k] for k in ITEM_FIELDS} for row in items[:limit]],
            }
        )
    return Response(orjson.dumps({"queues": queues}), media_type="application/json")
