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
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.chain import GENESIS, Checkpoint, Entry
from audit.keys import verifies
from audit.store import AuditStore, StoredRow

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


def _pages(fetch: Callable[[int], list[StoredRow]] | Callable[[int], list[Entry]]) -> Iterator:  # type: ignore[type-arg]
    after = 0
    while True:
        page = fetch(after)
        if not page:
            return
        yield from page
        last = page[-1]
        after = last.position if isinstance(last, Entry) else last[0]


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

    entries: Iterator[Entry] = _pages(lambda after: store.entries(after, page))
    # Stored events past the ledger's head are simply not chained yet.
    rows: Iterator[StoredRow] = (
        r for r in _pages(lambda after: store.stored(after, page)) if r[0] <= ledger_head
    )
    prev = GENESIS
    checked = 0
    entry = next(entries, None)
    row = next(rows, None)
    while entry is not None or row is not None:
        if row is None or (entry is not None and entry.position < row[0]):
            assert entry is not None
            return _failed(
                report,
                Finding(
                    entry.position,
                    f"the ledger records {entry.type} {entry.event_id} here, but the event store"
                    " has no event at this position: it was deleted",
                ),
                checked,
            )
        if entry is None or row[0] < entry.position:
            return _failed(
                report,
                Finding(
                    row[0],
                    f"the event store has {row[1]} {UUID(row[2])}/{row[3]} here, which the"
                    " ledger never recorded: it was inserted",
                ),
                checked,
            )
        position, topic, originator_hex, version, state = row
        if entry.prev_hash != prev:
            return _failed(
                report,
                Finding(position, "the ledger entry does not chain to the entry before it"),
                checked,
            )
        fields = (
            f"{position}\n{entry.event_id}\n{entry.type}\n{entry.actor_id}\n"
            f"{entry.actor_role}\n{entry.at}"
        ).encode()
        if sha256(prev + entry.digest + fields).digest() != entry.hash:
            return _failed(
                report,
                Finding(position, "the ledger entry was altered: its hash does not match"),
                checked,
            )
        if topic != entry.type or f"{UUID(originator_hex)}/{version}" != entry.event_id:
            return _failed(
                report,
                Finding(
                    position,
                    f"the event store has {topic} {UUID(originator_hex)}/{version} here, but"
                    f" the ledger recorded {entry.type} {entry.event_id}: an event was inserted,"
                    " moved, swapped or replaced",
                ),
                checked,
            )
        stored_digest = sha256(
            b"%s\n%s\n%d\n%s" % (topic.encode(), originator_hex.encode(), version, state)
        ).digest()
        if stored_digest != entry.digest:
            return _failed(
                report,
                Finding(
                    position,
                    f"the stored content of {entry.type} {entry.event_id} was changed after it"
                    " was recorded (payload, actor or time): its digest does not match",
                ),
                checked,
            )
        signed = checkpoints.get(position)
        if signed is not None and signed.hash != entry.hash:
            return _failed(
                report,
                Finding(position, "the chain does not reach the hash signed at this checkpoint"),
                checked,
            )
        prev = entry.hash
        checked += 1
        if progress is not None and checked % page == 0:
            progress(position, ledger_head)
        entry = next(entries, None)
        row = next(rows, None)
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


def _failed(report: Report, finding: Finding, checked: int | None = None) -> Report:
    report.ok = False
    report.first_bad = finding
    if checked is not None:
        report.entries = checked
    return report
