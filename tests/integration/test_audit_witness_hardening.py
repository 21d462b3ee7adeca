"""The witness against whoever can reach it on the network, with real HTTP and real TLS: given the
auditor's public keys it refuses a checkpoint signed with any other before appending anything
(so a fork signed with a key of the attacker's own no longer stops witnessing, as it does on an
unpinned witness), and with a certificate it serves HTTPS, which the service's pusher and
`itsm audit verify --witness` check against the auditor's CA and never skip."""

from __future__ import annotations

import logging
import ssl
import subprocess
import sys
import urllib.error
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import orjson
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from application.audit_keys import rotate_key
from audit import keys
from audit.chain import Checkpoint, Entry
from audit.verify import verify
from audit.witness import (
    LOG_FILE,
    REFUSED_FILE,
    WitnessLog,
    WitnessPusher,
    client_context,
    compare,
    read_witness,
    server,
    server_context,
    with_witness,
)
from cli.main import main
from domain.actors import Actor, Role
from infra.settings import Settings
from service.bootstrap import Services, build
from tests.conftest import Clock, context
from tests.engines.tls import Tls
from tests.engines.tls import make_tls as engine_tls
from tests.integration.conftest import free_port
from tests.integration.test_audit_witness import (
    audit,
    chained,
    serving,
    signed,
    wait_until,
    wait_until_answering,
    witnessed_settings,
)
from tests.integration.test_service_desk import log

ADMIN = Actor(id="ana.admin", role=Role.ADMIN)

# -- a witness, pinned or not, over HTTP or HTTPS ------------------------------------------------


@dataclass
class Running:
    directory: Path
    url: str
    stop: Callable[[], None]
    #: How a client checks its certificate (None: plain HTTP).
    tls: ssl.SSLContext | None = None

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", verify=self.tls or True)

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
        return httpx.post(
            f"{self.url}/checkpoints", content=orjson.dumps(body), verify=self.tls or True
        )

    def held(self) -> list[int]:
        return [c.position for c in read_witness(str(self.directory)).checkpoints]

    def refusals(self) -> list[dict[str, object]]:
        return read_witness(str(self.directory)).refusals


def start(
    directory: Path,
    pinned: tuple[Ed25519PublicKey, ...] = (),
    *,
    port: int = 0,
    tls: Tls | None = None,
) -> Running:
    context = server_context(tls.cert, tls.key) if tls else None
    http = server(WitnessLog(directory, pinned), "127.0.0.1", port, context)
    scheme = "https" if tls else "http"
    url = f"{scheme}://127.0.0.1:{http.server_address[1]}"
    return Running(directory, url, serving(http), client_context(tls.ca) if tls else None)


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


# -- TLS: a throwaway CA and the witness's certificate ---------------------------------------------


def make_tls(directory: Path, common: str = "auditor CA") -> Tls:
    """A CA of the auditor's own and a certificate it signs for the witness at 127.0.0.1."""
    return engine_tls(directory, common, server="witness")


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    return make_tls(tmp_path / "tls")


def https_settings(settings: Settings, url: str, ca: Path | None) -> Settings:
    return witnessed_settings(settings, url).model_copy(update={"audit_witness_ca_file": ca})


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_service_pushes_over_tls_checked_with_the_ca_file_and_verify_reads_it_so(
    settings: Settings, clock: Clock, tmp_path: Path, tls: Tls
) -> None:
    witness = start(tmp_path / "w", tls=tls)
    services = build(https_settings(settings, witness.url, tls.ca), clock=clock)
    try:
        assert witness.url.startswith("https://")
        for n in range(1, 5):
            log(services, n)
        audit(services).ledger.catch_up()
        wait_until(pushed_everything(services, witness))
        stored = audit(services).store.checkpoints()
        assert witness.held() == [c.position for c in stored]
        data_dir = str(services.settings.data_dir)
        services.close()

        verify = ["audit", "verify", "--data-dir", data_dir, "--witness", witness.url]
        good = CliRunner().invoke(main, [*verify, "--witness-ca", str(tls.ca)])
        assert good.exit_code == 0, good.output
        assert any("holds checkpoints up to" in n for n in orjson.loads(good.stdout)["notes"])
        unchecked = CliRunner().invoke(main, verify)  # the system's CAs know no such CA
        assert unchecked.exit_code == 2
        assert "CERTIFICATE_VERIFY_FAILED" in unchecked.output
    finally:
        services.close()
        witness.stop()


def retried(pusher: WitnessPusher) -> Callable[[], bool]:
    def done() -> bool:
        failing = pusher.failing()
        return failing is not None and failing.attempts >= 2

    return done


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_pusher_that_cannot_verify_the_witness_certificate_reports_it_and_retries(
    settings: Settings, clock: Clock, tmp_path: Path, tls: Tls, caplog: pytest.LogCaptureFixture
) -> None:
    """Without the auditor's CA (the system's CAs only), or with another CA, the handshake
    fails: nothing is pushed, the service goes on, and the pusher retries with backoff as it
    does for a witness that is down, saying why at ERROR."""
    witness = start(tmp_path / "w", tls=tls)
    other = make_tls(tmp_path / "other", "someone else's CA")
    for ca in (None, other.ca):
        services = build(https_settings(settings, witness.url, ca), clock=clock)
        try:
            with caplog.at_level(logging.ERROR, logger="audit.witness"):
                for n in range(1, 5):
                    log(services, n)
                audit(services).ledger.catch_up()
                pusher = audit(services).witnesses[0]
                wait_until(retried(pusher))
            failing = pusher.failing()
            assert failing is not None
            assert isinstance(failing.error, urllib.error.URLError)
            assert isinstance(failing.error.reason, ssl.SSLCertVerificationError)
            assert any("TLS failed" in r.getMessage() for r in caplog.records)
            assert witness.head() == 0  # the witness, checked with its CA, answers; holds nothing
            log(services, 5)  # the service is not held up
        finally:
            services.close()
    witness.stop()


def test_itsm_audit_witness_serves_https_and_refuses_keys_it_was_not_given(
    tmp_path: Path, tls: Tls, service_key: Ed25519PrivateKey
) -> None:
    pem = tmp_path / "service.pem"
    pem.write_bytes(keys.public_pem(service_key.public_key()))
    port, stderr = free_port(), tmp_path / "stderr"
    command = [sys.executable, "-m", "cli.main", "audit", "witness", "--dir", str(tmp_path / "w")]
    command += ["--listen", f"127.0.0.1:{port}", "--public-key", str(pem)]
    command += ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
    with stderr.open("wb") as err:
        process = subprocess.Popen(command, stderr=err)
    try:
        running = Running(
            tmp_path / "w", f"https://127.0.0.1:{port}", process.terminate, client_context(tls.ca)
        )
        wait_until_answering(running)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://127.0.0.1:{port}/head")  # the system's CAs: not verified
        attacker, entries = Ed25519PrivateKey.generate(), chained(3)
        untrusted(running.offer(attacker, signed(attacker, entries), entries))
        assert running.offer(service_key, signed(service_key, entries), entries).status_code == 201
        assert running.held() == [3]
    finally:
        process.terminate()
        process.wait(timeout=10)
    said = stderr.read_text()
    assert "witness on https://" in said
    assert "any key" not in said


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--tls-cert", "{cert}"], "both --tls-cert and --tls-key"),
        (["--tls-key", "{key}"], "both --tls-cert and --tls-key"),
        (["--tls-cert", "{key}", "--tls-key", "{key}"], "--tls-cert/--tls-key"),
        (["--public-key", "{cert}"], "--public-key"),
        (["--public-key", "{ca}"] * 65, "at most 64"),
    ],
)
def test_itsm_audit_witness_refuses_a_half_or_unusable_tls_or_key_setting(
    tmp_path: Path, tls: Tls, extra: list[str], says: str
) -> None:
    """Refused before it listens (exit 2): a certificate without its key, or the reverse, a
    certificate that is not one, a public key that is not Ed25519, too many keys."""
    given = [a.format(cert=tls.cert, key=tls.key, ca=tls.ca) for a in extra]
    answer = CliRunner().invoke(
        main, ["audit", "witness", "--dir", str(tmp_path / "w"), "--listen", "127.0.0.1:1", *given]
    )
    assert answer.exit_code == 2, answer.output
    assert says in answer.output
    assert not (tmp_path / "w").exists()
