"""Notifications: what was sent, what failed, and the dead-letter list with its replay.

A record's own notifications are in its history (`GET .../{ref}/history`: `notifications`).
Here the staff who answer for delivery see them across records: admins, service managers and
auditors, each within their reach (an organisation's agents see their organisation's). An admin
requeues a dead letter (after the relay or the address is fixed); the requeue is in the record
like every other step of a notification.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Path, Query, Request, Response
from pydantic import BaseModel, Field

from api.deps import authorised
from api.reads import TOLD
from api.record_answers import answer, submitted
from api.routing import ResourceRouter
from application.kinds import NOTIFICATION
from application.pipeline import Submission
from domain.actors import Role
from domain.context import Context
from domain.examples import example
from domain.fields import Reason
from domain.notification import DeliveryState, RequeueNotification
from projections.notifications import listed, notifications

router = ResourceRouter(prefix="/notifications", tags=["notifications"])

#: Who reads deliveries across records: who answers for them, and who audits them.
READERS = frozenset({Role.ADMIN, Role.SERVICE_MANAGER, Role.AUDITOR})
ReaderDep = Annotated[Context, authorised(READERS, "read notifications")]
AdminDep = Annotated[Context, authorised(frozenset({Role.ADMIN}), "requeue notifications")]
NotificationId = Annotated[UUID, Path(description="the notification's id")]


class NotificationRow(BaseModel):
    id: UUID
    record_id: UUID
    record_ref: str | None
    topic: str
    channel: str
    recipient: str
    address: str | None = Field(
        description="a webhook's URL; none for an e-mail, whose address is the recipient's own"
        " (their directory entry says it)"
    )
    subject: str
    state: DeliveryState
    attempts: int
    resends: int
    decided_at: str
    sent_at: str | None
    answer: str | None
    last_error: str | None
    withdrawn_reason: str | None
    version: int


class NotificationList(BaseModel):
    items: list[NotificationRow]


@router.get(
    "",
    response_model=NotificationList,
    summary="Notifications, newest first: all, or those in one state (dead: the dead letters)",
)
def list_notifications(
    request: Request,
    ctx: ReaderDep,
    state: DeliveryState | None = None,
    recipient: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    services = request.app.state.services
    rows = listed(services.views, ctx, state=state, recipient=recipient, limit=limit)
    fields = {*TOLD, "record_id", "record_ref", "version"}
    items = [{name: row.get(name) for name in fields} for row in rows]
    return Response(NotificationList(items=items).model_dump_json(), media_type="application/json")


class Requeue(BaseModel):
    model_config = example({"reason": "The relay is fixed"}, extra="forbid")
    reason: str = Reason


@router.post(
    "/{notification}/requeue",
    response_model=NotificationRow,
    summary="Take a dead-lettered notification off the list, to be sent again",
)
async def requeue_notification(
    request: Request, notification: NotificationId, body: Requeue, ctx: AdminDep
) -> Response:
    services, outcome = await submitted(
        request,
        Submission(ctx, RequeueNotification(reason=body.reason), NOTIFICATION, ref=notification),
    )
    return await answer(
        services, outcome, notifications, f"/api/v1/notifications/{notification}", 200, ctx=ctx
    )
