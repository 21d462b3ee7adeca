"""The auditor's witness of the signed checkpoints (`itsm audit witness`), a real HTTP service
started in the test: it appends only a checkpoint that extends the chain it holds (signed,
consistent entries, newer), the service pushes it every checkpoint with its entries (also
after the witness was down), and verify against it catches a rewrite re-signed with the host's
own key and a tail cut off after a witnessed checkpoint, on both backends."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Protocol

import httpx
import orjson
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from audit import chain, keys
from audit.chain import GENESIS, Checkpoint, Entry
from audit.service import Audit
from audit.store import LEDGER_TABLES
from audit.verify import Report, verify
from audit.witness import (
    REFUSED_FILE,
    Refused,
    WitnessLog,
    compare,
    read_witness,
    server,
    with_witness,
)
from cli.main import main
from infra.settings import Settings
from service.bootstrap import Services, build
from tests.conftest import Clock
from tests.integration.audit_tamper import Attacker
from tests.integration.conftest import free_port
from tests.integration.test_service_desk import log

CHECKPOINT_EVERY = 3


@dataclass
class Witness:
    directory: Path
    url: str
    stop: Callable[[], None]

    def head(self) -> int:
        return int(httpx.get(f"{self.url}/head").json()["position"])

    def held(self) -> list[Checkpoint]:
        return read_witness(str(self.directory)).checkpoints


def serving(http: ThreadingHTTPServer) -> Callable[[], None]:
    """Serve on a thread of its own; what stops it."""
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        http.shutdown()
        http.server_close()
        thread.join()

    return stop


class Heading(Protocol):
    def head(self) -> int: ...


def wait_until_answering(witness: Heading) -> None:
    """Until a witness just started answers, with nothing held yet."""

    def answers() -> bool:
        try:
            return witness.head() == 0
        except httpx.TransportError:
            return False

    wait_until(answers)


def start_witness(directory: Path, port: int = 0) -> Witness:
    http = server(WitnessLog(directory), "127.0.0.1", port)
    return Witness(directory, f"http://127.0.0.1:{http.server_address[1]}", serving(http))


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[Witness]:
    running = start_witness(tmp_path / "witness")
    yield running
    running.stop()


# -- the witness alone: offers built by hand ------------------------------------------------------


def chained(count: int, prev: bytes = GENESIS, first: int = 1, actor: str = "a") -> list[Entry]:
    entries = []
    for position in range(first, first + count):
        digest = chain.digest("Incident.Logged", "0" * 32, position, b"{}")
        args = (position, f"id/{position}", "Incident.Logged", actor, "agent", "2026-01-01")
        own = chain.entry_hash(prev, *args, digest)
        entries.append(Entry(*args, digest, prev, own))
        prev = own
    return entries


def signed(
    key: Ed25519PrivateKey, entries: list[Entry], at: str = "2026-01-01T00:00:00+00:00"
) -> Checkpoint:
    kid = keys.key_id(key.public_key())
    last = entries[-1]
    message = chain.signed_message(last.position, last.hash, at, kid)
    return Checkpoint(last.position, last.hash, at, kid, key.sign(message))


def offer(
    witness: Witness, key: Ed25519PrivateKey, checkpoint: Checkpoint, entries: list[Entry]
) -> httpx.Response:
    body = {
        "checkpoint": checkpoint.as_json(),
        "public_key": keys.public_pem(key.public_key()).decode(),
        "entries": [e.as_json() for e in entries],
    }
    return httpx.post(f"{witness.url}/checkpoints", content=orjson.dumps(body))


@pytest.fixture
def holding(witness: Witness) -> tuple[Witness, Ed25519PrivateKey, list[Entry]]:
    """A witness holding two checkpoints (positions 4 and 7)."""
    key = Ed25519PrivateKey.generate()
    entries = chained(7)
    assert offer(witness, key, signed(key, entries[:4]), entries[:4]).status_code == 201
    assert offer(witness, key, signed(key, entries), entries[4:]).status_code == 201
    return witness, key, entries


def refused(
    holding: tuple[Witness, Ed25519PrivateKey, list[Entry]], answer: httpx.Response, status: int
) -> str:
    """The refusal's reason, once the witness is seen to keep exactly what it held."""
    witness = holding[0]
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert [c.position for c in witness.held()] == [4, 7]
    assert witness.head() == 7
    assert (witness.directory / REFUSED_FILE).exists()
    reason: str = answer.json()["detail"]
    return reason


def test_the_witness_appends_checkpoints_that_extend_its_chain_and_keeps_them_on_restart(
    holding: tuple[Witness, Ed25519PrivateKey, list[Entry]],
) -> None:
    witness, key, entries = holding
    more = chained(2, entries[-1].hash, first=8)
    assert offer(witness, key, signed(key, more), more).status_code == 201
    reopened = WitnessLog(witness.directory)
    assert (reopened.position, reopened.hash) == (9, more[-1].hash)
    assert [h.checkpoint.position for h in read_witness(str(witness.directory)).held] == [4, 7, 9]


def test_a_line_cut_short_by_a_crash_was_never_held_and_is_dropped_on_restart(
    holding: tuple[Witness, Ed25519PrivateKey, list[Entry]],
) -> None:
    witness, key, entries = holding
    log_file = witness.directory / "witness.ndjson"
    whole = log_file.read_bytes()
    log_file.write_bytes(whole + b'{"checkpoint": {"position": 9')  # never answered 2xx
    reopened = WitnessLog(witness.directory)
    assert (reopened.position, reopened.hash) == (7, entries[-1].hash)
    assert log_file.read_bytes() == whole
    more = chained(2, entries[-1].hash, first=8)
    assert reopened.offer(signed(key, more), keys.public_pem(key.public_key()).decode(), more)


def test_the_witness_refuses_a_checkpoint_that_does_not_extend_its_chain(
    holding: tuple[Witness, Ed25519PrivateKey, list[Entry]],
) -> None:
    _, key, entries = holding
    fork = chained(3, entries[3].hash, first=5, actor="forger")  # 5..7 rewritten
    more = chained(2, fork[-1].hash, first=8)
    answer = offer(holding[0], key, signed(key, more), more)
    assert "position 8 does not chain" in refused(holding, answer, 409)


def test_the_witness_refuses_entries_that_do_not_reach_the_checkpoints_position(
    holding: tuple[Witness, Ed25519PrivateKey, list[Entry]],
) -> None:
    _, key, entries = holding
    more = chained(2, entries[-1].hash, first=8)
    far = signed(key, more)
    far = replace(far, position=10**15)
    far = replace(far, signature=key.sign(far.message()))
    assert "not positions 8 to" in refused(holding, offer(holding[0], key, far, more), 409)
    assert "not positions" in refused(holding, offer(holding[0], key, far, more[1:]), 409)


def test_the_witness_refuses_a_checkpoint_whose_signature_does_not_verify(
    holding: tuple[Witness, Ed25519PrivateKey, list[Entry]],
) -> None:
    _, key, entries = holding
    more = chained(2, entries[-1].hash, first=8)
    forged = replace(signed(key, more), signature=bytes(64))
    assert "signature" in refused(holding, offer(holding[0], key, forged, more), 422)


def test_the_witness_refuses_a_replayed_old_checkpoint_and_holds_its_head_once(
    holding: tuple[Witness, Ed25519PrivateKey, list[Entry]],
) -> None:
    witness, key, entries = holding
    replayed = witness.held()[0]
    copy = offer(witness, key, replayed, entries[:4])  # another process's push: not recorded
    assert copy.status_code == 409
    assert copy.json()["code"] == "witness.held-already"
    assert not (witness.directory / REFUSED_FILE).exists()
    old = signed(key, entries[:4], "2026-01-02T00:00:00+00:00")  # the old head signed again
    assert "replayed" in refused(holding, offer(witness, key, old, entries[:4]), 409)
    again = offer(witness, key, signed(key, entries), entries[4:])
    assert again.status_code in (200, 409)  # the same head re-sent (a retry) appends nothing
    assert [c.position for c in witness.held()] == [4, 7]


def test_the_witness_accepts_a_new_key_when_its_checkpoint_extends_the_chain(
    holding: tuple[Witness, Ed25519PrivateKey, list[Entry]],
) -> None:
    """It cannot judge trust: it records; the auditor's verify judges the keys."""
    witness, _, entries = holding
    rotated = Ed25519PrivateKey.generate()
    more = chained(2, entries[-1].hash, first=8)
    assert offer(witness, rotated, signed(rotated, more), more).status_code == 201
    assert witness.held()[-1].key_id == keys.key_id(rotated.public_key())


# -- the service pushes to the witness; verify against it -----------------------------------------


def audit(services: Services) -> Audit:
    assert services.audit is not None
    return services.audit


def witnessed_settings(settings: Settings, *urls: str) -> Settings:
    return settings.model_copy(
        update={
            "audit_follow": False,
            "audit_checkpoint_every": CHECKPOINT_EVERY,
            "audit_witness_urls": ",".join(urls),
        }
    )


def wait_until(done: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def held_everything(services: Services, witness: Witness) -> Callable[[], bool]:
    def done() -> bool:
        last = audit(services).store.last_checkpoint()
        return last is not None and witness.head() == last.position

    return done


@pytest.fixture
def pushing(settings: Settings, witness: Witness, clock: Clock) -> Iterator[Services]:
    services = build(witnessed_settings(settings, witness.url), clock=clock)
    for n in range(1, 5):
        log(services, n)
    audit(services).ledger.catch_up()
    wait_until(held_everything(services, witness))
    yield services
    services.close()


def with_the_witness(services: Services, witness: Witness) -> Report:
    a = audit(services)
    held = read_witness(witness.url)
    report = verify(a.store, a.trusted_keys(), held.checkpoints)
    return with_witness(report, held, compare(a.store, held))


def test_the_service_pushes_every_checkpoint_with_its_entries_and_the_witness_holds_them(
    pushing: Services, witness: Witness
) -> None:
    store = audit(pushing).store
    assert [c.as_json() for c in witness.held()] == [c.as_json() for c in store.checkpoints()]
    held_entries = list(read_witness(witness.url).entries())
    assert held_entries == store.entries(0, 10_000, witness.head())
    assert with_the_witness(pushing, witness).ok


def test_a_rewrite_re_signed_with_the_hosts_key_fails_verify_with_the_witness_at_its_first_position(
    pushing: Services, witness: Witness, clock: Clock
) -> None:
    """Root on the host edits an event, deletes the ledger and lets the service re-chain and
    re-sign everything with its own key: the database alone verifies; the witness does not."""
    settings = pushing.settings
    a = audit(pushing)
    position = next(e.position for e in a.store.entries(0, 100) if e.type == "Incident.Logged")
    attacker = Attacker(settings)
    try:
        attacker.drop_triggers()
        state = attacker.row(position)[3]
        attacker.set_state(position, state.replace(b"kiosk", b"kiosq"))
        for table in LEDGER_TABLES:
            attacker.sql_ledger(f"DELETE FROM {table}")
        assert a.ledger.seal is not None
        attacker.reseal(a.ledger.seal)  # root holds the seal key file too
    finally:
        attacker.close()
    pushing.close()
    rebuilt = build(settings, clock=clock)
    try:
        audit(rebuilt).ledger.catch_up()
        assert verify(audit(rebuilt).store, audit(rebuilt).trusted_keys()).ok  # the host's view
        # the next checkpoint (two incidents' events cross one, whatever the first start
        # wrote), past what the witness holds, is pushed: refused
        log(rebuilt, 9)
        log(rebuilt, 10)
        audit(rebuilt).ledger.catch_up()
        wait_until((witness.directory / REFUSED_FILE).exists)
        report = with_the_witness(rebuilt, witness)
        assert not report.ok
        assert report.first_bad is not None
        assert report.first_bad.position == position
        assert "rewritten" in report.first_bad.reason
        assert any("refused" in note for note in report.notes)
    finally:
        rebuilt.close()


def cut_after(services: Services, position: int) -> None:
    """Events, ledger entries and stored checkpoints after `position` removed through SQL."""
    attacker = Attacker(services.settings)
    try:
        attacker.drop_triggers()
        attacker.truncate_after(position)
    finally:
        attacker.close()


def test_a_tail_cut_off_after_a_witnessed_checkpoint_fails_verify_with_the_witness(
    pushing: Services, witness: Witness
) -> None:
    last = witness.held()[-1].position
    cut_after(pushing, last - 2)
    a = audit(pushing)
    assert verify(a.store, a.trusted_keys()).ok  # seamless inside the database
    report = with_the_witness(pushing, witness)
    assert report.first_bad is not None
    assert report.first_bad.position == last - 1
    assert "cut off" in report.first_bad.reason


def test_a_witness_that_was_down_catches_up_when_it_returns(
    settings: Settings, tmp_path: Path, clock: Clock
) -> None:
    port = free_port()
    services = build(witnessed_settings(settings, f"http://127.0.0.1:{port}"), clock=clock)
    try:
        for n in range(1, 5):
            log(services, n)
        audit(services).ledger.catch_up()  # pushes to no one: retried in the pusher's thread
        assert len(audit(services).store.checkpoints()) >= 2
        time.sleep(0.5)
        returned = start_witness(tmp_path / "late", port)
        try:
            wait_until(held_everything(services, returned))
            stored = audit(services).store.checkpoints()
            assert [c.as_json() for c in returned.held()] == [c.as_json() for c in stored]
        finally:
            returned.stop()
    finally:
        services.close()


def test_a_following_service_pushes_what_a_witness_lacks_when_it_starts(
    settings: Settings, witness: Witness, clock: Clock
) -> None:
    """Checkpoints signed before the witness was configured reach it at start, not only once
    the next checkpoint is signed."""
    earlier = build(witnessed_settings(settings), clock=clock)
    for n in range(1, 5):
        log(earlier, n)
    audit(earlier).ledger.catch_up()
    earlier.close()
    following = settings.model_copy(update={"audit_witness_urls": witness.url})
    services = build(following, clock=clock)
    try:
        services.start()
        wait_until(held_everything(services, witness))
    finally:
        services.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_itsm_audit_verify_witness_exits_1_naming_the_cut_off_tail(
    pushing: Services, witness: Witness
) -> None:
    data_dir = pushing.settings.data_dir
    good = CliRunner().invoke(
        main, ["audit", "verify", "--data-dir", str(data_dir), "--witness", witness.url]
    )
    assert good.exit_code == 0, good.output
    last = witness.held()[-1].position
    cut_after(pushing, last - 1)
    for source in (witness.url, str(witness.directory)):
        bad = CliRunner().invoke(
            main, ["audit", "verify", "--data-dir", str(data_dir), "--witness", source]
        )
        assert bad.exit_code == 1, bad.output
        assert orjson.loads(bad.stdout)["first_bad"]["position"] == last


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_verify_pack_takes_the_checkpoints_a_witness_holds(
    pushing: Services, witness: Witness, tmp_path: Path
) -> None:
    data_dir, pack = str(pushing.settings.data_dir), tmp_path / "pack.zip"
    assert (
        CliRunner().invoke(main, ["audit", "export", "--data-dir", data_dir, str(pack)]).exit_code
        == 0
    )
    checked = CliRunner().invoke(
        main, ["audit", "verify-pack", str(pack), "--witness", str(witness.directory)]
    )
    assert checked.exit_code == 0, checked.output
    assert orjson.loads(checked.stdout)["held_checkpoints_reached"] == len(witness.held())


def test_itsm_audit_witness_serves_its_directory_over_http(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "audit",
            "witness",
            "--dir",
            str(tmp_path / "w"),
            "--listen",
            f"127.0.0.1:{port}",
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        running = Witness(tmp_path / "w", f"http://127.0.0.1:{port}", process.terminate)
        wait_until_answering(running)
        key, entries = Ed25519PrivateKey.generate(), chained(3)
        assert offer(running, key, signed(key, entries), entries).status_code == 201
        assert [c.position for c in running.held()] == [3]
    finally:
        process.terminate()
        process.wait(timeout=10)


MUTATIONS = {
    "type": lambda e: replace(e, type="Incident.Resolved"),
    "actor": lambda e: replace(e, actor_id="siti.rahma"),
    "digest": lambda e: replace(e, digest=bytes(32)),
    "prev_hash": lambda e: replace(e, prev_hash=bytes(32)),
    "hash": lambda e: replace(e, hash=bytes(32)),
    "position": lambda e: replace(e, position=e.position + 1),
}


@examples(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    data=st.data(),
)
def test_any_one_changed_entry_in_an_offer_is_refused_and_the_chain_held_is_kept(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], data: st.DataObject
) -> None:
    key = Ed25519PrivateKey.generate()
    pem = keys.public_pem(key.public_key()).decode()
    held = WitnessLog(tmp_path_factory.mktemp("witness"))
    entries = chained(sum(sizes))
    batches, start = [], 0
    for size in sizes:
        batches.append(entries[start : start + size])
        start += size
    *before, last = batches
    for batch in before:
        assert held.offer(signed(key, batch), pem, batch)
    index = data.draw(st.integers(0, len(last) - 1))
    changed = MUTATIONS[data.draw(st.sampled_from(sorted(MUTATIONS)))](last[index])
    forged = [*last[:index], changed, *last[index + 1 :]]
    head = (held.position, held.hash)
    with pytest.raises(Refused):
        held.offer(signed(key, last), pem, forged)
    assert (held.position, held.hash) == head
    assert held.offer(signed(key, last), pem, last)
