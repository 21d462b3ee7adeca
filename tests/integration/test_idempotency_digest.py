"""The store keeps a digest of an Idempotency-Key, never the key as the client sent it, and a
retry still finds its record: for every kind of record, through the API."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from domain.actors import Role
from infra.serialisation import plain
from service.bootstrap import Services
from tests.integration.conftest import Api
from tests.integration.test_organisations import KINDS, SERANG, made, seeded

__all__ = ["seeded"]  # a fixture, used by name


def stored(services: Services) -> list[tuple[str, bytes]]:
    """(stored type, plain JSON) of every event in the store."""
    desk = services.desk
    notifications = desk.recorder.select_notifications(start=1, limit=100_000)
    return [(n.topic, plain(desk.mapper, n.state)) for n in notifications]


@pytest.mark.parametrize("kind", KINDS)
def test_a_stored_idempotency_key_is_a_digest_and_a_retry_still_finds_its_record(
    api: Api, seeded: Services, kind: str
) -> None:
    k = KINDS[kind]
    raw = f"front-desk-{kind.replace(' ', '-')}-7f3a9c"
    client = api.client("helpdesk", Role.AGENT, organisation=SERANG)
    first = made(client.post(k.path, json=k.body, headers={"Idempotency-Key": raw}))

    again = client.post(k.path, json=k.body, headers={"Idempotency-Key": raw})

    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first["id"]
    events = stored(seeded)
    assert not [t for t, state in events if raw.encode() in state], "the raw key is stored"
    keys = [orjson.loads(state) for t, state in events if t == "IdempotencyKey.Recorded"]
    assert len(keys) == 1
    digest = keys[0]["key"]
    assert digest.startswith("sha256:")
    assert len(bytes.fromhex(digest.removeprefix("sha256:"))) == hashlib.sha256().digest_size
