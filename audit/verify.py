"""Verification: recompute the chain against the event store and the signed checkpoints, and say
where it first goes wrong, and why.

Walking the ledger and the store side by side in position order, each position must have both a
stored event and a ledger entry (one without the other is a deleted or an inserted event), the
stored event must be the one the ledger recorded (its id and type; its digest over the stored
bytes), each entry must name the hash before it and hash to its own, and wherever a trusted
signed checkpoint sits the entry's hash must be the one signed. A checkpoint past the ledger's
end means the tail was cut off. Checkpoints come from the ledger's table and from whatever the
auditor brings (an exported file, the Kafka topic): the ones held outside the database are what
catch an attacker who rewrote the database wholesale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit import chain
from audit.chain import GENESIS, Checkpoint
from audit.keys import verifies
from audit.store import AuditStore, EntryRow, StoredRow

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class Finding:
    position: int
    reason: str


@dataclass
class Report:
    ok: bool
    #: Ledger entries checked against the store.
    entries: int
    ledger_head: int
    store_head: int
    checkpoints: int
    #: The last position a trusted signed checkpoint vouches for (0 if none).
    signed_through: int
    first_bad: Finding | None = None
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "entries_checked": self.entries,
            "ledger_head": self.ledger_head,
            "store_head": self.store_head,
            "not_yet_in_ledger": max(0, self.store_head - self.ledger_head),
            "checkpoints_checked": self.checkpoints,
            "signed_through": self.signed_through,
            "first_bad": None
            if self.first_bad is None
            else {"position": self.first_bad.position, "reason": self.first_bad.reason},
            "notes": self.notes,
        }


def trusted_checkpoints(
    checkpoints: Iterable[Checkpoint], keys: Mapping[str, Ed25519PublicKey]
) -> tuple[dict[int, Checkpoint], Finding | None]:
    """The checkpoints by position, each signature checked with a trusted key; the first bad
    one (unknown key, bad signature, two different heads signed for one position)."""
    by_position: dict[int, Checkpoint] = {}
    for checkpoint in sorted(checkpoints, key=lambda c: c.position):
        public = keys.get(checkpoint.key_id)
        if public is None:
            return by_position, Finding(
                checkpoint.position,
                f"checkpoint signed by key {checkpoint.key_id}, which is not a trusted key",
            )
        if not verifies(public, checkpoint.signature, checkpoint.message()):
            return by_position, Finding(
                checkpoint.position,
                "checkpoint signature does not verify: the checkpoint is forged",
            )
        seen = by_position.get(checkpoint.position)
        if seen is not None and seen.hash != checkpoint.hash:
            return by_position, Finding(
                checkpoint.position, "two signed checkpoints disagree about the head hash here"
            )
        by_position[checkpoint.position] = checkpoint
    return by_position, None


def _pages(fetch: Callable[[int], list[Any]]) -> Iterator[Any]:
    """Every row `fetch(after)` gives, page after page (each row's position first)."""
    after = 0
    while page := fetch(after):
        yield from page
        after = page[-1][0]


def verify(
    store: AuditStore,
    keys: Mapping[str, Ed25519PublicKey],
    outside: Iterable[Checkpoint] = (),
    *,
    page: int = 20_000,
    progress: ProgressCallback | None = None,
) -> Report:
    ledger_head, _ = store.head()
    store_head = store.store_head()
    held = [*store.checkpoints(), *outside]
    checkpoints, bad = trusted_checkpoints(held, keys)
    signed_through = max(checkpoints, default=0)
    report = Report(True, 0, ledger_head, store_head, len(held), signed_through)
    if bad is not None:
        return _failed(report, bad)
    signed_hashes = {position: c.hash for position, c in checkpoints.items()}

    entries: Iterator[EntryRow] = _pages(lambda after: store.entry_rows(after, page))
    # Stored events past the ledger's head are simply not chained yet.
    rows: Iterator[StoredRow] = _pages(
        lambda after: store.stored(after, page) if after < ledger_head else []
    )
    prev = GENESIS
    checked = 0
    entry = next(entries, None)
    row = next(rows, None)
    if row is not None and row[0] > ledger_head:
        row = None
    # The hot loop: one digest and one link hash per entry, nothing decoded or parsed unless
    # something is wrong (then `_diagnosis` says what).
    while entry is not None and row is not None and entry[0] == row[0]:
        _, topic, originator_hex, version, state = row
        position, event_id, e_type, actor_id, actor_role, at, e_digest, e_prev, e_hash = entry
        fields = f"{position}\n{event_id}\n{e_type}\n{actor_id}\n{actor_role}\n{at}".encode()
        digest = sha256(
            b"%s\n%s\n%d\n%s" % (topic.encode(), originator_hex.encode(), version, state)
        ).digest()
        if (
            e_prev != prev
            or digest != e_digest
            or sha256(prev + e_digest + fields).digest() != e_hash
            or signed_hashes.get(position, e_hash) != e_hash
        ):
            return _failed(report, _diagnosis(entry, row, prev, signed_hashes), checked)
        prev = e_hash
        checked += 1
        if progress is not None and checked % page == 0:
            progress(position, ledger_head)
        entry = next(entries, None)
        row = next(rows, None)
        if row is not None and row[0] > ledger_head:
            row = None
    report.entries = checked
    if entry is not None and (row is None or entry[0] < row[0]):
        return _failed(
            report,
            Finding(
                entry[0],
                f"the ledger records {entry[2]} {entry[1]} here, but the event store has no"
                " event at this position: it was deleted",
            ),
            checked,
        )
    if row is not None:
        return _failed(
            report,
            Finding(
                row[0],
                f"the event store has {row[1]} {UUID(row[2])}/{row[3]} here, which the ledger"
                " never recorded: it was inserted",
            ),
            checked,
        )
    beyond = [c for c in checkpoints.values() if c.position > ledger_head]
    if beyond:
        last = max(beyond, key=lambda c: c.position)
        return _failed(
            report,
            Finding(
                ledger_head + 1,
                f"a signed checkpoint (at {last.at}) covers up to position {last.position}, but"
                f" the ledger ends at {ledger_head}: the tail was cut off",
            ),
            checked,
        )
    if ledger_head > signed_through:
        report.notes.append(
            f"positions {signed_through + 1} to {ledger_head} are chained but not yet signed"
        )
    if progress is not None:
        progress(ledger_head, ledger_head)
    return report


def _diagnosis(
    entry: EntryRow, row: StoredRow, prev: bytes, signed: Mapping[int, bytes]
) -> Finding:
    """Why an entry and the stored event at its position do not agree."""
    position, event_id, type_name, actor_id, actor_role, at, digest, prev_hash, own = entry
    if prev_hash != prev:
        return Finding(position, "the ledger entry does not chain to the entry before it")
    if (
        chain.entry_hash(prev, position, event_id, type_name, actor_id, actor_role, at, digest)
        != own
    ):
        return Finding(position, "the ledger entry was altered: its hash does not match")
    _, topic, originator_hex, version, _ = row
    stored_id = f"{UUID(originator_hex)}/{version}"
    if topic != type_name or stored_id != event_id:
        return Finding(
            position,
            f"the event store has {topic} {stored_id} here, but the ledger recorded"
            f" {type_name} {event_id}: an event was inserted, moved, swapped or replaced",
        )
    if chain.digest(topic, originator_hex, version, row[4]) != digest:
        return Finding(
            position,
            f"the stored content of {type_name} {event_id} was changed after it was recorded"
            " (payload, actor or time): its digest does not match",
        )
    return Finding(position, "the chain does not reach the hash signed at this checkpoint")


def _failed(report: Report, finding: Finding, checked: int | None = None) -> Report:
    report.ok = False
    report.first_bad = finding
    if checked is not None:
        report.entries = checked
    return report
