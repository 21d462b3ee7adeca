"""`itsm backup` and `itsm restore` on SQLite and PostgreSQL (docs/operations.md): a backup taken
while incidents are being posted restores to a consistent point (the audit ledger verifies, the
views equal a rebuild, every incident posted before the backup began is there); an incomplete or
altered backup and a target that is not empty are refused; and a person whose erasure the
restored record holds stays erased, even where the key store was copied before their key was
destroyed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from uuid import uuid4

import orjson
import pytest
from click.testing import CliRunner

from application.kinds import PERSON
from application.pipeline import Submission
from cli.main import main
from domain.actors import Actor, Role
from domain.context import Context
from domain.directory import ErasePerson, RegisterPerson, person_id
from infra.backup import FILES, MANIFEST, BackupRefused, RestoreRefused
from infra.settings import Settings
from infra.subject_keys import ERASED, open_subject_keys
from service.backup import backup, restore
from service.bootstrap import Services, build
from tests.conftest import Clock
from tests.directory_helpers import hold
from tests.integration.conftest import Api, serving

pytestmark = pytest.mark.empty_database  # a restore's target is an empty database

KEEPER = Actor(id="directory.keeper", role=Role.ADMIN)
INCIDENT = {
    "title": "Gerbang RFID cabang Serang tidak membaca kartu",
    "service": "kiosks-gates",
    "caller": "budi.santoso",
    "impact": "medium",
    "urgency": "high",
    "assignment_group": "kiosk-team",
}


def register(services: Services, actor_id: str, name: str) -> None:
    ctx = Context(actor=KEEPER, at=services.clock(), correlation_id=uuid4())
    command = RegisterPerson(actor_id=actor_id, name=name, email=f"{actor_id}@example.org")
    (result,) = services.desk.execute_batch([Submission(ctx, command, PERSON)])
    assert not isinstance(result, Exception), result


def record_erasure(services: Services, actor_id: str) -> None:
    """`Person.Erased` recorded, the key not yet destroyed: the state a crash between the API's
    two steps leaves (api/directory.py erase_person), and the state a key store copied between
    them holds."""
    ctx = Context(actor=KEEPER, at=services.clock(), correlation_id=uuid4())
    command = ErasePerson(reason="Permintaan penghapusan data pribadi, surat 114/2026")
    (result,) = services.desk.execute_batch([Submission(ctx, command, PERSON, ref=actor_id)])
    assert not isinstance(result, Exception), result


class Writer:
    """Posts incidents over HTTP on a thread of its own until stopped: the refs it got 201 for."""

    def __init__(self, api: Api) -> None:
        self.client = api.client()
        self.refs: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            answer = self.client.post("/api/v1/incidents", json=INCIDENT)
            assert answer.status_code == 201, answer.text
            self.refs.append(answer.json()["ref"])

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def env_of(settings: Settings) -> dict[str, str]:
    env = {"ITSM_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["ITSM_DATABASE_URL"] = settings.database_url
    return env


def verified(settings: Settings) -> dict[str, object]:
    """`itsm audit verify --views` on the restored service: the ledger, the seals, and every
    view against its rebuild."""
    answer = CliRunner().invoke(main, ["audit", "verify", "--views"], env=env_of(settings))
    assert answer.exit_code == 0, answer.output
    report: dict[str, object] = orjson.loads(answer.stdout)
    assert report["ok"] is True
    return report


@pytest.fixture
def served(make_settings: Callable[[], Settings], clock: Clock) -> Iterator[Api]:
    with closing(build(make_settings(), clock=clock)) as services:
        services.start()
        hold(services)
        with serving(services) as api:
            yield api


def test_a_backup_taken_while_incidents_are_posted_restores_to_a_consistent_point(
    served: Api, make_settings: Callable[[], Settings], clock: Clock, tmp_path: Path
) -> None:
    services = served.services
    agent = served.client()
    first = agent.post("/api/v1/incidents", json=INCIDENT).json()["ref"]
    photo = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
    upload = agent.post(
        f"/api/v1/incidents/{first}/attachments",
        files={"file": ("gerbang.png", photo, "image/png")},
        data={"internal": "false"},
    )
    assert upload.status_code == 201, upload.text
    register(services, "rina.anggota", "Rina Marlina")
    register(services, "agus.pindah", "Agus Pindahan")
    record_erasure(services, "agus.pindah")  # recorded; the key is still there
    with Writer(served) as writer:
        while len(writer.refs) < 5:
            threading.Event().wait(0.01)
        before = list(writer.refs)
        manifest = backup(services.settings, tmp_path / "backup")
        after = len(writer.refs)
    assert after > len(before), "the writer went on during the backup"
    head = services.desk.recorder.max_notification_id()
    assert manifest.position < (head or 0)
    assert {entry.part for entry in manifest.entries} >= (
        {"events.db", "views.db", "audit.db", "subject-keys.db", "attachments"}
        if manifest.backend == "sqlite"
        else {"database.dump"}
    )

    target = make_settings()
    restored = restore(tmp_path / "backup", target)
    assert (restored.erasures, restored.keys_destroyed) == (1, 1)

    with closing(build(target, clock=clock)) as again:
        assert again.desk.recorder.max_notification_id() == manifest.position
        # what follows the store was restored at or behind it, never ahead
        assert again.audit is not None
        assert again.audit.store.head()[0] <= manifest.position
        assert max(again.views.positions().values()) <= manifest.position
        keys = open_subject_keys(target.subject_keys_at)
        try:
            assert keys.key(person_id("agus.pindah")) is ERASED
            assert isinstance(keys.key(person_id("rina.anggota")), bytes)
        finally:
            keys.close()
        again.start()
        again.runner.catch_up()
        again.audit.ledger.catch_up()
        with serving(again) as api:
            reader = api.client()
            for ref in [first, *before]:
                assert reader.get(f"/api/v1/incidents/{ref}").status_code == 200, ref
            files = reader.get(f"/api/v1/incidents/{first}/attachments").json()["items"]
            (only,) = files
            got = reader.get(f"/api/v1/incidents/{first}/attachments/{only['id']}")
            assert got.content == photo
            rina = api.client("root", Role.ADMIN).get("/api/v1/directory/people/rina.anggota")
            assert rina.json()["name"] == "Rina Marlina"
    verified(target)


def test_an_incomplete_or_altered_backup_and_a_full_target_are_refused(
    served: Api, make_settings: Callable[[], Settings], tmp_path: Path
) -> None:
    served.client().post("/api/v1/incidents", json=INCIDENT)
    manifest = backup(served.services.settings, tmp_path / "backup")
    target = make_settings()

    (tmp_path / "backup" / MANIFEST).rename(tmp_path / "manifest.json")
    with pytest.raises(RestoreRefused, match="did not finish"):
        restore(tmp_path / "backup", target)
    (tmp_path / "manifest.json").rename(tmp_path / "backup" / MANIFEST)

    biggest = max(manifest.entries, key=lambda entry: entry.bytes)
    path = tmp_path / "backup" / FILES / biggest.name
    kept = path.read_bytes()
    path.write_bytes(kept[:-1] + bytes([kept[-1] ^ 1]))
    with pytest.raises(RestoreRefused, match=f"{biggest.name} does not match its SHA-256"):
        restore(tmp_path / "backup", target)
    path.write_bytes(kept)

    restore(tmp_path / "backup", target)
    with pytest.raises(RestoreRefused, match="not empty"):
        restore(tmp_path / "backup", target)
    again = restore(tmp_path / "backup", target, force=True)
    assert again.manifest.position == manifest.position
    verified(target)

    with pytest.raises(BackupRefused, match="not empty"):
        backup(served.services.settings, tmp_path / "backup")


def test_keys_kept_apart_are_needed_to_restore_and_only_their_own_backups(
    served: Api, make_settings: Callable[[], Settings], tmp_path: Path
) -> None:
    settings = served.services.settings
    manifest = backup(settings, tmp_path / "data", secrets=tmp_path / "keys")
    apart = {entry.part for entry in manifest.entries if entry.apart}
    assert apart == {"audit-seal.key", "audit-signing-key.pem"}
    data = {path.name for path in (tmp_path / "data" / FILES).iterdir()}
    assert not data & apart  # no key beside the data
    other = backup(settings, tmp_path / "other", secrets=tmp_path / "other-keys")
    assert other.entries
    target = make_settings()
    with pytest.raises(RestoreRefused, match="give their directory with --secrets"):
        restore(tmp_path / "data", target)
    with pytest.raises(RestoreRefused, match="keys of another backup"):
        restore(tmp_path / "data", target, secrets=tmp_path / "other-keys")
    check = ["restore", "--check", str(tmp_path / "data")]
    assert CliRunner().invoke(main, check).exit_code == 1
    checked = CliRunner().invoke(main, [*check, "--secrets", str(tmp_path / "keys")])
    assert checked.exit_code == 0, checked.output
    assert "complete" in checked.stdout
    restore(tmp_path / "data", target, secrets=tmp_path / "keys")
    verified(target)
