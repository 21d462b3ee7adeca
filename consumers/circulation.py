"""The circulation pipeline: one path for the Kafka topic and the HTTP batch alike.

    raw bytes -> decode and validate (patron pseudonymised) -> dead letter, or
              -> deduplicate by (source, id) -> health counters -> correlation rules -> commit

A batch is one transaction of the circulation store: the events new to the dedupe set, the
health counters they move and the rules' open cases change together, or not at all. The rules
act through the service desk's own commands (the integration is the actor, the rule is named in
the text, one correlation id per case), each with an idempotency key derived from the case, and
before the batch commits: if anything fails the whole batch is rolled back and, read again, does
the same thing, which the idempotency keys make happen once. So the effect is exactly once
although both entry points deliver at least once. Kafka offsets are committed after that commit.

Most events (loans, returns, heartbeats) only move counters: the apply path is a dictionary
update per event and a few statements per batch.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID, uuid5

import orjson

from consumers.group import DeadLetter as KafkaDeadLetter
from consumers.group import GroupConsumer
from domain.actors import Actor, Role
from domain.circulation import (
    CorrelationRules,
    Inbound,
    InvalidEvent,
    Kind,
    OnRecovery,
    validate,
)
from domain.commands import LogIncident
from domain.context import Context
from domain.errors import DomainError
from domain.incident import Channel
from domain.priority import Impact, Urgency
from infra.circulation_store import (
    CirculationStore,
    epoch,
    from_epoch,
    insert_dead_letters,
)

log = logging.getLogger(__name__)

#: The namespace of the correlation ids of the rules' cases (uuid5 of the case's key).
CASES = UUID("6f1c7f4e-3b0a-4f57-9a55-2f61c6b1e7d2")
STATUS_TYPE = "device.status_changed"


class Pseudonymiser:
    """A keyed hash of member numbers: stable (the same member gives the same reference, so
    affected patrons can be counted) and not reversible without the key. Keyed BLAKE2b (a MAC
    by design, and several times cheaper than HMAC here); recent members are remembered, as a
    member's loans and returns come close together."""

    def __init__(self, key: str) -> None:
        self._key = hashlib.sha256(key.encode()).digest()
        self._cache: dict[str, str] = {}

    def __call__(self, member_number: str) -> str:
        found = self._cache.get(member_number)
        if found is None:
            digest = hashlib.blake2b(member_number.encode(), key=self._key, digest_size=16)
            found = "p:" + digest.hexdigest()
            if len(self._cache) >= 100_000:
                self._cache.clear()
            self._cache[member_number] = found
        return found


def redact(raw: bytes, pseudonymise: Callable[[str], str], *, replayed: bool = False) -> bytes:
    """A dead letter's bytes as kept: the original, except that a member number in `data` is
    replaced by its keyed hash (`patron_ref`), so no raw member number is stored even there.

    A `patron_ref` a sender put there itself may be a member number in the wrong field: it is
    hashed the same way (and refused on replay unless a string). Only in a replayed dead letter
    is it the service's own hash already, kept as it is."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
    data = message.get("data") if isinstance(message, dict) else None
    if not isinstance(data, dict):
        return raw
    if isinstance(data.get("patron"), str):
        data["patron_ref"] = pseudonymise(data.pop("patron"))
    elif "patron_ref" in data and not replayed:
        chosen = data.pop("patron_ref")
        if isinstance(chosen, str):
            data["patron_ref"] = pseudonymise(chosen)
    else:
        return raw
    return orjson.dumps(message)


#: The Kafka header that marks a message on the topic as a replayed dead letter (its seal).
REPLAY_SEAL = "itsm.replay.seal"


class ReplaySeal:
    """A keyed MAC over a replayed dead letter's bytes, set by `itsm dlq replay --kafka` and
    checked by the consumer: only a message bearing it may carry `patron_ref`. Anyone can write
    to the topic, and anyone can set a header; only the holders of the pseudonym key (the
    service's own processes) can make the MAC, and it covers every byte of the message."""

    def __init__(self, key: str) -> None:
        self._key = hashlib.sha256(b"itsm dlq replay seal\0" + key.encode()).digest()

    def __call__(self, value: bytes) -> bytes:
        return hashlib.blake2b(value, key=self._key, digest_size=32).hexdigest().encode()

    def verify(self, value: bytes | None, seal: bytes) -> bool:
        return value is not None and hmac.compare_digest(self(value), seal)


# -- the ports the rules act through ---------------------------------------------------------------


class IncidentPort(Protocol):
    """What the rules do to incidents: the service desk's commands, made idempotent by key."""

    def open(self, ctx: Context, command: LogIncident, key: str) -> str: ...

    def note(self, ctx: Context, incident: str, text: str, key: str) -> bool: ...

    def resolve(self, ctx: Context, incident: str, notes: str, key: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class RequestToRaise:
    """A service request a rule raises: from a catalogue item, for a (pseudonymised) member,
    with the event's details; the idempotency key makes a repeat find the first."""

    catalogue_item: str
    requested_for: str
    details: dict[str, str]
    idempotency_key: str


class ServiceRequestPort(Protocol):
    """Raise a service request from a catalogue item, made idempotent by key (implemented over
    the records write path by processes.circulation.DeskRequests)."""

    def raise_request(self, ctx: Context, request: RequestToRaise) -> str: ...


# -- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeadLetter:
    raw: bytes  # redacted (see `redact`)
    reason: str
    index: int  # its place in the batch


@dataclass
class IngestResult:
    received: int = 0
    accepted: int = 0  # new events applied
    duplicates: int = 0
    dead: list[DeadLetter] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)  # what the rules did, for logs and tests

    @property
    def outcome(self) -> str:
        """What became of a one-message batch (a replayed dead letter)."""
        return "applied" if self.accepted else "duplicate" if self.duplicates else "dead"


# -- the pipeline ----------------------------------------------------------------------------------


@dataclass(eq=False)
class CirculationPipeline:
    store: CirculationStore
    rules: CorrelationRules
    pseudonymise: Callable[[str], str]
    incidents: IncidentPort | None
    clock: Callable[[], datetime]
    _: KW_ONLY
    requests: ServiceRequestPort | None = None
    dead_letters_to_table: bool = True

    def decode(
        self, raws: Sequence[bytes | None], replayed: Container[int] = ()
    ) -> tuple[list[Inbound], list[DeadLetter]]:
        """The valid events and the dead letters of a batch; the messages at the indices in
        `replayed` are dead letters being replayed (they may carry `patron_ref`)."""
        events: list[Inbound] = []
        dead: list[DeadLetter] = []
        pseudonymise = self.pseudonymise
        for i, raw in enumerate(raws):
            if raw is None:
                dead.append(DeadLetter(b"", "empty message (tombstone)", i))
                continue
            again = i in replayed
            try:
                events.append(validate(orjson.loads(raw), pseudonymise, replayed=again))
            except orjson.JSONDecodeError as error:
                dead.append(DeadLetter(raw, f"not JSON: {error}", i))
            except InvalidEvent as invalid:
                kept = redact(raw, pseudonymise, replayed=again)
                dead.append(DeadLetter(kept, invalid.reason, i))
        return events, dead

    def ingest(
        self, raws: Sequence[bytes | None], entry: str, *, replayed: Container[int] = ()
    ) -> IngestResult:
        """Validate, deduplicate and apply a batch in one transaction; dead letters go to the
        table too unless the caller sends them elsewhere (the Kafka consumer: to the DLQ topic).
        `replayed`: the indices of the messages that are dead letters being replayed."""
        result = self._ingest(raws, entry, replayed)
        assert result is not None
        return result

    def replay_dead_letter(self, seq: int, raw: bytes) -> IngestResult | None:
        """Replay the dead letter `seq` of the table (as kept, or corrected): its outcome is
        recorded in the transaction of its effect, so a replay stopped at any point has replayed
        each dead letter once or not at all. None: another replay has done it meanwhile."""
        return self._ingest([raw], "replay", {0}, replay_of=seq)

    def _ingest(
        self,
        raws: Sequence[bytes | None],
        entry: str,
        replayed: Container[int],
        *,
        replay_of: int | None = None,
    ) -> IngestResult | None:
        events, dead = self.decode(raws, replayed)
        result = IngestResult(received=len(raws), dead=dead)
        with self.store.transaction() as db:
            if replay_of is not None and _replayed_already(db, replay_of):
                return None
            fresh = _new(db, events)
            result.accepted = len(fresh)
            result.duplicates = len(events) - len(fresh)
            if fresh:
                now = _apply(db, fresh)
                result.actions = self._correlate(db, fresh, now)
            if dead and self.dead_letters_to_table:
                at = self.clock()
                insert_dead_letters(db, [(at, entry, d.reason, d.raw) for d in dead])
            if replay_of is not None:
                db.execute(
                    "INSERT INTO dead_letter_replays (seq, at, outcome) VALUES (?, ?, ?)",
                    (replay_of, epoch(self.clock()), result.outcome),
                )
        return result

    # -- correlation ------------------------------------------------------------------------------

    def _correlate(self, db: Any, fresh: list[Inbound], now: datetime) -> list[str]:
        actions: list[str] = []
        rules = self.rules
        if rules.device_offline.enabled:
            _track_outages(db, [e for e in fresh if e.type.name.endswith(STATUS_TYPE)])
            if self.incidents is not None:
                actions += self._device_offline(db, now)
        if rules.failure_rate.enabled and self.incidents is not None:
            actions += self._failure_rate(db, fresh, now)
        if rules.member_card.enabled and self.requests is not None:
            actions += self._member_cards(fresh)
        return actions

    def _ctx(self, source: str, case: str) -> Context:
        actor = Actor(id=f"integration:{source}"[:200], role=Role.INTEGRATION)
        return Context(actor=actor, at=self.clock(), correlation_id=uuid5(CASES, case))

    def _device_offline(self, db: Any, now: datetime) -> list[str]:
        rule = self.rules.device_offline
        hours = self.rules.opening_hours
        incidents = self.incidents
        assert incidents is not None
        actions = []
        rows = db.execute(
            "SELECT ci, service, source, event_id, since, status, code, signals, incident,"
            " noted_signals, noted_at, back_since FROM outages"
        ).fetchall()
        for ci, service, source, event_id, since, status, code, signals, incident, noted, (
            noted_at
        ), back_since in rows:
            case = f"{rule.id}/{ci}/{source}/{event_id}"
            ctx = self._ctx(source, case)
            started = from_epoch(since)
            back = from_epoch(back_since)
            assert started is not None
            if incident is None:
                if back is not None:
                    if now - back >= rule.stable_for:  # over before it called for an incident
                        db.execute("DELETE FROM outages WHERE ci = ?", (ci,))
                    continue
                if hours.open_since(now) is None:
                    continue
                if hours.open_time_between(started, now) < rule.threshold:
                    continue
                what = _describe(status, code)
                opened = _open_incident(
                    incidents,
                    ctx,
                    case,
                    rule.assignment_group,
                    title=f"{ci} is {what}"[:200],
                    description=(
                        f"[rule {rule.id}] {service}: {ci} has been {what} since "
                        f"{started.isoformat()} ({signals} signal(s)), longer than "
                        f"{rule.threshold} of opening hours. Opened automatically from the "
                        f"circulation stream of {source}."
                    ),
                    service=service,
                    configuration_item=ci,
                    impact=Impact.LOW,
                )
                db.execute(
                    "UPDATE outages SET incident = ?, noted_signals = signals, noted_at = ?"
                    " WHERE ci = ?",
                    (opened, epoch(now), ci),
                )
                actions.append(f"opened {opened} for {ci} [{rule.id}]")
            elif back is None:
                due = noted_at is None or now - (from_epoch(noted_at) or now) >= rule.note_every
                if signals > noted and due:
                    incidents.note(
                        ctx,
                        incident,
                        f"[rule {rule.id}] {ci} is still {status}: {signals} signal(s) since "
                        f"{started.isoformat()}.",
                        f"{case}/signals/{signals}",
                    )
                    db.execute(
                        "UPDATE outages SET noted_signals = ?, noted_at = ? WHERE ci = ?",
                        (signals, epoch(now), ci),
                    )
                    actions.append(f"noted {signals} signals on {incident} [{rule.id}]")
            elif now - back >= rule.stable_for:
                text = (
                    f"[rule {rule.id}] {ci} is back online since {back.isoformat()} and has been "
                    f"stable for {rule.stable_for}; {signals} signal(s) in this outage."
                )
                actions.append(self._recovered(ctx, incident, text, case, rule.on_recovery))
                db.execute("DELETE FROM outages WHERE ci = ?", (ci,))
        return actions

    def _failure_rate(self, db: Any, fresh: list[Inbound], now: datetime) -> list[str]:
        rule = self.rules.failure_rate
        incidents = self.incidents
        assert incidents is not None
        actions = []
        first = _minute(now - rule.window) + 1
        totals = {
            service: (ok, failed)
            for service, ok, failed in db.execute(
                "SELECT service, SUM(ok), SUM(failed) FROM health_minutes"
                " WHERE ci = '' AND minute >= ? GROUP BY service",
                (first,),
            )
        }
        episodes = {
            row[0]: row[1:]
            for row in db.execute(
                "SELECT service, source, since, incident, noted_at, below_since FROM rate_episodes"
            )
        }
        sources = {e.service: e.source for e in fresh if e.type.kind is Kind.FAILED}
        for service in rule.services:
            ok, failed = totals.get(service, (0, 0))
            volume = ok + failed
            rate = failed / volume if volume else 0.0
            above = volume >= rule.min_volume and rate >= rule.threshold
            episode = episodes.get(service)
            if episode is None:
                if not above or service not in sources:
                    continue
                source = sources[service]
                case = f"{rule.id}/{service}/{source}/{epoch(now):.0f}"
                ctx = self._ctx(source, case)
                patrons = _patrons(db, service, first)
                opened = _open_incident(
                    incidents,
                    ctx,
                    case,
                    rule.assignment_group,
                    title=f"{service}: {rate:.0%} of transactions failing"[:200],
                    description=(
                        f"[rule {rule.id}] {failed} of {volume} {service} transactions failed "
                        f"in the {rule.window} to {now.isoformat()} ({rate:.1%}, threshold "
                        f"{rule.threshold:.0%}); {patrons} patron(s) affected. Opened "
                        f"automatically from the circulation stream of {source}."
                    ),
                    service=service,
                    impact=Impact.MEDIUM,
                )
                db.execute(
                    "INSERT INTO rate_episodes (service, source, since, incident, noted_at,"
                    " below_since) VALUES (?, ?, ?, ?, ?, NULL)",
                    (service, source, epoch(now), opened, epoch(now)),
                )
                actions.append(f"opened {opened} for {service} at {rate:.0%} [{rule.id}]")
                continue
            source, since, incident, noted_at, below_since = episode
            case = f"{rule.id}/{service}/{source}/{since:.0f}"
            ctx = self._ctx(source, case)
            if above:
                if below_since is not None:
                    db.execute(
                        "UPDATE rate_episodes SET below_since = NULL WHERE service = ?", (service,)
                    )
                if now - (from_epoch(noted_at) or now) >= rule.note_every:
                    patrons = _patrons(db, service, first)
                    incidents.note(
                        ctx,
                        incident,
                        f"[rule {rule.id}] still {rate:.1%} failing ({failed} of {volume} in "
                        f"the last {rule.window}); {patrons} patron(s) affected.",
                        f"{case}/note/{epoch(now):.0f}",
                    )
                    db.execute(
                        "UPDATE rate_episodes SET noted_at = ? WHERE service = ?",
                        (epoch(now), service),
                    )
                    actions.append(f"noted the rate on {incident} [{rule.id}]")
                continue
            if below_since is None:
                db.execute(
                    "UPDATE rate_episodes SET below_since = ? WHERE service = ?",
                    (epoch(now), service),
                )
                continue
            below = from_epoch(below_since)
            assert below is not None
            if now - below >= rule.stable_for:
                text = (
                    f"[rule {rule.id}] the failure rate has stayed below {rule.threshold:.0%} "
                    f"since {below.isoformat()} (now {rate:.1%} of {volume})."
                )
                actions.append(self._recovered(ctx, incident, text, case, rule.on_recovery))
                db.execute("DELETE FROM rate_episodes WHERE service = ?", (service,))
        return actions

    def _recovered(
        self, ctx: Context, incident: str, text: str, case: str, on_recovery: OnRecovery
    ) -> str:
        assert self.incidents is not None
        if on_recovery is OnRecovery.RESOLVE:
            self.incidents.resolve(ctx, incident, text, case + "/resolve")
            return f"resolved {incident} [{case.split('/', maxsplit=1)[0]}]"
        self.incidents.note(ctx, incident, text + " Proposed for resolution.", case + "/back")
        return f"proposed {incident} for resolution [{case.split('/', maxsplit=1)[0]}]"

    def _member_cards(self, fresh: list[Inbound]) -> list[str]:
        rule = self.rules.member_card
        requests = self.requests
        assert requests is not None
        actions = []
        for event in fresh:
            if not event.type.name.endswith("member.card_requested"):
                continue
            case = f"{rule.id}/{event.source}/{event.id}"
            try:
                raised = requests.raise_request(
                    self._ctx(event.source, case),
                    RequestToRaise(
                        catalogue_item=rule.catalogue_item,
                        requested_for=event.data["patron_ref"],
                        details={"branch": event.data["branch"], "request": event.data["request"]},
                        idempotency_key=case,
                    ),
                )
            except DomainError as refused:  # e.g. the catalogue has no such item (yet)
                log.warning("member card request %s not raised: %s", case, refused)
                actions.append(f"not raised [{rule.id}]: {refused}")
                continue
            actions.append(f"raised {raised} [{rule.id}]")
        return actions


# -- the apply path --------------------------------------------------------------------------------


def _minute(at: datetime) -> int:
    return int(at.timestamp()) // 60


def _open_incident(
    incidents: IncidentPort, ctx: Context, case: str, assignment_group: str, **fields: Any
) -> str:
    """Open the incident a rule calls for (from monitoring, urgent, for the rule's group), once
    per case however often the case is met again."""
    command = LogIncident(
        caller=ctx.actor.id,
        channel=Channel.MONITORING,
        urgency=Urgency.HIGH,
        assignment_group=assignment_group,
        **fields,
    )
    return incidents.open(ctx, command, case + "/open")


def _describe(status: str, code: str | None) -> str:
    if status == "error":
        return "in error" + (f" (code {code})" if code else "")
    return status


def _replayed_already(db: Any, seq: int) -> bool:
    found = db.execute("SELECT 1 FROM dead_letter_replays WHERE seq = ?", (seq,)).fetchone()
    return found is not None


def kind_is_heartbeat(event: Inbound) -> bool:
    return event.type.name.endswith("heartbeat")


def _new(db: Any, events: list[Inbound]) -> list[Inbound]:
    """The events not seen before (in earlier batches or earlier in this one), now recorded.

    Usually every event of a batch is new: one executemany records them all. When the count of
    rows inserted says some were not, that is undone and each is checked on its own.
    """
    insert = "INSERT OR IGNORE INTO seen (source, id) VALUES (?, ?)"
    db.execute("SAVEPOINT dedupe")
    before = db.total_changes
    db.executemany(insert, [(event.source, event.id) for event in events])
    if db.total_changes - before == len(events):
        db.execute("RELEASE dedupe")
        return events
    db.execute("ROLLBACK TO dedupe")
    db.execute("RELEASE dedupe")
    cursor = db.cursor()
    return [e for e in events if cursor.execute(insert, (e.source, e.id)).rowcount]


def _apply(db: Any, fresh: list[Inbound]) -> datetime:
    """Move the health counters for a batch of new events; the stream's time after it."""
    # (service, ci) -> [ok, failed, signals, last_seen, status, code, status_since]
    rows: dict[tuple[str, str], list[Any]] = {}
    minutes: dict[tuple[str, str, int], list[int]] = {}
    patrons: set[tuple[str, int, str]] = set()
    latest = fresh[0].time
    for event in fresh:
        at = event.time
        latest = max(latest, at)
        kind = event.type.kind
        service = event.service
        ci = event.ci
        stamp = at.timestamp()
        for key in ((service, ""), (service, ci)) if ci else ((service, ""),):
            row = rows.get(key)
            if row is None:
                row = rows[key] = [0, 0, 0, stamp, None, None, None]
            elif stamp > row[3]:
                row[3] = stamp
            if kind is Kind.SIGNAL:
                row[2] += 1
            else:
                minute = int(stamp) // 60
                counts = minutes.get((*key, minute))
                if counts is None:
                    counts = minutes[(*key, minute)] = [0, 0]
                if kind is Kind.OK:
                    row[0] += 1
                    counts[0] += 1
                else:
                    row[1] += 1
                    counts[1] += 1
        if kind is Kind.FAILED and "patron_ref" in event.data:
            patrons.add((service, int(stamp) // 60, event.data["patron_ref"]))
        if ci and kind is Kind.SIGNAL:
            row = rows[(service, ci)]
            status = event.data.get("status") or ("online" if kind_is_heartbeat(event) else None)
            if status and (row[6] is None or stamp >= row[6]):
                row[4], row[5], row[6] = status, event.data.get("code"), stamp
    db.executemany(
        "INSERT INTO health (service, ci, ok, failed, signals, last_seen, status, status_code,"
        " status_since) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (service, ci) DO UPDATE"
        " SET ok = ok + excluded.ok, failed = failed + excluded.failed,"
        " signals = signals + excluded.signals, last_seen = max(last_seen, excluded.last_seen),"
        " status = CASE WHEN excluded.status_since >= coalesce(status_since, 0)"
        "   THEN excluded.status ELSE status END,"
        " status_code = CASE WHEN excluded.status_since >= coalesce(status_since, 0)"
        "   THEN excluded.status_code ELSE status_code END,"
        " status_since = max(coalesce(status_since, 0), coalesce(excluded.status_since, 0))",
        [(*key, *row) for key, row in rows.items()],
    )
    if minutes:
        db.executemany(
            "INSERT INTO health_minutes (service, ci, minute, ok, failed) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (service, ci, minute) DO UPDATE"
            " SET ok = ok + excluded.ok, failed = failed + excluded.failed",
            [(*key, *counts) for key, counts in minutes.items()],
        )
    if patrons:
        db.executemany("INSERT OR IGNORE INTO failed_patrons VALUES (?, ?, ?)", list(patrons))
    db.execute(
        "INSERT INTO stream_clock (one, at) VALUES (1, ?)"
        " ON CONFLICT (one) DO UPDATE SET at = max(at, excluded.at)",
        (latest.timestamp(),),
    )
    clock = db.execute("SELECT at FROM stream_clock").fetchone()[0]
    now = from_epoch(clock)
    assert now is not None
    return now


def _track_outages(db: Any, changes: list[Inbound]) -> None:
    """Open, count or close the outage of each device whose status changed, in time order."""
    for event in sorted(changes, key=lambda e: e.time):
        ci, status, stamp = event.data["device"], event.data["status"], event.time.timestamp()
        if status in ("offline", "error"):
            db.execute(
                "INSERT INTO outages (ci, service, source, event_id, since, status, code,"
                " signals, incident, noted_signals, noted_at, back_since)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 1, NULL, 0, NULL, NULL)"
                " ON CONFLICT (ci) DO UPDATE SET signals = signals + 1, status = excluded.status,"
                " code = excluded.code, back_since = NULL",
                (ci, event.service, event.source, event.id, stamp, status, event.data.get("code")),
            )
        else:
            db.execute(
                "UPDATE outages SET back_since = coalesce(back_since, ?) WHERE ci = ?", (stamp, ci)
            )


def _patrons(db: Any, service: str, first_minute: int) -> int:
    count: int = db.execute(
        "SELECT COUNT(DISTINCT patron_ref) FROM failed_patrons WHERE service = ? AND minute >= ?",
        (service, first_minute),
    ).fetchone()[0]
    return count


# -- the Kafka entry point -------------------------------------------------------------------------


@dataclass(eq=False)
class CirculationConsumer(GroupConsumer):
    """Reads `circulation.events` in the group `itsm.circulation`: each poll is one pipeline
    batch; invalid messages go to `circulation.events.dlq` (acknowledged) before the offsets
    are committed. Repeats after a crash or a rebalance are caught by the dedupe set. A message
    bearing a valid replay seal is a dead letter re-published by `itsm dlq replay --kafka`."""

    progress_label = "circulation events applied"

    pipeline: CirculationPipeline
    _: KW_ONLY
    seal: ReplaySeal

    def __post_init__(self) -> None:
        super().__post_init__()
        self.applied = 0

    def handle(self, records: Mapping[Any, Sequence[Any]]) -> list[KafkaDeadLetter]:
        flat = [record for messages in records.values() for record in messages]
        replayed = {i for i, record in enumerate(flat) if record.headers and self._sealed(record)}
        values = [record.value for record in flat]
        result = self.pipeline.ingest(values, "kafka", replayed=replayed)
        self.applied += result.accepted
        for action in result.actions:
            log.info("circulation rule: %s", action)
        return [KafkaDeadLetter(flat[d.index], d.reason, d.raw) for d in result.dead]

    def progress(self) -> int:
        return self.applied

    def _sealed(self, record: Any) -> bool:
        """Whether the record is a dead letter replayed by `itsm dlq replay` (its seal holds)."""
        seals = [value for name, value in record.headers if name == REPLAY_SEAL]
        return len(seals) == 1 and self.seal.verify(record.value, seals[0])
