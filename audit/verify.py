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

import gc
import multiprocessing
import os
import sys
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from hashlib import sha256
from uuid import UUID

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit import chain
from audit.chain import GENESIS, Checkpoint, Entry
from audit.keys import ROTATED, key_id, load_public, verifies
from audit.seals import GENESIS as SEALS_GENESIS
from audit.seals import Digested, Seal, SealKey, Unsealed, check
from audit.store import AuditStore, ChainRow, StoredRow, StoreLocation

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
    #: Seals checked (None: no seal key given, seals not checked).
    seals: int | None = None
    #: CPU seconds the segments took in worker processes (not part of the report: for
    #: benchmarks, whose own process's CPU time does not include them).
    worker_cpu: float = 0.0
    #: The last position up to which every ledger entry was found to pair with the stored
    #: event there and to hold its digest (not part of the report: the seal check reads the
    #: digests up to there from the ledger instead of hashing the events again).
    verified_through: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "entries_checked": self.entries,
            "ledger_head": self.ledger_head,
            "store_head": self.store_head,
            "not_yet_in_ledger": max(0, self.store_head - self.ledger_head),
            "checkpoints_checked": self.checkpoints,
            "signed_through": self.signed_through,
            "seals_checked": self.seals,
            "first_bad": None
            if self.first_bad is None
            else {"position": self.first_bad.position, "reason": self.first_bad.reason},
            "notes": self.notes,
        }


#: The key a rotation at a checkpoint's position introduces (its key id and public key), if
#: the event chained there is one and the checkpoint signs its entry: `rotation_at` reads it
#: from the store.
RotationAt = Callable[[Checkpoint], tuple[str, Ed25519PublicKey] | None]


def trusted_checkpoints(
    checkpoints: Iterable[Checkpoint],
    keys: Mapping[str, Ed25519PublicKey],
    rotation: RotationAt | None = None,
) -> tuple[dict[int, Checkpoint], Finding | None]:
    """The checkpoints by position, each signature checked with a trusted key; the first bad
    one (unknown key, bad signature, two different heads signed for one position).

    With `rotation`, the keys follow the record's rotations: a checkpoint under a trusted key
    at a rotation's position vouches for the key the rotation introduces, which is trusted for
    the checkpoints from there on, and the rotated key for none after it. What vouches is the
    checkpoint's hash: it is the rotation's ledger entry's, whose hash covers the digest of the
    stored event that names the new key."""
    trusted = dict(keys)
    #: a rotated key -> the last position it may sign
    retired: dict[str, int] = {}
    by_position: dict[int, Checkpoint] = {}
    for checkpoint in sorted(checkpoints, key=lambda c: c.position):
        public = trusted.get(checkpoint.key_id)
        if public is None:
            return by_position, Finding(
                checkpoint.position,
                f"checkpoint signed by key {checkpoint.key_id}, which is not a trusted key",
            )
        if checkpoint.position > retired.get(checkpoint.key_id, checkpoint.position):
            return by_position, Finding(
                checkpoint.position,
                f"checkpoint signed by key {checkpoint.key_id}, which the record rotated out at"
                f" position {retired[checkpoint.key_id]}: not a trusted key here",
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
        introduced = rotation(checkpoint) if rotation is not None else None
        if introduced is not None and seen is None:
            new_id, new_key = introduced
            if new_id != checkpoint.key_id:
                retired.setdefault(checkpoint.key_id, checkpoint.position)
            trusted[new_id] = new_key
            retired.pop(new_id, None)
    return by_position, None


def rotation_at(store: AuditStore, checkpoint: Checkpoint) -> tuple[str, Ed25519PublicKey] | None:
    """The key a rotation chained at the checkpoint's position introduces, read from the
    store's ledger entry and stored event there (`introduced_by`)."""
    position = checkpoint.position
    entries = store.entries(position - 1, 1)
    if not entries or entries[0].position != position:
        return None
    rows = store.stored_at([position])
    return introduced_by(checkpoint, entries[0], rows[0] if rows else None)


def introduced_by(
    checkpoint: Checkpoint, entry: Entry, row: StoredRow | None
) -> tuple[str, Ed25519PublicKey] | None:
    """The key a rotation introduces: only when the ledger entry at the checkpoint's position
    is a rotation whose hash the checkpoint signs (and its fields give that hash), and the
    stored event is the one it recorded (type, id and digest). Wherever the entry and the event
    come from (the store, or an evidence pack)."""
    if entry.position != checkpoint.position or entry.type != ROTATED or row is None:
        return None
    if entry.hash != checkpoint.hash or chain.recomputed(entry) != entry.hash:
        return None  # the chain walk reports what is wrong here
    _, topic, originator_hex, version, state = row
    if (
        topic != entry.type
        or f"{UUID(originator_hex)}/{version}" != entry.event_id
        or chain.digest(topic, originator_hex, version, state) != entry.digest
    ):
        return None  # the chain walk reports what is wrong here
    try:
        event = orjson.loads(state)
        public = load_public(str(event["public_key"]).encode())
    except (ValueError, KeyError, TypeError):
        return None
    return key_id(public), public


#: Below this many entries, one process verifies: starting another costs about half a second.
PARALLEL_FROM = 200_000


@dataclass(frozen=True)
class _Segment:
    """What verifying positions (after, until] found: the previous hash its first entry names
    and its first position (the join with the segment before), the last entry's hash, how many
    entries checked out before the first bad one, and that one."""

    first_prev: bytes | None
    first_position: int
    last_hash: bytes | None
    checked: int
    finding: Finding | None
    unpaired: bool = False
    cpu: float = 0.0


def verify(
    store: AuditStore,
    keys: Mapping[str, Ed25519PublicKey],
    outside: Iterable[Checkpoint] = (),
    *,
    page: int = 20_000,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
    segment: int | None = None,
    seal: SealKey | None = None,
) -> Report:
    """Recompute the chain and report the first bad position, and why.

    A long ledger is cut into segments of consecutive positions verified in `workers`
    processes (default: one per CPU, up to 4, from PARALLEL_FROM entries on). Each segment's
    chain starts from the previous hash its own first entry names; the joins are then checked
    in order here, so the report (first bad position, reason, entries checked) is the one a
    single pass gives.

    With `seal` (the key the writer seals events with), every stored event after its
    `sealed_from` must also be covered by a seal that verifies and chains onto the one before,
    whatever its position: also the tail the ledger has not chained yet. Where the chain and the
    seals both find something, the report names the first (the chain's, which pins the very
    event, when it falls inside the batch whose seal fails).
    """
    report = _verify_chain(store, keys, outside, page, progress, workers, segment)
    if seal is None:
        report.notes.append("seals not checked: no seal key given")
        return report
    report.seals, unsealed = check_seals(
        store, seal, page, verified_through=report.verified_through
    )
    if unsealed is not None and (
        report.first_bad is None or unsealed.last < report.first_bad.position
    ):
        report.ok, report.first_bad = False, Finding(unsealed.position, unsealed.reason)
    return report


def check_seals(
    store: AuditStore, key: SealKey, page: int = 20_000, *, verified_through: int = 0
) -> tuple[int, Unsealed | None]:
    """How many seals there are after the key's `sealed_from`, and the first stored event after
    it that no valid seal covers (audit/seals.py), reading both a page at a time.

    Up to `verified_through` (a position to which the chain's verification has just found every
    stored event paired with its ledger entry, and its digest the one the entry holds) the
    events' digests are read from the ledger, not computed again from the stored events."""
    count = 0

    def all_seals() -> Iterator[Seal]:
        nonlocal count
        after = key.sealed_from
        while found := store.seals(after, page):
            count += len(found)
            yield from found
            after = found[-1].first_position

    def all_events() -> Iterator[Digested]:
        after = key.sealed_from
        while after < verified_through and (
            verified := store.ledger_digests(after, page, verified_through)
        ):
            yield from verified
            after = verified[-1][0]
        while rows := store.digest_rows(after, page):
            for position, prefix, state in rows:
                yield position, sha256(prefix + state).digest()
            after = rows[-1][0]

    before = store.seal_before(key.sealed_from + 1)
    prev = before.mac if before is not None else SEALS_GENESIS
    found = check(key, prev, all_seals(), all_events(), after=key.sealed_from)
    return count, found


def _verify_chain(
    store: AuditStore,
    keys: Mapping[str, Ed25519PublicKey],
    outside: Iterable[Checkpoint],
    page: int,
    progress: ProgressCallback | None,
    workers: int | None,
    segment: int | None,
) -> Report:
    ledger_head, _ = store.head()
    store_head = store.store_head()
    held = [*store.checkpoints(), *outside]
    checkpoints, bad = trusted_checkpoints(held, keys, lambda c: rotation_at(store, c))
    signed_through = max(checkpoints, default=0)
    report = Report(True, 0, ledger_head, store_head, len(held), signed_through)
    if bad is not None:
        return _failed(report, bad)
    signed_hashes = {position: c.hash for position, c in checkpoints.items()}

    location = store.location()
    if workers is None:
        workers = min(os.cpu_count() or 1, 4) if ledger_head >= PARALLEL_FROM else 1
    if location is None:
        workers = 1
    if workers > 1 and location is not None:
        # small segments, so that the processes finish close together
        size = segment or max(page, -(-ledger_head // (workers * 16)))
        bounds = [(a, min(a + size, ledger_head)) for a in range(0, ledger_head, size)]
        segments = _in_parallel(store, location, bounds, signed_hashes, page, workers, progress)
        report.worker_cpu = sum(seg.cpu for seg in segments)
        checked, finding = _joined(store, segments)
    else:
        one = _verify_segment(store, 0, ledger_head, signed_hashes, page, GENESIS, progress)
        checked, finding = one.checked, one.finding
    report.entries = checked
    # The pass stops at the first finding: every position before it checked out.
    report.verified_through = ledger_head if finding is None else finding.position - 1
    if finding is not None:
        return _failed(report, finding)
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


def _verify_segment(
    store: AuditStore,
    after: int,
    until: int,
    signed_hashes: Mapping[int, bytes],
    page: int,
    prev: bytes | None,
    progress: ProgressCallback | None = None,
) -> _Segment:
    """Verify positions (after, until]. With `prev` None the first entry's own previous hash is
    taken as given (the caller checks that join)."""
    first_prev: bytes | None = None
    first_position = 0
    checked = 0
    # The pages' rows live until the page is done and form no cycles: a collection meanwhile
    # would scan them for nothing. (Not projections.runner's helper: importing that costs a
    # worker process more than the pause saves.)
    collecting = gc.isenabled()
    gc.disable()
    try:
        while True:
            # The same range of positions from both: they pair up one to one while all is well.
            entries = store.chain_rows(after, page, until)
            rows = store.digest_rows(after, page, until)
            if not entries and not rows:
                break
            if first_position == 0 and entries:
                first_position, first_prev = entries[0][0], entries[0][3]
                if prev is None:
                    prev = first_prev
            # The hot loop: one digest and one link hash per entry, nothing decoded or parsed
            # unless something is wrong (then `_diagnosis` reads the event again and says what).
            for entry, (stored_at, prefix, state) in zip(entries, rows):  # noqa: B905 (unequal lengths handled below)
                position, fields, e_digest, e_prev, e_hash = entry
                if position != stored_at:
                    finding = _unpaired(store, position, _stored(store, stored_at))
                    done = checked + _before(entries, position)
                    return _Segment(first_prev, first_position, None, done, finding, True)
                digest = sha256(prefix + state).digest()
                if (
                    digest != e_digest
                    or e_prev != prev
                    or sha256(e_prev + digest + fields).digest() != e_hash
                    or signed_hashes.get(position, e_hash) != e_hash
                ):
                    assert prev is not None
                    finding = _diagnosis(store, position, _stored(store, position), prev)
                    done = checked + _before(entries, position)
                    return _Segment(first_prev, first_position, None, done, finding)
                prev = e_hash
            checked += min(len(entries), len(rows))
            if len(entries) != len(rows):
                extra_entry = entries[len(rows)][0] if len(entries) > len(rows) else None
                extra_row = (
                    _stored(store, rows[len(entries)][0]) if len(rows) > len(entries) else None
                )
                finding = _unpaired(store, extra_entry, extra_row)
                return _Segment(first_prev, first_position, None, checked, finding, True)
            after = entries[-1][0]
            if progress is not None:
                progress(after, until)
            if after >= until:  # nothing more to read: no need to ask
                break
    finally:
        if collecting:
            gc.enable()
    return _Segment(first_prev, first_position, prev, checked, None)


def _joined(store: AuditStore, segments: list[_Segment]) -> tuple[int, Finding | None]:
    """The entries checked and the first finding over segments verified apart, in order: a
    segment whose first entry does not name the hash the one before it ended with is broken
    there (unless its pairing failed first, which a single pass reports first too)."""
    prev, checked = GENESIS, 0
    for seg in segments:
        if seg.first_prev is not None and seg.first_prev != prev:
            finding = seg.finding
            pairing_first = (
                finding is not None and seg.unpaired and finding.position <= seg.first_position
            )
            if not pairing_first:
                row = store.stored_at([seg.first_position])
                position = seg.first_position
                if not row:  # cannot be: it paired with its entry in the segment
                    return checked, Finding(position, "the event store changed while verifying")
                return checked, _diagnosis(store, position, row[0], prev)
        checked += seg.checked
        if seg.finding is not None:
            return checked, seg.finding
        if seg.last_hash is not None:
            prev = seg.last_hash
    return checked, None


#: A worker process's reader of the store, opened once by `_open_worker`.
_worker: dict[str, AuditStore] = {}


def _open_worker(location: StoreLocation) -> None:
    _worker["store"] = location.open()


def _worker_segment(
    after: int, until: int, signed_hashes: Mapping[int, bytes], page: int
) -> _Segment:
    started = time.process_time()
    done = _verify_segment(_worker["store"], after, until, signed_hashes, page, None)
    return replace(done, cpu=time.process_time() - started)


def _in_parallel(
    store: AuditStore,
    location: StoreLocation,
    bounds: list[tuple[int, int]],
    signed_hashes: Mapping[int, bytes],
    page: int,
    workers: int,
    progress: ProgressCallback | None,
) -> list[_Segment]:
    """The segments verified by `workers - 1` worker processes and by this process, which
    takes segments from the back of the queue until the workers reach them (so its core is
    not idle while they start, and no segment is verified twice)."""
    # Not forked from the caller, which may have threads (the API, a Kafka client) whose locks
    # a fork would copy mid-use; not spawned, which imports the caller's main module (the whole
    # service) in every worker: forked from a server process that has imported only this module.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    results: list[_Segment | None] = [None] * len(bounds)
    done = 0

    def finished(i: int, segment: _Segment) -> None:
        nonlocal done
        results[i], done = segment, done + 1
        if progress is not None:
            # Segments finish out of order: report the share done as a position.
            progress(bounds[-1][1] * done // len(bounds), bounds[-1][1])

    with ProcessPoolExecutor(
        max_workers=max(1, min(workers - 1, len(bounds))),
        mp_context=context,
        initializer=_open_worker,
        initargs=(location,),
    ) as pool:
        with _main_module_hidden():  # the workers start while the work is submitted
            futures = {
                pool.submit(_worker_segment, after, until, signed_hashes, page): i
                for i, (after, until) in enumerate(bounds)
            }
        for future, i in reversed(list(futures.items())):
            if future.cancel():  # not started by a worker yet: this process takes it
                after, until = bounds[i]
                own = _verify_segment(store, after, until, signed_hashes, page, None)
                finished(i, own)
                del futures[future]
        for future in as_completed(futures):
            finished(futures[future], future.result())
    return [r for r in results if r is not None]


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Worker processes started meanwhile do not import the caller's main module.

    multiprocessing re-imports the main module in every child (as `__mp_main__`), so that
    references to it pickled by the parent resolve there. Nothing sent to a verifier's worker
    refers to it, and the import is costly: for `itsm` or the benchmark it is the whole service,
    a second or more before a worker verifies anything. Only the submitting thread starts
    workers (concurrent.futures starts them on submit), so the swap is brief.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _stored(store: AuditStore, position: int) -> StoredRow:
    """The stored event at a position, whole (to say what is wrong with it)."""
    found = store.stored_at([position])
    assert found, f"the event at position {position} was just read"
    return found[0]


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
