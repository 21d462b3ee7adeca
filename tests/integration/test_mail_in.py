"""The mailbox reader (infra/mail_in.py) against a real Dovecot (tests/engines/dovecot.py):
TLS verified, UIDs in order, IDLE that wakes on new mail, and a reconnect after a drop."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from infra.mail_in import ImapSettings, Mailbox, MailboxUnavailable, UidValidityChanged
from tests.engines.dovecot import Account, DovecotServer, make_ca


def message(n: int) -> bytes:
    return (
        f"From: Budi Santoso <budi@example.org>\r\n"
        f"To: helpdesk@dpk.example\r\n"
        f"Subject: Kiosk {n} mati\r\n"
        f"Message-ID: <kiosk-{n}@example.org>\r\n"
        f"\r\n"
        f"Kiosk nomor {n} tidak menyala sejak pagi.\r\n"
    ).encode()


def settings(dovecot: DovecotServer, account: Account, **changes: object) -> ImapSettings:
    given = ImapSettings(
        host=dovecot.host,
        port=dovecot.imaps_port,
        username=account.username,
        password=account.password,
        ca_file=dovecot.ca_file,
        timeout=10.0,
    )
    return replace(given, **changes)  # type: ignore[arg-type]


def test_imaps_verifies_the_servers_certificate_and_reads_the_folder(
    dovecot: DovecotServer, imap_account: Account
) -> None:
    dovecot.deliver(imap_account.username, message(1))
    with Mailbox(settings(dovecot, imap_account)) as mailbox:
        [fetched] = mailbox.fetch_after(0)
    assert fetched.uid == 1
    assert fetched.raw == message(1)  # the bytes received, untouched
    assert not fetched.too_large


def test_a_certificate_from_another_ca_is_refused(
    dovecot: DovecotServer, imap_account: Account, tmp_path: Path
) -> None:
    stranger, _, _ = make_ca(tmp_path, "not-the-servers-ca")
    mailbox = Mailbox(settings(dovecot, imap_account, ca_file=stranger))
    with pytest.raises(MailboxUnavailable, match="not trusted"):
        mailbox.connect()


def test_the_systems_cas_do_not_trust_a_private_ca(
    dovecot: DovecotServer, imap_account: Account
) -> None:
    mailbox = Mailbox(settings(dovecot, imap_account, ca_file=None))
    with pytest.raises(MailboxUnavailable, match="not trusted"):
        mailbox.connect()


def test_starttls_on_the_plain_port(dovecot: DovecotServer, imap_account: Account) -> None:
    dovecot.deliver(imap_account.username, message(1))
    given = settings(dovecot, imap_account, port=dovecot.port, security="starttls")
    with Mailbox(given) as mailbox:
        assert [f.uid for f in mailbox.fetch_after(0)] == [1]


def test_starttls_checks_the_certificate_too(
    dovecot: DovecotServer, imap_account: Account, tmp_path: Path
) -> None:
    stranger, _, _ = make_ca(tmp_path, "not-the-servers-ca")
    given = settings(
        dovecot, imap_account, port=dovecot.port, security="starttls", ca_file=stranger
    )
    with pytest.raises(MailboxUnavailable, match="not trusted"):
        Mailbox(given).connect()


def test_a_wrong_password_is_refused(dovecot: DovecotServer, imap_account: Account) -> None:
    given = settings(dovecot, imap_account, password="not-the-password")
    with pytest.raises(MailboxUnavailable, match="login refused"):
        Mailbox(given).connect()


def test_uidvalidity_is_stable_across_connections(
    dovecot: DovecotServer, imap_account: Account
) -> None:
    dovecot.deliver(imap_account.username, message(1))
    with Mailbox(settings(dovecot, imap_account)) as first:
        validity = first.uidvalidity
    with Mailbox(settings(dovecot, imap_account)) as second:
        assert second.uidvalidity == validity
        with pytest.raises(UidValidityChanged):
            second.fetch_after(0, uidvalidity=validity + 1)


def test_fetch_after_returns_only_later_messages_in_uid_order(
    dovecot: DovecotServer, imap_account: Account
) -> None:
    uids = [dovecot.deliver(imap_account.username, message(n)) for n in range(1, 6)]
    assert uids == [1, 2, 3, 4, 5]
    with Mailbox(settings(dovecot, imap_account)) as mailbox:
        validity = mailbox.uidvalidity
        after_two = mailbox.fetch_after(2, uidvalidity=validity)
        assert [f.uid for f in after_two] == [3, 4, 5]
        assert [f.raw for f in after_two] == [message(n) for n in (3, 4, 5)]
        assert [f.uid for f in mailbox.fetch_after(0, limit=2)] == [1, 2]
        assert mailbox.fetch_after(5) == []  # `6:*` would name UID 5: none is above it
        assert mailbox.fetch_after(99) == []
        dovecot.deliver(imap_account.username, message(6))  # while this connection is open
        assert [f.uid for f in mailbox.fetch_after(5)] == [6]


def test_reading_leaves_every_message_unseen_and_in_place(
    dovecot: DovecotServer, imap_account: Account
) -> None:
    dovecot.deliver(imap_account.username, message(1))
    with Mailbox(settings(dovecot, imap_account)) as mailbox:
        mailbox.fetch_after(0)
    client = dovecot.connect(imap_account.username)
    try:
        client.select("INBOX", readonly=True)
        kind, unseen = client.uid("SEARCH", "UNSEEN")
        assert kind == "OK"
        assert unseen[0].split() == [b"1"]
    finally:
        client.logout()


def test_idle_wakes_when_mail_arrives_from_another_connection(
    dovecot: DovecotServer, imap_account: Account
) -> None:
    with Mailbox(settings(dovecot, imap_account)) as mailbox:
        assert mailbox.idles
        assert mailbox.wait(0.5) is False  # nothing arrives: the time runs out
        timer = threading.Timer(0.5, dovecot.deliver, (imap_account.username, message(1)))
        started = time.monotonic()
        timer.start()
        try:
            woke = mailbox.wait(30)
        finally:
            timer.join()
        took = time.monotonic() - started
        assert woke is True
        assert took < 10, f"IDLE waited {took:.1f} s for a message appended after 0.5 s"
        assert [f.uid for f in mailbox.fetch_after(0)] == [1]


def test_a_dropped_connection_is_made_again(dovecot: DovecotServer, imap_account: Account) -> None:
    dovecot.deliver(imap_account.username, message(1))
    with Mailbox(settings(dovecot, imap_account)) as mailbox:
        validity = mailbox.uidvalidity
        assert [f.uid for f in mailbox.fetch_after(0)] == [1]
        dovecot.kick(imap_account.username)  # the server drops the connection
        dovecot.deliver(imap_account.username, message(2))
        assert [f.uid for f in mailbox.fetch_after(1, uidvalidity=validity)] == [2]


def test_an_idle_connection_dropped_is_made_again(
    dovecot: DovecotServer, imap_account: Account
) -> None:
    with Mailbox(settings(dovecot, imap_account)) as mailbox:
        threading.Timer(0.5, dovecot.kick, (imap_account.username,)).start()
        mailbox.wait(3)  # the drop comes in the middle of IDLE
        dovecot.deliver(imap_account.username, message(1))
        assert [f.uid for f in mailbox.fetch_after(0)] == [1]


def test_plain_imap_only_on_loopback(dovecot: DovecotServer, imap_account: Account) -> None:
    with pytest.raises(ValueError, match="loopback"):
        settings(dovecot, imap_account, host="mail.example.org", security="none")
    dovecot.deliver(imap_account.username, message(1))
    given = settings(dovecot, imap_account, port=dovecot.port, security="none")
    with Mailbox(given) as mailbox:
        assert [f.uid for f in mailbox.fetch_after(0)] == [1]


def test_an_unreachable_server_is_reported(imap_account: Account, dovecot: DovecotServer) -> None:
    from infra.postgres_server import free_port

    given = settings(dovecot, imap_account, port=free_port(), timeout=3.0)
    with pytest.raises(MailboxUnavailable, match="cannot connect"):
        Mailbox(given).connect()
