"""Webhook endpoints: where the service's signed webhooks go (docs/notifications.md, "Webhook
endpoints"). Admins only, to read as to change: an endpoint's URL may name an internal gateway.

Registering an endpoint and rotating its secret answer the secret once, in `secret`, with
`Cache-Control: no-store`; the service keeps it in a file outside the store and never shows it
again (the record, its list and its history hold only its fingerprint). A retry of either with the
same Idempotency-Key answers `secret: null`: the first answer showed it.
"""

# No `from __future__ import annotations`: the per-action routes are built in a loop, and FastAPI
# must see each route's real body type.

from typing import Annotated, Any

import orjson
from fastapi import Body, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import (
    CORRELATION_ID,
    IDEMPOTENCY_KEY,
    action_body,
    authorised,
    documented,
    expected_version,
    idempotency_key,
    services_of,
)
from api.models import (
    WebhookEndpointDetails,
    WebhookEndpointList,
    WebhookEndpointWithSecret,
)
from api.reads import Readable, coded
from api.record_answers import acted, add_action_route, answer
from api.record_routes import RecordRoutes
from api.routing import ResourceRouter
from application import webhook_endpoints as endpoints
from application.kinds import WEBHOOK_ENDPOINT
from domain.actors import Role
from domain.context import Context
from domain.directory import CODE_PATTERN
from domain.webhook_endpoint import (
    ENDPOINT_COMMANDS,
    EndpointState,
    RegisterWebhookEndpoint,
    RotateWebhookSecret,
    WebhookEndpointCommand,
    endpoint_id,
)
from infra.webhook_secrets import WebhookSecrets
from projections.queries import BY_CODE, SHARED, View
from projections.webhook_endpoints import webhook_endpoints
from service.bootstrap import Services

router = ResourceRouter(prefix="/webhook-endpoints", tags=["webhook endpoints"])

ADMINS = frozenset({Role.ADMIN})
AdminDep = Annotated[Context, authorised(ADMINS, "manage webhook endpoints")]
EndpointCode = Annotated[
    str, Path(min_length=1, max_length=80, pattern=CODE_PATTERN, examples=["bot-helpdesk"])
]
#: Every row to the admins, who alone are let in (AdminDep), by code.
ENDPOINTS = Readable(
    View(webhook_endpoints, SHARED, BY_CODE), "webhook endpoint", coded(endpoint_id)
)
#: The headers an answer carrying a secret keeps from the record's answer.
_KEPT = ("location", "etag", "idempotent-replayed")


def secrets_of(services: Services) -> WebhookSecrets:
    return WebhookSecrets(services.settings.webhook_secrets_directory())


async def _with_secret(
    services: Services, ctx: Context, done: endpoints.Secreted, status: int
) -> Response:
    """The record's answer (or the 202 that says the views lag) with the secret, once: a
    secret made is never lost to a slow view."""
    location = f"/api/v1/webhook-endpoints/{done.outcome.record_id}"
    shown = await answer(services, done.outcome, webhook_endpoints, location, status, ctx=ctx)
    body: dict[str, Any] = orjson.loads(bytes(shown.body))
    body["secret"] = done.secret
    headers = {k: v for k, v in shown.headers.items() if k in _KEPT}
    headers["cache-control"] = "no-store"
    code = body.get("code")
    if code is not None:
        headers["location"] = f"/api/v1/webhook-endpoints/{code}"
    return Response(orjson.dumps(body), shown.status_code, headers, media_type=shown.media_type)


@router.post(
    "",
    response_model=WebhookEndpointWithSecret,
    responses={409: {"description": "An endpoint of that code is registered already"}},
    status_code=201,
    summary="Register a webhook endpoint (its secret is answered once)",
    openapi_extra=documented(IDEMPOTENCY_KEY, CORRELATION_ID),
)
async def register_webhook_endpoint(
    request: Request, ctx: AdminDep, command: RegisterWebhookEndpoint
) -> Response:
    services = services_of(request)
    done = await run_in_threadpool(
        endpoints.register,
        services.desk,
        secrets_of(services),
        ctx,
        command,
        idempotency_key=idempotency_key(request),
    )
    return await _with_secret(services, ctx, done, 201)


ROUTES = RecordRoutes(
    router,
    ENDPOINTS,
    WEBHOOK_ENDPOINT,
    WebhookEndpointDetails,
    ref=EndpointCode,
    reader=AdminDep,
    param="code",
)
ROUTES.add_list(
    name="list_webhook_endpoints",
    model=WebhookEndpointList,
    summary="List webhook endpoints by code (never their secrets)",
    filters={"state": EndpointState | None},
)
ROUTES.add_read(
    name="get_webhook_endpoint",
    summary="Read a webhook endpoint (as it is now, or as of a moment)",
)


def _add_action(command_type: type[WebhookEndpointCommand]) -> None:
    action = command_type.action
    name = f"{action.replace('-', '_')}_webhook_endpoint"
    body_type, default = action_body(command_type)

    if command_type is RotateWebhookSecret:

        async def rotate(
            request: Request,
            code: EndpointCode,
            ctx: AdminDep,
            command: Annotated[body_type, Body()] = default,  # type: ignore[valid-type]
        ) -> Response:
            services = services_of(request)
            done = await run_in_threadpool(
                endpoints.rotate,
                services.desk,
                secrets_of(services),
                ctx,
                code,
                command or RotateWebhookSecret(),
                expected_version=expected_version(request),
                idempotency_key=idempotency_key(request),
            )
            return await _with_secret(services, ctx, done, 200)

        add_action_route(
            router, command_type, rotate, name=name, model=WebhookEndpointWithSecret, path="code"
        )
        return

    async def act(
        request: Request,
        code: EndpointCode,
        ctx: AdminDep,
        command: Annotated[body_type, Body()] = default,  # type: ignore[valid-type]
    ) -> Response:
        given = command or command_type.model_validate({})
        location = f"/api/v1/webhook-endpoints/{code}"
        operation = f"webhook-endpoint:{action}"
        return await acted(
            request, ctx, given, WEBHOOK_ENDPOINT, code, location, webhook_endpoints, operation
        )

    add_action_route(
        router, command_type, act, name=name, model=WebhookEndpointDetails, path="code"
    )


for _command in ENDPOINT_COMMANDS.values():
    _add_action(_command)
