"""The record of audit signing keys (domain/audit_key.py) and the file keyring the embedded
service signs with (audit/signers.py)."""

from __future__ import annotations

import stat
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import chain, keys
from audit.chain import Checkpoint
from audit.publish import KafkaPublisher
from audit.signers import FileKeyring
from domain.actors import Actor, Role
from domain.audit_key import AuditKey, Introduced, Rotated
from domain.errors import InvalidRule, NotPermitted
from tests.conftest import context

ADMIN = Actor(id="ana.admin", role=Role.ADMIN)
PEM = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA" + "A" * 43 + "=\n-----END PUBLIC KEY-----\n"


def test_the_rotation_type_the_ledger_and_verify_look_for_is_the_domain_s() -> None:
    assert Rotated.type_name == keys.ROTATED


def test_a_rotation_records_the_new_key_and_the_key_it_replaces() -> None:
    record = AuditKey.introduce(context(ADMIN), PEM, "0" * 16)
    record.rotate(context(ADMIN), PEM, "1" * 16)
    introduced, rotated = record.collect_events()
    assert isinstance(introduced, Introduced)
    assert isinstance(rotated, Rotated)
    assert (rotated.previous_key_id, rotated.key_id, record.key_id) == (
        "0" * 16,
        "1" * 16,
        "1" * 16,
    )
    assert rotated.actor == ADMIN


def test_a_key_that_signed_before_cannot_come_back_in_a_rotation() -> None:
    record = AuditKey.introduce(context(ADMIN), PEM, "0" * 16)
    record.rotate(context(ADMIN), PEM, "1" * 16)
    with pytest.raises(InvalidRule, match="signed before"):
        record.rotate(context(ADMIN), PEM, "0" * 16)


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
def test_only_an_admin_rotates_the_key(role: Role) -> None:
    with pytest.raises(NotPermitted):
        AuditKey.introduce(context(Actor(id="someone", role=role)), PEM, "0" * 16)


def test_the_file_keyring_keeps_a_rotation_s_key_private_and_finds_every_key_by_id(
    tmp_path: Path,
) -> None:
    configured = Ed25519PrivateKey.generate()
    ring = FileKeyring(configured, tmp_path / "audit-keys")
    made = ring.create()
    assert stat.S_IMODE((tmp_path / "audit-keys" / f"{made.key_id}.pem").stat().st_mode) == 0o600
    again = FileKeyring(configured, tmp_path / "audit-keys")  # as after a restart
    found = again.find(made.key_id)
    assert found is not None
    assert found.public_key() == made.public_key()
    assert again.configured().key_id == keys.key_id(configured.public_key())
    assert again.find("0" * 16) is None
    assert {keys.key_id(k) for k in again.public_keys()} == {made.key_id, again.configured().key_id}


class _Sent:
    """What a producer was asked to send (the broker itself is tests/engines/kafka.py's)."""

    def __init__(self) -> None:
        self.values: list[bytes] = []

    def send(self, topic: str, value: bytes, **_: object) -> _Sent:
        self.values.append(value)
        return self

    def get(self, timeout: float) -> None:
        return None


def test_a_published_checkpoint_carries_the_public_key_of_the_key_that_signed_it(
    tmp_path: Path,
) -> None:
    """After a rotation the checkpoints on Kafka name the new key: the PEM beside them is its."""
    ring = FileKeyring(Ed25519PrivateKey.generate(), tmp_path)
    rotated = ring.create()
    publisher = KafkaPublisher(
        "localhost:9", "itsm.audit.checkpoints", lambda kid: _pem_of(ring, kid), "urn:itsm"
    )
    sent = _Sent()
    publisher._producer = sent
    for signer in (ring.configured(), rotated):
        message = chain.signed_message(1, b"\0" * 32, "2026-12-03T00:00:00+00:00", signer.key_id)
        publisher(
            Checkpoint(
                1, b"\0" * 32, "2026-12-03T00:00:00+00:00", signer.key_id, signer.sign(message)
            )
        )
    data = [orjson.loads(value)["data"] for value in sent.values]
    assert [keys.key_id(keys.load_public(d["public_key"].encode())) for d in data] == [
        d["key_id"] for d in data
    ]
    assert data[1]["key_id"] == rotated.key_id


def _pem_of(ring: FileKeyring, key_id: str) -> bytes:
    found = ring.find(key_id)
    assert found is not None
    return keys.public_pem(found.public_key())
