"""The witness against whoever can reach it on the network, with real HTTP: given the auditor's
public keys it refuses a checkpoint signed with any other before appending anything (so a fork
signed with a key of the attacker's own no longer stops witnessing, as it does on an unpinned
witness)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from application.audit_keys import rotate_key
from audit import keys
from audit.chain import Checkpoint, Entry
from audit.verify import verify
from audit.witness import (
    LOG_FILE,
    REFUSED_FILE,
    WitnessLog,
    compare,
    read_witness,
    server,
    with_witness,
)
from domain.actors import Actor, Role
from infra.settings import Settings
from service.bootstrap import Services, build
from tests.conftest import Clock, context
from tests.integration.conftest import free_port
from tests.integration.test_audit_witness import (
    audit,
    chained,
    signed,
    wait_until,
    witnessed_settings,
)
from tests.integration.test_service_desk import log

ADMIN = Actor(id="ana.admin", role=Role.ADMIN)

# -- a witness, pinned or not, over HTTP ------------------------------------------------


@dataclass
class Running:
    directory: Path
    url: str
    stop: Callable[[], None]

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}")

    def head(self) -> int:
        return int(self.get("/head").json()["position"])

    def head_hash(self) -> bytes:
        return bytes.fromhex(self.get("/head").json()["hash"])

    def offer(
        self,
        key: Ed25519PrivateKey,
        checkpoint: Checkpoint,
        entries: list[Entry],
        public: Ed25519PublicKey | None = None,
    ) -> httpx.Response:
        body = {
            "checkpoint": checkpoint.as_json(),
            "public_key": keys.public_pem(public or key.public_key()).decode(),
            "entries": [e.as_json() for e in entries],
        }
        return httpx.post(f"{self.url}/checkpoints", content=orjson.dumps(body))

    def held(self) -> list[int]:
        return [c.position for c in read_witness(str(self.directory)).checkpoints]

    def refusals(self) -> list[dict[str, object]]:
        return read_witness(str(self.directory)).refusals


def start(
    directory: Path,
    pinned: tuple[Ed25519PublicKey, ...] = (),
    *,
    port: int = 0,
) -> Running:
    http = server(WitnessLog(directory, pinned), "127.0.0.1", port)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        http.shutdown()
        http.server_close()
        thread.join()

    return Running(directory, f"http://127.0.0.1:{http.server_address[1]}", stop)


@pytest.fixture
def service_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def pinned(tmp_path: Path, service_key: Ed25519PrivateKey) -> Iterator[Running]:
    running = start(tmp_path / "pinned", (service_key.public_key(),))
    yield running
    running.stop()


@pytest.fixture
def unpinned(tmp_path: Path) -> Iterator[Running]:
    running = start(tmp_path / "unpinned")
    yield running
    running.stop()


def extension(witness: Running, count: int = 2, actor: str = "a") -> list[Entry]:
    """Entries that chain from the head the witness shows to anyone (GET /head)."""
    return chained(count, witness.head_hash(), first=witness.head() + 1, actor=actor)


def untrusted(answer: httpx.Response) -> str:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "witness.untrusted-key"
    reason: str = answer.json()["detail"]
    return reason


# -- key pinning -----------------------------------------------------------------------------------


def test_an_attackers_fork_takes_an_unpinned_witness_but_a_pinned_one_refuses_it(
    pinned: Running, unpinned: Running, service_key: Ed25519PrivateKey
) -> None:
    """Today's weakness, then the fix: the attacker reads the head, makes up entries that chain
    from it, signs them with a key of their own; the unpinned witness appends them and from then
    on refuses the service's real checkpoints as a fork, the pinned one refuses the attacker."""
    history = chained(4)
    for witness in (unpinned, pinned):
        assert witness.offer(service_key, signed(service_key, history), history).status_code == 201
    attacker = Ed25519PrivateKey.generate()
    real = chained(3, history[-1].hash, first=5)

    forged = extension(unpinned, actor="attacker")
    assert unpinned.offer(attacker, signed(attacker, forged), forged).status_code == 201
    stopped = unpinned.offer(service_key, signed(service_key, real), real)
    assert stopped.status_code == 409
    assert stopped.json()["code"] == "witness.not-consistent"
    assert unpinned.held() == [4, 6]  # the attacker's checkpoint, not the service's

    forged = extension(pinned, actor="attacker")
    before = (pinned.directory / LOG_FILE).read_bytes()
    reason = untrusted(pinned.offer(attacker, signed(attacker, forged), forged))
    assert keys.key_id(attacker.public_key()) in reason
    assert (pinned.directory / LOG_FILE).read_bytes() == before
    assert pinned.offer(service_key, signed(service_key, real), real).status_code == 201
    assert pinned.held() == [4, 7]
    assert [r["code"] for r in pinned.refusals()] == ["untrusted-key"]


def test_an_empty_pinned_witness_trusts_no_first_checkpoint_signed_with_another_key(
    pinned: Running, unpinned: Running, service_key: Ed25519PrivateKey
) -> None:
    """An attacker who reaches an empty witness first: trust on first use takes their chain
    unless the witness was given the auditor's key."""
    attacker = Ed25519PrivateKey.generate()
    forged = chained(3, actor="attacker")
    assert unpinned.offer(attacker, signed(attacker, forged), forged).status_code == 201
    untrusted(pinned.offer(attacker, signed(attacker, forged), forged))
    assert pinned.head() == 0
    assert not (pinned.directory / LOG_FILE).exists()
    history = chained(3)
    assert pinned.offer(service_key, signed(service_key, history), history).status_code == 201


def test_a_pinned_key_id_does_not_let_another_key_or_signature_through(
    pinned: Running, service_key: Ed25519PrivateKey
) -> None:
    """Naming the pinned key's id is not enough: the key sent must be that key (its id is
    only a short hash) and the signature must verify with it."""
    attacker = Ed25519PrivateKey.generate()
    forged = chained(3, actor="attacker")
    claimed = signed(service_key, forged)
    with_own_key = pinned.offer(attacker, claimed, forged)
    assert with_own_key.status_code == 422
    assert with_own_key.json()["code"] == "witness.bad-key"
    resigned = replace(claimed, signature=attacker.sign(claimed.message()))
    bad = pinned.offer(attacker, resigned, forged, public=service_key.public_key())
    assert bad.status_code == 422
    assert bad.json()["code"] == "witness.bad-signature"
    assert pinned.head() == 0


# -- the service's own pushes, to a pinned witness ------------------------------------------------


@pytest.fixture
def service(settings: Settings, clock: Clock) -> Iterator[Services]:
    """A service that pushes to a witness on a free port (none answers there yet)."""
    services = build(witnessed_settings(settings, f"http://127.0.0.1:{free_port()}"), clock=clock)
    yield services
    services.close()


def pushed_everything(services: Services, witness: Running) -> Callable[[], bool]:
    def done() -> bool:
        last = audit(services).store.last_checkpoint()
        return last is not None and witness.head() == last.position

    return done


def port_of(services: Services) -> int:
    return int(services.settings.witness_urls()[0].rpartition(":")[2])


def test_a_witness_pinned_to_the_services_key_refuses_another_and_takes_the_services_next(
    service: Services, tmp_path: Path
) -> None:
    witness = start(tmp_path / "w", (audit(service).public_key,), port=port_of(service))
    try:
        for n in range(1, 5):
            log(service, n)
        audit(service).ledger.catch_up()
        wait_until(pushed_everything(service, witness))
        held, before = witness.held(), (witness.directory / LOG_FILE).read_bytes()

        attacker = Ed25519PrivateKey.generate()
        forged = extension(witness, actor="attacker")
        untrusted(witness.offer(attacker, signed(attacker, forged), forged))
        assert (witness.directory / LOG_FILE).read_bytes() == before
        assert (witness.directory / REFUSED_FILE).exists()

        for n in range(5, 9):
            log(service, n)
        audit(service).ledger.catch_up()
        wait_until(pushed_everything(service, witness))
        assert len(witness.held()) > len(held)
        stored = audit(service).store.checkpoints()
        assert witness.held() == [c.position for c in stored]
        assert audit(service).witnesses[0].refused is None
    finally:
        witness.stop()


def test_a_rotated_key_is_refused_until_the_auditor_pins_it_and_verify_shows_the_refusals(
    service: Services, tmp_path: Path
) -> None:
    """The service rotates its key; the witness pinned to the old one refuses the checkpoints
    under the new one (the pusher retries them) and verify's notes say so, until the auditor
    restarts it with the new key as well."""
    old = audit(service).public_key
    witness = start(tmp_path / "w", (old,), port=port_of(service))
    try:
        for n in range(1, 5):
            log(service, n)
        audit(service).ledger.catch_up()
        wait_until(pushed_everything(service, witness))
        new, _ = rotate_key(service.desk, audit(service), context(ADMIN))
        for n in range(5, 9):
            log(service, n)
        audit(service).ledger.catch_up()
        wait_until(lambda: audit(service).witnesses[0].refused is not None)
        assert "rotated key the auditor has not added yet" in str(
            audit(service).witnesses[0].refused
        )
        notes = verified_notes(service, witness)
        assert any("refused" in n and new.key_id in n for n in notes)
    finally:
        witness.stop()
    witness = start(tmp_path / "w", (old, new.public_key()), port=port_of(service))
    try:  # the pusher retries on its own (backoff, then its poll)
        wait_until(pushed_everything(service, witness), seconds=90)
        assert audit(service).witnesses[0].refused is None
    finally:
        witness.stop()


def verified_notes(services: Services, witness: Running) -> list[str]:
    a = audit(services)
    held = read_witness(witness.url)
    report = verify(a.store, a.trusted_keys(), held.checkpoints)
    return with_witness(report, held, compare(a.store, held)).notes
