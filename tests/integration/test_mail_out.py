"""E-mail out against a real SMTP server (aiosmtpd, tests/engines/smtp.py): a notification is
handed over in plain SMTP, STARTTLS with AUTH and TLS from the first byte, arrives as it was
built, and the server's reply to DATA comes back as the receipt; every way it can go wrong is a
DeliveryFailed that says why, permanent only when the server said 5xx; one connection carries a
burst of messages and is opened again when the server dropped it."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from pydantic import SecretStr

from infra.delivery import DeliveryFailed
from infra.mail_out import SmtpSender, SmtpSettings
from infra.settings import Settings
from tests.engines import smtp
from tests.engines.smtp import SmtpServer
from tests.engines.tls import make_tls

# The engine's fixtures, for this module's tests (as the PKCS#11 tests take SoftHSM2's).
smtp_server = smtp.smtp_server
smtp_servers = smtp.smtp_servers

SENDER = "Layanan TIK DPK Banten <layanan@dpk-banten.example>"
USER, PASSWORD = "notifier", "kata-sandi-rahasia"


def notification(number: int = 123, to: str = "budi.santoso@perpus-serang.example") -> EmailMessage:
    """A message shaped as the notifier builds them: text and HTML, its own Message-ID, a
    reply to the earlier one, and marked as sent by a machine (RFC 3834)."""
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = f"Budi Santoso <{to}>"
    message["Subject"] = f"[INC-{number:06d}] Insiden Anda telah diselesaikan"
    message["Message-ID"] = f"<inc-{number:06d}.resolved@dpk-banten.example>"
    message["In-Reply-To"] = f"<inc-{number:06d}.logged@dpk-banten.example>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        "Halo Budi,\n\nInsiden INC-000123 telah diselesaikan.\n.\nBalas email ini untuk"
        " membukanya kembali, sampai 7 Maret 2026. Terima kasih — Layanan TIK\n"
    )
    message.add_alternative(
        "<p>Halo Budi,</p><p>Insiden <b>INC-000123</b> telah diselesaikan.</p>", subtype="html"
    )
    return message


def settings_for(server: SmtpServer, **given: object) -> SmtpSettings:
    options: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "from_address": SENDER,
        "security": server.mode or "none",
        "timeout": 10.0,
    }
    if server.mode is not None:
        options["ca_file"] = server.ca_file
    if server.credentials is not None:
        options.update(username=server.credentials[0], password=SecretStr(server.credentials[1]))
    options.update(given)
    return SmtpSettings(**options)  # type: ignore[arg-type]


def failure(sender: SmtpSender, message: EmailMessage | None = None) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as caught:
        sender.send(message or notification())
    return caught.value


def test_a_notification_over_plain_smtp_arrives_as_built_and_the_reply_to_data_is_the_receipt(
    smtp_server: SmtpServer,
) -> None:
    message = notification()
    message["Bcc"] = "arsip@dpk-banten.example"
    with SmtpSender(settings_for(smtp_server)) as sender:
        receipt = sender.send(message)

    [received] = smtp_server.wait_for(1)
    assert receipt.code == 250
    assert receipt.reply == f"250 2.0.0 Ok: queued as {received.queue_id}"
    assert received.mail_from == "layanan@dpk-banten.example"
    assert received.rcpt_tos == ("budi.santoso@perpus-serang.example", "arsip@dpk-banten.example")
    arrived = received.message()
    assert received.message_id == "<inc-000123.resolved@dpk-banten.example>"
    assert arrived["In-Reply-To"] == "<inc-000123.logged@dpk-banten.example>"
    assert arrived["Auto-Submitted"] == "auto-generated"
    assert arrived["Bcc"] is None  # in the envelope only, as a blind copy must be
    assert arrived.get_content_type() == "multipart/alternative"
    text = arrived.get_body(("plain",))
    html = arrived.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "Terima kasih — Layanan TIK" in text.get_content()
    assert "\r\n.\r\n" in text.get_content()  # a line of one dot survives the dot-stuffing
    assert "<b>INC-000123</b>" in html.get_content()
    assert not received.encrypted


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_over_tls_the_certificate_is_verified_with_the_ca_file_and_auth_logs_in(
    smtp_servers: Callable[..., SmtpServer], mode: str
) -> None:
    server = smtp_servers(tls=mode, credentials=(USER, PASSWORD))
    with SmtpSender(settings_for(server)) as sender:
        receipt = sender.send(notification())

    [received] = server.wait_for(1)
    assert receipt.reply.endswith(received.queue_id)
    assert received.encrypted
    assert received.login == USER


def test_the_smtp_settings_reach_the_relay_from_the_environment(
    smtp_servers: Callable[..., SmtpServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = smtp_servers(tls="starttls", credentials=(USER, PASSWORD))
    for name, value in {
        "HOST": server.host,
        "PORT": str(server.port),
        "USERNAME": USER,
        "PASSWORD": PASSWORD,
        "CA_FILE": str(server.ca_file),
        "FROM": SENDER,
    }.items():
        monkeypatch.setenv(f"ITSM_SMTP_{name}", value)
    smtp = Settings().smtp()
    assert smtp is not None
    assert smtp.security == "starttls"

    with SmtpSender(smtp) as sender:
        sender.send(notification())

    assert server.wait_for(1)[0].login == USER


def test_a_wrong_password_is_a_permanent_failure_with_the_servers_535(
    smtp_servers: Callable[..., SmtpServer],
) -> None:
    server = smtp_servers(tls="starttls", credentials=(USER, PASSWORD))
    with SmtpSender(settings_for(server, password=SecretStr("salah"))) as sender:
        failed = failure(sender)

    assert failed.permanent
    assert failed.reason.startswith("AUTH: 535")
    assert "salah" not in failed.reason
    assert server.failed_logins == 1
    assert server.received == []


def test_mail_without_auth_to_a_server_that_requires_it_is_refused_permanently(
    smtp_servers: Callable[..., SmtpServer],
) -> None:
    server = smtp_servers(tls="starttls", credentials=(USER, PASSWORD))
    with SmtpSender(settings_for(server, username=None, password=None)) as sender:
        failed = failure(sender)

    assert failed.permanent
    assert failed.reason.startswith("MAIL FROM <layanan@dpk-banten.example>: 530")


def test_a_451_is_transient_and_the_same_connection_takes_the_next_message(
    smtp_server: SmtpServer,
) -> None:
    smtp_server.fail_next(1, "451 4.3.0 Mail server temporarily rejected message")
    with SmtpSender(settings_for(smtp_server)) as sender:
        failed = failure(sender)
        sender.send(notification(124))

    assert not failed.permanent
    assert failed.reason == "end of DATA: 451 4.3.0 Mail server temporarily rejected message"
    assert [r.message_id for r in smtp_server.wait_for(1)] == [
        "<inc-000124.resolved@dpk-banten.example>"
    ]
    assert smtp_server.connections == 1


def test_a_550_is_permanent_with_the_servers_words(smtp_server: SmtpServer) -> None:
    smtp_server.fail_next(1, "550 5.1.1 <budi.santoso@perpus-serang.example>: no such user")
    with SmtpSender(settings_for(smtp_server)) as sender:
        failed = failure(sender)

    assert failed.permanent
    assert "550 5.1.1 <budi.santoso@perpus-serang.example>: no such user" in failed.reason
    assert smtp_server.received == []


def test_a_server_that_is_down_is_a_transient_failure_and_is_used_again_once_back(
    smtp_server: SmtpServer,
) -> None:
    with SmtpSender(settings_for(smtp_server)) as sender:
        sender.send(notification(1))
        smtp_server.stop()
        failed = failure(sender)
        smtp_server.start()
        sender.send(notification(2))

    assert not failed.permanent
    assert "connection refused" in failed.reason
    assert len(smtp_server.wait_for(2)) == 2


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections and never says a word (no SMTP greeting)."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(8)
        yield listening.getsockname()[1]


def test_a_server_that_does_not_answer_in_time_is_a_transient_failure(silent_port: int) -> None:
    settings = SmtpSettings(
        host="127.0.0.1", port=silent_port, from_address=SENDER, security="none", timeout=0.5
    )
    with SmtpSender(settings) as sender:
        failed = failure(sender)

    assert not failed.permanent
    assert "no answer within 0.5 s" in failed.reason


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_a_certificate_from_another_ca_is_refused_as_a_transient_failure_naming_the_certificate(
    smtp_servers: Callable[..., SmtpServer], tmp_path: Path, mode: str
) -> None:
    server = smtp_servers(tls=mode, credentials=(USER, PASSWORD))
    stranger = make_tls(tmp_path / "another", "another CA")
    with SmtpSender(settings_for(server, ca_file=stranger.ca)) as sender:
        failed = failure(sender)

    assert not failed.permanent
    assert "certificate is not trusted" in failed.reason
    assert server.failed_logins == 0  # the password never left
    assert server.received == []


def test_starttls_is_never_skipped_when_the_server_does_not_offer_it(
    smtp_server: SmtpServer,
) -> None:
    with SmtpSender(settings_for(smtp_server, security="starttls")) as sender:
        failed = failure(sender)

    assert not failed.permanent
    assert failed.reason == "STARTTLS: the server does not offer it"
    assert smtp_server.received == []


def test_fifty_messages_go_over_one_connection(smtp_servers: Callable[..., SmtpServer]) -> None:
    server = smtp_servers(tls="starttls", credentials=(USER, PASSWORD))
    with SmtpSender(settings_for(server)) as sender:
        receipts = [sender.send(notification(n)) for n in range(50)]

    received = server.wait_for(50)
    assert server.connections == 1
    assert [r.reply for r in receipts] == [
        f"250 2.0.0 Ok: queued as {r.queue_id}" for r in received
    ]
    assert len({r.message_id for r in received}) == 50


def test_a_connection_the_server_dropped_while_idle_is_opened_again_for_the_next_message(
    smtp_servers: Callable[..., SmtpServer],
) -> None:
    server = smtp_servers(tls="starttls", credentials=(USER, PASSWORD))
    with SmtpSender(settings_for(server)) as sender:
        sender.send(notification(1))
        server.drop_connections()
        sender.send(notification(2))
        server.restart()
        sender.send(notification(3))

    assert [r.message_id for r in server.wait_for(3)] == [
        f"<inc-{n:06d}.resolved@dpk-banten.example>" for n in (1, 2, 3)
    ]
    assert server.connections == 3


def test_a_connection_lost_before_the_reply_to_data_is_transient_and_not_sent_again(
    smtp_server: SmtpServer,
) -> None:
    """The message went out; only the answer is missing. Sending it again at once could
    deliver it twice, so it is left to the notifier's retry (with the same Message-ID)."""
    smtp_server.drop_next(1)
    with SmtpSender(settings_for(smtp_server)) as sender:
        failed = failure(sender)
        sender.send(notification(124))

    assert not failed.permanent
    assert "may have accepted" in failed.reason
    assert smtp_server.connections == 2
    assert len(smtp_server.wait_for(1)) == 1


def test_a_message_without_recipients_fails_permanently_without_a_connection(
    smtp_server: SmtpServer,
) -> None:
    message = notification()
    del message["To"]
    with SmtpSender(settings_for(smtp_server)) as sender:
        failed = failure(sender, message)

    assert failed.permanent
    assert smtp_server.connections == 0


def test_a_recipient_that_is_no_address_fails_permanently_without_a_connection(
    smtp_server: SmtpServer,
) -> None:
    message = notification(to="budi.santoso")
    with SmtpSender(settings_for(smtp_server)) as sender:
        failed = failure(sender, message)

    assert failed.permanent
    assert failed.reason == "'budi.santoso' is no e-mail address"
    assert smtp_server.connections == 0
