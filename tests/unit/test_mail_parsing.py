"""Reading received mail (application/mail_parsing.py): real-looking messages from the clients
the office's callers use, the loop rules, and any bytes at all (hypothesis)."""

from __future__ import annotations

from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.mail_parsing import (
    MAX_REPLY,
    REOPEN_PHRASES,
    TRUNCATED,
    ParsedMail,
    UnreadableMail,
    decode_bytes,
    parse,
    trim,
    wants_reopen,
)

DOMAIN = "helpdesk.dpk-banten.example"
OURS = {"layanan@helpdesk.dpk-banten.example", "noreply@helpdesk.dpk-banten.example"}
NOTIFICATION = f"<3f2b8c1e-9a4d-4b7e-8c2f-1d5e6a7b8c9d.INC-000123@{DOMAIN}>"


def read(raw: bytes) -> ParsedMail:
    return parse(raw, our_domain=DOMAIN, our_addresses=OURS)


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


GMAIL_REPLY_ID = crlf(
    f"""\
MIME-Version: 1.0
Date: Mon, 2 Mar 2026 16:05:11 +0700
References: <first@mail.gmail.com> {NOTIFICATION}
In-Reply-To: {NOTIFICATION}
Message-ID: <CAFx9Qh8m@mail.gmail.com>
Subject: Re: [INC-000123] Kiosk mandiri di lantai 2 mati
From: Budi Santoso <Budi.Santoso@Gmail.com>
To: Layanan TIK DPK Banten <layanan@helpdesk.dpk-banten.example>
Content-Type: multipart/alternative; boundary="000000000000a1b2c3"

--000000000000a1b2c3
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

Masih belum bisa, kiosknya mati lagi setelah direstart.
Mohon dicek kembali.

Pada Sen, 2 Mar 2026 pukul 15.30 Layanan TIK DPK Banten <
layanan@helpdesk.dpk-banten.example> menulis:

> Insiden INC-000123 telah diselesaikan.
> Balas surel ini bila masalah belum selesai.
>

--000000000000a1b2c3
Content-Type: text/html; charset="UTF-8"

<div dir=3D"ltr">Masih belum bisa</div>
--000000000000a1b2c3--
"""
)


def test_a_gmail_reply_in_indonesian_loses_its_quoted_history() -> None:
    mail = read(GMAIL_REPLY_ID)
    assert mail.message_id == "<CAFx9Qh8m@mail.gmail.com>"
    assert mail.sender == "budi.santoso@gmail.com"
    assert mail.sender_name == "Budi Santoso"
    assert mail.subject == "Re: [INC-000123] Kiosk mandiri di lantai 2 mati"
    assert mail.subject_refs == ("INC-000123",)
    assert mail.our_refs == ("INC-000123",)
    assert mail.record_ref == "INC-000123"
    assert mail.loop is None
    assert mail.trimmed == (
        "Masih belum bisa, kiosknya mati lagi setelah direstart.\nMohon dicek kembali."
    )
    assert "telah diselesaikan" in mail.text  # the text keeps what the reply quoted
    assert mail.wants_reopen
    assert mail.sent_at is not None
    assert mail.sent_at.utcoffset() is not None


OUTLOOK_REPLY = crlf(
    """\
From: "Rahmawati, Siti" <siti.rahmawati@perpus-serang.example>
To: layanan@helpdesk.dpk-banten.example
Subject: RE: [REQ-000042] Cetak ulang kartu anggota
Date: Tue, 3 Mar 2026 09:12:00 +0700
Message-ID: <DB9PR01MB1234@DB9PR01MB1234.eurprd01.prod.outlook.com>
Content-Type: text/plain; charset="us-ascii"

Terima kasih, kartunya sudah kami terima.

Salam,
Siti

________________________________
From: Layanan TIK DPK Banten <layanan@helpdesk.dpk-banten.example>
Sent: Monday, March 2, 2026 3:30 PM
To: Rahmawati, Siti
Subject: [REQ-000042] Cetak ulang kartu anggota

Permintaan REQ-000042 telah dipenuhi.
"""
)


def test_an_outlook_reply_is_cut_at_its_from_sent_block() -> None:
    mail = read(OUTLOOK_REPLY)
    assert mail.sender == "siti.rahmawati@perpus-serang.example"
    assert mail.sender_name == "Rahmawati, Siti"
    assert mail.subject_refs == ("REQ-000042",)
    assert mail.our_refs == ()
    assert mail.record_ref == "REQ-000042"
    assert mail.trimmed == "Terima kasih, kartunya sudah kami terima.\n\nSalam,\nSiti"
    assert not mail.wants_reopen


def test_an_outlook_original_message_separator_cuts_in_both_languages() -> None:
    for separator in ("-----Original Message-----", "-----Pesan Asli-----"):
        text = f"Sudah normal kembali.\n\n{separator}\nFrom: a\nIsi lama\n"
        assert trim(text) == "Sudah normal kembali."


def test_an_english_quote_header_and_a_signature_are_cut() -> None:
    text = (
        "The gate still beeps at every member.\n"
        "-- \n"
        "Andi, Perpustakaan Kota Cilegon\n"
        "\n"
        "On Mon, 2 Mar 2026 at 15:30, Helpdesk <layanan@helpdesk.dpk-banten.example> wrote:\n"
        "> Resolved.\n"
    )
    assert trim(text) == "The gate still beeps at every member."
    wrapped = "Still broken.\n\nOn Mon, 2 Mar 2026 at 15:30, Helpdesk\n<x@y> wrote:\n> ok\n"
    assert trim(wrapped) == "Still broken."


def test_inline_quotes_are_dropped_and_the_answers_kept() -> None:
    text = "> Apakah kiosk sudah menyala?\nBelum.\n> Lampu indikator?\nMerah.\n"
    assert trim(text) == "Belum.\nMerah."


def test_a_reply_that_is_all_quote_keeps_its_whole_text() -> None:
    text = "> hanya kutipan\n> tanpa jawaban"
    assert trim(text) == text


def test_html_only_mail_becomes_text() -> None:
    mail = EmailMessage()
    mail["From"] = "Dewi <dewi@perpus-pandeglang.example>"
    mail["Subject"] = "Wi-Fi publik tidak bisa login"
    mail["Message-ID"] = "<html-1@perpus-pandeglang.example>"
    mail.set_content(
        "<html><head><style>p{color:red}</style><script>alert(1)</script></head><body>"
        "<p>Wi-Fi publik di ruang baca <b>tidak bisa</b> login.</p>"
        "<ul><li>SSID: DPK-Publik</li><li>Sejak: 08.00</li></ul>"
        "<p>Terima kasih &amp; salam</p></body></html>",
        subtype="html",
    )
    parsed = read(mail.as_bytes())
    assert "Wi-Fi publik di ruang baca tidak bisa login." in parsed.text
    assert "SSID: DPK-Publik" in parsed.text
    assert "Terima kasih & salam" in parsed.text
    assert "alert" not in parsed.text
    assert "color" not in parsed.text
    assert "<" not in parsed.text


def test_plain_text_is_preferred_to_html() -> None:
    mail = MIMEMultipart("alternative")
    mail["From"] = "a@example.org"
    mail["Subject"] = "x"
    mail.attach(MIMEText("the plain words", "plain"))
    mail.attach(MIMEText("<p>the html words</p>", "html"))
    assert read(mail.as_bytes()).text == "the plain words"


def test_attachments_are_counted_not_read() -> None:
    mail = EmailMessage()
    mail["From"] = "a@example.org"
    mail["Subject"] = "Foto layar kiosk"
    mail.set_content("Terlampir fotonya.")
    mail.add_attachment(b"\x89PNG....", maintype="image", subtype="png", filename="layar.png")
    mail.add_attachment("log text", filename="kiosk.log")
    parsed = read(mail.as_bytes())
    assert parsed.text == "Terlampir fotonya."
    assert parsed.attachments == 2


AUTO_REPLY = crlf(
    """\
From: Andi <andi@perpus-cilegon.example>
To: layanan@helpdesk.dpk-banten.example
Subject: Otomatis: [INC-000123] Insiden dicatat
Auto-Submitted: auto-replied
Message-ID: <oof-1@perpus-cilegon.example>

Saya sedang cuti sampai 10 Maret.
"""
)


def test_an_auto_reply_is_a_loop() -> None:
    assert read(AUTO_REPLY).loop == "Auto-Submitted: auto-replied"
    said_no = AUTO_REPLY.replace(b"auto-replied", b"no")
    assert read(said_no).loop is None


BOUNCE = crlf(
    """\
From: Mail Delivery System <MAILER-DAEMON@mx.dpk-banten.example>
To: noreply@helpdesk.dpk-banten.example
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce-1@mx.dpk-banten.example>
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

This is the mail system at host mx.dpk-banten.example.
I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.dpk-banten.example
Final-Recipient: rfc822; nobody@example.org
Action: failed
Status: 5.1.1

--B--
"""
)


def test_a_bounce_is_a_loop() -> None:
    assert read(BOUNCE).loop == "a delivery or disposition report (multipart/report)"
    plain_bounce = crlf("From: MAILER-DAEMON@mx.example.org\nSubject: failure notice\n\nSorry.\n")
    assert read(plain_bounce).loop == "sent by mailer-daemon"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Precedence: bulk", "Precedence: bulk"),
        ("Precedence: Junk", "Precedence: junk"),
        ("Precedence: list", "Precedence: list"),
        ("List-Id: <staf.perpus.example>", "a mailing list's message (List-Id)"),
        ("X-Autoreply: yes", "an automatic reply (X-Autoreply)"),
        ("X-Autorespond: yes", "an automatic reply (X-Autorespond)"),
        ("Return-Path: <>", "a null Return-Path (a bounce or an automatic reply)"),
        ("X-Loop: layanan@helpdesk.dpk-banten.example", "X-Loop names our own address"),
    ],
)
def test_loop_headers(header: str, reason: str) -> None:
    raw = crlf(f"From: a@example.org\n{header}\nSubject: s\nMessage-ID: <m@example.org>\n\nx\n")
    assert read(raw).loop == reason


def test_our_own_messages_are_loops() -> None:
    from_us = crlf("From: Layanan <LAYANAN@helpdesk.dpk-banten.example>\nSubject: s\n\nx\n")
    assert read(from_us).loop == "sent from our own address"
    our_id = crlf(f"From: a@example.org\nMessage-ID: {NOTIFICATION}\nSubject: s\n\nx\n")
    assert read(our_id).loop == "a Message-ID of our own"


def test_a_reply_carrying_our_message_id_in_references_names_its_record() -> None:
    other = f"<9e8d7c6b-5a49-4837-a625-14f3e2d1c0b9.CHG-000007@{DOMAIN}>"
    foreign = "<3f2b8c1e-9a4d-4b7e-8c2f-1d5e6a7b8c9d.INC-000999@elsewhere.example>"
    raw = crlf(
        "From: a@example.org\n"
        "Subject: Re: jadwal perubahan\n"
        "In-Reply-To: <x@mail.example.org>\n"
        f"References: {NOTIFICATION}\n {foreign}\n {other}\n\nSetuju.\n"
    )
    mail = read(raw)
    assert mail.subject_refs == ()
    assert mail.our_refs == ("CHG-000007", "INC-000123")  # newest reference first
    assert mail.record_ref == "CHG-000007"
    assert mail.references[0] == NOTIFICATION
    assert mail.in_reply_to == ("<x@mail.example.org>",)


@pytest.mark.parametrize(
    ("subject", "refs"),
    [
        ("Re: [INC-000123] Kiosk mati", ("INC-000123",)),
        ("inc-42 dan PRB-000003", ("INC-000042", "PRB-000003")),
        ("[CHG-000001][CHG-000001]", ("CHG-000001",)),
        ("XINC-000123 and INC-0 and KB-000001", ()),
        (f"INC-{'9' * 19}", ()),
    ],
)
def test_record_numbers_in_the_subject(subject: str, refs: tuple[str, ...]) -> None:
    raw = crlf(f"From: a@example.org\nSubject: {subject}\n\nx\n")
    assert read(raw).subject_refs == refs


def test_a_wrong_charset_declaration_still_reads() -> None:
    utf8_called_latin1 = (
        b"From: a@example.org\r\nSubject: =?iso-8859-1?q?Kiosk_rusak?=\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\n"
        + "Kartu anggota Ibu Sri Wahyuni \u2013 caf\u00e9 lantai 2".encode()
    )
    expected = "Kartu anggota Ibu Sri Wahyuni \u2013 caf\u00e9 lantai 2"
    assert read(utf8_called_latin1).text == expected
    latin1_called_utf8 = (
        b"From: a@example.org\r\nSubject: s\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\ncaf\xe9 rusak"
    )
    assert read(latin1_called_utf8).text == "caf\u00e9 rusak"
    unknown = crlf("From: a@example.org\nSubject: s\nContent-Type: text/plain; charset=x-no\n\nok")
    assert read(unknown).text == "ok"
    assert decode_bytes(b"abc", "unicode_escape") == "abc"


def test_raw_utf8_in_headers_is_read() -> None:
    subject = "Kartu \u2018hilang\u2019"
    raw = f"From: Sri Wahyuni <sri@example.org>\r\nSubject: {subject}\r\n\r\nx".encode()
    assert read(raw).subject == subject


def test_a_missing_message_id_is_derived_from_the_bytes() -> None:
    raw = crlf("From: a@example.org\nSubject: s\n\nx\n")
    first, again = read(raw), read(raw)
    assert first.message_id == again.message_id
    assert first.message_id.endswith("@missing-message-id.invalid>")
    assert read(raw + b"y").message_id != first.message_id
    assert first.loop is None  # derived ids are not in our domain


def test_no_sender_is_an_unknown_sender() -> None:
    assert read(crlf("Subject: s\n\nx\n")).sender is None
    assert read(crlf("From: not an address\nSubject: s\n\nx\n")).sender is None


def test_a_long_reply_is_cut_to_what_a_comment_holds() -> None:
    raw = crlf("From: a@example.org\nSubject: s\n\n") + b"kata " * 5_000
    mail = read(raw)
    assert len(mail.trimmed) == MAX_REPLY
    assert mail.trimmed.endswith(TRUNCATED)


def test_control_characters_never_reach_the_text() -> None:
    raw = b"From: a@example.org\r\nSubject: a\x01b\r\n\r\nhalo\x00 dunia\x1b\r\n"
    mail = read(raw)
    assert mail.subject == "ab"
    assert mail.text == "halo dunia"


@pytest.mark.parametrize(
    "raw", [b"", b"   \r\n", b"From: a@example.org\r\nSubject:\r\n\r\n   \r\n"]
)
def test_nothing_to_read_is_unreadable(raw: bytes) -> None:
    with pytest.raises(UnreadableMail):
        read(raw)


@pytest.mark.parametrize(
    ("first_line", "reopen"),
    [
        ("Masih belum bisa login.", True),
        ("Mohon dibuka kembali, printer macet lagi", True),
        ("Tolong buka kembali tiketnya", True),
        ("Belum selesai, pak.", True),
        ("Please reopen: the gate is still down", True),
        ("It's not fixed.", True),
        ("STILL broken", True),
        ("Terima kasih, sudah beres.", False),
        ("Thanks, all good now", False),
        ("Stillwater branch is fine", False),
    ],
)
def test_reopen_is_asked_on_the_first_line(first_line: str, reopen: bool) -> None:
    assert wants_reopen(f"{first_line}\nmasih ada baris lain yang tidak dihitung") is reopen


def test_reopen_words_below_the_first_line_do_not_reopen() -> None:
    assert not wants_reopen("Terima kasih.\nKiosk masih menyala dengan baik.")
    assert all(p == p.lower() for p in REOPEN_PHRASES)


# -- any bytes ---------------------------------------------------------------------------------

SAMPLES = [GMAIL_REPLY_ID, OUTLOOK_REPLY, AUTO_REPLY, BOUNCE]


def read_or_reason(raw: bytes) -> ParsedMail | str:
    """The parsed mail, or the reason it is unreadable: any other exception fails the test."""
    try:
        return read(raw)
    except UnreadableMail as error:
        return error.reason


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4_000))
def test_any_bytes_are_read_or_unreadable(raw: bytes) -> None:
    mail = read_or_reason(raw)
    if isinstance(mail, str):
        assert mail  # the reason, for the dead letter
        return
    assert len(mail.trimmed) <= MAX_REPLY
    assert len(mail.message_id) <= 250


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real-looking message with bytes replaced, inserted or cut out."""
    raw = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(raw)))
        what = draw(st.sampled_from(["replace", "insert", "cut"]))
        chunk = draw(
            st.one_of(
                st.binary(min_size=1, max_size=20),
                st.sampled_from(
                    [b"=?", b"?=", b"=?utf-8?b?", b"\r\n--", b"boundary=", b"charset=", b"<>"]
                ),
            )
        )
        if what == "replace":
            raw[at : at + len(chunk)] = chunk
        elif what == "insert":
            raw[at:at] = chunk
        else:
            del raw[at : at + len(chunk)]
    return bytes(raw)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_messages_are_read_or_unreadable(raw: bytes) -> None:
    mail = read_or_reason(raw)
    if isinstance(mail, str):
        assert mail
        return
    assert "\x00" not in mail.text + mail.trimmed + mail.subject + mail.sender_name


@settings(max_examples=100)
@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=300
    ).filter(str.strip)
)
def test_the_text_of_a_well_formed_message_survives(body: str) -> None:
    mail = EmailMessage()
    mail["From"] = "Budi <budi@example.org>"
    mail["Subject"] = "Laporan"
    mail.set_content(body)
    parsed = read(mail.as_bytes())
    assert parsed.sender == "budi@example.org"
    assert " ".join(parsed.text.split()) == " ".join(body.split())
