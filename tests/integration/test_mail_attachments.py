"""A mail's attachments become the new incident's or the comment's attachments (docs/mail-in.md,
docs/attachments.md), on both backends: each checked as an upload is (its type from its bytes, its
size, its name sanitised) and stored before the event names it; a file that fails is left out and
the message's words are applied all the same."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from uuid import UUID

from application.mail_in import MailIn
from domain.incident import AttachmentAdded, CommentAdded, Logged
from infra.kept_mail import KeptMail
from service.bootstrap import Services
from tests.conftest import T0
from tests.integration.test_mail_apply import HELPDESK, OUR_DOMAIN, events_of, row_of, settled

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(500)
LOG = b"kiosk-3: kartu tidak terbaca\n" * 30
EXE = b"MZ\x90\x00" + bytes(500)


def mail_in(services: Services) -> MailIn:
    return MailIn(
        services.desk,
        services.views,
        KeptMail(services.settings.data_dir / "mail" / "dead"),
        our_domain=OUR_DOMAIN,
        our_addresses={HELPDESK},
        clock=services.clock,
        blobs=services.blobs,
        max_attachment_bytes=services.settings.max_attachment_bytes,
    )


def message(subject: str, message_id: str, *files: tuple[str, bytes, str]) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Budi <budi@perpus-serang.example>"
    mail["To"] = HELPDESK
    mail["Subject"] = subject
    mail["Message-ID"] = message_id
    mail["Date"] = format_datetime(T0)
    mail.set_content("Layar kiosk 3 hitam, lihat lampiran.")
    for name, data, kind in files:
        maintype, subtype = kind.split("/")
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return mail.as_bytes()


def added(services: Services, record_id: str | UUID) -> list[Any]:
    return [e for e in events_of(services, record_id) if isinstance(e, AttachmentAdded)]


def test_a_new_mails_files_become_the_new_incidents_attachments(services: Services) -> None:
    raw = message(
        "Kiosk 3 mati",
        "<f1@perpus-serang.example>",
        ("layar kiosk.png", PNG, "image/png"),
        ("../../setup.exe", EXE, "image/png"),  # an executable, whatever it says: left out
        ("kiosk.log", LOG, "text/plain"),
    )
    mail_in(services).receive(raw)
    settled(services)
    row = row_of(services, "<f1@perpus-serang.example>")
    assert row["action"] == "logged"
    events = events_of(services, row["record_id"])
    assert isinstance(events[0], Logged)
    files = added(services, row["record_id"])
    assert [(f.name, f.content_type) for f in files] == [
        ("layar kiosk.png", "image/png"),
        ("kiosk.log", "text/plain"),
    ]
    for file, data in zip(files, (PNG, LOG), strict=True):
        assert file.sha256 == hashlib.sha256(data).hexdigest()
        assert services.blobs.get(file.sha256) == data  # stored before the event named it
        assert file.actor.id == "mail:budi@perpus-serang.example"
    assert not services.blobs.has(hashlib.sha256(EXE).hexdigest())


def test_a_replys_files_go_on_the_incident_with_the_comment(services: Services) -> None:
    reader = mail_in(services)
    reader.receive(message("Kiosk 3 mati", "<f2@perpus-serang.example>"))
    settled(services)
    first = row_of(services, "<f2@perpus-serang.example>")
    assert added(services, first["record_id"]) == []
    ref = first["record_ref"]
    reader.receive(
        message(
            f"Re: [{ref}] Kiosk 3 mati",
            "<f3@perpus-serang.example>",
            ("foto.png", PNG, "image/png"),
        )
    )
    settled(services)
    reply = row_of(services, "<f3@perpus-serang.example>")
    assert (reply["action"], reply["record_ref"]) == ("commented", ref)
    events = events_of(services, first["record_id"])
    assert [type(e) for e in events[-2:]] == [CommentAdded, AttachmentAdded]
    assert events[-1].sha256 == hashlib.sha256(PNG).hexdigest()
