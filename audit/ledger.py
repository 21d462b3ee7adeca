"""The ledger follower: appends every stored event, in global order, to the hash chain, and signs
checkpoints every N positions and every T of time.

It follows the event store itself (the system of record, where global order exists), not Kafka,
whose partitions do not keep that order. Every API process may run one: an append is one
transaction that first checks the ledger's head is where this follower read it, so followers in
several processes never fork the chain (the loser simply reads again). `itsm audit follow` runs
one as a process of its own. Each batch's entries and the checkpoints they call for are written
together, then checkpoints not yet published are sent to Kafka (at least once).

A stored event whose who and when it cannot read (bytes that are not JSON, no actor or timestamp)
stops it there: the events before it are chained, and `stuck` says which event and why until it
can be read. An entry is never made up for it, nor is it passed over: the chain holds every
stored event, in order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import datetime, timedelta
from uuid import UUID

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import Mapper

from audit import chain
from audit.chain import Checkpoint, Entry
from audit.keys import ROTATED
from audit.seals import GENESIS as NO_SEAL
from audit.seals import Seal, SealKey, StoreTruncated, UnsealedEvent, check, digested
from audit.signers import FileSigner, Keyring, Signer, SignerUnavailable
from audit.store import AuditStore, StoredRow
from infra.follower import Follower, Follows, StuckAt
from infra.progress import Progress
from infra.serialisation import UndecodableEvent, plain, reason_of

log = logging.getLogger(__name__)

Publisher = Callable[[Checkpoint], None]
ProgressCallback = Callable[[int, int], None]  # (position reached, head of the store)


@dataclass(eq=False)
class Ledger(Follows):
    store: AuditStore
    mapper: Mapper[UUID]
    #: The key in use: the configured one until the record rotates it (`keyring` finds the next).
    key: Signer | Ed25519PrivateKey
    clock: Callable[[], datetime]
    _: KW_ONLY
    keyring: Keyring | None = None
    checkpoint_every: int = 1_000
    checkpoint_interval: timedelta = timedelta(seconds=60)
    publisher: Publisher | None = None
    #: The key the writer seals events with (audit/seals.py): with it, an event after its
    #: `sealed_from` that no valid seal covers stops the ledger there (None: no seal asked for).
    seal: SealKey | None = None
    batch_size: int = 5_000
    poll_interval: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.key, Ed25519PrivateKey):
            self.key = FileSigner(self.key)
        self.signer: Signer = self.key
        #: The position of the checkpoint `signer` was settled at (-1: not yet).
        self._settled_at = -1
        self._report = Progress(log, "audit ledger appended", every=10.0)
        self._follower = Follower(
            "audit-ledger", self._follow_step, idle=self.poll_interval, log=log, backoff=(0.1, 1.0)
        )
        self._stuck = StuckAt("audit ledger", log)
        #: The highest position this follower has seen chained: the store, its seals and the
        #: ledger must never end below it again.
        self._reached = 0
        #: The last seal this follower verified and chained the events of, and the one the
        #: batch being appended ends with.
        self._last_seal: Seal | None = None
        self._verified_seal: Seal | None = None
        #: The digests the seal check computed for the batch being appended, by position.
        self._digests: dict[int, bytes] = {}

    @property
    def stuck(self) -> UndecodableEvent | None:
        """The event the ledger stopped at because it cannot read it, if it has."""
        return self._stuck.event

    # -- appending --------------------------------------------------------------------------------

    def entries_for(
        self, rows: Sequence[StoredRow], prev_hash: bytes, digests: dict[int, bytes] | None = None
    ) -> list[Entry]:
        """The entries that chain these stored events onto `prev_hash` (`digests`: those already
        computed, by position)."""
        digests = digests or {}
        entries = []
        mapper = self.mapper
        for position, topic, originator_hex, version, state in rows:
            try:
                event_id = f"{UUID(originator_hex)}/{version}"
                event = orjson.loads(plain(mapper, state))
                actor = event["actor"]
                actor_id, role, at = actor["id"], actor["role"], event["timestamp"]
                if type(actor_id) is not str or type(role) is not str or type(at) is not str:
                    raise TypeError("its actor id, role and timestamp are not all text")
            except Exception as error:  # the bytes' fault: nothing but them is read here
                raise UndecodableEvent(
                    topic, _event_name(originator_hex, version), reason_of(error), position
                ) from error
            event_digest = digests.get(position) or chain.digest(
                topic, originator_hex, version, state
            )
            own = chain.entry_hash(
                prev_hash, position, event_id, topic, actor_id, role, at, event_digest
            )
            entries.append(
                Entry(position, event_id, topic, actor_id, role, at, event_digest, prev_hash, own)
            )
            prev_hash = own
        return entries

    @property
    def key_id(self) -> str:
        return self.signer.key_id

    def sign(self, position: int, head_hash: bytes, signer: Signer | None = None) -> Checkpoint:
        signer = signer or self.signer
        at = self.clock().isoformat()
        message = chain.signed_message(position, head_hash, at, signer.key_id)
        return Checkpoint(position, head_hash, at, signer.key_id, signer.sign(message))

    def _due(
        self, entries: list[Entry], last: Checkpoint | None, rotations: dict[int, str]
    ) -> tuple[list[Checkpoint], Signer]:
        """Checkpoints this batch calls for, and the key in use after it: one each time N
        positions have passed since the last, one at each key rotation (under the key in use
        until then, which so vouches for the next), and one at the batch's end if the last is
        older than the interval."""
        signed = []
        since = last.position if last else 0
        signer = self.signer
        for entry in entries:
            if entry.position - since >= self.checkpoint_every or entry.position in rotations:
                signed.append(self.sign(entry.position, entry.hash, signer))
                since = entry.position
            if entry.position in rotations:
                signer = self._named(rotations[entry.position])
        if entries and since != entries[-1].position and self._interval_passed(last, signed):
            signed.append(self.sign(entries[-1].position, entries[-1].hash, signer))
        return signed, signer

    # -- which key signs --------------------------------------------------------------------------

    def _named(self, key_id: str) -> Signer:
        """The key a rotation in the record names: this process must hold it (no other key may
        sign in its place)."""
        if key_id == self.signer.key_id:
            return self.signer
        found = self.keyring.find(key_id) if self.keyring is not None else None
        if found is None:
            raise SignerUnavailable(
                f"the record rotated the audit signing key to {key_id}, which this process's"
                ' keyring does not hold (docs/audit.md, "The signing key")'
            )
        return found

    def _settle(self, last: Checkpoint | None) -> None:
        """Settle which key signs next, from the last checkpoint (each process's follower, and
        after a restart): its own key, or the one a rotation at its position names."""
        if last is None or last.position == self._settled_at:
            return
        rotations = self._rotations(self.store.stored_at([last.position]))
        if rotations:
            self.signer = self._named(rotations[last.position])
        elif last.key_id != self.signer.key_id:
            found = self.keyring.find(last.key_id) if self.keyring is not None else None
            if found is None:  # the configured key changed outside the record: say so
                log.warning(
                    "the last checkpoint was signed by key %s, which is not configured: signing"
                    " with key %s, which the record never introduced (verify will refuse it)",
                    last.key_id,
                    self.signer.key_id,
                )
            self.signer = found or self.signer
        self._settled_at = last.position

    def _rotations(self, rows: Sequence[StoredRow]) -> dict[int, str]:
        """The key rotations among stored events: position -> the key id it names."""
        return {
            row[0]: str(orjson.loads(plain(self.mapper, row[4]))["key_id"])
            for row in rows
            if row[1] == ROTATED
        }

    def _interval_passed(self, last: Checkpoint | None, signed: list[Checkpoint]) -> bool:
        if signed:
            return False  # one was just made
        if last is None:
            return True
        return self.clock() - datetime.fromisoformat(last.at) >= self.checkpoint_interval

    def append_once(self) -> int:
        """Append the next batch of stored events; how many were appended. At an event it cannot
        read, the events before it are appended and `stuck` names it."""
        position, head_hash = self.store.head()
        self._not_truncated(position)
        # Stopped at an event: read just that one again, not a whole batch each poll.
        rows = self.store.stored(position, 1 if self._stuck.event is not None else self.batch_size)
        last = self.store.last_checkpoint()
        self._settle(last)
        self._verified_seal, self._digests = None, {}
        rows, unsealed = self._sealed(position, rows)
        try:
            undecodable: UndecodableEvent | None = unsealed
            entries = self.entries_for(rows, head_hash, self._digests)
        except UndecodableEvent as error:
            undecodable = error
            before = [row for row in rows if error.position is None or row[0] < error.position]
            entries = self.entries_for(before, head_hash, self._digests)
        self._stuck.report(undecodable)
        if not entries:
            due = self._idle_checkpoint(position, head_hash, last)
            if due is not None and self.store.append(position, (), [due]):
                self.publish_pending()
            return 0
        chained = {entry.position for entry in entries}
        rotations = {p: k for p, k in self._rotations(rows).items() if p in chained}
        signed, signer = self._due(entries, last, rotations)
        if not self.store.append(position, entries, signed):
            return 0  # another follower appended first; read again
        self._reached = max(self._reached, entries[-1].position)
        if self._verified_seal is not None:
            self._last_seal = self._verified_seal
        if signed:
            self.signer, self._settled_at = signer, signed[-1].position
        self.publish_pending()
        return len(entries)

    # -- what the writer sealed, and what the store still holds --------------------------------

    def _sealed(
        self, position: int, rows: list[StoredRow]
    ) -> tuple[list[StoredRow], UnsealedEvent | None]:
        """The rows after the ledger's head `position` that seals vouch for (whole seals: the
        batch grows to the end of the last seal it reaches), and the first row no valid seal
        covers, if any: the rows before it, only, are chained."""
        key = self.seal
        lo = max(position, key.sealed_from if key is not None else 0) + 1
        if key is None or not rows or rows[-1][0] < lo:
            return rows, None
        hi = rows[-1][0]
        seals = self.store.seals_covering(lo, hi)
        if seals and seals[-1].last_position > hi:
            last = seals[-1].last_position
            rows = rows + self.store.stored(hi, last - hi, until=last)
        start = min(seals[0].first_position, lo) if seals else lo
        earlier = self.store.stored(start - 1, lo - start, until=lo - 1) if start < lo else []
        before = self.store.seal_before(seals[0].first_position) if seals else None
        prev = before.mac if before is not None else NO_SEAL
        known = self._last_seal
        if seals and known is not None and known.last_position == position:
            # The ledger ends where this follower left it (no other follower appended since):
            # go on from the seal it verified last, not from whatever the table now holds
            # before the next one, so seals deleted behind it do not go unnoticed.
            prev = known.mac
        events = digested(earlier + [row for row in rows if row[0] >= lo])
        self._digests = dict(events)  # the entries hash the same digests: computed once
        bad = check(key, prev, seals, events, after=position)
        if bad is None:
            self._verified_seal = seals[-1] if seals else None
            return rows, None
        good = [seal for seal in seals if seal.last_position < bad.position]
        self._verified_seal = good[-1] if good else None
        at = [row for row in rows if row[0] == bad.position]
        topic, name = (at[0][1], _event_name(at[0][2], at[0][3])) if at else ("-", "(no event)")
        return [row for row in rows if row[0] < bad.position], UnsealedEvent(
            topic, name, bad.reason, bad.position
        )

    def _not_truncated(self, position: int) -> None:
        """StoreTruncated if the ledger, the store or (past `sealed_from`) its seals end below the
        last position this follower chained: a shorter history is never chained on from."""
        reached = self._reached = max(self._reached, position)
        if reached == 0:
            return
        store_head, sealed_head = self.store.heads()
        ends = {"ledger": position, "store": store_head}
        if self.seal is not None and reached > self.seal.sealed_from:
            ends["seal chain"] = sealed_head
        for what, end in ends.items():
            if end < reached:
                raise StoreTruncated(
                    f"the {what} was truncated below position {reached}: it now ends at {end}"
                )
        known = self._last_seal
        if known is not None and self.store.seal_before(known.first_position + 1) != known:
            raise StoreTruncated(
                f"the seal chain was truncated below position {reached}: the seal of positions"
                f" {known.first_position} to {known.last_position}, which the ledger verified,"
                " is gone or changed"
            )

    def _idle_checkpoint(
        self, position: int, head_hash: bytes, last: Checkpoint | None
    ) -> Checkpoint | None:
        """With nothing new to append, a head not yet signed is signed once the interval has
        passed since the last checkpoint, so a quiet ledger's tail does not stay unsigned."""
        if position == 0 or (last is not None and last.position >= position):
            return None
        if not self._interval_passed(last, []):
            return None
        return self.sign(position, head_hash)

    def checkpoint_now(self) -> Checkpoint | None:
        """Catch up and sign the head now, unless it is signed already (`itsm audit checkpoint`)."""
        self.catch_up()
        position, head_hash = self.store.head()
        last = self.store.last_checkpoint()
        self._settle(last)
        if position == 0 or (last is not None and last.position >= position):
            return last
        checkpoint = self.sign(position, head_hash)
        if not self.store.append(position, (), [checkpoint]):
            return self.checkpoint_now()
        self.publish_pending()
        return checkpoint

    def catch_up(self, progress: ProgressCallback | None = None) -> int:
        """Append until the ledger reaches the head of the store; the number appended.
        UndecodableEvent if an event on the way cannot be read: the events before it are in."""
        total = 0
        while True:
            count = self.append_once()
            total += count
            if progress:
                progress(self.store.head()[0], self.store.store_head())
            if self._stuck.event is not None:
                raise self._stuck.event
            if count == 0 and self.store.head()[0] >= self.store.store_head():
                return total

    def publish_pending(self) -> None:
        """Send every stored checkpoint not yet published, oldest first (at least once)."""
        if self.publisher is None:
            return
        for checkpoint in self.store.checkpoints(after=self.store.published()):
            self.publisher(checkpoint)
            self.store.record_published(checkpoint.position)

    # -- following the store in the background ----------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Follow until `stop` is set (`itsm audit follow`)."""
        self._follower.run(stop)

    def _follow_step(self) -> bool:
        count = self.append_once()
        self._report(self.store.head()[0], count)
        return count >= self.batch_size  # a full batch: more may be waiting


def _event_name(originator_hex: str, version: int) -> str:
    """An event's name as the entries give it, or as stored if its originator is no UUID."""
    try:
        return f"{UUID(originator_hex)}/{version}"
    except ValueError:
        return f"{originator_hex}/{version}"
