"""The audit ledger on both backends: it chains every stored event in global order, the database
refuses UPDATE and DELETE, and verification finds each kind of tampering an attacker with
database access could do (triggers dropped, rows changed through SQL)."""

from __future__ import annotations

import itertools
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
import pytest

from audit import keys
from audit.chain import Checkpoint
from audit.seals import StoreTruncated
from audit.service import Audit
from audit.verify import Report, verify
from infra.settings import Settings
from service.bootstrap import Services, build
from tests.conftest import Clock, context
from tests.integration.audit_tamper import Attacker
from tests.integration.test_service_desk import log, log_command

CHECKPOINT_EVERY = 6


@pytest.fixture
def ledgered(make_settings: Callable[[], Settings], clock: Clock) -> Iterator[Services]:
    """A service with a few incidents, no follower running (the test drives the ledger)."""
    settings = make_settings().model_copy(
        update={"audit_follow": False, "audit_checkpoint_every": CHECKPOINT_EVERY}
    )
    services = build(settings, clock=clock)
    for n in range(1, 6):
        log(services, n)
    services.desk.log_incident(context(), log_command(9), idempotency_key="retry-safe")
    audit(services).ledger.catch_up()
    yield services
    services.close()


@pytest.fixture
def attacker(ledgered: Services) -> Iterator[Attacker]:
    with Attacker(ledgered.settings) as intruder:
        yield intruder


def audit(services: Services) -> Audit:
    assert services.audit is not None
    return services.audit


def check(services: Services, outside: list[Checkpoint] | None = None) -> Report:
    """Verify in one pass, and again cut into segments of 4 positions verified in 2 processes
    (joins everywhere): both must give the same report, first bad position and reason included."""
    a = audit(services)
    single = verify(a.store, a.trusted_keys(), outside or [], workers=1)
    segmented = verify(a.store, a.trusted_keys(), outside or [], workers=2, segment=4)
    assert segmented.as_json() == single.as_json()
    return single


def position_of(services: Services, type_name: str, nth: int = 0) -> int:
    entries = audit(services).store.entries(0, 10_000)
    return [e.position for e in entries if e.type == type_name][nth]


def test_the_ledger_chains_every_stored_event_in_global_order_bookkeeping_included(
    ledgered: Services,
) -> None:
    a = audit(ledgered)
    entries = a.store.entries(0, 10_000)
    stored = a.store.stored(0, 10_000)
    assert [e.position for e in entries] == [row[0] for row in stored]
    assert [e.type for e in entries] == [row[1] for row in stored]
    assert {"IncidentNumber.Allocated", "IdempotencyKey.Recorded", "Incident.Logged"} <= {
        e.type for e in entries
    }
    assert all(e.actor_id for e in entries)
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(entries))
    report = check(ledgered)
    assert report.ok, report.first_bad
    assert report.entries == len(stored)


def test_checkpoints_are_signed_every_n_positions_and_verify(ledgered: Services) -> None:
    a = audit(ledgered)
    positions = [c.position for c in a.store.checkpoints()]
    head = a.store.head()[0]
    assert positions[: head // CHECKPOINT_EVERY] == [
        CHECKPOINT_EVERY * k for k in range(1, head // CHECKPOINT_EVERY + 1)
    ]
    assert check(ledgered).signed_through == max(positions)


def test_a_store_answers_the_checkpoints_after_a_position(ledgered: Services) -> None:
    store = audit(ledgered).store
    every = store.checkpoints()
    middle = every[len(every) // 2].position
    assert store.checkpoints(after=middle) == [c for c in every if c.position > middle]
    assert store.checkpoints(after=every[-1].position) == []


def test_a_publishing_ledger_reads_only_the_checkpoints_it_has_not_published(
    ledgered: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a ledger whose checkpoints were all published
    a = audit(ledgered)
    sent: list[int] = []
    a.ledger.publisher = lambda checkpoint: sent.append(checkpoint.position)
    a.ledger.publish_pending()
    published = a.store.published()
    asked: list[int] = []
    checkpoints = a.store.checkpoints
    monkeypatch.setattr(
        a.store, "checkpoints", lambda after=0: asked.append(after) or checkpoints(after)
    )

    # When more events are chained and checkpointed
    for n in range(10, 10 + CHECKPOINT_EVERY):
        log(ledgered, n)
    a.ledger.catch_up()

    # Then each publication read only what came after the last published (not the whole
    # ledger's checkpoints: its cost grows with what is new), and each was sent once
    assert asked
    assert min(asked) >= published
    assert len(sent) == len(set(sent))
    assert sent[-1] == a.store.checkpoints()[-1].position


def test_a_checkpoint_is_signed_once_the_interval_passes_even_with_no_new_events(
    ledgered: Services, clock: Clock
) -> None:
    a = audit(ledgered)
    a.ledger.checkpoint_now()
    log(ledgered, 7)
    a.ledger.catch_up()
    head = a.store.head()[0]
    assert a.store.last_checkpoint().position < head  # type: ignore[union-attr]
    interval = ledgered.settings.audit_checkpoint_interval.total_seconds()
    clock.advance(seconds=interval * 0.8)
    a.ledger.append_once()
    assert a.store.last_checkpoint().position < head  # type: ignore[union-attr]
    clock.advance(seconds=interval * 0.4)  # past the interval
    a.ledger.append_once()
    assert a.store.last_checkpoint().position == head  # type: ignore[union-attr]


def test_two_followers_never_fork_the_chain(ledgered: Services, clock: Clock) -> None:
    a = audit(ledgered)
    other = build(ledgered.settings.model_copy(), clock=clock)
    try:
        for n in range(10, 20):
            log(ledgered, n)
            audit(other).ledger.append_once()
            a.ledger.append_once()
        a.ledger.catch_up()
        assert check(ledgered).ok
    finally:
        other.close()


@pytest.mark.parametrize(
    "statement",
    ["update-event", "delete-event", "update-ledger", "delete-ledger", "delete-checkpoint"],
)
def test_the_database_refuses_update_and_delete_on_the_store_and_the_ledger(
    ledgered: Services, attacker: Attacker, statement: str
) -> None:
    position = position_of(ledgered, "Incident.Logged")
    attempts: dict[str, Callable[[], Any]] = {
        "update-event": lambda: attacker.set_state(position, b"{}"),
        "delete-event": lambda: attacker.delete(position),
        "update-ledger": lambda: attacker.sql_ledger(
            "UPDATE audit_ledger SET actor_id = 'someone' WHERE position = ?", (position,)
        ),
        "delete-ledger": lambda: attacker.sql_ledger(
            "DELETE FROM audit_ledger WHERE position = ?", (position,)
        ),
        "delete-checkpoint": lambda: attacker.sql_ledger("DELETE FROM audit_checkpoints"),
    }
    with pytest.raises(Exception, match="append-only"):
        attempts[statement]()
    assert check(ledgered).ok


def _replace_in_state(
    attacker: Attacker, position: int, change: Callable[[dict[str, Any]], None]
) -> None:
    state = orjson.loads(attacker.row(position)[3])
    change(state)
    attacker.set_state(position, orjson.dumps(state))


def test_a_changed_payload_is_found_at_its_position(ledgered: Services, attacker: Attacker) -> None:
    position = position_of(ledgered, "Incident.Logged", 2)
    attacker.drop_triggers()
    _replace_in_state(attacker, position, lambda s: s.update(title="Nothing happened"))
    report = check(ledgered)
    assert not report.ok
    assert report.first_bad is not None
    assert report.first_bad.position == position
    assert "was changed" in report.first_bad.reason


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s["actor"].update(id="someone.else"),
        lambda s: s["actor"].update(role="admin"),
        lambda s: s.update(timestamp="2026-03-01T00:00:00Z"),
    ],
    ids=["actor", "role", "time"],
)
def test_a_changed_actor_or_time_is_found_at_its_position(
    ledgered: Services, attacker: Attacker, change: Callable[[dict[str, Any]], None]
) -> None:
    position = position_of(ledgered, "Incident.Logged", 1)
    attacker.drop_triggers()
    _replace_in_state(attacker, position, change)
    report = check(ledgered)
    assert report.first_bad is not None
    assert (report.first_bad.position, report.ok) == (position, False)
    assert "payload, actor or time" in report.first_bad.reason


def test_a_deleted_event_is_found_at_its_position(ledgered: Services, attacker: Attacker) -> None:
    position = position_of(ledgered, "Incident.Logged", 3)
    attacker.drop_triggers()
    attacker.delete(position)
    report = check(ledgered)
    assert report.first_bad is not None
    assert report.first_bad.position == position
    assert "deleted" in report.first_bad.reason


def test_an_inserted_event_is_found_at_its_position(ledgered: Services, attacker: Attacker) -> None:
    position = position_of(ledgered, "Incident.Logged", 2)
    originator, _, topic, state = attacker.row(position)
    forged_id = uuid4() if attacker.pg else uuid4().hex
    attacker.drop_triggers()
    attacker.insert_at(position, (forged_id, 1, topic, state))  # type: ignore[arg-type]
    assert originator != forged_id
    report = check(ledgered)
    assert report.first_bad is not None
    assert report.first_bad.position == position
    assert "inserted" in report.first_bad.reason


def test_two_swapped_events_are_found_at_the_first(ledgered: Services, attacker: Attacker) -> None:
    first = position_of(ledgered, "Incident.Logged", 1)
    second = position_of(ledgered, "Incident.Logged", 2)
    attacker.drop_triggers()
    attacker.swap(first, second)
    report = check(ledgered)
    assert report.first_bad is not None
    assert report.first_bad.position == first
    assert "swapped" in report.first_bad.reason


def test_a_truncated_tail_is_found_with_the_checkpoints_held_outside(
    ledgered: Services, attacker: Attacker
) -> None:
    published = audit(ledgered).store.checkpoints()  # what Kafka and the auditor's file hold
    last = published[-1].position
    attacker.drop_triggers()
    attacker.truncate_after(last - 3)  # store, ledger and stored checkpoints all cut alike
    # Inside the database alone the cut is seamless: that is why checkpoints leave it.
    assert check(ledgered).ok
    report = check(ledgered, published)
    assert report.first_bad is not None
    assert report.first_bad.position == last - 2
    assert "cut off" in report.first_bad.reason


def test_a_rewritten_ledger_is_found_at_the_first_signed_checkpoint_it_contradicts(
    ledgered: Services, attacker: Attacker
) -> None:
    """The attacker changes an event and rebuilds the whole chain to match: every link holds,
    but the signed checkpoints no longer do."""
    a = audit(ledgered)
    position = position_of(ledgered, "Incident.Logged", 0)
    head = a.store.head()[0]
    attacker.drop_triggers()
    _replace_in_state(attacker, position, lambda s: s.update(title="Nothing happened"))
    attacker.sql_ledger("DELETE FROM audit_ledger WHERE position >= ?", (position,))
    # The service's follower refuses to chain on from a shorter ledger, and would refuse the
    # rewritten event (its seal no longer matches): the attacker re-chains with a follower of
    # their own (the chain's arithmetic is public), here one that asks for no seals.
    with pytest.raises(StoreTruncated, match=f"ledger was truncated below position {head}"):
        a.ledger.catch_up()
    replace(a.ledger, seal=None).catch_up()  # re-chains the forged history with fresh hashes
    report = check(ledgered)
    assert report.first_bad is not None
    first_checkpoint = min(c.position for c in a.store.checkpoints() if c.position >= position)
    assert report.first_bad.position == first_checkpoint
    assert "checkpoint" in report.first_bad.reason


def test_a_checkpoint_from_an_unknown_key_is_refused(ledgered: Services) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    a = audit(ledgered)
    stranger = Ed25519PrivateKey.generate().public_key()
    report = verify(a.store, {"0123456789abcdef": stranger})
    assert not report.ok
    assert report.first_bad is not None
    assert "not a trusted key" in report.first_bad.reason


def test_verifying_processes_do_not_import_the_callers_main_module(
    ledgered: Services, tmp_path: Path
) -> None:
    """multiprocessing imports the main module in each child by default: for `itsm` that is the
    whole service, seconds before a worker starts. A main script that records being imported
    shows that the verifier's workers skip it, and still verify in segments."""
    location = audit(ledgered).store.location()
    assert location is not None
    marker, found = tmp_path / "imported-as", tmp_path / "report.json"
    script = tmp_path / "caller.py"
    script.write_text(
        "import pickle, orjson\n"
        "if __name__ != '__main__':\n"
        f"    open({str(marker)!r}, 'w').write(__name__)\n"
        "else:\n"
        "    from audit import keys\n"
        "    from audit.verify import verify\n"
        f"    store = pickle.loads({pickle.dumps(location)!r}).open()\n"
        f"    public = keys.load_public({keys.public_pem(audit(ledgered).public_key)!r})\n"
        "    report = verify(store, {keys.key_id(public): public}, workers=2, segment=4)\n"
        f"    open({str(found)!r}, 'wb').write(orjson.dumps(report.as_json()))\n"
    )
    subprocess.run([sys.executable, str(script)], check=True, timeout=120, cwd=Path.cwd())
    report = orjson.loads(found.read_bytes())
    assert report["ok"], report
    assert report["entries_checked"] == audit(ledgered).store.head()[0]
    assert not marker.exists(), f"a worker imported the caller's main as {marker.read_text()}"
