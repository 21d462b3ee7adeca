"""Recording a disclosure before the answer leaves (domain/disclosure.py): who took what, when,
by which route and with which question."""

from __future__ import annotations

from fastapi import Request

from api.deps import services_of
from api.metrics import route_template
from application.kinds import DISCLOSURE
from application.pipeline import Submission
from domain.context import Context
from domain.disclosure import DisclosureKind, RecordDisclosure

#: The longest question kept (the event's bound); a longer one is kept to here, marked cut.
MAX_QUERY = 2_000


def disclosed(
    request: Request,
    ctx: Context,
    kind: DisclosureKind,
    *,
    record: str | None = None,
    sha256: str | None = None,
) -> None:
    """Record that `ctx`'s actor is being handed this answer (raises if it cannot be recorded:
    then nothing is handed out)."""
    template = route_template(request.scope)
    query = request.url.query or None
    if query is not None and len(query) > MAX_QUERY:
        query = query[: MAX_QUERY - 1] + "…"
    command = RecordDisclosure(
        kind=kind, route=template[:200], query=query, record=record, sha256=sha256
    )
    services_of(request).desk.execute(
        Submission(ctx, command, DISCLOSURE, operation="record_disclosure")
    )
