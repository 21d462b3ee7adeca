"""Every rule of the WebhookEndpoint aggregate, Given / When / Then; the URL rule against the
sender's own check (hypothesis); and the secrets' files (infra/webhook_secrets.py).

Given: a history of events, replayed through `WebhookEndpoint.project`.
When: one aggregate method, called with a Context.
Then: exactly the new events it records, or the named error it raises with nothing recorded.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from standardwebhooks.webhooks import Webhook

from domain.actors import Actor, Role
from domain.errors import DomainError, IllegalTransition, NothingChanged
from domain.events import DomainEvent
from domain.webhook_endpoint import (
    ENDPOINT_COMMANDS,
    ChooseWebhookTopics,
    EndpointState,
    Paused,
    Registered,
    RegisterWebhookEndpoint,
    Resumed,
    Retired,
    SecretRotated,
    TopicsChosen,
    UrlChanged,
    WebhookEndpoint,
    WebhookUrl,
    check_webhook_url,
    endpoint_id,
    fingerprint,
)
from infra.webhook_secrets import WebhookSecrets
from infra.webhooks_out import check_url, new_secret, sign
from tests.conftest import T0, context

ADMIN = Actor(id="admin.dpk", role=Role.ADMIN)
CODE = "bot-helpdesk"
ID = endpoint_id(CODE)
URL = "https://chat.dpk-banten.example/hooks/itsm"
FP = "0123456789abcdef"


def envelope(version: int) -> dict[str, Any]:
    return {"originator_id": ID, "originator_version": version, **context(ADMIN).stamp()}


def registered(**fields: Any) -> Registered:
    body = {
        "code": CODE,
        "name": "Bot helpdesk",
        "url": URL,
        "topics": ["incident.resolved"],
        "secret_fingerprint": FP,
    }
    return Registered(**envelope(1), **{**body, **fields})


def given_history(*more: Callable[[int], DomainEvent]) -> WebhookEndpoint:
    events: list[DomainEvent] = [registered()]
    events += [make(version) for version, make in enumerate(more, start=2)]
    endpoint = WebhookEndpoint.project(None, events)
    assert endpoint is not None
    return endpoint


def paused(version: int) -> DomainEvent:
    return Paused(**envelope(version), reason="keeps failing")


def retired(version: int) -> DomainEvent:
    return Retired(**envelope(version), reason="replaced")


def then(endpoint: WebhookEndpoint, act: Callable[[WebhookEndpoint], None]) -> list[DomainEvent]:
    act(endpoint)
    return endpoint.collect_events()


def then_refused(
    endpoint: WebhookEndpoint, act: Callable[[WebhookEndpoint], None], error: type[DomainError]
) -> None:
    version, state = endpoint.version, endpoint.state
    with pytest.raises(error):
        act(endpoint)
    assert endpoint.collect_events() == []
    assert (endpoint.version, endpoint.state) == (version, state)


CTX = context(ADMIN, T0)

#: Each action, as the test calls it.
ACTIONS: dict[str, Callable[[WebhookEndpoint], None]] = {
    "choose_topics": lambda e: e.choose_topics(CTX, ["*"]),
    "change_url": lambda e: e.change_url(CTX, "https://wa.dpk-banten.example/in"),
    "rotate_secret": lambda e: e.rotate_secret(CTX, "fedcba9876543210"),
    "pause": lambda e: e.pause(CTX, "gateway down"),
    "resume": lambda e: e.resume(CTX),
    "retire": lambda e: e.retire(CTX, "replaced"),
}
#: (action, state) -> the event recorded, or the error raised.
TABLE: dict[tuple[str, EndpointState], type[DomainEvent] | type[DomainError]] = {
    ("choose_topics", EndpointState.ACTIVE): TopicsChosen,
    ("choose_topics", EndpointState.PAUSED): TopicsChosen,
    ("choose_topics", EndpointState.RETIRED): IllegalTransition,
    ("change_url", EndpointState.ACTIVE): UrlChanged,
    ("change_url", EndpointState.PAUSED): UrlChanged,
    ("change_url", EndpointState.RETIRED): IllegalTransition,
    ("rotate_secret", EndpointState.ACTIVE): SecretRotated,
    ("rotate_secret", EndpointState.PAUSED): SecretRotated,
    ("rotate_secret", EndpointState.RETIRED): IllegalTransition,
    ("pause", EndpointState.ACTIVE): Paused,
    ("pause", EndpointState.PAUSED): NothingChanged,
    ("pause", EndpointState.RETIRED): IllegalTransition,
    ("resume", EndpointState.ACTIVE): NothingChanged,
    ("resume", EndpointState.PAUSED): Resumed,
    ("resume", EndpointState.RETIRED): IllegalTransition,
    ("retire", EndpointState.ACTIVE): Retired,
    ("retire", EndpointState.PAUSED): Retired,
    ("retire", EndpointState.RETIRED): IllegalTransition,
}
IN_STATE: dict[EndpointState, tuple[Callable[[int], DomainEvent], ...]] = {
    EndpointState.ACTIVE: (),
    EndpointState.PAUSED: (paused,),
    EndpointState.RETIRED: (retired,),
}


@pytest.mark.parametrize(("action", "state"), sorted(TABLE))
def test_every_action_in_every_state(action: str, state: EndpointState) -> None:
    endpoint = given_history(*IN_STATE[state])
    assert endpoint.state is state
    outcome = TABLE[action, state]
    if issubclass(outcome, DomainError):
        then_refused(endpoint, ACTIONS[action], outcome)
    else:
        [event] = then(endpoint, ACTIONS[action])
        assert type(event) is outcome
        assert event.originator_version == endpoint.version


def test_the_table_covers_every_public_method_and_every_command() -> None:
    public = {
        name
        for name, member in vars(WebhookEndpoint).items()
        if callable(member) and not name.startswith("_")
    } - {"register"}
    assert set(ACTIONS) == public == {action for action, _ in TABLE}
    assert {a.replace("-", "_") for a in ENDPOINT_COMMANDS} == public


def test_a_registered_endpoint_is_active_with_what_it_was_registered_with() -> None:
    endpoint = WebhookEndpoint.register(
        CTX,
        code=CODE,
        name="Bot",
        url=URL,
        topics=["incident.resolved", "incident.major_declared", "incident.resolved"],
        organisation="perpus-kab-lebak",
        secret_fingerprint=FP,
    )
    [event] = endpoint.collect_events()
    assert isinstance(event, Registered)
    assert event.topics == ["incident.major_declared", "incident.resolved"]
    assert (endpoint.id, endpoint.state, endpoint.organisation) == (
        ID,
        EndpointState.ACTIVE,
        "perpus-kab-lebak",
    )


def test_the_same_topics_url_or_secret_is_no_change() -> None:
    endpoint = given_history()
    then_refused(endpoint, lambda e: e.choose_topics(CTX, ["incident.resolved"]), NothingChanged)
    then_refused(endpoint, lambda e: e.change_url(CTX, URL), NothingChanged)
    then_refused(endpoint, lambda e: e.rotate_secret(CTX, FP), NothingChanged)


def test_resuming_clears_the_pause_and_the_state_follows_the_history() -> None:
    endpoint = given_history(paused, lambda v: Resumed(**envelope(v)))
    assert endpoint.state is EndpointState.ACTIVE
    assert endpoint.version == 3


def test_a_record_never_holds_a_secret_only_its_fingerprint() -> None:
    secret = new_secret()
    assert len(fingerprint(secret)) == 16
    assert fingerprint(secret) != fingerprint(new_secret())
    with pytest.raises(ValidationError):
        registered(secret_fingerprint=secret)
    assert "secret" not in RegisterWebhookEndpoint.model_fields


@pytest.mark.parametrize(
    "topics",
    [[], ["*", "incident.resolved"], ["incident.no_such"], ["INCIDENT.RESOLVED"], ["x"] * 61],
)
def test_topics_are_known_topics_or_every_topic_alone(topics: list[str]) -> None:
    with pytest.raises(ValidationError):
        ChooseWebhookTopics(topics=topics)


def test_the_commands_that_need_a_secret_refuse_to_decide_without_one() -> None:
    command = RegisterWebhookEndpoint(code=CODE, name="Bot", url=URL, topics=["*"])
    with pytest.raises(TypeError, match="application"):
        command.decide(None, CTX)  # type: ignore[arg-type]


# -- the URL rule ---------------------------------------------------------------------------------

URLS = TypeAdapter(WebhookUrl)


@pytest.mark.parametrize(
    "url",
    [
        "https://chat.dpk-banten.example/hooks/itsm",
        "https://10.0.0.5:8443/in?x=1",
        "HTTPS://chat.example/",
        "http://127.0.0.1:9000/hook",
        "http://localhost/hook",
        "http://[::1]:8080/hook",
        "http://bot.localhost/hook",
    ],
)
def test_an_https_url_or_one_to_this_machine_is_taken(url: str) -> None:
    assert URLS.validate_python(url) == url
    assert check_url(url) == url  # the sender takes it too


@pytest.mark.parametrize(
    "url",
    [
        "http://chat.dpk-banten.example/hooks",  # in the clear, off this machine
        "http://10.0.0.5/hook",
        "ftp://chat.example/",
        "https://bot:pw@chat.example/",
        "https://@chat.example/",
        "https:///path-only",
        "https://chat.example/#frag",
        "https://chat.example/#",
        "https://chat.example:0/",
        "https://chat.example:99999/",
        "https://[::1/",
        "https://chat example/",
        "https://chät.example/",
        "https://chat.example/\x00",
        "https://" + "a" * 2000 + ".example/",
    ],
)
def test_any_other_url_is_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        URLS.validate_python(url)


@given(
    st.one_of(
        st.text(max_size=80),
        st.builds(
            "{}://{}{}".format,
            st.sampled_from(["http", "https", "HTTPS", "ftp", ""]),
            st.text(max_size=40),
            st.text(max_size=40),
        ),
    )
)
def test_a_url_the_domain_takes_the_sender_takes(url: str) -> None:
    """The domain's rule is at least as strict as infra's own check: an endpoint registered is
    one the sender will send to."""
    try:
        taken = check_webhook_url(url)
    except ValueError:
        return
    assert check_url(taken) == taken
    assert taken.lower().startswith(("https://", "http://"))


# -- the secrets' files ---------------------------------------------------------------------------


def test_a_secret_is_kept_in_a_file_only_its_owner_reads(tmp_path: Path) -> None:
    secrets = WebhookSecrets(tmp_path / "webhooks")
    assert secrets.get(CODE) is None
    assert secrets.signing(CODE) == []

    secret = secrets.create(CODE)

    path = tmp_path / "webhooks" / f"{CODE}.secret"
    assert path.read_text().strip() == secret == secrets.get(CODE)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir() if p.name != ".lock"] == [path.name]


def test_a_rotation_keeps_one_secret_before_and_restore_undoes_it(tmp_path: Path) -> None:
    secrets = WebhookSecrets(tmp_path)
    first = secrets.create(CODE)
    second = secrets.rotate(CODE)
    third = secrets.rotate(CODE)
    assert secrets.signing(CODE) == [third, second]
    assert first not in secrets.signing(CODE)

    secrets.restore(CODE, second, first)
    assert secrets.signing(CODE) == [second, first]
    secrets.restore(CODE, None, None)
    assert secrets.signing(CODE) == []
    assert not list(tmp_path.glob("*.secret*"))


@pytest.mark.parametrize("code", ["../x", "a/b", "", ".secret", "X"])
def test_a_code_that_would_name_another_file_is_refused(tmp_path: Path, code: str) -> None:
    with pytest.raises(ValueError, match="not an endpoint code"):
        WebhookSecrets(tmp_path).path(code)


def test_a_webhook_signed_with_both_secrets_verifies_with_either(tmp_path: Path) -> None:
    secrets = WebhookSecrets(tmp_path)
    old = secrets.create(CODE)
    new = secrets.rotate(CODE)
    now = datetime.now(UTC)
    body = b'{"topic": "incident.resolved"}'

    header = sign(secrets.signing(CODE), "msg_1", now, body)

    assert len(header.split(" ")) == 2
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": header,
    }
    for receiver in (old, new):
        assert Webhook(receiver).verify(body, headers) == {"topic": "incident.resolved"}
    with pytest.raises(ValueError, match="no secret"):
        sign([], "msg_1", now, body)


def test_ids_are_named_after_the_code() -> None:
    assert endpoint_id(CODE) == endpoint_id(CODE.upper())
    assert isinstance(endpoint_id(CODE), UUID)
