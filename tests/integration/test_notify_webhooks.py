"""The notifier's webhooks, to a real receiver on loopback that verifies each signature as the
Standard Webhooks library does: a subscribed endpoint hears of its topics, signed with its secret
(with both while one is rotated out), the payload telling the event as a caller reads it; an
endpoint that keeps failing is paused in its record, its webhooks wait (the e-mail goes on), and
they are sent once an admin resumes it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import orjson

from application import webhook_endpoints as endpoints
from application.kinds import INCIDENT, WEBHOOK_ENDPOINT
from application.pipeline import Submission
from domain.actors import Actor, Role
from domain.commands import AddWorkNote
from domain.notification import Channel, DeliveryState
from domain.webhook_endpoint import (
    RegisterWebhookEndpoint,
    ResumeWebhookEndpoint,
    RetireWebhookEndpoint,
)
from infra.webhook_secrets import WebhookSecrets
from infra.webhooks_out import new_secret
from processes.notify import Notify
from projections.webhook_endpoints import endpoint
from service.bootstrap import Services
from tests.conftest import context
from tests.engines import webhook_receiver
from tests.engines.smtp import SmtpServer
from tests.engines.webhook_receiver import Answer, WebhookReceiver
from tests.integration import test_notifications
from tests.integration.test_notifications import ADMIN, AGENT, log_incident, rows, run

smtp_servers = test_notifications.smtp_servers
mail = test_notifications.mail
told = test_notifications.told
webhook_receivers = webhook_receiver.webhook_receivers

Receivers = Callable[..., WebhookReceiver]


def registered(
    services: Services, receivers: Receivers, code: str, topics: list[str], **more: Any
) -> WebhookReceiver:
    """An endpoint registered at a receiver of its own, which holds the secret it was given."""
    receiver = receivers(new_secret(), **more)
    command = RegisterWebhookEndpoint(
        code=code, name=code, url=receiver.url, topics=topics, organisation=None
    )
    secrets = WebhookSecrets(services.settings.webhook_secrets_directory())
    made = endpoints.register(services.desk, secrets, context(ADMIN, services.clock()), command)
    assert made.secret is not None
    receiver.secret = made.secret
    services.runner.catch_up()
    return receiver


def payloads(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    return [orjson.loads(d.payload) for d in receiver.deliveries]


def webhooks(services: Services, incident: UUID) -> list[dict[str, Any]]:
    return [row for row in rows(services, incident) if row["channel"] == Channel.WEBHOOK]


def test_a_subscribed_endpoint_hears_its_topics_signed_and_as_a_caller_reads_them(
    told: tuple[Services, Notify], webhook_receivers: Receivers
) -> None:
    services, notify = told
    bot = registered(services, webhook_receivers, "bot-helpdesk", ["*"])
    deaf = registered(services, webhook_receivers, "bot-major", ["incident.major_declared"])
    incident = log_incident(services, assignment_group="tim-kiosk")
    run(services, AddWorkNote(text="Kabel LAN putus; rahasia internal"), INCIDENT, incident, AGENT)
    notify.run_until_idle()

    received = bot.deliveries
    assert [d.refusal for d in received] == [None] * len(received), "each signature verifies"
    told_of = {p["type"]: p for p in payloads(bot)}
    assert set(told_of) == {"incident.logged", "incident.assigned"}
    logged = told_of["incident.logged"]
    assert logged["data"]["record"]["ref"] == "INC-000001"
    assert logged["data"]["record"]["url"].endswith("/api/v1/incidents/INC-000001")
    assert logged["data"]["event"]["type"] == "Incident.Logged"
    assert logged["data"]["event"]["data"]["title"] == "Kiosk mati di lantai 2"
    assert b"rahasia internal" not in b"".join(d.payload for d in received)
    assert deaf.deliveries == []
    # recorded like an e-mail: the receiver's answer, and the webhook-id it was sent with
    recorded = webhooks(services, incident)
    assert {(r["recipient"], r["state"]) for r in recorded} == {
        ("bot-helpdesk", DeliveryState.SENT)
    }
    assert {r["message_id"] for r in recorded} == {d.webhook_id for d in received}
    assert all(r["answer"].startswith("204") for r in recorded)


def test_while_a_secret_is_rotated_out_the_receiver_holding_either_verifies(
    told: tuple[Services, Notify], webhook_receivers: Receivers
) -> None:
    services, notify = told
    bot = registered(services, webhook_receivers, "bot-helpdesk", ["incident.logged"])
    secrets = WebhookSecrets(services.settings.webhook_secrets_directory())
    rotated = endpoints.rotate(
        services.desk, secrets, context(ADMIN, services.clock()), "bot-helpdesk"
    )
    assert rotated.secret not in (None, bot.secret)
    log_incident(services)
    notify.run_until_idle()
    (delivery,) = bot.wait_for(1)
    assert delivery.refusal is None  # the old secret verifies
    assert len(delivery.signature.split()) == 2  # type: ignore[union-attr]
    bot.secret = rotated.secret
    assert bot.check(delivery.payload, delivery.headers) is None  # and so does the new one


def test_an_endpoint_that_keeps_failing_is_paused_and_its_webhooks_wait_for_the_resume(
    told: tuple[Services, Notify], webhook_receivers: Receivers, mail: SmtpServer
) -> None:
    services, notify = told
    pause_after = services.settings.notify_pause_after
    bot = registered(
        services, webhook_receivers, "bot-helpdesk", ["incident.logged"], default=Answer(503)
    )
    for _ in range(pause_after):  # each webhook fails once and is retried later (the clock)
        log_incident(services)
        notify.run_until_idle()
    services.runner.catch_up()
    row = endpoint(services.views, "bot-helpdesk")
    assert row is not None
    assert (row["state"], "503" in row["paused_reason"]) == ("paused", True)
    assert len(bot.deliveries) == pause_after

    # paused: nothing more goes to it, and the callers' e-mail goes on
    bot.default = Answer(204)
    incident = log_incident(services)
    sent_mail = len(mail.received)
    notify.run_until_idle()
    assert len(bot.deliveries) == pause_after
    assert len(mail.received) == sent_mail + 1
    assert [r["state"] for r in webhooks(services, incident)] == [DeliveryState.PENDING]

    # resumed by an admin: what waited is sent
    run(services, ResumeWebhookEndpoint(), WEBHOOK_ENDPOINT, "bot-helpdesk")
    notify.run_until_idle()
    assert [r["state"] for r in webhooks(services, incident)] == [DeliveryState.SENT]


def test_a_webhook_to_a_retired_endpoint_is_dead_lettered_not_sent(
    told: tuple[Services, Notify], webhook_receivers: Receivers
) -> None:
    services, notify = told
    bot = registered(services, webhook_receivers, "bot-helpdesk", ["incident.logged"])
    incident = log_incident(services)
    notify.decide_step()  # decided while the endpoint listened; retired before it was sent
    services.desk.execute(
        Submission(
            context(Actor(id="admin.dpk", role=Role.ADMIN), services.clock()),
            RetireWebhookEndpoint(reason="the bot is switched off"),
            WEBHOOK_ENDPOINT,
            ref="bot-helpdesk",
        )
    )
    notify.run_until_idle()
    assert bot.deliveries == []
    (dead,) = webhooks(services, incident)
    assert dead["state"] == DeliveryState.DEAD
    assert "retired" in dead["last_error"]
