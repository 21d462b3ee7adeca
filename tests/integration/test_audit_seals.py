"""Seals on both backends: the writer seals each committed batch with a key the database does not
hold, so an attacker with database access only (triggers dropped, plain SQL) cannot add, change,
reorder or remove events after the last checkpoint without the ledger follower refusing to chain
them and verification naming the first bad position and why (docs/audit.md, "Seals")."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace

import orjson
import pytest

from audit.seals import (
    CHAIN_BROKEN,
    NOT_MATCHING,
    NOT_SEALED,
    Seal,
    SealKey,
    StoreTruncated,
    UnsealedEvent,
)
from audit.service import Audit
from audit.store import _SEALS_COVERING
from audit.verify import Report, check_seals, verify
from infra.settings import Settings
from service.bootstrap import Services, build
from tests.conftest import Clock
from tests.integration.audit_tamper import Attacker
from tests.integration.conftest import Api
from tests.integration.test_api import act, new_incident
from tests.integration.test_service_desk import log


@pytest.fixture
def sealed(make_settings: Callable[[], Settings], clock: Clock) -> Iterator[Services]:
    """A service with a few incidents chained and signed, then a tail of three more incidents
    written after the last checkpoint, not yet chained (the test drives the ledger)."""
    settings = make_settings().model_copy(update={"audit_follow": False})
    services = build(settings, clock=clock)
    for n in range(1, 4):
        log(services, n)
    audit(services).ledger.checkpoint_now()
    for n in range(4, 7):
        log(services, n)
    yield services
    services.close()


@pytest.fixture
def attacker(sealed: Services) -> Iterator[Attacker]:
    with Attacker(sealed.settings) as intruder:
        intruder.drop_triggers()
        yield intruder


def audit(services: Services) -> Audit:
    assert services.audit is not None
    return services.audit


def seal_key(services: Services) -> SealKey:
    key = audit(services).ledger.seal
    assert key is not None
    return key


def checkpointed(services: Services) -> int:
    last = audit(services).store.last_checkpoint()
    assert last is not None
    return last.position


def tail_seals(services: Services, attacker: Attacker) -> list[Seal]:
    """The seals of the batches written after the last checkpoint."""
    after = checkpointed(services)
    return [s for s in attacker.seals() if s.first_position > after]


def verified(services: Services) -> Report:
    """Verify with the seal key, in one pass and in segments in 2 processes: the same report."""
    a = audit(services)
    single = verify(a.store, a.trusted_keys(), seal=seal_key(services), workers=1)
    segmented = verify(a.store, a.trusted_keys(), seal=seal_key(services), workers=2, segment=4)
    assert segmented.as_json() == single.as_json()
    return single


def assert_refused(services: Services, position: int, reason: str) -> None:
    """The ledger follower chains everything before `position`, nothing from it on, and says
    why; verify names the same position and reason."""
    a = audit(services)
    with pytest.raises(UnsealedEvent) as stopped:
        a.ledger.catch_up()
    assert stopped.value.position == position
    assert stopped.value.reason.startswith(reason), stopped.value.reason
    assert a.ledger.stuck is not None
    assert a.ledger.stuck.position == position
    assert a.store.head()[0] == position - 1
    report = verified(services)
    assert not report.ok
    assert report.first_bad is not None
    assert (report.first_bad.position, report.first_bad.reason) == (
        position,
        stopped.value.reason,
    )


def forged_resolution(attacker: Attacker, services: Services) -> tuple[str, int, str, bytes]:
    """An `Incident.Resolved` "by siti.rahma" for the first incident, next in its history."""
    logged = audit(services).store.entries(0, 100)
    position = next(e.position for e in logged if e.type == "Incident.Logged")
    originator, _, _, state = attacker.row(position)
    versions = attacker.sql_events(
        f"SELECT MAX(originator_version) FROM {attacker.table} WHERE originator_id = ?",
        (originator,),
    )
    event = orjson.loads(state)
    event.update(
        originator_version=versions[0][0] + 1,
        actor={"id": "siti.rahma", "role": "agent"},
        resolution_code="fixed",
        resolution_note="Restarted the kiosk",
    )
    return originator, versions[0][0] + 1, "Incident.Resolved", orjson.dumps(event)


def append_row(attacker: Attacker, row: tuple[str, int, str, bytes]) -> int:
    head = attacker.sql_events(f"SELECT MAX({attacker.pos}) FROM {attacker.table}")[0][0]
    columns = f"{attacker.pos}, originator_id, originator_version, topic, state"
    attacker.sql_events(
        f"INSERT INTO {attacker.table} ({columns}) VALUES (?, ?, ?, ?, ?)", (head + 1, *row)
    )
    return int(head) + 1


# -- the happy path -------------------------------------------------------------------------------


@pytest.mark.usefixtures("directory")
def test_every_event_written_through_the_api_is_sealed_and_verifies(api: Api) -> None:
    client = api.client()
    for n in range(3):
        ref = new_incident(client, title=f"Gate {n} at Cilegon does not read RFID tags")["ref"]
        assert (
            act(
                client, ref, "assign", {"group": "servicedesk-l1", "agent": "siti.rahma"}
            ).status_code
            == 200
        )
    a = audit(api.services)
    key = a.ledger.seal
    assert key is not None
    count, unsealed = check_seals(a.store, key)
    assert unsealed is None
    assert count > 0
    assert a.store.heads() == (a.store.store_head(), a.store.store_head())
    a.ledger.catch_up()
    report = verify(a.store, a.trusted_keys(), seal=key)
    assert report.ok, report.first_bad
    assert report.seals == count


@pytest.mark.parametrize("backend", ["postgres"])  # one SQLite file has one writer at a time
def test_two_services_writing_to_one_postgres_database_keep_one_seal_chain(
    make_settings: Callable[[], Settings], backend: str, clock: Clock
) -> None:
    """Two desks with their own connections (as two API processes have), the same seal key file,
    writing at once: the database's lock orders their batches, and the seals chain across them."""
    settings = make_settings().model_copy(update={"audit_follow": False})
    first = build(settings, clock=clock)
    second = build(settings, clock=clock)
    try:

        def write(services: Services, offset: int) -> None:
            for n in range(offset, offset + 15):
                log(services, n)

        threads = [
            threading.Thread(target=write, args=(services, offset))
            for services, offset in ((first, 100), (second, 200))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        a = audit(first)
        count, unsealed = check_seals(a.store, seal_key(first))
        assert unsealed is None
        assert count >= 30
        a.ledger.catch_up()
        assert verified(first).ok
    finally:
        second.close()
        first.close()


def test_an_existing_store_is_sealed_from_its_head_when_the_key_is_made(
    make_settings: Callable[[], Settings], clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """Events written before sealing are covered by the chain as before; the key file says where
    sealing starts, so everything after it must be sealed. A service started with sealing off
    says so, loudly."""
    settings = make_settings().model_copy(update={"audit_follow": False, "audit_seal": False})
    with caplog.at_level(logging.WARNING, logger="service.stores"):
        unsealed = build(settings, clock=clock)
    assert "sealing is off (ITSM_AUDIT_SEAL=false)" in caplog.text
    log(unsealed, 1)
    before = unsealed.desk.recorder.max_notification_id()
    unsealed.close()
    services = build(settings.model_copy(update={"audit_seal": True}), clock=clock)
    try:
        assert seal_key(services).sealed_from == before
        log(services, 2)
        audit(services).ledger.catch_up()
        report = verified(services)
        assert report.ok, report.first_bad
        assert report.seals is not None
        assert report.seals > 0
    finally:
        services.close()


# -- attacks on the tail after the last checkpoint ------------------------------------------------


def test_a_forged_resolution_inserted_after_the_last_checkpoint_is_not_chained(
    sealed: Services, attacker: Attacker
) -> None:
    position = append_row(attacker, forged_resolution(attacker, sealed))
    assert_refused(sealed, position, NOT_SEALED)


def test_a_forged_event_with_a_seal_made_by_another_key_is_refused(
    sealed: Services, attacker: Attacker
) -> None:
    """The attacker adds a seal of their own, chained onto the last one and naming the service's
    key id: without the key its MAC cannot match."""
    position = append_row(attacker, forged_resolution(attacker, sealed))
    real = seal_key(sealed)
    theirs = SealKey(secrets.token_bytes(32), real.key_id, real.sealed_from)
    last = attacker.seals()[-1]
    attacker.insert_seal(theirs.seal(last.mac, attacker.digested(position, position)))
    assert_refused(sealed, position, NOT_MATCHING)


def test_a_rewritten_tail_event_is_refused_at_its_batch(
    sealed: Services, attacker: Attacker
) -> None:
    batch = tail_seals(sealed, attacker)[1]
    position = batch.last_position
    state = attacker.row(position)[3]
    attacker.set_state(position, state + b" ")  # still the same JSON: only the seal tells
    assert_refused(sealed, batch.first_position, NOT_MATCHING)


def test_a_chained_tail_event_rewritten_with_its_ledger_entries_fails_only_the_seals(
    sealed: Services, attacker: Attacker
) -> None:
    """After the last checkpoint, a DBA rewrites a chained event and makes the ledger agree
    (digest, links and hashes again from there on): the chain holds, so only the seals, which
    cover each event's digest with a key the database does not hold, tell. Verify reads those
    digests from the ledger it has just checked, and still names the batch."""
    audit(sealed).ledger.catch_up()
    batch = tail_seals(sealed, attacker)[1]
    state = attacker.row(batch.last_position)[3]
    attacker.set_state(batch.last_position, state + b" ")
    attacker.rechain_ledger_from(batch.last_position)
    a = audit(sealed)
    assert verify(a.store, a.trusted_keys()).ok  # the unsigned tail, without the seal key
    report = verified(sealed)
    assert not report.ok
    assert report.first_bad is not None
    assert report.first_bad.position == batch.first_position
    assert report.first_bad.reason.startswith(NOT_MATCHING)


def test_a_reordered_tail_is_refused_at_the_first_batch_it_changes(
    sealed: Services, attacker: Attacker
) -> None:
    first, second = tail_seals(sealed, attacker)[1:3]
    attacker.swap(first.first_position, second.first_position)
    assert_refused(sealed, first.first_position, NOT_MATCHING)


def test_a_deleted_seal_leaves_its_events_unsealed(sealed: Services, attacker: Attacker) -> None:
    batch = tail_seals(sealed, attacker)[1]
    attacker.delete_seal(batch.first_position)
    assert_refused(sealed, batch.first_position, NOT_SEALED)


def test_a_batch_and_its_seal_removed_from_the_tail_break_the_seal_chain(
    sealed: Services, attacker: Attacker
) -> None:
    """The next seal still matches its own events, but names the removed one as before it."""
    one, two = tail_seals(sealed, attacker)[1:3]
    attacker.sql_events(
        f"DELETE FROM {attacker.table} WHERE {attacker.pos} >= ? AND {attacker.pos} <= ?",
        (one.first_position, one.last_position),
    )
    attacker.delete_seal(one.first_position)
    a = audit(sealed)
    with pytest.raises(UnsealedEvent) as stopped:
        a.ledger.catch_up()
    assert stopped.value.position == two.first_position
    assert stopped.value.reason.startswith(CHAIN_BROKEN)
    assert a.store.head()[0] == one.first_position - 1
    report = verified(sealed)
    assert report.first_bad is not None
    assert (report.first_bad.position, report.first_bad.reason) == (
        two.first_position,
        stopped.value.reason,
    )


def test_a_seal_whose_link_was_edited_breaks_the_seal_chain(
    sealed: Services, attacker: Attacker
) -> None:
    two = tail_seals(sealed, attacker)[2]
    attacker.delete_seal(two.first_position)
    attacker.insert_seal(replace(two, prev_mac=bytes(32)))
    assert_refused(sealed, two.first_position, CHAIN_BROKEN)


def test_a_deleted_tail_event_is_refused_at_its_batch(sealed: Services, attacker: Attacker) -> None:
    batch = tail_seals(sealed, attacker)[1]
    attacker.delete(batch.last_position)
    assert_refused(sealed, batch.first_position, NOT_MATCHING)


def test_verify_flags_the_unchained_tail_without_the_ledger(
    sealed: Services, attacker: Attacker
) -> None:
    """verify needs no follower to have run: the tail it never chained is checked too."""
    position = append_row(attacker, forged_resolution(attacker, sealed))
    report = verified(sealed)
    assert report.first_bad is not None
    assert (report.first_bad.position, report.first_bad.reason) == (position, NOT_SEALED)
    plain = verify(audit(sealed).store, audit(sealed).trusted_keys())
    assert plain.ok  # without the seal key the forgery is invisible: it is after the checkpoint
    assert "seals not checked: no seal key given" in plain.notes


@pytest.mark.parametrize("cut", ["events and seals", "seals only", "everything"])
def test_a_tail_truncated_while_the_follower_runs_is_noticed(
    sealed: Services, attacker: Attacker, cut: str
) -> None:
    a = audit(sealed)
    a.ledger.catch_up()
    chained = a.store.head()[0]
    keep = tail_seals(sealed, attacker)[0].last_position
    if cut != "seals only":
        attacker.sql_events(f"DELETE FROM {attacker.table} WHERE {attacker.pos} > ?", (keep,))
    attacker.cut_seals_after(keep)
    if cut == "everything":
        attacker.truncate_after(keep)
    what = {"events and seals": "store", "seals only": "seal chain", "everything": "ledger"}[cut]
    with pytest.raises(StoreTruncated) as noticed:
        a.ledger.append_once()
    assert str(noticed.value) == (
        f"the {what} was truncated below position {chained}: it now ends at {keep}"
    )
    ledger_head = a.store.head()[0]
    assert ledger_head == (keep if cut == "everything" else chained)
    # The service writes on: positions or seals beyond the cut again, yet nothing is chained on
    # from the shorter history (the new seals follow the cut, not the last seal the ledger saw).
    log(sealed, 9)
    log(sealed, 10)
    with pytest.raises((StoreTruncated, UnsealedEvent)):
        a.ledger.catch_up()
    assert a.store.head()[0] == ledger_head
    if cut != "everything":
        assert not verified(sealed).ok


def test_followers_in_two_processes_taking_turns_accept_each_others_seals(
    sealed: Services, clock: Clock
) -> None:
    """Each API process follows the store; one that finds the ledger moved on by another goes
    on from the seal before its next batch, not from the last one it verified itself."""
    a = audit(sealed)
    a.ledger.catch_up()
    other = build(sealed.settings, clock=clock)
    try:
        for n in range(10, 13):
            log(sealed, n)
        audit(other).ledger.catch_up()
        for n in range(13, 15):
            log(sealed, n)
        a.ledger.catch_up()
        assert a.ledger.stuck is None
        assert a.store.head()[0] == a.store.store_head()
        assert verified(sealed).ok
    finally:
        other.close()


def test_the_seals_covering_a_range_are_found_by_where_they_end_not_read_from_the_first(
    sealed: Services,
) -> None:
    # Given a store with seals, the ledger's question on each append: the seals covering the
    # positions after its head (issue 23: it read every seal from the first, each time)
    store = audit(sealed).store
    head = store.heads()[0]
    every = store.seals(0, 10_000)
    # When it asks for the seals covering its last positions
    covering = store.seals_covering(head - 1, head)
    # Then it has those, in order, as a scan of every seal finds them
    assert covering == [
        s for s in every if s.last_position >= head - 1 and s.first_position <= head
    ]
    assert covering
    # and the engine reads them through the index on where a seal ends
    if sealed.settings.database_url is None:
        events = store._connections()[0]  # type: ignore[attr-defined]
        plan = events.execute(f"EXPLAIN QUERY PLAN {_SEALS_COVERING}", (head - 1, head))
        assert "ix_event_seals_last_position" in str(plan.fetchall())
