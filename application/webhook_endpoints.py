"""Registering webhook endpoints and rotating their secrets: the steps around the one pipeline that
only the application can take, because the secret is made here and never enters the record.

    hold the secrets' lock -> make the secret and write its file (infra/webhook_secrets.py)
    -> run the command through the pipeline, decided with the secret's fingerprint
    -> answer the secret once (`Secreted`); the file is put back if the store refused the event

The file is written before the event, so a record never names a secret that no file holds. A
command the store refuses, and a retry the pipeline answers from an Idempotency-Key, leave the
files as they were: the secret shown is only ever the one the record's fingerprint names, and a
retry is answered without it (the first answer showed it; it is never shown again).

Every other action on an endpoint (topics, URL, pause, resume, retire) is a plain command on the
pipeline. `pause_failing` is the notifier's (application/notifier.py): it pauses an endpoint that
keeps failing, and finds nothing to do when one is paused already.
"""

from __future__ import annotations

from dataclasses import dataclass

from application.desk import ServiceDesk
from application.kinds import WEBHOOK_ENDPOINT
from application.outcome import Outcome
from application.pipeline import Submission
from domain.context import Context
from domain.errors import NothingChanged
from domain.webhook_endpoint import (
    PauseWebhookEndpoint,
    RegisterWebhookEndpoint,
    RotateWebhookSecret,
    endpoint_id,
    fingerprint,
)
from infra.webhook_secrets import WebhookSecrets


@dataclass(frozen=True, slots=True)
class Secreted:
    """A registration or rotation done: the outcome, and the secret to show once (None when the
    outcome is a retry's, answered from the first request)."""

    outcome: Outcome
    secret: str | None


def register(
    desk: ServiceDesk,
    secrets: WebhookSecrets,
    ctx: Context,
    command: RegisterWebhookEndpoint,
    *,
    idempotency_key: str | None = None,
) -> Secreted:
    """Register an endpoint with a fresh secret. RecordAlreadyExists for a code registered
    already (its secret untouched), unless this is a retry of the request that registered it."""
    code = command.code
    with secrets.lock():
        exists = desk.stored_version(endpoint_id(code)) > 0
        # Under the lock, a file without a record is a crash's leftover: replaced. A recorded
        # endpoint's file is never touched: the command is refused, or a retry answered.
        secret = None if exists else secrets.create(code)
        made = fingerprint(secret) if secret is not None else ""
        submission = Submission(
            ctx,
            command,
            WEBHOOK_ENDPOINT,
            operation="register_webhook_endpoint",
            decision=lambda session: command.register(session, ctx, made),
            idempotency_key=idempotency_key,
        )
        try:
            outcome = desk.execute(submission)
        except BaseException:
            if secret is not None:
                secrets.restore(code, None, None)
            raise
        if outcome.replayed and secret is not None:
            secrets.restore(code, None, None)  # unreachable: a replay names a recorded endpoint
            secret = None
    return Secreted(outcome, secret)


def rotate(
    desk: ServiceDesk,
    secrets: WebhookSecrets,
    ctx: Context,
    code: str,
    command: RotateWebhookSecret | None = None,
    *,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
) -> Secreted:
    """Give an endpoint a new secret; the one before signs too until the next rotation."""
    given = command or RotateWebhookSecret()
    if desk.stored_version(endpoint_id(code)) == 0:  # no file is touched for no endpoint
        raise WEBHOOK_ENDPOINT.missing(code, endpoint_id(code))
    with secrets.lock():
        before = (secrets.get(code), secrets.previous(code))
        secret: str | None = secrets.rotate(code)
        assert secret is not None
        made = fingerprint(secret)
        submission = Submission(
            ctx,
            given,
            WEBHOOK_ENDPOINT,
            ref=code,
            operation="webhook-endpoint:rotate-secret",
            decision=lambda session: given.rotate(session, ctx, endpoint_id(code), made),
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )
        try:
            outcome = desk.execute(submission)
        except BaseException:
            secrets.restore(code, *before)
            raise
        if outcome.replayed:  # the first request rotated it and showed its secret
            secrets.restore(code, *before)
            secret = None
    return Secreted(outcome, secret)


def pause_failing(desk: ServiceDesk, ctx: Context, code: str, reason: str) -> Outcome | None:
    """Pause an endpoint that keeps failing (the notifier's call, as the service: `ctx`); None
    when it is paused already."""
    try:
        return desk.execute(
            Submission(
                ctx,
                PauseWebhookEndpoint(reason=reason[:2_000]),
                WEBHOOK_ENDPOINT,
                ref=code,
                operation="webhook-endpoint:pause",
            )
        )
    except NothingChanged:
        return None
