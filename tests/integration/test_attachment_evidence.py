"""Attachments travel into the evidence pack (docs/attachments.md, docs/audit.md): the events
always name every file by its SHA-256; `itsm audit export --with-attachments` puts the bytes in
too, each under its hash and listed in the signed manifest, and leaves out a file removed for
privacy. `verify-pack` passes such a pack and fails one whose file was changed or renamed."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from uuid import UUID

import orjson
import pytest
from click.testing import CliRunner, Result

from application.attachments import received
from application.kinds import INCIDENT
from application.pipeline import Submission
from cli.main import main
from domain.attachments import RemoveAttachment
from infra.settings import Settings
from service.bootstrap import build
from tests.conftest import context
from tests.integration.test_projections import log

SCREEN = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(300)
CARD = b"%PDF-1.7\n" + b"kartu anggota 3602-0001\n" * 20
LOG = b"kiosk-3: RFID timeout\n" * 40


def itsm(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A record with three files on one incident, one of them removed for privacy."""
    directory = tmp_path / "var"
    services = build(Settings(data_dir=directory, audit_follow=False))
    try:
        incident: UUID = log(services, 1)
        ids = []
        for name, data in (("screen.png", SCREEN), ("card.pdf", CARD), ("kiosk.log", LOG)):
            command = received(services.blobs, name, data, limit=1 << 20)
            services.desk.execute(Submission(context(), command, INCIDENT, ref=incident))
            ids.append(command.attachment_id)
        removal = RemoveAttachment(attachment_id=ids[1], reason="a member's card number")
        services.desk.execute(Submission(context(), removal, INCIDENT, ref=incident))
        services.blobs.delete(hashlib.sha256(CARD).hexdigest())
    finally:
        services.close()
    return directory


def members(pack: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(pack) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_the_pack_holds_the_bytes_by_option_and_the_hashes_always(
    data_dir: Path, tmp_path: Path
) -> None:
    plain, full = tmp_path / "plain.zip", tmp_path / "full.zip"
    assert itsm("audit", "export", "--data-dir", data_dir, plain).exit_code == 0
    exported = itsm("audit", "export", "--data-dir", data_dir, "--with-attachments", full)
    assert exported.exit_code == 0, exported.output

    hashes = {hashlib.sha256(data).hexdigest() for data in (SCREEN, CARD, LOG)}
    for pack in (plain, full):
        events = [orjson.loads(line) for line in members(pack)["events.ndjson"].splitlines()]
        named = {
            orjson.loads(e["state"])["sha256"]
            if isinstance(e["state"], str)
            else e["state"]["sha256"]
            for e in events
            if e["topic"].endswith("AttachmentAdded")
        }
        assert named == hashes  # the removed file's hash stays on the record
        checked = itsm("audit", "verify-pack", pack)
        assert checked.exit_code == 0, checked.output

    assert not [name for name in members(plain) if name.startswith("attachments/")]
    files = {name: data for name, data in members(full).items() if name.startswith("attachments/")}
    assert files == {
        f"attachments/{hashlib.sha256(SCREEN).hexdigest()}": SCREEN,
        f"attachments/{hashlib.sha256(LOG).hexdigest()}": LOG,
    }
    manifest = orjson.loads(members(full)["manifest.json"])
    assert {name: manifest["files"][name] for name in files} == {
        name: name.removeprefix("attachments/") for name in files
    }


def test_a_pack_whose_file_was_changed_fails(data_dir: Path, tmp_path: Path) -> None:
    full = tmp_path / "full.zip"
    assert (
        itsm("audit", "export", "--data-dir", data_dir, "--with-attachments", full).exit_code == 0
    )
    name = f"attachments/{hashlib.sha256(LOG).hexdigest()}"
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(full) as source, zipfile.ZipFile(tampered, "w") as out:
        for member in source.namelist():
            data = source.read(member)
            out.writestr(member, data.replace(b"RFID", b"rfid") if member == name else data)
    refused = itsm("audit", "verify-pack", tampered)
    assert refused.exit_code == 1
    assert f"{name} does not match its hash" in orjson.loads(refused.stdout)["problems"][0]
