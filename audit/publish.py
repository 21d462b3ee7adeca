"""Signed checkpoints sent out of the database: to the auditors' witnesses (audit/witness.py),
and on Kafka: published as CloudEvents on `itsm.audit.checkpoints` (one
partition, so in order; kept for ever), and read back by `itsm audit verify --kafka`.

A copy outside the database is the point: an attacker who can rewrite the database cannot
unpublish what the brokers (and whoever reads the topic) already hold.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from audit.chain import Checkpoint
from infra import cloudevents

EVENT_TYPE = "Audit.CheckpointSigned"
SUBJECT = "audit-ledger"
#: The `$id` of the schema of a checkpoint's `data` (inside audit-checkpoint.schema.json).
DATA_SCHEMA = cloudevents.SCHEMA_BASE + "audit-checkpoint:data"


def envelope(checkpoint: Checkpoint, public_key_pem: bytes, source: str) -> bytes:
    return orjson.dumps(
        {
            "specversion": cloudevents.SPEC_VERSION,
            "id": f"audit-checkpoint/{checkpoint.position}",
            "source": source,
            "type": cloudevents.published_type(EVENT_TYPE),
            "subject": SUBJECT,
            "time": checkpoint.at,
            "datacontenttype": "application/json",
            "dataschema": DATA_SCHEMA,
            "data": {**checkpoint.as_json(), "public_key": public_key_pem.decode()},
            "position": checkpoint.position,
        }
    )


def schema(draft: str, id_base: str) -> dict[str, Any]:
    """The JSON Schema of a checkpoint message (published under docs/schemas/)."""
    hex_string = {"type": "string", "pattern": "^[0-9a-f]+$"}
    return {
        "$schema": draft,
        "$id": id_base + "audit-checkpoint",
        "title": "ITSM audit checkpoint",
        "description": "CloudEvents 1.0 JSON envelope of a signed audit checkpoint on"
        " itsm.audit.checkpoints; `data.signature` is Ed25519 over the message described in"
        " docs/audit.md (audit/chain.py signed_message).",
        "type": "object",
        "required": list(cloudevents.PUBLISHED),
        "properties": {
            "specversion": {"const": cloudevents.SPEC_VERSION},
            "id": {"type": "string", "pattern": "^audit-checkpoint/[0-9]+$"},
            "source": {"type": "string", "format": "uri"},
            "type": {"const": cloudevents.published_type(EVENT_TYPE)},
            "subject": {"const": SUBJECT},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "dataschema": {"const": DATA_SCHEMA},
            "position": {"type": "integer", "minimum": 1},
            "data": {
                "$id": DATA_SCHEMA,
                "type": "object",
                "required": ["position", "hash", "at", "key_id", "signature", "public_key"],
                "properties": {
                    "position": {"type": "integer", "minimum": 1},
                    "hash": {**hex_string, "minLength": 64, "maxLength": 64},
                    "at": {"type": "string", "format": "date-time"},
                    "key_id": {**hex_string, "minLength": 16, "maxLength": 16},
                    "signature": {**hex_string, "minLength": 128, "maxLength": 128},
                    "public_key": {"type": "string", "pattern": "^-----BEGIN PUBLIC KEY-----"},
                },
                "additionalProperties": False,
            },
        },
        "additionalProperties": False,
    }


def parse(raw: bytes) -> Checkpoint:
    message = orjson.loads(raw)
    # (checkpoints published before the type had its prefix are on the topic too)
    if cloudevents.stored_type(str(message.get("type"))) != EVENT_TYPE:
        raise ValueError(f"not a checkpoint: {message.get('type')!r}")
    return Checkpoint.from_json(message["data"])


class KafkaPublisher:
    """Publishes one checkpoint at a time and waits for the brokers' acknowledgement (they are
    rare). The producer is made on first use and closed with close()."""

    def __init__(
        self, bootstrap: str, topic: str, public_key_pem: Callable[[str], bytes], source: str
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        #: the PEM of the public key with this id (a rotation changes the key that signs)
        self.public_key_pem = public_key_pem
        self.source = source
        self._producer: Any = None

    def __call__(self, checkpoint: Checkpoint) -> None:
        from infra import kafka_clients

        if self._producer is None:
            self._producer = kafka_clients.producer(self.bootstrap, client_id="itsm-audit")
        value = envelope(checkpoint, self.public_key_pem(checkpoint.key_id), self.source)
        self._producer.send(
            self.topic, value=value, key=SUBJECT.encode(), headers=cloudevents.HEADERS
        ).get(timeout=30)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None


class Publishers:
    """Every place a new checkpoint goes, in order: the witnesses first (waking their pushers
    never fails), then Kafka (whose failure the ledger's follower retries)."""

    def __init__(self, publishers: list[Callable[[Checkpoint], None]]) -> None:
        self.publishers = publishers

    def __call__(self, checkpoint: Checkpoint) -> None:
        for publish in self.publishers:
            publish(checkpoint)

    def close(self) -> None:
        for publisher in self.publishers:
            close = getattr(publisher, "close", None)
            if close is not None:
                close()


def read_published(bootstrap: str, topic: str, timeout: float = 30.0) -> list[Checkpoint]:
    """Every checkpoint on the topic, from its beginning to its current end."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        client_id="itsm-audit-verify",
        request_timeout_ms=int(timeout * 1000),
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        found: list[Checkpoint] = []
        while any(consumer.position(p) < ends[p] for p in partitions):
            for records in consumer.poll(timeout_ms=1000).values():
                found.extend(parse(record.value) for record in records)
        return found
    finally:
        consumer.close()
