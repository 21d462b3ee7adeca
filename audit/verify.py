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

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from hashlib import sha256
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit import chain
from audit.chain import GENESIS, Checkpoint
from audit.keys import verifies
from audit.store import AuditStore, ChainRow, StoredRow

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

    prev = GENESIS
    checked = 0
    after = 0
    while True:
        # The same range of positions from both: they pair up one to one while all is well.
        entries = store.chain_rows(after, page)
        rows = store.stored(after, page)
        if rows and rows[-1][0] > ledger_head:  # not chained yet
            rows = [r for r in rows if r[0] <= ledger_head]
        if not entries and not rows:
            break
        # The hot loop: one digest and one link hash per entry, nothing decoded or parsed
        # unless something is wrong (then `_diagnosis` says what).
        for entry, row in zip(entries, rows):  # noqa: B905 (unequal lengths handled below)
            position, fields, e_digest, e_prev, e_hash = entry
            stored_at, topic, originator_hex, version, state = row
            if position != stored_at:
                return _failed(
                    report, _unpaired(store, position, row), checked + _before(entries, position)
                )
            digest = sha256(
                b"%s\n%s\n%d\n%s" % (topic.encode(), originator_hex.encode(), version, state)
            ).digest()
            if (
                digest != e_digest
                or e_prev != prev
                or sha256(prev + digest + fields).digest() != e_hash
                or signed_hashes.get(position, e_hash) != e_hash
            ):
                return _failed(
                    report,
                    _diagnosis(store, position, row, prev),
                    checked + _before(entries, position),
                )
            prev = e_hash
        checked += min(len(entries), len(rows))
        if len(entries) > len(rows):
            return _failed(report, _unpaired(store, entries[len(rows)][0], None), checked)
        if len(rows) > len(entries):
            return _failed(report, _unpaired(store, None, rows[len(entries)]), checked)
        after = entries[-1][0]
        if progress is not None:
            progress(after, ledger_head)
    report.entries = checked
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


def _before(entries: list[ChainRow], position: int) -> int:
    """How many entries of a page come before a position (those were checked)."""
    return sum(1 for entry in entries if entry[0] < position)


def _unpaired(store: AuditStore, position: int | None, row: StoredRow | None) -> Finding:
    """A ledger entry at `position` and a stored event `row` that do not pair up: whichever is
    at the lower position has no counterpart."""
    if position is not None and (row is None or position < row[0]):
        missing = store.entries(position - 1, 1)[0]
        return Finding(
            position,
            f"the ledger records {missing.type} {missing.event_id} here, but the event store"
            " has no event at this position: it was deleted",
        )
    assert row is not None
    return Finding(
        row[0],
        f"the event store has {row[1]} {UUID(row[2])}/{row[3]} here, which the ledger never"
        " recorded: it was inserted",
    )


def _diagnosis(store: AuditStore, position: int, row: StoredRow, prev: bytes) -> Finding:
    """Why the entry and the stored event at a position do not agree."""
    entry = store.entries(position - 1, 1)[0]
    if entry.prev_hash != prev:
        return Finding(position, "the ledger entry does not chain to the entry before it")
    if chain.recomputed(entry) != entry.hash:
        return Finding(position, "the ledger entry was altered: its hash does not match")
    _, topic, originator_hex, version, state = row
    stored_id = f"{UUID(originator_hex)}/{version}"
    if topic != entry.type or stored_id != entry.event_id:
        return Finding(
            position,
            f"the event store has {topic} {stored_id} here, but the ledger recorded"
            f" {entry.type} {entry.event_id}: an event was inserted, moved, swapped or replaced",
        )
    if chain.digest(topic, originator_hex, version, state) != entry.digest:
        return Finding(
            position,
            f"the stored content of {entry.type} {entry.event_id} was changed after it was"
            " recorded (payload, actor or time): its digest does not match",
        )
    return Finding(position, "the chain does not reach the hash signed at this checkpoint")


def _failed(report: Report, finding: Finding, checked: int | None = None) -> Report:
    report.ok = False
    report.first_bad = finding
    if checked is not None:
        report.entries = checked
    return report
