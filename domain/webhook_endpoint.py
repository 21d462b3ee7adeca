"""Webhook endpoints: where the service's signed webhooks go (issue 19), such as the office's chat
bots or a WhatsApp gateway. An admin registers one with the topics it hears (domain/
notification_rules.py names them; "*" for every topic) and, if it serves one library, the
organisation whose records it hears of; the notifier (application/notifier.py) sends each
notification of a subscribed topic to every active endpoint, signed with the endpoint's secret.

    registered (active) -> (topics chosen | URL changed | secret rotated)*
    active -> paused (by an admin, or by the service when it keeps failing) -> active (resumed)
    active | paused -> retired

An endpoint is known by a code (`named_id`), so registering a code twice collides in the store.
The secret itself never enters the record: the application makes it, keeps it in a file outside
the store (infra/webhook_secrets.py) and the record holds only its fingerprint, the first 16 hex
digits of its SHA-256 (enough to tell which secret a file holds, nothing to sign with). A paused
endpoint can still be corrected (its URL, its topics, its secret) before it is resumed; a retired
one stays in the record for what it was sent, and nothing changes it again.

The URL rule is the domain's own (`check_webhook_url`): https, or http only to this machine (a
gateway beside the service), no credentials, no fragment, bounded. It is at least as strict as
the sender's own check (infra/webhooks_out.py `check_url`), which still guards what it sends.
"""

from __future__ import annotations

import hashlib
import ipaddress
from enum import StrEnum
from typing import Annotated, ClassVar
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import AfterValidator, Field

from domain.aggregate import LifecycleAggregate, applies
from domain.commands import ActionCommand, Command, by_action
from domain.context import Context
from domain.directory import CODE_PATTERN, Organisation
from domain.errors import NothingChanged, RecordAlreadyExists
from domain.events import DomainEvent
from domain.examples import example
from domain.fields import Name, Reason
from domain.notification_rules import BY_TOPIC
from domain.record_numbers import named_id
from domain.session import Session

#: The longest URL taken (browsers' and proxies' common limit; the sender's too).
MAX_URL = 2000
#: Every topic, as an endpoint subscribes to it.
ALL_TOPICS = "*"
#: The fingerprint of a secret: the first 16 hex digits of its SHA-256.
FINGERPRINT_PATTERN = r"^[0-9a-f]{16}$"

Code = Field(pattern=CODE_PATTERN, min_length=1, max_length=80)
Fingerprint = Field(pattern=FINGERPRINT_PATTERN, min_length=16, max_length=16)


def endpoint_id(code: str) -> UUID:
    return named_id("webhook-endpoint", code)


def fingerprint(secret: str) -> str:
    """What the record keeps of a secret: enough to tell two apart, nothing to sign with."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:16]


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):  # RFC 6761: always this machine
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_webhook_url(url: str) -> str:
    """The URL, if webhooks may go to it: https (or http to this machine only: anything else
    would carry the notifications in the clear), a host, a valid port, no user name or password
    (the signature is what authenticates; a password would be kept and shown with the record), no
    #fragment (never sent), at most MAX_URL characters. Else ValueError saying what is wrong."""
    if len(url) > MAX_URL:
        raise ValueError(f"a webhook URL has at most {MAX_URL} characters")
    if any(c.isspace() or not c.isprintable() or not c.isascii() for c in url):
        raise ValueError("a webhook URL is printable ASCII without spaces (IDNs in punycode)")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port that is no port
    except ValueError as error:  # an unclosed [IPv6], a port out of range
        raise ValueError(f"a webhook URL that cannot be read ({error})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"a webhook URL is https://, not {parts.scheme or 'none'}")
    if "@" in parts.netloc:
        raise ValueError("a webhook URL carries no user name or password")
    host = parts.hostname
    if not host:
        raise ValueError("a webhook URL names a host")
    if port == 0:
        raise ValueError("the webhook URL's port is not a number from 1 to 65535")
    if parts.fragment or "#" in url:
        raise ValueError("a webhook URL has no #fragment (it is never sent)")
    if scheme == "http" and not _loopback(host):
        raise ValueError("a webhook URL is https://; http:// only to this machine (loopback)")
    return url


def _topics_checked(topics: list[str]) -> list[str]:
    """Distinct topics, sorted, each a notification topic; "*" (every topic) stands alone."""
    chosen = sorted(set(topics))
    if not chosen:
        raise ValueError("an endpoint hears at least one topic (or '*' for all)")
    if ALL_TOPICS in chosen:
        if len(chosen) > 1:
            raise ValueError("'*' is every topic: name it alone")
        return chosen
    for topic in chosen:
        if topic not in BY_TOPIC:
            raise ValueError(f"no notification topic {topic!r}")
    return chosen


WebhookUrl = Annotated[
    str,
    Field(
        min_length=10, max_length=MAX_URL, examples=["https://chat.dpk-banten.example/hooks/itsm"]
    ),
    AfterValidator(check_webhook_url),
]
Topic = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^(\*|[a-z][a-z0-9_.-]*)$")]
Topics = Annotated[list[Topic], Field(min_length=1, max_length=60), AfterValidator(_topics_checked)]


class EndpointState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    RETIRED = "retired"


# -- events ---------------------------------------------------------------------------------------


class WebhookEndpointEvent(DomainEvent):
    """A fact in a webhook endpoint's record."""


class Registered(WebhookEndpointEvent):
    type_name: ClassVar[str] = "WebhookEndpoint.Registered"
    code: str = Code
    name: str = Name
    url: WebhookUrl
    topics: Topics
    #: The organisation whose records it hears of; None: every organisation's.
    organisation: Organisation | None = None
    secret_fingerprint: str = Fingerprint


class TopicsChosen(WebhookEndpointEvent):
    """The topics the endpoint hears from now on (all of them: the list replaces the one before)."""

    type_name: ClassVar[str] = "WebhookEndpoint.TopicsChosen"
    topics: Topics


class UrlChanged(WebhookEndpointEvent):
    type_name: ClassVar[str] = "WebhookEndpoint.UrlChanged"
    url: WebhookUrl


class SecretRotated(WebhookEndpointEvent):
    """A new secret signs from now on (the one before still signs too, until the next rotation:
    infra/webhook_secrets.py), so receivers can be moved over."""

    type_name: ClassVar[str] = "WebhookEndpoint.SecretRotated"
    secret_fingerprint: str = Fingerprint


class Paused(WebhookEndpointEvent):
    """Nothing is sent to it until it is resumed: by an admin, or by the service (the actor says
    which) when deliveries to it keep failing."""

    type_name: ClassVar[str] = "WebhookEndpoint.Paused"
    reason: str = Reason


class Resumed(WebhookEndpointEvent):
    type_name: ClassVar[str] = "WebhookEndpoint.Resumed"


class Retired(WebhookEndpointEvent):
    type_name: ClassVar[str] = "WebhookEndpoint.Retired"
    reason: str = Reason


def transition(state: EndpointState | None, event: WebhookEndpointEvent) -> EndpointState:
    """The lifecycle state after an event: shared by the aggregate and the view."""
    match event:
        case Registered() | Resumed():
            return EndpointState.ACTIVE
        case Paused():
            return EndpointState.PAUSED
        case Retired():
            return EndpointState.RETIRED
    assert state is not None, "an endpoint's history starts with WebhookEndpoint.Registered"
    return state


# -- the aggregate --------------------------------------------------------------------------------


class WebhookEndpoint(
    LifecycleAggregate[EndpointState],
    events=WebhookEndpointEvent,
    transition=transition,
    noun="webhook endpoint",
):
    KIND: ClassVar[str] = "webhook endpoint"

    code: str
    url: str
    topics: tuple[str, ...]
    secret_fingerprint: str
    state: EndpointState

    @classmethod
    def register(
        cls,
        ctx: Context,
        *,
        code: str,
        name: str,
        url: str,
        topics: list[str],
        organisation: str | None,
        secret_fingerprint: str,
    ) -> WebhookEndpoint:
        return cls._begin(
            ctx,
            endpoint_id(code),
            Registered,
            code=code,
            name=name,
            url=url,
            topics=topics,
            organisation=organisation,
            secret_fingerprint=secret_fingerprint,
        )

    def choose_topics(self, ctx: Context, topics: list[str]) -> None:
        self._require("choose topics", EndpointState.ACTIVE, EndpointState.PAUSED)
        if tuple(_topics_checked(topics)) == self.topics:
            raise NothingChanged(f"webhook endpoint {self.code} already hears exactly these")
        self._record(TopicsChosen(**self._envelope(ctx), topics=topics))

    def change_url(self, ctx: Context, url: str) -> None:
        self._require("change the URL of", EndpointState.ACTIVE, EndpointState.PAUSED)
        if url == self.url:
            raise NothingChanged(f"webhook endpoint {self.code} is already at {url}")
        self._record(UrlChanged(**self._envelope(ctx), url=url))

    def rotate_secret(self, ctx: Context, secret_fingerprint: str) -> None:
        self._require("rotate the secret of", EndpointState.ACTIVE, EndpointState.PAUSED)
        if secret_fingerprint == self.secret_fingerprint:
            raise NothingChanged(f"webhook endpoint {self.code} already has this secret")
        self._record(SecretRotated(**self._envelope(ctx), secret_fingerprint=secret_fingerprint))

    def pause(self, ctx: Context, reason: str) -> None:
        if self.state is EndpointState.PAUSED:
            raise NothingChanged(f"webhook endpoint {self.code} is already paused")
        self._require("pause", EndpointState.ACTIVE)
        self._record(Paused(**self._envelope(ctx), reason=reason))

    def resume(self, ctx: Context) -> None:
        if self.state is EndpointState.ACTIVE:
            raise NothingChanged(f"webhook endpoint {self.code} is already active")
        self._require("resume", EndpointState.PAUSED)
        self._record(Resumed(**self._envelope(ctx)))

    def retire(self, ctx: Context, reason: str) -> None:
        self._require("retire", EndpointState.ACTIVE, EndpointState.PAUSED)
        self._record(Retired(**self._envelope(ctx), reason=reason))

    @applies(Registered)
    def _registered(self, e: Registered) -> None:
        self.code = e.code
        self.url = e.url
        self.topics = tuple(e.topics)
        self.organisation = e.organisation
        self.secret_fingerprint = e.secret_fingerprint

    @applies(TopicsChosen)
    def _topics_chosen(self, e: TopicsChosen) -> None:
        self.topics = tuple(e.topics)

    @applies(UrlChanged)
    def _url_changed(self, e: UrlChanged) -> None:
        self.url = e.url

    @applies(SecretRotated)
    def _secret_rotated(self, e: SecretRotated) -> None:
        self.secret_fingerprint = e.secret_fingerprint

    @applies(Paused, Resumed, Retired)
    def _moved(self, e: WebhookEndpointEvent) -> None:
        pass  # the state is the lifecycle's (`transition`); the reasons are the view's


# -- commands -------------------------------------------------------------------------------------

_MADE_BY_THE_APPLICATION = (
    "an endpoint's secret is made by the application: run this command through"
    " application/webhook_endpoints.py (register, rotate), which decides it with the fingerprint"
)


class RegisterWebhookEndpoint(Command):
    """Register a webhook endpoint. Its secret is made by the application, not sent by the
    client: the command is decided with the secret's fingerprint (`register`)."""

    model_config = example(
        {
            "code": "bot-helpdesk",
            "name": "Bot Telegram helpdesk DPK",
            "url": "https://chat.dpk-banten.example/hooks/itsm",
            "topics": ["incident.major_declared", "incident.resolved"],
            "organisation": None,
        }
    )

    code: str = Code
    name: str = Name
    url: WebhookUrl
    topics: Topics
    organisation: Organisation | None = None

    def decide(self, session: Session, ctx: Context) -> UUID:
        raise TypeError(_MADE_BY_THE_APPLICATION)

    def register(self, session: Session, ctx: Context, secret_fingerprint: str) -> UUID:
        if session.find(WebhookEndpoint, endpoint_id(self.code)) is not None:
            raise RecordAlreadyExists(f"webhook endpoint {self.code} is already registered")
        session.add(
            WebhookEndpoint.register(
                ctx,
                code=self.code,
                name=self.name,
                url=self.url,
                topics=self.topics,
                organisation=self.organisation,
                secret_fingerprint=secret_fingerprint,
            )
        )
        return endpoint_id(self.code)


class WebhookEndpointCommand(ActionCommand):
    """An action on one endpoint: POST /api/v1/webhook-endpoints/{code}/{action}."""

    def decide(self, session: Session, ctx: Context, record_id: UUID) -> UUID:
        self.call_action(session.get(WebhookEndpoint, record_id), ctx)
        return record_id


class ChooseWebhookTopics(WebhookEndpointCommand):
    model_config = example({"topics": ["incident.major_declared", "incident.sla_breach"]})

    action = "choose-topics"
    summary = "Choose the topics a webhook endpoint hears (all of them at once; '*' for every one)"
    topics: Topics


class ChangeWebhookUrl(WebhookEndpointCommand):
    model_config = example({"url": "https://wa-gateway.dpk-banten.example/itsm"})

    action = "change-url"
    summary = "Change where a webhook endpoint's webhooks go"
    url: WebhookUrl


class RotateWebhookSecret(WebhookEndpointCommand):
    """A new secret for the endpoint, made by the application (the body is empty): it is decided
    with the new secret's fingerprint (`rotate`)."""

    model_config = example({})

    action = "rotate-secret"
    summary = "Make a new secret for a webhook endpoint (answered once; the old one signs too)"

    def decide(self, session: Session, ctx: Context, record_id: UUID) -> UUID:
        raise TypeError(_MADE_BY_THE_APPLICATION)

    def rotate(self, session: Session, ctx: Context, record_id: UUID, fingerprint: str) -> UUID:
        session.get(WebhookEndpoint, record_id).rotate_secret(ctx, fingerprint)
        return record_id


class PauseWebhookEndpoint(WebhookEndpointCommand):
    model_config = example({"reason": "The gateway is being moved to another server"})

    action = "pause"
    summary = "Pause a webhook endpoint: nothing is sent to it until it is resumed"
    reason: str = Reason


class ResumeWebhookEndpoint(WebhookEndpointCommand):
    model_config = example({})

    action = "resume"
    summary = "Resume a paused webhook endpoint"


class RetireWebhookEndpoint(WebhookEndpointCommand):
    model_config = example({"reason": "The Telegram bot is replaced by the WhatsApp gateway"})

    action = "retire"
    summary = "Retire a webhook endpoint for good (its record stays)"
    reason: str = Reason


#: The actions an admin takes on an endpoint, by the path segment of each.
ENDPOINT_COMMANDS = by_action(
    ChooseWebhookTopics,
    ChangeWebhookUrl,
    RotateWebhookSecret,
    PauseWebhookEndpoint,
    ResumeWebhookEndpoint,
    RetireWebhookEndpoint,
)
