"""Webhook endpoints over real HTTP, on SQLite and PostgreSQL: an admin registers one and is shown
its secret once (the file beside the service holds it; the record, the list and the history only
its fingerprint); others cannot see or change them; a rotation keeps the secret before it; pause,
resume and retire; the notifier's look-up finds the endpoints a notification goes to."""

from __future__ import annotations

import stat
from typing import Any
from uuid import uuid4

import httpx

from api.models import WebhookEndpointDetails, WebhookEndpointWithSecret
from application import webhook_endpoints as endpoints
from application.kinds import WEBHOOK_ENDPOINT
from domain.actors import SYSTEM, Role
from domain.context import Context
from domain.webhook_endpoint import fingerprint
from infra.webhook_secrets import WebhookSecrets
from projections.webhook_endpoints import subscribed, webhook_endpoints
from service.bootstrap import Services
from tests.integration.conftest import Api
from tests.integration.test_requests_problems_api import assert_rebuild_equals_live, ok, refused

BOT = {
    "code": "bot-helpdesk",
    "name": "Bot Telegram helpdesk",
    "url": "https://chat.dpk-banten.example/hooks/itsm",
    "topics": ["incident.resolved", "incident.major_declared"],
}
BASE = "/api/v1/webhook-endpoints"


def register(client: httpx.Client, **fields: Any) -> httpx.Response:
    return client.post(BASE, json={**BOT, **fields})


def secrets_of(services: Services) -> WebhookSecrets:
    return WebhookSecrets(services.settings.webhook_secrets_directory())


def test_an_endpoint_is_shown_its_secret_once_and_the_file_holds_it(
    api: Api, services: Services
) -> None:
    admin = api.client("admin.dpk", Role.ADMIN)

    answered = register(admin)
    created = ok(answered, 201)
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert answered.headers["cache-control"] == "no-store"
    assert answered.headers["location"] == f"{BASE}/bot-helpdesk"
    assert created["topics"] == ["incident.major_declared", "incident.resolved"]
    assert (created["state"], created["organisation"]) == ("active", None)
    assert created["secret_fingerprint"] == fingerprint(secret)
    WebhookEndpointWithSecret.model_validate(created)  # the answer is exactly what it documents

    path = services.settings.data_dir / "webhooks" / "bot-helpdesk.secret"
    assert path.read_text().strip() == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    read = ok(admin.get(f"{BASE}/bot-helpdesk"))
    listed = ok(admin.get(BASE))
    history = ok(admin.get(f"{BASE}/bot-helpdesk/history"))
    for shown in (read, listed, history):
        assert secret not in str(shown)
        assert secret.removeprefix("whsec_") not in str(shown)
    assert "secret" not in read
    WebhookEndpointDetails.model_validate(read)
    assert [row["code"] for row in listed["items"]] == ["bot-helpdesk"]
    assert [e["type"] for e in history["events"]] == ["WebhookEndpoint.Registered"]

    # a code registered already keeps its secret
    refused(register(admin, name="Another bot"), 409, "record-already-exists")
    assert path.read_text().strip() == secret
    assert_rebuild_equals_live(services, (webhook_endpoints,))


def test_a_retry_with_the_same_key_is_answered_without_the_secret(api: Api) -> None:
    admin = api.client("admin.dpk", Role.ADMIN)
    key = {"Idempotency-Key": "register-bot-1"}

    first = ok(admin.post(BASE, json=BOT, headers=key), 201)
    again = admin.post(BASE, json=BOT, headers=key)

    assert ok(again, 201)["secret"] is None
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["secret_fingerprint"] == first["secret_fingerprint"]


def test_only_admins_see_or_change_webhook_endpoints(api: Api) -> None:
    admin = api.client("admin.dpk", Role.ADMIN)
    ok(register(admin), 201)
    for role in (Role.REQUESTER, Role.AGENT, Role.SERVICE_MANAGER):
        other = api.client("siti.rahma", role)
        refused(register(other, code="bot-lain"), 403, "forbidden")
        refused(other.get(BASE), 403, "forbidden")
        refused(other.get(f"{BASE}/bot-helpdesk"), 403, "forbidden")
        refused(other.post(f"{BASE}/bot-helpdesk/rotate-secret"), 403, "forbidden")
        refused(other.post(f"{BASE}/bot-helpdesk/pause", json={"reason": "x"}), 403, "forbidden")


def test_bad_input_is_refused_before_anything_is_kept(api: Api, services: Services) -> None:
    admin = api.client("admin.dpk", Role.ADMIN)
    for fields in (
        {"url": "http://chat.dpk-banten.example/hooks"},  # in the clear, off this machine
        {"url": "https://bot:secret@chat.dpk-banten.example/hooks"},
        {"url": "https://chat.dpk-banten.example/hooks#x"},
        {"url": "https://" + "a" * 2000 + ".example/"},
        {"topics": ["incident.no_such_thing"]},
        {"topics": []},
        {"topics": ["*", "incident.resolved"]},
        {"organisation": "perpus-antah-berantah"},
        {"code": "../etc/passwd"},
        {"code": "Bot"},
    ):
        refused(register(admin, **fields), 422, "invalid-input")
    refused(admin.get(f"{BASE}/no-such-bot"), 404, "record-not-found")
    refused(admin.post(f"{BASE}/no-such-bot/rotate-secret"), 404, "record-not-found")
    refused(admin.post(f"{BASE}/Bot.X/rotate-secret"), 422, "invalid-input")
    assert not list(secrets_of(services).directory.glob("*.secret*"))


def test_a_rotation_keeps_the_secret_before_it_for_the_receivers_to_move_over(
    api: Api, services: Services
) -> None:
    admin = api.client("admin.dpk", Role.ADMIN)
    first = ok(register(admin), 201)["secret"]

    rotated = admin.post(f"{BASE}/bot-helpdesk/rotate-secret")
    second = ok(rotated)["secret"]

    assert second.startswith("whsec_")
    assert second != first
    assert rotated.headers["cache-control"] == "no-store"
    assert rotated.json()["secret_fingerprint"] == fingerprint(second)
    kept = secrets_of(services)
    assert (kept.get("bot-helpdesk"), kept.previous("bot-helpdesk")) == (second, first)
    assert kept.signing("bot-helpdesk") == [second, first]
    history = ok(admin.get(f"{BASE}/bot-helpdesk/history"))
    assert second not in str(history)
    assert first not in str(history)

    third = ok(admin.post(f"{BASE}/bot-helpdesk/rotate-secret"))["secret"]
    assert kept.signing("bot-helpdesk") == [third, second]  # only the one before is kept

    # a rotation the store refuses (a stale If-Match) leaves the files as they were
    refused(
        admin.post(f"{BASE}/bot-helpdesk/rotate-secret", headers={"If-Match": '"1"'}),
        412,
        "version-conflict",
    )
    assert kept.signing("bot-helpdesk") == [third, second]
    assert ok(admin.get(f"{BASE}/bot-helpdesk"))["secret_fingerprint"] == fingerprint(third)


def test_an_endpoint_is_paused_resumed_corrected_and_retired(api: Api, services: Services) -> None:
    admin = api.client("admin.dpk", Role.ADMIN)
    ok(register(admin), 201)

    paused = ok(admin.post(f"{BASE}/bot-helpdesk/pause", json={"reason": "Gateway moving"}))
    assert (paused["state"], paused["paused_reason"]) == ("paused", "Gateway moving")
    again = admin.post(f"{BASE}/bot-helpdesk/pause", json={"reason": "again"})
    refused(again, 409, "nothing-changed")
    moved = ok(
        admin.post(
            f"{BASE}/bot-helpdesk/change-url", json={"url": "https://wa.dpk-banten.example/itsm"}
        )
    )
    assert moved["url"] == "https://wa.dpk-banten.example/itsm"
    chosen = ok(admin.post(f"{BASE}/bot-helpdesk/choose-topics", json={"topics": ["*"]}))
    assert chosen["topics"] == ["*"]
    resumed = ok(admin.post(f"{BASE}/bot-helpdesk/resume"))
    assert (resumed["state"], resumed["paused_reason"]) == ("active", None)

    retired = ok(admin.post(f"{BASE}/bot-helpdesk/retire", json={"reason": "Bot replaced"}))
    assert retired["state"] == "retired"
    refused(admin.post(f"{BASE}/bot-helpdesk/resume"), 409, "illegal-transition")
    refused(admin.post(f"{BASE}/bot-helpdesk/rotate-secret"), 409, "illegal-transition")
    listed = ok(admin.get(BASE, params={"state": "retired"}))
    assert [row["code"] for row in listed["items"]] == ["bot-helpdesk"]
    assert_rebuild_equals_live(services, (webhook_endpoints,))


def test_the_notifier_pauses_a_failing_endpoint_once(api: Api, services: Services) -> None:
    admin = api.client("admin.dpk", Role.ADMIN)
    ok(register(admin), 201)
    ctx = Context(actor=SYSTEM, at=services.clock(), correlation_id=uuid4())

    first = endpoints.pause_failing(services.desk, ctx, "bot-helpdesk", "410 Gone, 5 times")
    again = endpoints.pause_failing(services.desk, ctx, "bot-helpdesk", "410 Gone, 6 times")

    assert first is not None
    assert again is None
    services.runner.catch_up()  # written outside a request: no answer waited for the views
    read = ok(admin.get(f"{BASE}/bot-helpdesk"))
    assert (read["state"], read["paused_reason"]) == ("paused", "410 Gone, 5 times")
    history = ok(admin.get(f"{BASE}/bot-helpdesk/history"))
    assert history["events"][-1]["actor"] == {"id": SYSTEM.id, "role": SYSTEM.role.value}
    assert WEBHOOK_ENDPOINT.path == "/webhook-endpoints"


def test_subscribed_finds_the_endpoints_of_a_topic_and_organisation_but_the_retired(
    api: Api, services: Services
) -> None:
    admin = api.client("admin.dpk", Role.ADMIN)
    ok(register(admin, code="all-topics", topics=["*"]), 201)
    ok(register(admin, code="resolved-everywhere", topics=["incident.resolved"]), 201)
    ok(
        register(
            admin,
            code="resolved-in-lebak",
            topics=["incident.resolved"],
            organisation="perpus-kab-lebak",
        ),
        201,
    )
    ok(register(admin, code="breaches", topics=["incident.sla_breach"]), 201)
    ok(register(admin, code="paused-one", topics=["*"]), 201)
    ok(admin.post(f"{BASE}/paused-one/pause", json={"reason": "maintenance"}))
    ok(register(admin, code="retired-one", topics=["*"]), 201)
    ok(admin.post(f"{BASE}/retired-one/retire", json={"reason": "gone"}))

    def codes(topic: str, organisation: str | None) -> list[str]:
        return [row["code"] for row in subscribed(services.views, topic, organisation)]

    # a paused endpoint hears too: its webhooks wait for it to be resumed
    assert codes("incident.resolved", "perpus-kab-lebak") == [
        "all-topics",
        "paused-one",
        "resolved-everywhere",
        "resolved-in-lebak",
    ]
    assert codes("incident.resolved", "dpk-banten") == [
        "all-topics",
        "paused-one",
        "resolved-everywhere",
    ]
    assert codes("incident.sla_breach", "dpk-banten") == ["all-topics", "breaches", "paused-one"]
    assert codes("change.authorised", None) == ["all-topics", "paused-one"]
