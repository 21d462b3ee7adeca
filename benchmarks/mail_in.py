"""E-mail in benchmark: messages applied per second, beside a bare IMAP fetch of the same mailbox.

    .venv/bin/python -m benchmarks.mail_in [--messages 500] [--rounds 1]

Measured side by side in one run, against a private Debian Dovecot (tests/engines/dovecot.py,
over IMAPS) and the service on SQLite in a temporary directory:

    imap_fetch   the reader's own fetch (infra/mail_in.py Mailbox.fetch_after, pages of 100) of
                 every message in the mailbox, doing nothing with them: the floor
    mail_apply   the mail reader (processes/mail_in.py) applying the same mailbox: each message
                 parsed, its sender looked up, an incident logged with the message's record,
                 one atomic write (fsync) each

Half the messages are new mail from people the directory knows, the other half replies to the
first ones' incidents (comments). The run stops at the first outcome it did not expect (a dead
letter, an ignored mail, one applied twice): such a run is void, not a figure. One JSON object
per line on stdout.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from uuid import uuid4

from application.kinds import PERSON
from application.mail_in import MailIn
from application.pipeline import Submission
from domain.actors import Actor, Role
from domain.context import Context
from domain.directory import RegisterPerson
from infra.kept_mail import KeptMail
from infra.mail_in import ImapSettings, Mailbox
from infra.settings import Settings
from processes.mail_in import MailReader
from service.bootstrap import build
from tests.engines.dovecot import DovecotServer, running

ADMIN = Actor(id="bench.admin", role=Role.ADMIN)
PEOPLE = 20


class Unexpected(RuntimeError):
    """An outcome the benchmark did not expect: the run is void."""


def message(n: int, reply_to: str | None) -> bytes:
    sender = f"orang{n % PEOPLE}@perpus.example"
    subject = f"Re: [{reply_to}] Kiosk {n}" if reply_to else f"Kiosk {n} mati"
    body = "Masih mati.\r\n\r\n> kutipan lama" if reply_to else f"Kiosk nomor {n} tidak menyala."
    return (
        f"From: {sender}\r\nTo: layanan@dpk-banten.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <bench-{n}-{uuid4()}@perpus.example>\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def fill(dovecot: DovecotServer, user: str, raws: list[bytes]) -> None:
    client = dovecot.connect(user)
    try:
        for raw in raws:
            kind, data = client.append("INBOX", None, None, raw)
            if kind != "OK":
                raise Unexpected(f"APPEND answered {kind}: {data!r}")
    finally:
        client.logout()


def imap(dovecot: DovecotServer, user: str) -> ImapSettings:
    account = dovecot.mailbox(user)
    return ImapSettings(
        host=dovecot.host,
        port=dovecot.imaps_port,
        username=account.username,
        password=account.password,
        ca_file=dovecot.ca_file,
    )


def bare_fetch(settings: ImapSettings, expected: int) -> float:
    start = time.perf_counter()
    got = last = 0
    with Mailbox(settings) as mailbox:
        while page := mailbox.fetch_after(last, 100):
            got += len(page)
            last = page[-1].uid
    elapsed = time.perf_counter() - start
    if got != expected:
        raise Unexpected(f"fetched {got} messages, expected {expected}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=500)
    args = parser.parse_args()
    n = max(2, args.messages - args.messages % 2)
    with running() as dovecot, tempfile.TemporaryDirectory() as tmp:
        services = build(Settings(data_dir=Path(tmp)))
        services.start()
        try:
            for i in range(PEOPLE):
                command = RegisterPerson(
                    actor_id=f"orang.{i}", name=f"Orang {i}", email=f"orang{i}@perpus.example"
                )
                ctx = Context(ADMIN, services.clock(), uuid4())
                services.desk.execute(Submission(ctx, command, PERSON))
            services.runner.catch_up()
            settings = imap(dovecot, "bench")
            mail_in = MailIn(
                services.desk,
                services.views,
                KeptMail(Path(tmp) / "mail" / "dead"),
                our_domain="dpk-banten.example",
                our_addresses={"layanan@dpk-banten.example"},
                clock=services.clock,
            )
            # new mail first: INC-000001.. in order, then a reply to each
            fill(dovecot, "bench", [message(i, None) for i in range(n // 2)])
            fill(
                dovecot,
                "bench",
                [message(i, f"INC-{i + 1:06d}") for i in range(n // 2)],
            )
            fetch_s = bare_fetch(settings, n)
            reader = MailReader(mail_in, settings)
            start = time.perf_counter()
            tally = reader.drain()
            apply_s = time.perf_counter() - start
            reader.reset()
            if (tally.fetched, tally.applied) != (n, n):
                raise Unexpected(f"expected {n} messages applied, got {tally}")
        finally:
            services.close()
    fetch_rate, apply_rate = n / fetch_s, n / apply_s
    for name, seconds, per_s in (
        ("imap_fetch", fetch_s, fetch_rate),
        ("mail_apply", apply_s, apply_rate),
    ):
        print(
            json.dumps(
                {
                    "measure": name,
                    "messages": n,
                    "seconds": round(seconds, 3),
                    "messages_per_s": round(per_s, 1),
                }
            )
        )
    print(
        json.dumps(
            {
                "measure": "mail_apply_vs_fetch",
                "ratio": round(apply_rate / fetch_rate, 3),
                "store": "sqlite",
            }
        )
    )


if __name__ == "__main__":
    main()
