"""What an auditor reads and takes away: the history as NDJSON, samples, and evidence packs.

Everything here reads the event store in pages, so a year of history never sits in memory.

An evidence pack is a zip:

- `events.ndjson`: the period's events, one per line, each exactly as stored (its `state` is
  the stored JSON, byte for byte, as the line's last member; `state_base64` when the store
  compresses or encrypts), so its digest can be recomputed offline;
- `ledger.ndjson`: the ledger entries from the period's first event up to the first signed
  checkpoint at or after its last one, so the chain can be followed to a signature;
- `checkpoints.ndjson`: every signed checkpoint; `public-key.pem`: the key that signed them;
- `reports/…`: reports for the period (`incidents.json`: the incidents logged in it;
  `notifications.json`: who was told what, and whether it reached them; each as it stood at the
  period's end, audit/reports.py);
- `views.json`: whether the served views matched the record at export (audit/views.py): each
  view's position, row count, a digest of its rows, and where it first differed from its rebuild;
- `attachments/<sha256>`, by option (`itsm audit export --with-attachments`): the bytes of every
  file the period's events put on a record and did not remove, each named by its SHA-256 (the
  hash its event names, so the chain covers it); without the option the events still name every
  file by its hash. Bytes the store no longer holds (removed under another record) are left out;
- `manifest.json`: the SHA-256 of every file, and `manifest.sig`: its Ed25519 signature.

`verify_pack` checks all of that with no server and no database. A pack is closed: a file not in
the manifest, a file of the manifest missing, a name twice or a name that leads out of the pack
fails it, as does a pack signed with a key the auditor does not hold, or whose ledger contradicts
a checkpoint the auditor holds.
"""

from __future__ import annotations

import base64
import hashlib
import random
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eventsourcing.persistence import Mapper

from audit import chain
from audit.chain import Checkpoint, Entry
from audit.keys import ROTATED, key_id, load_public, public_pem, verifies
from audit.signers import Signer
from audit.store import AuditStore, StoredRow
from audit.verify import introduced_by, trusted_checkpoints
from audit.views import ViewsReport
from domain import visibility
from domain.actors import Role
from domain.events import event_class
from infra import cloudevents
from infra.serialisation import plain
from projections.attachments import ADDED_TYPES, REMOVED_TYPES

PAGE = 2_000
PACK_FORMAT = "itsm-evidence-pack/1"


@dataclass(frozen=True)
class EventFilter:
    """Which events: a period [since, until) of event time, one aggregate, types, one actor."""

    since: datetime | None = None
    until: datetime | None = None
    aggregate: UUID | None = None
    types: frozenset[str] = frozenset()
    actor: str | None = None

    def wants_row(self, topic: str, originator_hex: str) -> bool:
        """What can be decided without decoding the event."""
        if self.types and topic not in self.types:
            return False
        return self.aggregate is None or originator_hex == self.aggregate.hex

    def wants_event(self, event: dict[str, Any]) -> bool:
        if self.actor is not None and event["actor"]["id"] != self.actor:
            return False
        if self.since is None and self.until is None:
            return True
        at = datetime.fromisoformat(event["timestamp"])
        if self.since is not None and at < self.since:
            return False
        return self.until is None or at < self.until


def matching(
    store: AuditStore,
    mapper: Mapper[UUID],
    wanted: EventFilter,
    *,
    page: int = PAGE,
    through: int | None = None,
) -> Iterator[tuple[StoredRow, bytes, dict[str, Any]]]:
    """(stored row, its plain JSON, the decoded JSON) for every event the filter wants, in
    global order (up to the position `through`, if given), read one page at a time."""
    after = 0
    while True:
        rows = store.stored(after, page, through)
        if not rows:
            return
        for row in rows:
            if not wanted.wants_row(row[1], row[2]):
                continue
            state = plain(mapper, row[4])
            event = orjson.loads(state)
            if wanted.wants_event(event):
                yield row, state, event
        after = rows[-1][0]


def event_lines(
    store: AuditStore,
    mapper: Mapper[UUID],
    wanted: EventFilter,
    *,
    source: str,
    reader: Role = Role.SYSTEM,
) -> Iterator[bytes]:
    """The history as NDJSON: one CloudEvent per line, as the relay publishes them to Kafka;
    as a reader of role `reader` reads it (domain/visibility.py: an admin, say, reads a token's
    record but not its secret's digest)."""
    for row, stored, event in matching(store, mapper, wanted):
        state = stored
        try:
            hidden = visibility.hidden_from(reader, event_class(row[1]))
        except LookupError:  # a type this code does not know: as stored, as before
            hidden = frozenset()
        if hidden is None:
            continue
        if hidden:
            state = orjson.dumps({**event, **dict.fromkeys(hidden)})
        yield cloudevents.envelope(row[0], row[1], state, source=source) + b"\n"


# -- sampling -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """What to draw: `count` records of a type (`Incident`), at random with `seed`, from those
    created in the period, or (`closed`) those closed in it (a `{type}.Closed` event in the
    period: the records an auditor checks were handled to the end)."""

    record_type: str
    count: int
    seed: int
    since: datetime | None = None
    until: datetime | None = None
    closed: bool = False


def sample(store: AuditStore, mapper: Mapper[UUID], wanted: Sample) -> list[dict[str, Any]]:
    """The records `wanted` draws. The population is in global order (of the first event, or
    of the closing event), so the same seed over the same history draws the same records."""
    prefix = f"{wanted.record_type}."
    closing = f"{wanted.record_type}.Closed"
    period = EventFilter(since=wanted.since, until=wanted.until)
    created: dict[str, dict[str, Any]] = {}  # by originator hex: the first event's facts
    population: list[dict[str, Any]] = []
    seen: set[str] = set()
    after = 0
    while rows := store.stored(after, PAGE):
        for position, topic, originator_hex, version, state in rows:
            first = version == 1 and topic.startswith(prefix)
            if not first and not (wanted.closed and topic == closing):
                continue
            event = orjson.loads(plain(mapper, state))
            if first:
                record = {
                    "id": str(UUID(originator_hex)),
                    "position": position,
                    "created_at": event["timestamp"],
                    "created_by": event["actor"],
                    "closed_at": None,
                }
                created[originator_hex] = record
                if not wanted.closed and period.wants_event(event):
                    population.append(record)
            elif originator_hex in created and originator_hex not in seen:
                if not period.wants_event(event):
                    continue
                seen.add(originator_hex)  # closed, reopened and closed again: drawn once
                population.append({**created[originator_hex], "closed_at": event["timestamp"]})
        after = rows[-1][0]
    rng = random.Random(wanted.seed)
    chosen = rng.sample(range(len(population)), min(wanted.count, len(population)))
    return [population[i] for i in sorted(chosen)]


# -- evidence packs -------------------------------------------------------------------------------


def _pack_line(row: StoredRow, encoded: bool) -> bytes:
    position, topic, originator_hex, version, state = row
    head = orjson.dumps(
        {
            "position": position,
            "topic": topic,
            "originator_id": originator_hex,
            "originator_version": version,
        }
    )[:-1]
    if encoded:
        return head + b',"state_base64":' + orjson.dumps(base64.b64encode(state).decode()) + b"}"
    return head + b',"state":' + state + b"}"


def _stored_from_line(line: bytes) -> tuple[StoredRow, dict[str, Any]]:
    """A pack line back into the stored row it was made from, with its exact state bytes."""
    data = orjson.loads(line)
    if "state_base64" in data:
        state = base64.b64decode(data["state_base64"])
    else:
        head = orjson.dumps(
            {k: data[k] for k in ("position", "topic", "originator_id", "originator_version")}
        )[:-1]
        marker = head + b',"state":'
        if not line.startswith(marker) or not line.endswith(b"}"):
            raise ValueError(f"event line at position {data.get('position')} is not as written")
        state = line[len(marker) : -1]
    row = (
        int(data["position"]),
        str(data["topic"]),
        str(data["originator_id"]),
        int(data["originator_version"]),
        state,
    )
    return row, data


@dataclass
class PackSummary:
    path: Path
    events: int
    ledger_entries: int
    checkpoints: int
    signed_through: int
    files: dict[str, str] = field(default_factory=dict)


Reports = Callable[[datetime | None, datetime | None], dict[str, bytes]]
#: The served views compared with their rebuild, as of the export.
Views = Callable[[], ViewsReport]
#: The bytes of an attachment by its SHA-256 (the blob store's `get`), or None if not held.
Blobs = Callable[[str], bytes | None]
#: Where a pack keeps the attachments' bytes, each under its hash.
ATTACHMENTS = "attachments/"
#: The files every pack's manifest lists (with the manifest and its signature, which it cannot).
LISTED = frozenset({"events.ndjson", "ledger.ndjson", "checkpoints.ndjson", "public-key.pem"})
#: The key rotations' ledger entries and events, in packs of a record whose key rotated.
ROTATIONS_LEDGER = "rotations/ledger.ndjson"
ROTATIONS_EVENTS = "rotations/events.ndjson"
#: The events of the records the pack holds whole (a sample's) that fall outside its period.
RECORDS = "records.ndjson"
UNLISTED = frozenset({"manifest.json", "manifest.sig"})


def export_pack(
    target: Path | IO[bytes],
    store: AuditStore,
    mapper: Mapper[UUID],
    key: Signer,
    since: datetime | None,
    until: datetime | None,
    created_at: datetime,
    reports: Reports | None = None,
    progress: Callable[[int], None] | None = None,
    views: Views | None = None,
    attachments: Blobs | None = None,
    records: Sequence[UUID] = (),
    through: int | None = None,
) -> PackSummary:
    """Write an evidence pack for the period [since, until) to `target`; with `attachments`,
    the bytes of the files its events put on records too; with `records` (a sample's), the
    whole history of each, its events outside the period in records.ndjson, and the ledger
    extract widened to prove them all. `through`: the last position it holds (the ledger's
    head, so that every event in it is chained); by default whatever the store holds."""
    encoded = bool(mapper.cipher or mapper.compressor)
    digests: dict[str, str] = {}
    first = last = 0
    count = 0
    whole = {r.hex for r in records}
    in_period: set[int] = set()  # positions of the whole records' events the period holds
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as pack:
        events_hash = hashlib.sha256()
        files: dict[str, None] = {}  # the hashes the period's events name, in order
        with pack.open("events.ndjson", "w", force_zip64=True) as out:
            period = EventFilter(since=since, until=until)
            for row, _, event in matching(store, mapper, period, through=through):
                if attachments is not None:
                    _named_file(files, row[1], event)
                if row[2] in whole:
                    in_period.add(row[0])
                line = _pack_line(row, encoded) + b"\n"
                out.write(line)
                events_hash.update(line)
                first = first or row[0]
                last = row[0]
                count += 1
                if progress is not None and count % PAGE == 0:
                    progress(count)
        digests["events.ndjson"] = events_hash.hexdigest()
        if attachments is not None:
            digests.update(_write_files(pack, files, attachments))
        outside = [
            row
            for row in store.stored_of(records)
            if row[0] not in in_period and (through is None or row[0] <= through)
        ]
        if records:
            body = b"".join(_pack_line(row, encoded) + b"\n" for row in outside)
            pack.writestr(RECORDS, body)
            digests[RECORDS] = hashlib.sha256(body).hexdigest()
        if outside:
            first = min(first or outside[0][0], outside[0][0])
            last = max(last, outside[-1][0])

        checkpoints = store.checkpoints()
        covering = [c.position for c in checkpoints if c.position >= last]
        until_position = min(covering) if covering else store.head()[0]
        entries = _write_ledger(pack, store, first, until_position, digests)

        small: dict[str, bytes] = {
            "checkpoints.ndjson": b"".join(orjson.dumps(c.as_json()) + b"\n" for c in checkpoints),
            "public-key.pem": public_pem(key.public_key()),
            **_rotations(store, checkpoints, encoded),
        }
        for name, body in (reports(since, until) if reports else {}).items():
            small[f"reports/{name}"] = body
        if views is not None:
            small["views.json"] = orjson.dumps(
                {"checked_at": created_at.isoformat(), **views().as_json()},
                option=orjson.OPT_INDENT_2,
            )
        for name, body in small.items():
            pack.writestr(name, body)
            digests[name] = hashlib.sha256(body).hexdigest()

        manifest = orjson.dumps(
            {
                "format": PACK_FORMAT,
                "created_at": created_at.isoformat(),
                "period": {
                    "from": since.isoformat() if since else None,
                    "to": until.isoformat() if until else None,
                },
                "events": count,
                "records": sorted(str(r) for r in records),
                "record_events": len(outside),
                "positions": {"first": first, "last": last},
                "ledger_entries": entries,
                "key_id": key_id(key.public_key()),
                "files": digests,
            },
            option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS,
        )
        pack.writestr("manifest.json", manifest)
        pack.writestr("manifest.sig", key.sign(manifest).hex())
    path = target if isinstance(target, Path) else Path("-")
    signed = [c.position for c in checkpoints]
    return PackSummary(path, count, entries, len(checkpoints), max(signed, default=0), digests)


def _write_ledger(
    pack: zipfile.ZipFile, store: AuditStore, first: int, until: int, digests: dict[str, str]
) -> int:
    """The ledger extract from position `first` (none when 0) up to `until`, as ledger.ndjson;
    how many entries it holds."""
    entries = 0
    ledger_hash = hashlib.sha256()
    with pack.open("ledger.ndjson", "w", force_zip64=True) as out:
        after = first - 1
        while first and (page := store.entries(after, PAGE, until)):
            for entry in page:
                line = orjson.dumps(entry.as_json()) + b"\n"
                out.write(line)
                ledger_hash.update(line)
            entries += len(page)
            after = page[-1].position
    digests["ledger.ndjson"] = ledger_hash.hexdigest()
    return entries


def _write_files(pack: zipfile.ZipFile, files: Iterable[str], blobs: Blobs) -> dict[str, str]:
    """Put the bytes of each file the store still holds in the pack, under its hash; the
    digests of those written."""
    written = {}
    for sha256 in files:
        data = blobs(sha256)
        if data is not None and hashlib.sha256(data).hexdigest() == sha256:
            pack.writestr(ATTACHMENTS + sha256, data)
            written[ATTACHMENTS + sha256] = sha256
    return written


def _named_file(files: dict[str, None], type_name: str, event: dict[str, Any]) -> None:
    """Note the file an event puts on a record; forget one it removes (its bytes are gone)."""
    if type_name in ADDED_TYPES:
        files[event["sha256"]] = None
    elif type_name in REMOVED_TYPES:
        files.pop(event["sha256"], None)


def _rotations(store: AuditStore, checkpoints: list[Checkpoint], encoded: bool) -> dict[str, bytes]:
    """The key rotations the checkpoints cover (each is checkpointed at its own position), as
    ledger entries and stored events in the pack's formats: with them an auditor who holds only
    the first public key trusts each next key offline, as `itsm audit verify` does on the store.
    No files when the key never rotated."""
    entries: list[bytes] = []
    events: list[bytes] = []
    for checkpoint in checkpoints:
        found = store.entries(checkpoint.position - 1, 1)
        if not found or found[0].position != checkpoint.position or found[0].type != ROTATED:
            continue
        rows = store.stored_at([checkpoint.position])
        entries.append(orjson.dumps(found[0].as_json()) + b"\n")
        events.extend(_pack_line(row, encoded) + b"\n" for row in rows)
    if not entries:
        return {}
    return {ROTATIONS_LEDGER: b"".join(entries), ROTATIONS_EVENTS: b"".join(events)}


class PackProblem(Exception):
    """The first thing wrong with a pack, in words."""


@dataclass
class PackReport:
    ok: bool
    problems: list[str]
    notes: list[str]
    events: int = 0
    ledger_entries: int = 0
    key_id: str = ""
    #: Whether the pack was checked against keys the auditor holds, not only the one it carries.
    auditor_key: bool = False
    #: How many checkpoints the auditor holds the pack's ledger reaches (each agreed).
    held_checkpoints_reached: int = 0
    #: How many records the pack holds whole (each event of theirs in the ledger extract).
    records: int = 0
    #: Whether the served views matched their rebuild at export (None: the pack does not say).
    views_matched: bool | None = None

    def as_json(self) -> dict[str, object]:
        return asdict(self)  # its fields, as they are named


def verify_pack(
    source: Path | IO[bytes],
    trusted: Sequence[Ed25519PublicKey] = (),
    held: Iterable[Checkpoint] = (),
) -> PackReport:
    """Check an evidence pack offline: that it is closed (every file listed, every listed file
    there), the manifest's signature and file hashes, the checkpoints' signatures, the ledger
    extract's chain up to a signed checkpoint, every event's digest and fields against its ledger
    entry, and the ledger against every checkpoint the auditor holds that it reaches (`held`:
    from their checkpoint files, or any log of signed checkpoints they keep, such as a
    witness's). Stops at the first problem."""
    report = PackReport(True, [], [])
    try:
        with zipfile.ZipFile(source) as pack:
            names = _member_names(pack)
            if missing := (UNLISTED | {"public-key.pem", "checkpoints.ndjson"}) - names:
                raise PackProblem(f"missing from the pack: {', '.join(sorted(missing))}")
            public = load_public(pack.read("public-key.pem"))
            report.key_id = key_id(public)
            report.auditor_key = bool(trusted)
            keys = {key_id(k): k for k in trusted} or {report.key_id: public}
            # The checkpoints first, following the record's key rotations from the keys
            # trusted, so that the key the manifest is signed with may be one the record
            # rotated to since; the manifest then vouches for every file, these included.
            rotations = _Rotations(pack, names, keys)
            signed, bad = trusted_checkpoints(_checkpoints(pack), keys, rotations.introduced)
            if report.key_id in rotations.retired:
                raise PackProblem(
                    f"the pack is signed with key {report.key_id}, which the record rotated out"
                )
            if report.key_id not in rotations.keys:
                raise PackProblem(
                    f"the pack's key {report.key_id} is not one of the trusted keys, nor one the"
                    " record's key rotations lead to from them"
                )
            if bad is not None:
                raise PackProblem(f"position {bad.position}: {bad.reason}")
            manifest = _check_manifest(pack, names, rotations.keys[report.key_id], report)
            ledger = _check_ledger(pack, signed, report)
            report.held_checkpoints_reached = _check_held(held, keys, rotations, signed, ledger)
            held_events = _check_events(pack, ledger, "events.ndjson")
            report.events = len(held_events)
            if report.events != manifest["events"]:
                raise PackProblem("the number of events differs from the manifest's")
            report.records = _check_whole_records(pack, manifest, ledger, held_events)
            _read_views(pack, manifest, report)
    except (zipfile.BadZipFile, OSError) as error:
        report.ok = False
        report.problems.append(f"not a readable zip: {error}")
    except PackProblem as problem:
        report.ok = False
        report.problems.append(str(problem))
    except (ValueError, KeyError, TypeError) as error:  # a line that is not what it should be
        report.ok = False
        report.problems.append(f"a file of the pack cannot be read as written: {error!r}")
    return report


def _checkpoints(pack: zipfile.ZipFile) -> list[Checkpoint]:
    return [
        Checkpoint.from_json(orjson.loads(line))
        for line in pack.read("checkpoints.ndjson").splitlines()
        if line
    ]


class _Rotations:
    """The pack's key rotations (rotations/*.ndjson), for `trusted_checkpoints` to follow: each
    introduces its key only where a checkpoint under a key already trusted signs its ledger
    entry, and that entry records that very event (audit.verify.introduced_by). `keys`: the
    keys trusted so far, less those the record rotated out, which may not sign a pack."""

    def __init__(
        self, pack: zipfile.ZipFile, names: set[str], trusted: dict[str, Ed25519PublicKey]
    ) -> None:
        self.keys = dict(trusted)
        self._entries: dict[int, Entry] = {}
        self._events: dict[int, StoredRow] = {}
        if ROTATIONS_LEDGER in names:
            for line in pack.read(ROTATIONS_LEDGER).splitlines():
                entry = Entry.from_json(orjson.loads(line))
                self._entries[entry.position] = entry
        if ROTATIONS_EVENTS in names:
            for line in pack.read(ROTATIONS_EVENTS).splitlines():
                row, _ = _stored_from_line(line)
                self._events[row[0]] = row
        self.retired: set[str] = set()

    def introduced(self, checkpoint: Checkpoint) -> tuple[str, Ed25519PublicKey] | None:
        entry = self._entries.get(checkpoint.position)
        if entry is None:
            return None
        found = introduced_by(checkpoint, entry, self._events.get(checkpoint.position))
        if found is not None:
            new_id, new_key = found
            self.keys[new_id] = new_key
            if new_id != checkpoint.key_id:
                self.keys.pop(checkpoint.key_id, None)
                self.retired.add(checkpoint.key_id)
            self.retired.discard(new_id)
        return found


def _check_manifest(
    pack: zipfile.ZipFile, names: set[str], public: Ed25519PublicKey, report: PackReport
) -> dict[str, Any]:
    """The manifest, once its signature holds under the pack's key (trusted already), it lists
    every file in the pack (and the pack holds every file it lists), and every file's hash
    holds."""
    manifest_bytes = pack.read("manifest.json")
    if not report.auditor_key:
        report.notes.append(
            f"checked only against the key the pack carries ({report.key_id}), which whoever"
            " made the pack chose: pass --public-key with the key you hold for a check that"
            " means anything"
        )
    signature = bytes.fromhex(pack.read("manifest.sig").decode().strip())
    if not verifies(public, signature, manifest_bytes):
        raise PackProblem("manifest.sig does not verify: the manifest was altered")
    manifest: dict[str, Any] = orjson.loads(manifest_bytes)
    listed = set(manifest["files"])
    if unlisted := names - listed - UNLISTED:
        raise PackProblem(
            f"{', '.join(sorted(unlisted))}: in the pack but not listed in its manifest"
        )
    if unnamed := LISTED - listed:
        raise PackProblem(f"the manifest does not list {', '.join(sorted(unnamed))}")
    for name, expected in manifest["files"].items():
        if name not in names:
            raise PackProblem(f"{name} is listed in the manifest but missing")
        digest = hashlib.sha256()
        with pack.open(name) as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != expected:
            raise PackProblem(f"{name} does not match its hash in the manifest")
        if name.startswith(ATTACHMENTS) and name != ATTACHMENTS + expected:
            raise PackProblem(f"{name} is not named by the hash of its bytes")
    return manifest


def _member_names(pack: zipfile.ZipFile) -> set[str]:
    """The pack's file names, once none is there twice (a reader would see only one of them)
    and each is a plain relative path that stays inside the pack when unpacked."""
    names: set[str] = set()
    for name in pack.namelist():
        if name in names:
            raise PackProblem(f"{name} is in the pack twice")
        parts = name.split("/")
        if name.startswith("/") or "\\" in name or ":" in name or {"", ".", ".."} & set(parts):
            raise PackProblem(f"{name!r} is not a plain file name inside the pack")
        names.add(name)
    return names


def _check_held(
    held: Iterable[Checkpoint],
    keys: dict[str, Ed25519PublicKey],
    rotations: _Rotations,
    signed: dict[int, Checkpoint],
    ledger: dict[int, Entry],
) -> int:
    """How many of the checkpoints the auditor holds the pack reaches, once each verifies with
    the keys trusted and the pack's ledger and checkpoints agree with it. One beyond the pack
    (taken later) is fine; one the pack contradicts means its history was rewritten."""
    yours, bad = trusted_checkpoints(held, keys, rotations.introduced)
    if bad is not None:
        raise PackProblem(f"a checkpoint you hold, at position {bad.position}: {bad.reason}")
    reached = 0
    for position, checkpoint in sorted(yours.items()):
        entry, theirs = ledger.get(position), signed.get(position)
        if theirs is not None and theirs.hash != checkpoint.hash:
            raise PackProblem(
                f"position {position}: the pack's signed checkpoint differs from the one you hold"
            )
        if entry is not None and entry.hash != checkpoint.hash:
            raise PackProblem(
                f"position {position}: the pack's ledger differs from the checkpoint you hold"
                " there: the history was rewritten after you took it"
            )
        reached += entry is not None or theirs is not None
    return reached


def _read_views(pack: zipfile.ZipFile, manifest: dict[str, Any], report: PackReport) -> None:
    """What the pack says of the served views at export (views.json, already hash-checked)."""
    if "views.json" not in manifest["files"]:
        report.notes.append("the pack does not say whether the served views matched the record")
        return
    views = orjson.loads(pack.read("views.json"))
    report.views_matched = bool(views["ok"])
    if not report.views_matched:
        report.notes.append(
            "at export the served views did not match their rebuild from the events:"
            f" {', '.join(views['not_matched'])} (views.json names the first differing row)"
        )


def _check_ledger(
    pack: zipfile.ZipFile, signed: dict[int, Checkpoint], report: PackReport
) -> dict[int, Entry]:
    """The ledger extract by position, once its chain holds and meets the signed hashes."""
    ledger: dict[int, Entry] = {}
    prev: Entry | None = None
    anchored = 0  # the last position a signed checkpoint vouches for
    with pack.open("ledger.ndjson") as file:
        for raw in file:
            entry = Entry.from_json(orjson.loads(raw))
            if prev is not None and entry.prev_hash != prev.hash:
                raise PackProblem(f"position {entry.position}: the ledger extract's chain breaks")
            if chain.recomputed(entry) != entry.hash:
                raise PackProblem(f"position {entry.position}: ledger entry altered")
            checkpoint = signed.get(entry.position)
            if checkpoint is not None:
                if checkpoint.hash != entry.hash:
                    raise PackProblem(
                        f"position {entry.position}: the chain does not reach the signed hash"
                    )
                anchored = entry.position
            ledger[entry.position] = entry
            prev = entry
    report.ledger_entries = len(ledger)
    if prev is not None and prev.position > anchored:
        report.notes.append(
            f"ledger positions after {anchored} reach no signed checkpoint yet: export again"
            " after the next checkpoint (`itsm audit checkpoint`) for a signature over them"
        )
    return ledger


def _check_whole_records(
    pack: zipfile.ZipFile, manifest: dict[str, Any], ledger: dict[int, Entry], held: set[int]
) -> int:
    """How many records the pack holds whole, once records.ndjson's events match their ledger
    entries and every ledger entry of those records in the extract has its event in the pack:
    no event of theirs was left out, up to the extract's signed end."""
    records = set(manifest.get("records", ()))
    if not records:
        return 0
    if RECORDS not in manifest["files"]:
        raise PackProblem(f"the manifest names records held whole but does not list {RECORDS}")
    held = held | _check_events(pack, ledger, RECORDS)
    versions: dict[str, list[int]] = {record: [] for record in records}
    for position, entry in ledger.items():
        record, version = entry.event_id.split("/")
        if record not in records:
            continue
        if position not in held:
            raise PackProblem(
                f"position {position}: an event of {record}, a record the pack holds whole,"
                " is missing"
            )
        versions[record].append(int(version))
    for record, held_versions in versions.items():
        missing = sorted(set(range(1, max(held_versions, default=1) + 1)) - set(held_versions))
        if missing:
            raise PackProblem(
                f"{record}, a record the pack holds whole, is missing events: versions"
                f" {', '.join(map(str, missing[:5]))}{'...' if len(missing) > 5 else ''}"
            )
    return len(records)


def _check_events(pack: zipfile.ZipFile, ledger: dict[int, Entry], name: str) -> set[int]:
    """The positions of the events a file of the pack holds, once each matches its ledger
    entry."""
    positions: set[int] = set()
    with pack.open(name) as file:
        for raw in file:
            row, data = _stored_from_line(raw.rstrip(b"\n"))
            position = row[0]
            entry = ledger.get(position)
            if entry is None:
                raise PackProblem(f"position {position}: an event with no ledger entry")
            if chain.digest(row[1], row[2], row[3], row[4]) != entry.digest:
                raise PackProblem(f"position {position}: the event differs from its ledger entry")
            if "state" in data:
                event = data["state"]
                same = (
                    entry.event_id == f"{UUID(row[2])}/{row[3]}"
                    and entry.type == row[1]
                    and entry.actor_id == event["actor"]["id"]
                    and entry.actor_role == event["actor"]["role"]
                    and entry.at == event["timestamp"]
                )
                if not same:
                    raise PackProblem(f"position {position}: the ledger entry's fields differ")
            positions.add(position)
    return positions
