"""Evidence packs are closed: a file the manifest does not list, a listed file missing, a name
twice or one that leads out of the pack, a pack re-signed with a key the auditor does not hold,
or a ledger that contradicts a checkpoint the auditor holds, each fails `verify_pack` with its
reason; the good pack passes. And the pack says whether the served views matched the record at
export, on both backends."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit import chain
from audit.chain import Checkpoint
from audit.evidence import PackReport, export_pack, verify_pack
from audit.keys import key_id, load_public, public_pem
from infra.settings import Settings
from service.bootstrap import Services, build
from tests.conftest import Clock
from tests.integration.audit_tamper import Attacker
from tests.integration.test_audit_ledger import audit
from tests.integration.test_audit_views import SCRIPT
from tests.integration.test_projections import drive, log


@dataclass
class Exported:
    pack: bytes
    key: Ed25519PrivateKey
    #: The checkpoints the auditor took at export, and one taken after it.
    held: list[Checkpoint]
    later: Checkpoint
    #: Positions of the pack's ledger extract.
    ledger: list[int]


def exported_pack(services: Services) -> bytes:
    a = audit(services)
    out = io.BytesIO()
    export_pack(
        out,
        a.store,
        services.desk.mapper,
        a.key,
        None,
        None,
        services.clock(),
        views=lambda: a.audit_views(services.desk.recorder),
    )
    return out.getvalue()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exported]:
    data_dir = tmp_path_factory.mktemp("packs") / "var"
    services = build(Settings(data_dir=data_dir, audit_follow=False), clock=Clock())
    try:
        drive(services, SCRIPT)
        services.runner.catch_up()
        a = audit(services)
        a.ledger.checkpoint_now()
        pack = exported_pack(services)
        held = a.store.checkpoints()
        log(services, 9)
        later = a.ledger.checkpoint_now()
        assert later is not None
        with zipfile.ZipFile(io.BytesIO(pack)) as z:
            lines = z.read("ledger.ndjson").splitlines()
        ledger = [orjson.loads(line)["position"] for line in lines]
        yield Exported(pack, a.key, held, later, ledger)
    finally:
        services.close()


def rewritten(
    pack: bytes,
    *,
    drop: tuple[str, ...] = (),
    add: tuple[tuple[str, bytes], ...] = (),
    resign: Ed25519PrivateKey | None = None,
) -> io.BytesIO:
    """The pack with files dropped and added (none listed in the manifest), or re-signed
    throughout (manifest, checkpoints and public key) with another key."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(pack)) as z, zipfile.ZipFile(out, "w") as new:
        files = {name: z.read(name) for name in z.namelist() if name not in drop}
        if resign is not None:
            files.update(resigned(files, resign))
        for name, body in files.items():
            new.writestr(name, body)
        for name, body in add:
            new.writestr(name, body)
    out.seek(0)
    return out


def resigned(files: dict[str, bytes], key: Ed25519PrivateKey) -> dict[str, bytes]:
    ids = key_id(key.public_key())
    checkpoints = b"".join(
        orjson.dumps(signed(key, c.position, c.hash).as_json()) + b"\n"
        for c in map(Checkpoint.from_json, map(orjson.loads, files["checkpoints.ndjson"].split()))
    )
    changed = {"checkpoints.ndjson": checkpoints, "public-key.pem": public_pem(key.public_key())}
    manifest = orjson.loads(files["manifest.json"])
    manifest["key_id"] = ids
    for name, body in changed.items():
        manifest["files"][name] = hashlib.sha256(body).hexdigest()
    body = orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    return {**changed, "manifest.json": body, "manifest.sig": key.sign(body).hex().encode()}


def signed(key: Ed25519PrivateKey, position: int, head_hash: bytes) -> Checkpoint:
    at, kid = "2026-03-02T09:00:00+00:00", key_id(key.public_key())
    message = chain.signed_message(position, head_hash, at, kid)
    return Checkpoint(position, head_hash, at, kid, key.sign(message))


def failed(report: PackReport, reason: str) -> None:
    assert not report.ok
    assert reason in report.problems[0], report.problems


def test_the_good_pack_passes_with_the_auditors_key_and_held_checkpoints(
    exported: Exported,
) -> None:
    held = [*exported.held, exported.later]  # one taken after the export: beyond the pack, fine
    report = verify_pack(io.BytesIO(exported.pack), [exported.key.public_key()], held)
    assert report.ok, report.problems
    assert report.auditor_key
    assert report.held_checkpoints_reached == len(exported.held)
    assert report.views_matched is True


def test_without_the_auditors_key_it_says_the_pack_was_checked_only_against_its_own(
    exported: Exported,
) -> None:
    report = verify_pack(io.BytesIO(exported.pack))
    assert report.ok, report.problems
    assert not report.auditor_key
    assert any("checked only against the key the pack carries" in n for n in report.notes)


def test_a_file_the_manifest_does_not_list_fails(exported: Exported) -> None:
    pack = rewritten(exported.pack, add=(("reports/extra.json", b"{}"),))
    failed(
        verify_pack(pack, [exported.key.public_key()]),
        "reports/extra.json: in the pack but not listed in its manifest",
    )


@pytest.mark.parametrize("name", ["events.ndjson", "views.json", "ledger.ndjson"])
def test_a_file_the_manifest_lists_missing_from_the_pack_fails(
    exported: Exported, name: str
) -> None:
    pack = rewritten(exported.pack, drop=(name,))
    failed(verify_pack(pack, [exported.key.public_key()]), f"{name} is listed in the manifest")


def test_a_name_twice_in_the_pack_fails(exported: Exported) -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        pack = rewritten(exported.pack, add=(("events.ndjson", b""),))
    failed(verify_pack(pack, [exported.key.public_key()]), "events.ndjson is in the pack twice")


@pytest.mark.parametrize(
    "name", ["../evil.sh", "/etc/cron.d/evil", "reports/../../evil", "reports\\..\\evil", "C:x"]
)
def test_a_name_leading_out_of_the_pack_fails(exported: Exported, name: str) -> None:
    pack = rewritten(exported.pack, add=((name, b"x"),))
    failed(verify_pack(pack, [exported.key.public_key()]), "is not a plain file name")


def test_a_pack_re_signed_with_a_key_the_auditor_does_not_hold_fails(exported: Exported) -> None:
    forger = Ed25519PrivateKey.generate()
    pack = rewritten(exported.pack, resign=forger).getvalue()
    alone = verify_pack(io.BytesIO(pack))  # consistent in itself: only the auditor's key tells
    assert alone.ok, alone.problems
    assert alone.key_id == key_id(forger.public_key())
    failed(
        verify_pack(io.BytesIO(pack), [exported.key.public_key()]),
        f"the pack's key {key_id(forger.public_key())} is not one of the trusted keys",
    )


def test_checkpoints_you_hold_that_the_ledger_contradicts_fail(exported: Exported) -> None:
    inside = exported.ledger[len(exported.ledger) // 2]
    forged_history = signed(exported.key, inside, bytes(32))
    failed(
        verify_pack(io.BytesIO(exported.pack), [exported.key.public_key()], [forged_history]),
        f"position {inside}: the pack's ledger differs from the checkpoint you hold",
    )
    last = exported.held[-1]
    other_head = signed(exported.key, last.position, bytes(32))
    failed(
        verify_pack(io.BytesIO(exported.pack), held=[other_head]),
        f"position {last.position}: the pack's signed checkpoint differs from the one you hold",
    )


def test_checkpoints_you_hold_signed_by_another_key_than_the_packs_fail(
    exported: Exported,
) -> None:
    theirs = signed(Ed25519PrivateKey.generate(), exported.later.position, exported.later.hash)
    failed(
        verify_pack(io.BytesIO(exported.pack), held=[theirs]),
        f"a checkpoint you hold, at position {theirs.position}: checkpoint signed by key",
    )


def views_json(pack: bytes) -> dict[str, object]:
    with zipfile.ZipFile(io.BytesIO(pack)) as z:
        found: dict[str, object] = orjson.loads(z.read("views.json"))
    return found


def test_the_pack_says_whether_the_served_views_matched_the_record_at_export(
    make_settings: Callable[[], Settings], clock: Clock
) -> None:
    services = build(make_settings().model_copy(update={"audit_follow": False}), clock=clock)
    try:
        drive(services, SCRIPT)
        services.runner.catch_up()
        audit(services).ledger.checkpoint_now()
        good = exported_pack(services)
        views = views_json(good)
        assert views["ok"] is True
        entries = views["views"]
        assert isinstance(entries, list)
        details = next(v for v in entries if v["view"] == "incident_details")
        assert details["matched"] is True
        assert details["rows"] == 3
        assert details["position"] == services.desk.recorder.max_notification_id()
        assert len(details["digest"]) == 64
        with Attacker(services.settings) as attacker:
            attacker.sql_views("DELETE FROM view_sla_clocks")
        bad = exported_pack(services)
    finally:
        services.close()
    assert views_json(bad)["not_matched"] == ["sla_clocks"]
    report = verify_pack(io.BytesIO(bad), [audit_key(good)])
    assert report.ok, report.problems  # the pack is sound; what it says is that a view was not
    assert report.views_matched is False
    assert any("did not match" in note and "sla_clocks" in note for note in report.notes)


def audit_key(pack: bytes) -> Ed25519PublicKey:
    with zipfile.ZipFile(io.BytesIO(pack)) as z:
        return load_public(z.read("public-key.pem"))
