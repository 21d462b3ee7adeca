"""The rules of files on records (domain/attachments.py), Given / When / Then, and the properties
that make the audit chain cover every file: the hash an event names is the hash of the bytes the
store holds under it, and a name the record keeps is always a safe one."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from hypothesis import given as for_all
from hypothesis import settings
from hypothesis import strategies as st

from application.attachments import checked, received
from domain import change, problem, service_request
from domain.attachments import (
    ALLOWED_TYPES,
    MAX_NAME,
    UNNAMED,
    Attachable,
    AttachFile,
    RemoveAttachment,
    sanitised_name,
)
from domain.errors import (
    AttachmentAlreadyRemoved,
    AttachmentNotFound,
    FileTooLarge,
    NotPermitted,
    UnsupportedFileType,
)
from domain.incident import (
    AttachmentAdded,
    AttachmentRemoved,
    Incident,
    IncidentEvent,
    InternalAttachmentAdded,
)
from infra.blobs import DirectoryBlobStore
from infra.content_types import detected_type
from tests.conftest import AGENT, CALLER, context
from tests.unit.test_incident_rules import CLOSED, LOGGED, given, then_recorded, then_rejected

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)
SHA = hashlib.sha256(PNG).hexdigest()
FILE = UUID("5f0c1f64-3b9a-4f4e-8f1e-2a7d9c3b1e00")


def file_fields(**more: object) -> dict[str, object]:
    return {
        "attachment_id": FILE,
        "name": "kiosk.png",
        "content_type": "image/png",
        "size": len(PNG),
        "sha256": SHA,
        **more,
    }


def attached() -> Incident:
    incident = given(*LOGGED)
    incident.attach_file(context(), **file_fields())  # type: ignore[arg-type]
    return given(*LOGGED, *(e for e in incident.collect_events() if isinstance(e, IncidentEvent)))


# -- attaching ---------------------------------------------------------------------------------


def test_an_agent_attaches_a_file_named_by_its_hash() -> None:
    incident = given(*LOGGED)
    incident.attach_file(context(), **file_fields(name="../../kiosk.png"))  # type: ignore[arg-type]
    then_recorded(incident, AttachmentAdded, sha256=SHA, name="kiosk.png", size=len(PNG))
    assert incident.files == {FILE: SHA}


def test_a_file_for_the_staff_only_is_an_internal_attachment() -> None:
    incident = given(*LOGGED)
    incident.attach_file(context(), **file_fields(internal=True))  # type: ignore[arg-type]
    then_recorded(incident, InternalAttachmentAdded, sha256=SHA)


def test_a_requester_cannot_attach_a_file_for_the_staff_only() -> None:
    incident = given(*LOGGED)
    then_rejected(
        incident,
        NotPermitted,
        lambda: incident.attach_file(context(CALLER), **file_fields(internal=True)),  # type: ignore[arg-type]
    )


def test_a_file_may_be_attached_to_a_closed_incident() -> None:
    incident = given(*CLOSED)
    incident.attach_file(context(), **file_fields())  # type: ignore[arg-type]
    then_recorded(incident, AttachmentAdded, attachment_id=FILE)


# -- removing ----------------------------------------------------------------------------------


def test_a_removal_keeps_the_files_hash_and_the_reason() -> None:
    incident = attached()
    incident.remove_attachment(context(), attachment_id=FILE, reason="a member's card number")
    then_recorded(
        incident, AttachmentRemoved, sha256=SHA, attachment_id=FILE, reason="a member's card number"
    )
    assert FILE in incident.removed_files


def test_a_file_is_removed_once() -> None:
    incident = attached()
    incident.remove_attachment(context(), attachment_id=FILE, reason="privacy")
    incident = given(*LOGGED, *_history(incident))
    then_rejected(
        incident,
        AttachmentAlreadyRemoved,
        lambda: incident.remove_attachment(context(), attachment_id=FILE, reason="again"),
    )


def test_a_file_not_on_the_record_cannot_be_removed() -> None:
    incident = attached()
    then_rejected(
        incident,
        AttachmentNotFound,
        lambda: incident.remove_attachment(context(), attachment_id=uuid4(), reason="privacy"),
    )


def _history(incident: Incident) -> list[IncidentEvent]:
    """The file's attachment and the events since (as `attached` left them, plus new ones)."""
    new = incident.collect_events()
    added = AttachmentAdded(
        originator_id=incident.id,
        originator_version=2,
        timestamp=context().at,
        actor=AGENT,
        correlation_id=uuid4(),
        **file_fields(),
    )
    return [added, *(e for e in new if isinstance(e, IncidentEvent))]


# -- one road for every kind --------------------------------------------------------------------


@pytest.mark.parametrize(
    "module", [service_request, problem, change], ids=["request", "problem", "change"]
)
def test_every_kind_that_takes_files_applies_its_three_attachment_events(module: object) -> None:
    aggregate = {
        service_request: service_request.ServiceRequest,
        problem: problem.Problem,
        change: change.Change,
    }[module]  # type: ignore[index]
    assert issubclass(aggregate, Attachable)
    for name in ("AttachmentAdded", "InternalAttachmentAdded", "AttachmentRemoved"):
        event = getattr(module, name)
        assert event in aggregate._appliers
        assert event.type_name == f"{aggregate.__name__}.{name}"


def test_the_commands_are_declared_once_and_shared_by_every_kind() -> None:
    from application.kinds import ATTACHABLE

    for kind in ATTACHABLE:
        assert kind.commands["attach"] is AttachFile
        assert kind.commands["remove-attachment"] is RemoveAttachment


# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("../../../etc/passwd", "passwd"),
        ("C:\\Windows\\system32\\kiosk.log", "kiosk.log"),
        ("\x1b[31mmerah\x07.txt", "[31mmerah.txt"),
        ("laporan\u202egnp.txt", "laporangnp.txt"),
        ("  .hidden  file.txt ", "hidden file.txt"),
        ("..", UNNAMED),
        ("", UNNAMED),
        ("tangkapan layar kartu anggota.png", "tangkapan layar kartu anggota.png"),
        ("x" * 500 + ".pdf", "x" * (MAX_NAME - 4) + ".pdf"),
    ],
)
def test_a_name_is_sanitised(raw: str, kept: str) -> None:
    assert sanitised_name(raw) == kept


@for_all(st.text(max_size=600))
def test_a_sanitised_name_is_always_a_safe_one(raw: str) -> None:
    name = sanitised_name(raw)
    assert 1 <= len(name) <= MAX_NAME
    assert "/" not in name
    assert "\\" not in name
    assert not name.startswith(".")
    assert name.isprintable()
    assert sanitised_name(name) == name  # sanitising twice changes nothing


# -- types from the bytes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0" + bytes(40), "image/jpeg"),
        (b"%PDF-1.7\n" + bytes(40), "application/pdf"),
        ("log kiosk: gagal membaca kartu — ümlaut\r\n\tlagi\n".encode(), "text/plain"),
    ],
)
def test_allowed_types_are_told_from_the_bytes(data: bytes, kind: str) -> None:
    assert detected_type(data) == kind
    assert checked(data, limit=1 << 20) == kind


@pytest.mark.parametrize(
    "data",
    [
        b"MZ\x90\x00" + bytes(60),
        b"PK\x03\x04" + bytes(60),
        b"\x00\x01\x02binary",
        b"\x1b[2Jtext",
        "a C1 control \u0085 in text".encode(),
        b"not UTF-8 \xff\xfe",
    ],
)
def test_other_bytes_are_refused_whatever_they_are_called(data: bytes) -> None:
    with pytest.raises(UnsupportedFileType):
        checked(data, limit=1 << 20)


def test_a_file_past_the_limit_is_refused_before_its_type_is_read() -> None:
    with pytest.raises(FileTooLarge):
        checked(b"x" * 1025, limit=1024)
    assert checked(b"x" * 1024, limit=1024) == "text/plain"


# -- the store and the events agree ---------------------------------------------------------------


texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\x00"),
    min_size=1,
    max_size=2000,
).map(lambda text: ("log: " + text).encode())  # no magic number by chance
files = st.lists(st.tuples(st.text(max_size=80), texts | st.just(PNG)), min_size=1, max_size=8)


@settings(max_examples=40, deadline=None)
@for_all(files)
def test_the_hashes_the_events_name_are_those_of_the_bytes_stored(
    uploads: list[tuple[str, bytes]],
) -> None:
    with tempfile.TemporaryDirectory() as root:
        store = DirectoryBlobStore(Path(root))
        incident = given(*LOGGED)
        for name, data in uploads:
            command = received(store, name, data, limit=1 << 20)
            incident.attach_file(context(), **command.__dict__)
        events = incident.collect_events()
        assert len(events) == len(uploads)
        for event, (_, data) in zip(events, uploads, strict=True):
            assert isinstance(event, AttachmentAdded)
            held = store.get(event.sha256)
            assert held == data
            assert hashlib.sha256(held).hexdigest() == event.sha256
            assert event.size == len(data)
            assert event.content_type in ALLOWED_TYPES
        assert not list(Path(root).rglob(".incoming-*"))  # no half-written file is left


def test_a_blob_deleted_is_gone_and_storing_twice_stores_once(tmp_path: Path) -> None:
    store = DirectoryBlobStore(tmp_path)
    assert store.put(PNG) == store.put(PNG) == SHA
    assert len([p for p in tmp_path.rglob("*") if p.is_file()]) == 1
    store.delete(SHA)
    assert store.get(SHA) is None
    assert not store.has(SHA)
    with pytest.raises(ValueError, match="SHA-256"):
        store.get("../../etc/passwd")
