"""The ledger's arithmetic: pure functions, shared by the follower, the verifier and the offline
check of an evidence pack (which has neither a server nor a database).

- The digest of a stored event is SHA-256 over exactly what the store holds for it: its topic
  (the permanent type name), its originator id (32 hex digits), its version and its state bytes
  (as stored: compressed and encrypted too when the service is configured so). Any change to the
  row changes the digest.
- An entry's hash is SHA-256 over the previous entry's hash, the digest, and the entry's own
  fields (position, event id, type, actor, time), so every field of the ledger is chained, and a
  changed, removed, added or moved entry breaks every hash after it.
- A checkpoint is (position, head hash, time, key id), signed with Ed25519.
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import sha256

#: The hash before the first entry.
GENESIS = bytes(32)

CHECKPOINT_FORMAT = b"itsm-audit-checkpoint/1"


def digest(topic: str, originator_hex: str, version: int, state: bytes) -> bytes:
    """SHA-256 of one stored event: topic, originator id (32 hex digits), version, state."""
    return sha256(
        b"%s\n%s\n%d\n%s" % (topic.encode(), originator_hex.encode(), version, state)
    ).digest()


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger entry: a stored event at a global position, chained to the one before."""

    position: int
    event_id: str  # "<aggregate uuid>/<version>", as CloudEvents ids are
    type: str
    actor_id: str
    actor_role: str
    at: str  # the event's time as stored (ISO 8601, UTC)
    digest: bytes
    prev_hash: bytes
    hash: bytes

    def as_json(self) -> dict[str, object]:
        return {
            "position": self.position,
            "event_id": self.event_id,
            "type": self.type,
            "actor": {"id": self.actor_id, "role": self.actor_role},
            "at": self.at,
            "digest": self.digest.hex(),
            "prev_hash": self.prev_hash.hex(),
            "hash": self.hash.hex(),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Entry:
        actor = data["actor"]
        assert isinstance(actor, dict)
        return cls(
            position=int(str(data["position"])),
            event_id=str(data["event_id"]),
            type=str(data["type"]),
            actor_id=str(actor["id"]),
            actor_role=str(actor["role"]),
            at=str(data["at"]),
            digest=bytes.fromhex(str(data["digest"])),
            prev_hash=bytes.fromhex(str(data["prev_hash"])),
            hash=bytes.fromhex(str(data["hash"])),
        )


def entry_fields(
    position: int, event_id: str, type_name: str, actor_id: str, actor_role: str, at: str
) -> bytes:
    """An entry's own fields as its hash covers them (the ledger store joins them the same way
    in SQL for the verifier)."""
    return f"{position}\n{event_id}\n{type_name}\n{actor_id}\n{actor_role}\n{at}".encode()


def entry_hash(
    prev_hash: bytes,
    position: int,
    event_id: str,
    type_name: str,
    actor_id: str,
    actor_role: str,
    at: str,
    event_digest: bytes,
) -> bytes:
    fields = entry_fields(position, event_id, type_name, actor_id, actor_role, at)
    return sha256(prev_hash + event_digest + fields).digest()


def recomputed(entry: Entry) -> bytes:
    """The hash an entry must have, given its fields and the hash it names as previous."""
    return entry_hash(
        entry.prev_hash,
        entry.position,
        entry.event_id,
        entry.type,
        entry.actor_id,
        entry.actor_role,
        entry.at,
        entry.digest,
    )


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The head of the chain at a moment, signed: position, hash, time, key id, signature."""

    position: int
    hash: bytes
    at: str
    key_id: str
    signature: bytes

    def message(self) -> bytes:
        return signed_message(self.position, self.hash, self.at, self.key_id)

    def as_json(self) -> dict[str, object]:
        return {
            "position": self.position,
            "hash": self.hash.hex(),
            "at": self.at,
            "key_id": self.key_id,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Checkpoint:
        return cls(
            position=int(str(data["position"])),
            hash=bytes.fromhex(str(data["hash"])),
            at=str(data["at"]),
            key_id=str(data["key_id"]),
            signature=bytes.fromhex(str(data["signature"])),
        )


def signed_message(position: int, head_hash: bytes, at: str, key_id: str) -> bytes:
    """The bytes a checkpoint's signature covers."""
    return b"%s\n%d\n%s\n%s\n%s" % (
        CHECKPOINT_FORMAT,
        position,
        head_hash.hex().encode(),
        at.encode(),
        key_id.encode(),
    )
