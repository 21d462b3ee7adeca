"""E-mail in, applied (application/mail_in.py, processes/mail_in.py): messages delivered to a real
Dovecot (tests/engines/dovecot.py), read by the mail reader, applied through the one pipeline on
SQLite and PostgreSQL, each exactly once, with what could not be applied kept as a dead letter."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from email.utils import format_datetime
from typing import Any
from uuid import UUID

import pytest

from api.models import InboundMailList
from application.kinds import PERSON
from application.mail_in import MailIn
from application.pipeline import Submission
from domain.actors import Actor, Role
from domain.commands import Assign, Close, LogIncident, ResolveIncident, StartWork
from domain.directory import RegisterPerson, UpdatePerson
from domain.inbound_mail import Applied, DeadLettered, Redelivered, inbound_mail_id
from domain.incident import CommentAdded, Logged, Reopened, ResolutionCode
from infra.kept_mail import KeptMail
from infra.mail_in import ImapSettings
from processes.mail_in import MailReader
from projections.inbound_mail import inbound_mail, last_uid
from projections.incident_details import incident_details
from service.bootstrap import Services
from tests.conftest import AGENT, T0, Clock, context
from tests.engines.dovecot import Account, DovecotServer
from tests.integration.conftest import Api

#: the usual groups and agents: the incidents here are assigned to kiosk-team
pytestmark = pytest.mark.usefixtures("directory")

OUR_DOMAIN = "dpk-banten.example"
HELPDESK = "layanan@dpk-banten.example"
ADMIN = Actor(id="admin.dpk", role=Role.ADMIN)


def mail(
    sender: str,
    subject: str,
    body: str,
    message_id: str,
    **headers: str,
) -> bytes:
    lines = [
        f"From: {sender}",
        f"To: {HELPDESK}",
        f"Subject: {subject}",
        f"Message-ID: {message_id}",
        f"Date: {format_datetime(T0)}",
        *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items()),
        "Content-Type: text/plain; charset=utf-8",
        "",
        body,
        "",
    ]
    return "\r\n".join(lines).encode()


def settled(services: Services) -> None:
    """The views include every event written so far."""
    head = services.desk.recorder.max_notification_id() or 0
    assert services.runner.wait_for(head, 10)


def register(services: Services, actor_id: str, email: str, **fields: Any) -> None:
    name = actor_id.replace(".", " ").title()
    command = RegisterPerson(actor_id=actor_id, name=name, email=email, **fields)
    services.desk.execute(Submission(context(ADMIN), command, PERSON))
    settled(services)


def mail_in_for(services: Services) -> MailIn:
    return MailIn(
        services.desk,
        services.views,
        KeptMail(services.settings.data_dir / "mail" / "dead"),
        our_domain=OUR_DOMAIN,
        our_addresses={HELPDESK},
        clock=services.clock,
    )


def imap_settings(dovecot: DovecotServer, account: Account) -> ImapSettings:
    return ImapSettings(
        host=dovecot.host,
        port=dovecot.imaps_port,
        username=account.username,
        password=account.password,
        ca_file=dovecot.ca_file,
        timeout=10.0,
        idle_seconds=5.0,
    )


@pytest.fixture
def reader(
    services: Services, dovecot: DovecotServer, imap_account: Account
) -> Iterator[MailReader]:
    made = MailReader(mail_in_for(services), imap_settings(dovecot, imap_account))
    yield made
    made.reset()


@pytest.fixture
def apply(
    services: Services, dovecot: DovecotServer, imap_account: Account, reader: MailReader
) -> Any:
    def apply(*raws: bytes) -> None:
        for raw in raws:
            dovecot.deliver(imap_account.username, raw)
        reader.drain()
        settled(services)

    return apply


def row_of(services: Services, message_id: str) -> dict[str, Any]:
    row = services.views.get(inbound_mail, str(inbound_mail_id(message_id)))
    assert row is not None, f"no record of {message_id}"
    return row


def incident(services: Services, incident_id: str) -> dict[str, Any]:
    row = services.views.get(incident_details, incident_id)
    assert row is not None
    return row


def logged_by_agent(services: Services, caller: str, organisation: str | None = None) -> str:
    """An incident an agent logged for `caller`, worked to resolved; its ref."""
    command = LogIncident(
        title="Kiosk mati",
        service="kiosks-gates",
        caller=caller,
        impact="medium",
        urgency="medium",
        organisation=organisation,
    )
    outcome = services.desk.execute(Submission(context(AGENT), command))
    settled(services)
    row = incident(services, str(outcome.record_id))
    return str(row["ref"])


def resolve(services: Services, ref: str) -> None:
    desk = services.desk
    incident_id = desk.find_incident(ref)
    for command in (
        Assign(group="kiosk-team"),
        StartWork(),
        ResolveIncident(code=ResolutionCode.FIXED, notes="Kabel diganti"),
    ):
        desk.execute(Submission(context(AGENT, services.clock()), command, ref=incident_id))
    settled(services)


def events_of(services: Services, record_id: str | UUID) -> list[Any]:
    return list(services.desk.events.get(UUID(str(record_id))))


# -- new mail ----------------------------------------------------------------------------------


def test_a_new_mail_logs_an_incident_with_the_caller_found_by_address(
    services: Services, apply: Any
) -> None:
    register(
        services, "budi.santoso", "Budi@Perpus-Serang.example", organisation="perpus-kota-serang"
    )
    apply(
        mail("Budi <budi@perpus-serang.example>", "Kiosk 3 mati", "Layar hitam.", "<m1@x.example>")
    )

    row = row_of(services, "<m1@x.example>")
    assert (row["state"], row["action"], row["acted_as"]) == ("applied", "logged", "budi.santoso")
    logged = incident(services, row["record_id"])
    assert logged["ref"] == row["record_ref"]
    assert (logged["channel"], logged["caller"]) == ("email", "budi.santoso")
    assert (logged["title"], logged["description"]) == ("Kiosk 3 mati", "Layar hitam.")
    assert logged["organisation"] == "perpus-kota-serang"  # the caller's own
    first = events_of(services, row["record_id"])[0]
    assert isinstance(first, Logged)
    assert first.actor == Actor(id="budi.santoso", role=Role.REQUESTER)


def test_an_unknown_sender_is_recorded_as_such_and_reaches_only_their_own_mail(
    services: Services, apply: Any
) -> None:
    apply(mail("tamu@gmail.example", "Wi-Fi lambat", "Di lantai 2.", "<u1@gmail.example>"))
    row = row_of(services, "<u1@gmail.example>")
    logged = incident(services, row["record_id"])
    assert logged["caller"] == "mail:tamu@gmail.example"
    assert logged["organisation"] == "dpk-banten"

    # their reply comments; another unknown sender naming the same incident reaches nothing
    ref = logged["ref"]
    apply(
        mail("tamu@gmail.example", f"Re: [{ref}] Wi-Fi lambat", "Sekarang mati.", "<u2@g.example>"),
        mail("lain@gmail.example", f"Re: [{ref}] Wi-Fi lambat", "Saya juga.", "<u3@g.example>"),
    )
    assert row_of(services, "<u2@g.example>")["action"] == "commented"
    dead = row_of(services, "<u3@g.example>")
    assert dead["state"] == "dead"
    assert f"no incident {ref}" in dead["reason"]  # out of reach answers as missing
    assert [c["text"] for c in incident(services, row["record_id"])["comments"]] == [
        "Sekarang mati."
    ]


# -- replies -------------------------------------------------------------------------------------


def test_a_reply_with_the_number_in_its_subject_adds_a_public_comment(
    services: Services, apply: Any
) -> None:
    register(services, "budi.santoso", "budi@perpus.example")
    ref = logged_by_agent(services, "budi.santoso")
    body = "Masih mati pagi ini.\r\n\r\nPada 2 Mar 2026, Layanan menulis:\r\n> Kami periksa."
    apply(mail("budi@perpus.example", f"Re: [{ref}] Kiosk mati", body, "<r1@perpus.example>"))

    row = row_of(services, "<r1@perpus.example>")
    assert (row["action"], row["record_ref"]) == ("commented", ref)
    [comment] = incident(services, row["record_id"])["comments"]
    assert comment["text"] == "Masih mati pagi ini."  # the quoted history trimmed
    added = events_of(services, row["record_id"])[-1]
    assert isinstance(added, CommentAdded)
    assert added.actor.id == "budi.santoso"


def test_a_reply_to_our_message_id_finds_the_record_whatever_its_subject(
    services: Services, apply: Any
) -> None:
    register(services, "budi.santoso", "budi@perpus.example")
    ref = logged_by_agent(services, "budi.santoso")
    ours = f"<6c1d0f7e-2f43-4d0b-9a55-0d3c1e6b7a10.{ref}@{OUR_DOMAIN}>"
    apply(
        mail(
            "budi@perpus.example",
            "Pertanyaan lain",  # a subject someone edited: no number in it
            "Apakah teknisi datang hari ini?",
            "<r2@perpus.example>",
            In_Reply_To=ours,
            References=ours,
        )
    )
    row = row_of(services, "<r2@perpus.example>")
    assert (row["action"], row["record_ref"]) == ("commented", ref)


def test_a_staff_member_of_the_organisation_comments_as_staff(
    services: Services, apply: Any
) -> None:
    register(services, "budi.santoso", "budi@perpus.example", organisation="perpus-kota-serang")
    register(
        services,
        "rudi.serang",
        "rudi@perpus.example",
        organisation="perpus-kota-serang",
        roles=["agent", "admin"],
    )
    ref = logged_by_agent(services, "budi.santoso", organisation="perpus-kota-serang")
    apply(mail("rudi@perpus.example", f"[{ref}]", "Saya cek ke lokasi.", "<s1@perpus.example>"))
    row = row_of(services, "<s1@perpus.example>")
    assert row["action"] == "commented"
    added = events_of(services, row["record_id"])[-1]
    assert added.actor == Actor(id="rudi.serang", role=Role.AGENT)  # never admin by mail


def test_a_reply_asking_to_reopen_a_resolved_incident_reopens_it_within_the_window(
    services: Services, clock: Clock, apply: Any
) -> None:
    register(services, "budi.santoso", "budi@perpus.example")
    ref = logged_by_agent(services, "budi.santoso")
    resolve(services, ref)
    clock.advance(hours=2)
    apply(
        mail("budi@perpus.example", f"Re: [{ref}]", "Buka kembali, masih mati.", "<o1@p.example>")
    )

    row = row_of(services, "<o1@p.example>")
    assert row["action"] == "reopened"
    reopened = events_of(services, row["record_id"])[-1]
    assert isinstance(reopened, Reopened)
    assert reopened.reason == "Buka kembali, masih mati."
    assert incident(services, row["record_id"])["state"] == "in_progress"


def test_after_the_window_a_reopen_request_is_only_a_comment(
    services: Services, clock: Clock, apply: Any
) -> None:
    register(services, "budi.santoso", "budi@perpus.example")
    ref = logged_by_agent(services, "budi.santoso")
    resolve(services, ref)
    clock.advance(days=services.settings.reopen_window.days + 1)
    apply(mail("budi@perpus.example", f"Re: [{ref}]", "Masih mati.", "<o2@p.example>"))
    row = row_of(services, "<o2@p.example>")
    assert row["action"] == "commented"
    assert incident(services, row["record_id"])["state"] == "resolved"


def test_a_reply_to_a_closed_incident_logs_a_new_one_naming_the_old(
    services: Services, clock: Clock, apply: Any
) -> None:
    register(services, "budi.santoso", "budi@perpus.example", language="en")
    ref = logged_by_agent(services, "budi.santoso")
    resolve(services, ref)
    clock.advance(days=services.settings.reopen_window.days + 1)
    services.desk.execute(
        Submission(context(AGENT, clock()), Close(), ref=services.desk.find_incident(ref))
    )
    settled(services)
    apply(mail("budi@perpus.example", f"Re: [{ref}] Kiosk", "It is broken again.", "<c1@p.ex>"))
    row = row_of(services, "<c1@p.ex>")
    assert row["action"] == "logged"
    assert row["record_ref"] != ref
    new = incident(services, row["record_id"])
    assert new["description"] == f"A reply to {ref}, which is closed:\n\nIt is broken again."


# -- not applied -------------------------------------------------------------------------------


def test_an_auto_reply_is_ignored(services: Services, apply: Any) -> None:
    register(services, "budi.santoso", "budi@perpus.example")
    ref = logged_by_agent(services, "budi.santoso")
    apply(
        mail(
            "budi@perpus.example",
            f"Out of office: [{ref}]",
            "Saya cuti sampai Senin.",
            "<a1@p.example>",
            Auto_Submitted="auto-replied",
        )
    )
    row = row_of(services, "<a1@p.example>")
    assert row["state"] == "ignored"
    assert "Auto-Submitted" in row["reason"]
    assert incident(services, str(services.desk.find_incident(ref)))["comments"] == []


def test_a_sender_out_of_reach_is_dead_lettered_with_the_bytes_kept(
    services: Services, apply: Any
) -> None:
    register(services, "budi.santoso", "budi@perpus.example", organisation="perpus-kota-serang")
    register(services, "asep.lebak", "asep@lebak.example", organisation="perpus-kab-lebak")
    ref = logged_by_agent(services, "budi.santoso", organisation="perpus-kota-serang")
    raw = mail("asep@lebak.example", f"Re: [{ref}]", "Ini punya kami?", "<d1@lebak.example>")
    apply(raw)

    row = row_of(services, "<d1@lebak.example>")
    assert row["state"] == "dead"
    assert row["sha256"] == hashlib.sha256(raw).hexdigest()
    assert row["size"] == len(raw)
    kept = services.settings.data_dir / "mail" / "dead" / f"{row['sha256']}.eml"
    assert kept.read_bytes() == raw  # the original bytes, as the mailbox held them
    [dead] = events_of(services, row["id"])
    assert isinstance(dead, DeadLettered)
    assert incident(services, str(services.desk.find_incident(ref)))["comments"] == []


def test_the_same_message_delivered_twice_is_applied_once(
    services: Services, apply: Any, reader: MailReader
) -> None:
    raw = mail("tamu@gmail.example", "Printer macet", "Di ruang baca.", "<twice@g.example>")
    apply(raw, raw)  # two UIDs, one Message-ID

    row = row_of(services, "<twice@g.example>")
    events = events_of(services, row["id"])
    assert [type(e) for e in events] == [Applied, Redelivered]
    assert (events[0].uid, events[1].uid) == (1, 2)
    assert row["redeliveries"] == 1
    logged = [
        r for r in services.views.rows(incident_details).values() if r["title"] == "Printer macet"
    ]
    assert len(logged) == 1
    assert reader.tally.applied == 1
    assert reader.tally.duplicate == 1
    assert last_uid(services.views, events[0].uidvalidity) == 2  # the position moved past both

    # a reader that starts again from nothing reads both again and applies neither
    reader.reset()
    reader._position = (events[0].uidvalidity, 0)
    reader.drain()
    settled(services)
    assert len(events_of(services, row["id"])) == 2
    assert reader.tally.duplicate == 3


def test_a_new_uidvalidity_reads_the_mailbox_again_and_applies_nothing_twice(
    services: Services, apply: Any, reader: MailReader
) -> None:
    raw = mail("tamu@gmail.example", "AC mati", "Ruang server panas.", "<v1@g.example>")
    apply(raw)
    validity = row_of(services, "<v1@g.example>")["uidvalidity"]
    # what the reader does on a new UIDVALIDITY: from UID 0 under it (here, the same mailbox
    # seen under another number), every message found by its Message-ID
    reader.mail_in.receive(raw, uidvalidity=validity + 1, uid=1)
    settled(services)
    row = row_of(services, "<v1@g.example>")
    assert (row["uidvalidity"], row["uid"], row["redeliveries"]) == (validity + 1, 1, 1)
    assert last_uid(services.views, validity + 1) == 1


def test_a_dead_letter_is_replayed_once_its_cause_is_gone(
    services: Services, apply: Any, reader: MailReader
) -> None:
    register(services, "budi.santoso", "budi@perpus.example")
    ref = logged_by_agent(services, "budi.santoso")
    raw = mail("budi.baru@perpus.example", f"Re: [{ref}]", "Alamat baru saya.", "<rp@p.example>")
    apply(raw)
    assert row_of(services, "<rp@p.example>")["state"] == "dead"  # an address nobody has

    services.desk.execute(
        Submission(
            context(ADMIN),
            UpdatePerson(email="budi.baru@perpus.example"),
            PERSON,
            ref="budi.santoso",
        )
    )
    settled(services)
    result = reader.mail_in.replay(
        context(ADMIN, services.clock()), inbound_mail_id("<rp@p.example>")
    )
    settled(services)
    assert (result.outcome, result.action, result.record_ref) == ("applied", "commented", ref)
    row = row_of(services, "<rp@p.example>")
    assert (row["state"], row["replays"]) == ("applied", 1)
    kinds = [type(e).__name__ for e in events_of(services, row["id"])]
    assert kinds == ["DeadLettered", "Replayed", "Applied"]


def test_the_reader_follows_the_mailbox_and_waits_with_idle(
    services: Services, dovecot: DovecotServer, imap_account: Account, reader: MailReader
) -> None:
    reader.wait_seconds = 2.0
    reader.start()
    try:
        dovecot.deliver(imap_account.username, mail("a@b.example", "Satu", "1", "<f1@b.example>"))
        dovecot.deliver(imap_account.username, mail("a@b.example", "Dua", "2", "<f2@b.example>"))
        for _ in range(200):
            if reader.tally.applied == 2:
                break
            time.sleep(0.05)
    finally:
        reader.stop()
    assert reader.tally.applied == 2
    settled(services)
    assert row_of(services, "<f2@b.example>")["uid"] == 2


def test_the_mail_window_is_measured_by_the_clock_not_the_mails_date(
    services: Services, clock: Clock, apply: Any
) -> None:
    """The Date header is the sender's to write: the reopen window is judged by when the mail
    is applied."""
    register(services, "budi.santoso", "budi@perpus.example")
    ref = logged_by_agent(services, "budi.santoso")
    resolve(services, ref)
    clock.advance(days=30)
    raw = mail("budi@perpus.example", f"[{ref}]", "Reopen please", "<w1@p.example>")
    assert format_datetime(T0).encode() in raw  # dated before the window closed
    apply(raw)
    assert row_of(services, "<w1@p.example>")["action"] == "commented"


# -- over the API --------------------------------------------------------------------------------


def test_admins_and_auditors_list_the_mail_and_an_admin_replays_a_dead_letter(
    services: Services, apply: Any, api: Api
) -> None:
    apply(
        mail("a@b.example", "Satu", "1", "<l1@b.example>"),
        mail("x@y.example", "Out", "away", "<l2@y.example>", Auto_Submitted="auto-replied"),
        mail("c@d.example", "Re: [INC-999999] ?", "?", "<l3@d.example>"),  # no such incident
    )
    admin = api.client("admin.dpk", Role.ADMIN)
    auditor = api.client("auditor.bpk", Role.AUDITOR)
    agent = api.client("siti.rahma", Role.AGENT)

    everything = auditor.get("/api/v1/inbound-mail").json()
    InboundMailList.model_validate(everything)  # exactly the fields it documents
    assert {i["message_id"]: i["state"] for i in everything["items"]} == {
        "<l1@b.example>": "applied",
        "<l2@y.example>": "ignored",
        "<l3@d.example>": "dead",
    }
    [dead] = admin.get("/api/v1/inbound-mail", params={"state": "dead"}).json()["items"]
    assert "INC-999999" in dead["reason"]
    assert agent.get("/api/v1/inbound-mail").status_code == 403

    # pages: one at a time, each once
    seen, cursor = [], None
    while True:
        page = admin.get(
            "/api/v1/inbound-mail", params={"limit": 1, **({"cursor": cursor} if cursor else {})}
        ).json()
        seen += [i["message_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(i["message_id"] for i in everything["items"])
    refused = admin.get("/api/v1/inbound-mail", params={"cursor": "bm90IG91cnM"})
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid-input")
    assert admin.get("/api/v1/inbound-mail", params={"state": "lost"}).status_code == 422

    # a replay reads the kept bytes again: still no such incident, so dead again, replayed once
    replayed = admin.post(f"/api/v1/inbound-mail/{dead['id']}/replay")
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["outcome"] == "dead"
    assert auditor.post(f"/api/v1/inbound-mail/{dead['id']}/replay").status_code == 403
    applied = next(i for i in everything["items"] if i["state"] == "applied")
    again = admin.post(f"/api/v1/inbound-mail/{applied['id']}/replay")
    assert (again.status_code, again.json()["code"]) == (409, "mail-not-replayable")
    missing = admin.post(f"/api/v1/inbound-mail/{UUID(int=7)}/replay")
    assert missing.status_code == 404
    settled(services)
    assert row_of(services, "<l3@d.example>")["replays"] == 1
