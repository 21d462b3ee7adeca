"""Key rotation is an event in the record, on both backends: the ledger checkpoints the rotation
under the key in use until then and signs with the new key after it, so an auditor holding only
the first public key verifies every later checkpoint; a key the record never introduced (through
a chained rotation that a trusted checkpoint covers) is refused, and so is a rotated-out key."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from uuid import uuid4

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from application.audit_keys import rotate_key
from audit import keys
from audit.chain import Checkpoint
from audit.evidence import ROTATIONS_EVENTS, ROTATIONS_LEDGER, export_pack, verify_pack
from audit.keys import ROTATED
from audit.ledger import Ledger
from audit.service import Audit
from audit.signers import FileSigner, Signer, SignerUnavailable
from audit.store import LEDGER_TABLES
from audit.verify import Report, verify
from domain.actors import Actor, Role
from domain.audit_key import AUDIT_KEY_ID, Rotated
from domain.context import Context
from infra.settings import Settings
from service.bootstrap import Services, build
from tests.conftest import T0, Clock
from tests.integration.audit_tamper import Attacker
from tests.integration.test_service_desk import log

ADMIN = Actor(id="ana.admin", role=Role.ADMIN)


@pytest.fixture
def ledgered(make_settings: Callable[[], Settings], clock: Clock) -> Iterator[Services]:
    """A service with a few incidents and no follower running (the test drives the ledger)."""
    settings = make_settings().model_copy(update={"audit_follow": False})
    services = build(settings, clock=clock)
    for n in range(1, 4):
        log(services, n)
    audit(services).ledger.checkpoint_now()
    yield services
    services.close()


def audit(services: Services) -> Audit:
    assert services.audit is not None
    return services.audit


def rotate(services: Services) -> tuple[Signer, Checkpoint | None]:
    ctx = Context(ADMIN, services.clock(), uuid4())
    return rotate_key(services.desk, audit(services), ctx)


def forged_rotation(services: Services, to: Signer, previous: str) -> Rotated:
    return Rotated(
        originator_id=AUDIT_KEY_ID,
        originator_version=1,
        timestamp=services.clock(),
        actor=ADMIN,
        correlation_id=uuid4(),
        public_key=keys.public_pem(to.public_key()).decode(),
        key_id=to.key_id,
        previous_key_id=previous,
    )


def with_only(services: Services, public: Ed25519PublicKey) -> Report:
    """Verify as an auditor who holds this one public key, in one pass and in segments."""
    trusted = {keys.key_id(public): public}
    store = audit(services).store
    single = verify(store, trusted, workers=1)
    assert verify(store, trusted, workers=2, segment=2).as_json() == single.as_json()
    return single


def test_rotating_twice_leaves_every_checkpoint_verifiable_with_only_the_first_public_key(
    ledgered: Services,
) -> None:
    a = audit(ledgered)
    first = a.key
    second, covered_first = rotate(ledgered)
    log(ledgered, 11)
    third, covered_second = rotate(ledgered)
    log(ledgered, 12)
    a.ledger.checkpoint_now()

    # each rotation is checkpointed at its own position under the key in use until then
    assert covered_first is not None
    assert covered_first.key_id == first.key_id
    assert covered_second is not None
    assert covered_second.key_id == second.key_id
    for covering in (covered_first, covered_second):
        assert a.store.entries(covering.position - 1, 1)[0].type == ROTATED
    signed_by = [c.key_id for c in a.store.checkpoints()]
    assert signed_by[-1] == third.key_id
    assert {first.key_id, second.key_id, third.key_id} <= set(signed_by)

    report = with_only(ledgered, first.public_key())
    assert report.ok, report.as_json()
    assert report.signed_through == a.store.head()[0]


def test_the_follower_resumes_with_the_key_the_record_rotated_to(ledgered: Services) -> None:
    a = audit(ledgered)
    new, _ = rotate(ledgered)
    restarted = Ledger(
        a.store, ledgered.desk.mapper, a.keyring.configured(), ledgered.clock, keyring=a.keyring
    )
    log(ledgered, 13)
    signed = restarted.checkpoint_now()
    assert signed is not None
    assert signed.key_id == new.key_id


def test_a_key_introduced_only_in_a_forged_unchained_row_is_not_trusted(
    ledgered: Services,
) -> None:
    a = audit(ledgered)
    first = a.key.public_key()
    position, head_hash = a.store.head()
    evil = FileSigner(Ed25519PrivateKey.generate())
    # a row in the store that no trusted checkpoint covers
    ledgered.desk.save(forged_rotation(ledgered, evil, a.key.key_id))
    forger = Ledger(a.store, ledgered.desk.mapper, evil, ledgered.clock)
    rows = a.store.stored(position, 10)
    entries = forger.entries_for(rows, head_hash)
    a.store.append(position, entries, [forger.sign(entries[-1].position, entries[-1].hash)])

    report = with_only(ledgered, first)
    assert not report.ok
    assert report.first_bad is not None
    assert report.first_bad.position == entries[-1].position
    assert "not a trusted key" in report.first_bad.reason


def test_a_rotation_inserted_behind_the_service_s_back_is_never_signed_by_the_trusted_key(
    ledgered: Services,
) -> None:
    """An intruder who adds a rotation to a key of their own to the store: the follower would
    vouch for it with the trusted key, so it refuses to sign at a rotation to a key it lacks."""
    a = audit(ledgered)
    before = a.store.last_checkpoint()
    evil = FileSigner(Ed25519PrivateKey.generate())
    ledgered.desk.save(forged_rotation(ledgered, evil, a.key.key_id))
    with pytest.raises(SignerUnavailable, match="does not hold"):
        a.ledger.catch_up()
    assert a.store.last_checkpoint() == before
    assert a.store.head()[0] < a.store.store_head()


def test_replacing_the_key_file_and_re_signing_is_found_by_the_auditor_with_the_first_key(
    ledgered: Services, make_settings: Callable[[], Settings], clock: Clock
) -> None:
    """Root on the host rewrites history, deletes the ledger, swaps the key file for a key of
    their own and lets the service re-chain and re-sign everything."""
    a = audit(ledgered)
    first = a.key.public_key()
    settings = ledgered.settings
    attacker = Attacker(settings)
    try:
        attacker.drop_triggers()
        position = next(e.position for e in a.store.entries(0, 100) if e.type == "Incident.Logged")
        state = attacker.row(position)[3]
        attacker.set_state(position, state.replace(b"kiosk", b"kiosq"))
        for table in LEDGER_TABLES:  # the whole ledger and its checkpoints
            attacker.sql_ledger(f"DELETE FROM {table}")
        assert a.ledger.seal is not None
        attacker.reseal(a.ledger.seal)  # root holds the seal key file too
    finally:
        attacker.close()
    ledgered.close()
    keys.write_private(settings.data_dir / "replaced.pem", Ed25519PrivateKey.generate())
    (settings.data_dir / "replaced.pem").replace(settings.data_dir / keys.DEFAULT_FILE)
    rebuilt = build(settings, clock=clock)
    try:
        resigned = audit(rebuilt).ledger.checkpoint_now()
        assert resigned is not None
        assert resigned.key_id != keys.key_id(first)
        assert verify(audit(rebuilt).store, audit(rebuilt).trusted_keys()).ok  # the host's view
        report = with_only(rebuilt, first)
        assert not report.ok
        assert report.first_bad is not None
        assert "not a trusted key" in report.first_bad.reason
    finally:
        rebuilt.close()


def test_a_key_the_record_rotated_out_may_not_sign_after_its_rotation(
    ledgered: Services,
) -> None:
    """Whoever kept the old key cannot sign checkpoints past the rotation with it."""
    a = audit(ledgered)
    old = a.key
    rotate(ledgered)
    log(ledgered, 14)
    a.ledger.catch_up()
    position, head_hash = a.store.head()
    stale = Ledger(a.store, ledgered.desk.mapper, old, ledgered.clock).sign(position, head_hash)
    a.store.append(position, (), [stale])

    report = with_only(ledgered, old.public_key())
    assert not report.ok
    assert report.first_bad is not None
    assert report.first_bad.position == position
    assert "rotated out" in report.first_bad.reason


# -- evidence packs follow the rotations ----------------------------------------------------------


def pack_of(services: Services, signer: Signer) -> io.BytesIO:
    out = io.BytesIO()
    export_pack(out, audit(services).store, services.desk.mapper, signer, None, None, T0)
    out.seek(0)
    return out


def test_a_pack_made_after_two_rotations_verifies_offline_with_only_the_first_public_key(
    ledgered: Services,
) -> None:
    a = audit(ledgered)
    first = a.key
    rotate(ledgered)
    log(ledgered, 15)
    third, _ = rotate(ledgered)
    log(ledgered, 16)
    a.ledger.checkpoint_now()
    assert a.key.key_id == third.key_id  # the pack is signed with the key in use now

    report = verify_pack(pack_of(ledgered, a.key), [first.public_key()], a.store.checkpoints())
    assert report.ok, report.problems
    assert report.auditor_key
    assert report.key_id == third.key_id
    assert report.held_checkpoints_reached == len(a.store.checkpoints())
    with zipfile.ZipFile(pack_of(ledgered, a.key)) as pack:
        rotations = pack.read(ROTATIONS_LEDGER).splitlines()
    assert [orjson.loads(line)["type"] for line in rotations] == [ROTATED, ROTATED]


def test_a_pack_signed_with_a_key_the_record_rotated_out_fails(ledgered: Services) -> None:
    """Whoever kept the old key cannot vouch for a pack made after the rotation with it."""
    a = audit(ledgered)
    old = a.key
    rotate(ledgered)
    log(ledgered, 17)
    a.ledger.checkpoint_now()

    report = verify_pack(pack_of(ledgered, old), [old.public_key()])
    assert not report.ok
    assert f"signed with key {old.key_id}, which the record rotated out" in report.problems[0]


def test_without_its_rotations_a_later_key_is_not_trusted_offline(ledgered: Services) -> None:
    """A pack from a record whose key rotated, stripped of the rotations (and re-made by whoever
    holds the current key): the auditor's first key no longer leads to the key it is signed
    with."""
    a = audit(ledgered)
    first = a.key
    rotate(ledgered)
    log(ledgered, 18)
    a.ledger.checkpoint_now()
    stripped = io.BytesIO()
    with (
        zipfile.ZipFile(pack_of(ledgered, a.key)) as pack,
        zipfile.ZipFile(stripped, "w") as out,
    ):
        manifest = orjson.loads(pack.read("manifest.json"))
        for name in (ROTATIONS_LEDGER, ROTATIONS_EVENTS):
            del manifest["files"][name]
        body = orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        for name in pack.namelist():
            if name not in {ROTATIONS_LEDGER, ROTATIONS_EVENTS, "manifest.json", "manifest.sig"}:
                out.writestr(name, pack.read(name))
        out.writestr("manifest.json", body)
        out.writestr("manifest.sig", a.key.sign(body).hex())
    stripped.seek(0)

    report = verify_pack(stripped, [first.public_key()])
    assert not report.ok
    assert f"the pack's key {a.key.key_id} is not one of the trusted keys" in report.problems[0]
