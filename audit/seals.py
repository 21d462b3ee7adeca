"""Seals: the writer authenticates each committed batch of events with a key the database does
not hold, so that an event written behind the service's back is told apart from one it wrote.

- **The seal key** is an HMAC-SHA256 key (32 random bytes) in a small JSON file outside the
  database (`ITSM_AUDIT_SEAL_KEY_FILE`, else `audit-seal.key` in the data directory, created on
  first start, mode 0600). The file also says `sealed_from`: the store position after which every
  event must be sealed (the store's head when the key was made; 0 for a new store). It lives in
  the file, not the database, so a DBA who deletes every seal cannot make events look older
  than sealing.
- **A seal** is one row of `event_seals`, written in the same transaction as the batch of
  events it covers (one per `events.put`): the batch's first and last position, how many events,
  the key's id, the previous seal's MAC and its own MAC =
  HMAC(key, "itsm-seal-v1" || previous MAC || for each event: position, chain.digest(...)).
  Seals so form a chain of their own: one deleted, forged or moved breaks it.

This module is pure (no database): the writer (audit/sealing.py), the ledger follower and the
verifier share it.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import cast

import orjson

from audit import chain, keys
from infra.serialisation import UndecodableEvent

DEFAULT_FILE = "audit-seal.key"
KEY_FORMAT = "itsm-seal-key/1"
SEAL_FORMAT = b"itsm-seal-v1"
#: The previous MAC of the first seal.
GENESIS = bytes(32)

TABLE = "event_seals"
SEAL_COLUMNS = "first_position, last_position, events, key_id, prev_mac, mac"
SQLITE_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (first_position INTEGER PRIMARY KEY, last_position"
    " INTEGER NOT NULL, events INTEGER NOT NULL, key_id TEXT NOT NULL, prev_mac BLOB NOT NULL,"
    " mac BLOB NOT NULL)"
)
POSTGRES_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (first_position BIGINT PRIMARY KEY, last_position"
    " BIGINT NOT NULL, events INTEGER NOT NULL, key_id TEXT NOT NULL, prev_mac BYTEA NOT NULL,"
    " mac BYTEA NOT NULL)"
)
#: The seals that cover a range of positions are found from its low end by where they end (the
#: ledger asks on every append: without it, every seal from the first was read each time).
INDEX = f"CREATE INDEX IF NOT EXISTS ix_{TABLE}_last_position ON {TABLE} (last_position)"

#: What a seal check reads of a stored event: (position, chain.digest of it).
Digested = tuple[int, bytes]

NOT_SEALED = "not sealed"
NOT_MATCHING = "seal does not match"
CHAIN_BROKEN = "seal chain broken"


@dataclass(frozen=True, slots=True)
class SealKey:
    key: bytes
    #: Which key: the first 16 hex digits of the key's SHA-256.
    key_id: str
    #: Every event after this store position must be sealed.
    sealed_from: int
    #: The HMAC keyed and fed the format once; each MAC starts from a copy of it (a third
    #: quicker than keying a new one: checking a store's seals makes one per seal).
    _keyed: hmac.HMAC = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_keyed", hmac.new(self.key, SEAL_FORMAT, "sha256"))

    def __repr__(self) -> str:  # never the key itself in a log or a traceback
        return f"SealKey(key_id={self.key_id!r}, sealed_from={self.sealed_from})"

    def mac(self, prev_mac: bytes, events: Iterable[Digested]) -> bytes:
        m = self._keyed.copy()
        m.update(prev_mac)
        for position, digest in events:
            m.update(b"%d\n" % position + digest)
        return m.digest()

    def seal(self, prev_mac: bytes, events: Sequence[Digested]) -> Seal:
        """The seal of a batch of events (positions in order), chained onto `prev_mac`."""
        return Seal(
            events[0][0],
            events[-1][0],
            len(events),
            self.key_id,
            prev_mac,
            self.mac(prev_mac, events),
        )


def key_id_of(key: bytes) -> str:
    return sha256(key).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Seal:
    first_position: int
    last_position: int
    events: int
    key_id: str
    prev_mac: bytes
    mac: bytes

    def values(self) -> tuple[int, int, int, str, bytes, bytes]:
        return (
            self.first_position,
            self.last_position,
            self.events,
            self.key_id,
            self.prev_mac,
            self.mac,
        )


def seal_of(row: Sequence[object]) -> Seal:
    """A seal from its row as both databases give it (integers, text, bytes)."""
    first, last, count, key_id, prev, mac = cast(tuple[int, int, int, str, bytes, bytes], row)
    return Seal(first, last, count, key_id, bytes(prev), bytes(mac))


# -- the key file ---------------------------------------------------------------------------------


def load_key(path: Path) -> SealKey:
    data = orjson.loads(path.read_bytes())
    if data.get("format") != KEY_FORMAT:
        raise ValueError(f"{path} is not an audit seal key ({KEY_FORMAT})")
    key = bytes.fromhex(data["key"])
    if len(key) < 32:
        raise ValueError(f"{path}: the seal key is shorter than 32 bytes")
    if data.get("key_id") != key_id_of(key):
        raise ValueError(f"{path}: the key id does not match the key")
    return SealKey(key, key_id_of(key), int(data["sealed_from"]))


def seal_key(path: Path | None, data_dir: Path, store_head: Callable[[], int]) -> SealKey:
    """The configured key file, or the data directory's, created if missing with `sealed_from`
    = the store's head now (every event up to there was written before sealing)."""
    if path is not None:
        return load_key(path)
    default = data_dir / DEFAULT_FILE
    if not default.exists():
        write_key(default, secrets.token_bytes(32), store_head())
    return load_key(default)


def write_key(path: Path, key: bytes, sealed_from: int) -> None:
    """Keep a seal key at `path` (mode 0600), unless one is there already (two processes
    starting at once end up with the same key)."""
    body = orjson.dumps(
        {
            "format": KEY_FORMAT,
            "key": key.hex(),
            "key_id": key_id_of(key),
            "sealed_from": sealed_from,
        }
    )
    keys.write_once(path, body)


# -- checking -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unsealed:
    """The first stored event no valid seal covers, and why."""

    position: int
    reason: str
    #: The last position of the seal that fails (its batch), or `position` itself.
    last: int = 0

    def __post_init__(self) -> None:
        if self.last < self.position:
            object.__setattr__(self, "last", self.position)


def check(
    key: SealKey,
    prev_mac: bytes,
    seals: Iterable[Seal],
    events: Iterable[Digested],
    *,
    after: int = 0,
) -> Unsealed | None:
    """The first event (after `after`) that no seal covers, whose seal does not verify, or whose
    seal does not chain onto the one before it (`prev_mac`: the MAC of the seal before the first
    given, GENESIS if none). `seals` in order, from the one covering the first event; `events`
    in position order, every stored event in the seals' span and after it (they may start
    before `after`: a seal is checked whole). None: every event is sealed."""
    pending = _Peek(events)
    last_end = -1
    for seal in seals:
        head = pending.peek()
        if head is not None and head[0] < seal.first_position:
            return Unsealed(max(head[0], after + 1), NOT_SEALED)
        if seal.first_position <= last_end:
            return Unsealed(
                seal.first_position,
                f"{CHAIN_BROKEN}: the seal at {seal.first_position} overlaps the one before it",
            )
        if seal.prev_mac != prev_mac:
            return Unsealed(
                max(seal.first_position, after + 1),
                f"{CHAIN_BROKEN}: the seal of positions {seal.first_position} to"
                f" {seal.last_position} does not follow the seal before it (a seal was"
                " deleted, inserted or moved)",
            )
        covered = pending.take_through(seal.last_position)
        if seal.key_id != key.key_id:
            reason = f"{NOT_MATCHING}: sealed with key {seal.key_id}, not the seal key {key.key_id}"
        elif len(covered) != seal.events or not hmac.compare_digest(
            key.mac(seal.prev_mac, covered), seal.mac
        ):
            reason = (
                f"{NOT_MATCHING}: the events at positions {seal.first_position} to"
                f" {seal.last_position} are not the ones sealed (changed, inserted, removed or"
                " reordered), or the seal is forged"
            )
        else:
            prev_mac, last_end = seal.mac, seal.last_position
            continue
        return Unsealed(max(seal.first_position, after + 1), reason, seal.last_position)
    head = pending.peek()
    if head is not None:
        return Unsealed(max(head[0], after + 1), NOT_SEALED)
    return None


class _Peek:
    def __init__(self, events: Iterable[Digested]) -> None:
        self._it: Iterator[Digested] = iter(events)
        self._next: Digested | None = next(self._it, None)

    def peek(self) -> Digested | None:
        return self._next

    def take_through(self, position: int) -> list[Digested]:
        taken = []
        while self._next is not None and self._next[0] <= position:
            taken.append(self._next)
            self._next = next(self._it, None)
        return taken


class UnsealedEvent(UndecodableEvent):
    """A stored event after `sealed_from` that no valid seal covers: the ledger stops there, as
    it does at an event it cannot read, and does not chain it."""

    def __init__(self, topic: str, event: str, reason: str, position: int) -> None:
        super().__init__(topic, event, reason, position)
        self.args = (f"stored event {event} ({topic}) at position {position}: {reason}",)


class StoreTruncated(RuntimeError):
    """The store (or its seal chain) ends below a position the ledger follower already chained."""


def digested(rows: Iterable[tuple[int, str, str, int, bytes]]) -> list[Digested]:
    """(position, digest) of stored rows as audit/store.py reads them."""
    return [(p, chain.digest(topic, o, v, state)) for p, topic, o, v, state in rows]
