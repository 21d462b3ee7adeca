"""The CloudEvents envelope carries an event out and back unchanged, and names what is wrong with
anything else."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.events import EVENT_TYPES, DomainEvent
from domain.records import NumberAllocated
from infra.cloudevents import (
    DEFAULT_SOURCE,
    HEADERS,
    BadMessage,
    Reader,
    envelope,
    is_public,
    parse,
)
from infra.serialisation import encode
from infra.settings import Settings
from projections import PROJECTIONS
from service.stores import FROM_STORE, FROM_TOPIC
from tests.conftest import AGENT, T0
from tests.strategies import STRATEGIES

any_event = st.one_of(*STRATEGIES.values())


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(event=any_event, position=st.integers(min_value=1, max_value=2**62))
def test_an_event_round_trips_through_its_envelope(event: DomainEvent, position: int) -> None:
    raw = envelope(position, event.type_name, encode(event))

    assert parse(raw) == (position, event)
    message = orjson.loads(raw)
    assert message["actorid"] == event.actor.id
    assert message["actorrole"] == event.actor.role.value
    assert message["correlationid"] == str(event.correlation_id)
    assert message["aggregateversion"] == event.originator_version


def _valid() -> dict[str, Any]:
    event = NumberAllocated(
        originator_id=uuid4(),
        originator_version=7,
        timestamp=T0,
        actor=AGENT,
        correlation_id=uuid4(),
        record_id=uuid4(),
    )
    return dict(orjson.loads(envelope(3, event.type_name, encode(event))))


SPOILED = [
    (lambda m: b"\x00not json", "not JSON"),
    (lambda m: b"[1, 2]", "not a JSON object"),
    (lambda m: {k: v for k, v in m.items() if k != "data"}, "missing CloudEvents attributes"),
    (lambda m: {**m, "specversion": "0.3"}, "unsupported specversion"),
    (lambda m: {**m, "position": 0}, "position must be a positive integer"),
    (lambda m: {**m, "position": "7"}, "position must be a positive integer"),
    (lambda m: {**m, "type": "Incident.Teleported"}, "no event class is registered"),
    (lambda m: {**m, "data": {**m["data"], "actor": None}}, "data is not a valid"),
]


@pytest.mark.parametrize(("spoil", "reason"), SPOILED)
def test_a_bad_message_is_named_not_guessed(spoil: Any, reason: str) -> None:
    spoiled = spoil(_valid())
    raw = spoiled if isinstance(spoiled, bytes) else orjson.dumps(spoiled)
    with pytest.raises(BadMessage, match=reason):
        parse(raw)


def test_a_tombstone_is_a_bad_message() -> None:
    with pytest.raises(BadMessage, match="tombstone"):
        parse(None)


# -- the stream reader: parse's answers, a quicker way ------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=6,
)
#: Values that lax parsing would take for another type: numbers as text, whole floats, booleans.
near_misses = st.sampled_from([None, True, False, 0, -1, 7, 7.0, "7", "", "1.0", [], {}])
some_wanted = st.sets(st.sampled_from(sorted(EVENT_TYPES)))


def outcome(read: Any, raw: bytes | None) -> Any:
    """What reading a message gives: (position, event), or the reason it is a bad message."""
    try:
        return read(raw)
    except BadMessage as bad:
        return bad.reason


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(event=any_event, position=st.integers(min_value=1, max_value=2**62), wanted=some_wanted)
def test_the_reader_reads_every_event_as_parse_does(
    event: DomainEvent, position: int, wanted: set[str]
) -> None:
    raw = envelope(position, event.type_name, encode(event))

    read = Reader(wanted).parse(raw)

    assert read == parse(raw, wanted)
    assert read == (position, event if event.type_name in wanted else None)


def spoiled_and_read(
    event: DomainEvent, wanted: set[str], in_data: bool, data: st.DataObject, name: str = ""
) -> tuple[Any, Any]:
    """Drop an attribute of an event's envelope, or a field of its data, or replace it by another
    JSON value; what the reader and parse each make of that."""
    message = orjson.loads(envelope(5, event.type_name, encode(event)))
    spoiled = message["data"] if in_data else message
    name = name or data.draw(st.sampled_from(sorted(spoiled)) | st.text(max_size=12), label="name")
    if data.draw(st.booleans(), label="dropped"):
        spoiled.pop(name, None)
    else:
        values = near_misses | json_values | st.sampled_from(sorted(EVENT_TYPES))
        spoiled[name] = data.draw(values, label="value")
    raw = orjson.dumps(message)
    return outcome(Reader(wanted).parse, raw), outcome(lambda r: parse(r, wanted), raw)


@pytest.mark.parametrize("name", ["specversion", "id", "source", "type", "position", "data"])
@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(event=any_event, wanted=some_wanted, data=st.data())
def test_the_reader_is_never_looser_than_parse_with_the_envelope(
    name: str, event: DomainEvent, wanted: set[str], data: st.DataObject
) -> None:
    read, parsed = spoiled_and_read(event, wanted, in_data=False, data=data, name=name)
    assert read == parsed


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(event=any_event, data=st.data())
def test_the_reader_is_never_looser_than_parse_with_the_data(
    event: DomainEvent, data: st.DataObject
) -> None:
    read, parsed = spoiled_and_read(event, {event.type_name}, in_data=True, data=data)
    assert read == parsed


@pytest.mark.parametrize(("spoil", "reason"), SPOILED)
def test_the_reader_names_a_bad_message_as_parse_does(spoil: Any, reason: str) -> None:
    spoiled = spoil(_valid())
    raw = spoiled if isinstance(spoiled, bytes) else orjson.dumps(spoiled)
    with pytest.raises(BadMessage, match=reason):
        Reader().parse(raw)
    with pytest.raises(BadMessage, match="tombstone"):
        Reader().parse(None)


# -- what the envelope names: type, schema, source; what it publishes ---------------------------

PUBLISHED_SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
def test_the_envelope_names_a_prefixed_type_and_the_published_schema_of_its_data(
    type_name: str,
) -> None:
    message = orjson.loads(envelope(3, type_name, _state_of(type_name)))

    assert message["type"] == f"id.go.bantenprov.dpk.itsm.{type_name}"
    published = orjson.loads((PUBLISHED_SCHEMAS / f"events/{type_name}.schema.json").read_bytes())
    assert message["dataschema"] == published["$id"]
    assert re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$", message["dataschema"]), "an absolute URI"


def _state_of(type_name: str) -> bytes:
    """A stored JSON with the fields the envelope reads (its data is not checked here)."""
    return orjson.dumps(
        {
            "originator_id": str(uuid4()),
            "originator_version": 1,
            "timestamp": T0.isoformat(),
            "actor": {"id": AGENT.id, "role": AGENT.role.value},
            "correlation_id": str(uuid4()),
        }
    )


@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(event=any_event, position=st.integers(min_value=1, max_value=2**62))
def test_a_message_published_before_the_type_prefix_still_reads(
    event: DomainEvent, position: int
) -> None:
    message = orjson.loads(envelope(position, event.type_name, encode(event)))
    message["type"] = event.type_name  # as the relay wrote it before
    del message["dataschema"]
    raw = orjson.dumps(message)

    assert parse(raw) == (position, event)
    assert Reader().parse(raw) == (position, event)
    assert Reader(set()).parse(raw) == (position, None)


def test_the_source_is_an_absolute_uri_naming_the_deployment() -> None:
    assert Settings().event_source == DEFAULT_SOURCE == "urn:itsm:deployment:local"
    named = Settings(event_source="https://itsm.dpk.bantenprov.go.id")
    assert (
        orjson.loads(envelope(1, "Incident.Closed", _state_of(""), source=named.event_source))[
            "source"
        ]
        == "https://itsm.dpk.bantenprov.go.id"
    )
    for relative in ("/itsm", "itsm", "", "https://a b"):
        with pytest.raises(ValidationError):
            Settings(event_source=relative)


def test_messages_go_out_in_structured_mode() -> None:
    assert HEADERS == [("content-type", b"application/cloudevents+json; charset=UTF-8")]


def test_bookkeeping_stays_private_and_a_new_aggregate_is_private_until_declared() -> None:
    private = {name for name in EVENT_TYPES if not is_public(name)}
    assert private == {
        # the ledger's key record: the checkpoints topic carries what auditors need of it
        "AuditKey.Introduced",
        "AuditKey.Rotated",
        # who may use the API: the record of tokens is the auditors' and the admins' (issue 18)
        "ApiToken.Imported",
        "ApiToken.Issued",
        "ApiToken.Revoked",
        "ApiToken.TablesImported",
        # who was handed what (exports, sensitive reads): read with the audit history
        "Disclosure.Recorded",
        # legal holds: the office's matters, read by its keepers and auditors over the API
        "LegalHold.Placed",
        "LegalHold.Released",
        "IdempotencyKey.Recorded",
        "IncidentNumber.Allocated",
        # inbound mail: people's words and addresses, read by admins and auditors over the API
        "InboundMail.Applied",
        "InboundMail.DeadLettered",
        "InboundMail.Ignored",
        "InboundMail.Redelivered",
        "InboundMail.Replayed",
        "RecordNumber.Allocated",
        # service reports as issued to management, and its decisions: read over the API
        "IssuedReport.Issued",
        "IssuedReport.DecisionRecorded",
        # suppliers and their contracts: the office's own agreements, read over the API
        "Supplier.Registered",
        "Supplier.ContractRevised",
        "Supplier.Retired",
        # the helpdesk's canned responses: its tools; a caller reads the comment one becomes
        "CannedResponse.Created",
        "CannedResponse.Revised",
        "CannedResponse.Retired",
        # where the office's webhooks go: the admins' configuration (docs/notifications.md)
        "WebhookEndpoint.Registered",
        "WebhookEndpoint.TopicsChosen",
        "WebhookEndpoint.UrlChanged",
        "WebhookEndpoint.SecretRotated",
        "WebhookEndpoint.Paused",
        "WebhookEndpoint.Resumed",
        "WebhookEndpoint.Retired",
    }
    assert not is_public("Survey.Answered"), "undeclared: private by default"
    assert is_public("Incident.Logged")
    assert is_public("Change.Authorised")


def test_readers_wanting_the_same_types_share_one_envelope_adapter() -> None:
    """Building the quick way's adapter costs a union over every event type: a consumer (or a
    test) that makes Readers again and again builds it once per set of wanted types."""
    some = ["Incident.Logged", "Incident.Resolved"]
    assert Reader(some)._envelope is Reader(list(reversed(some)))._envelope
    assert Reader()._envelope is Reader()._envelope
    assert Reader(some)._envelope is not Reader()._envelope


def test_a_view_folds_published_events_or_private_ones_never_both() -> None:
    # Kafka mode feeds a view from the topic or, if it folds only private records, from the
    # store (service/bootstrap.py): a view of both would miss the private half from the topic
    for projection in PROJECTIONS:
        kinds = {is_public(event_type.type_name) for event_type in projection.folds}
        assert len(kinds) == 1, f"{projection.name} folds published and private events"
    assert {p.name for p in FROM_STORE} == {
        "webhook_endpoints",
        "inbound_mail",
        "canned_responses",
        "issued_reports",
        "suppliers",
        "legal_holds",
    }
    assert sorted(p.name for p in (*FROM_TOPIC, *FROM_STORE)) == sorted(p.name for p in PROJECTIONS)
