"""The mail reader killed at random (issue 19): `itsm mail-in` in a process of its own, SIGKILLed
at random moments while it applies a mailbox (a real Dovecot) and more mail arrives, then started
again; at the end every message is recorded once and did what it says once: none applied twice,
none lost. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import random
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from domain.inbound_mail import inbound_mail_id
from projections.inbound_mail import inbound_mail
from projections.incident_details import incident_details
from service.bootstrap import Services
from tests.engines.dovecot import Account, DovecotServer
from tests.forked_cli import forkserver, run_itsm
from tests.integration.test_mail_apply import mail, settled

#: Kill rounds, messages in the mailbox before the first, and messages that arrive during them.
ROUNDS = 20
FIRST = 60
DURING = 40

pytestmark = pytest.mark.slow


class Reader:
    """`itsm mail-in` forked from a process that has the service imported (tests/forked_cli.py)."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        with tempfile.NamedTemporaryFile(prefix="itsm-mail-in-", delete=False) as file:
            self.stderr_path = Path(file.name)
        self.process = forkserver().Process(
            target=run_itsm, args=(env, ("mail-in", *args), str(self.stderr_path)), daemon=True
        )
        self.process.start()

    def kill(self) -> None:
        assert self.process.pid is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.join(10)

    def wait(self, timeout: float) -> int | None:
        self.process.join(timeout)
        return self.process.exitcode

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-3000:]

    def close(self) -> None:
        if self.process.is_alive():
            self.kill()
        self.stderr_path.unlink(missing_ok=True)


def messages(start: int, count: int) -> list[tuple[str, bytes]]:
    """New mail (a new incident each), loops and mail to no incident (dead letters), by id."""
    made = []
    for n in range(start, start + count):
        message_id = f"<crash-{n}@perpus.example>"
        if n % 10 == 7:
            raw = mail("a@b.example", "Cuti", "auto", message_id, Auto_Submitted="auto-replied")
        elif n % 10 == 9:
            raw = mail("a@b.example", "Re: [INC-999999]", "?", message_id)
        else:
            raw = mail(f"caller{n}@perpus.example", f"Crash {n}", f"Pesan {n}.", message_id)
        made.append((message_id, raw))
    return made


def count_records(services: Services) -> int:
    settled(services)
    return len(services.views.rows(inbound_mail))


def kill_once(
    services: Services,
    reader: Reader,
    rng: random.Random,
    deliver: Callable[[bytes], object],
    arriving: list[tuple[str, bytes]],
    seed: int,
) -> bool:
    """One round: mail may arrive, then the reader is SIGKILLed at a random moment, or just
    after its next write; whether it was the latter."""
    try:
        before = count_records(services)
        for _ in range(rng.randint(0, 3)):  # mail arriving while the reader runs
            if arriving:
                deliver(arriving.pop(0)[1])
        mid_write = rng.random() < 0.5
        if not mid_write:
            time.sleep(rng.uniform(0.0, 1.0))  # anywhere: starting, reading, writing
        else:  # once it is applying: in the middle of its writes
            deadline = time.monotonic() + 10
            while count_records(services) == before and time.monotonic() < deadline:
                if reader.wait(0.01) is not None:
                    break
            time.sleep(rng.uniform(0.0, 0.05))
        assert reader.process.exitcode is None, f"seed {seed}: {reader.stderr()}"
        reader.kill()
    finally:
        reader.close()
    return mid_write


def test_a_reader_killed_at_random_applies_every_message_exactly_once(
    services: Services, dovecot: DovecotServer, imap_account: Account
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    env = {
        **os.environ,
        "ITSM_DATA_DIR": str(services.settings.data_dir),
        "ITSM_DATABASE_URL": services.settings.database_url or "",
        "ITSM_LOG_LEVEL": "warning",
        "ITSM_IMAP_HOST": dovecot.host,
        "ITSM_IMAP_PORT": str(dovecot.imaps_port),
        "ITSM_IMAP_SECURITY": "tls",
        "ITSM_IMAP_USERNAME": imap_account.username,
        "ITSM_IMAP_PASSWORD": imap_account.password,
        "ITSM_IMAP_CA_FILE": str(dovecot.ca_file),
        "ITSM_IMAP_IDLE_SECONDS": "2",
    }
    sent = messages(0, FIRST)
    for _, raw in sent:
        dovecot.deliver(imap_account.username, raw)
    later = messages(FIRST, DURING)
    # a few sent twice: the same Message-ID at two UIDs
    twice = [sent[3], sent[20], later[5]]
    arriving = [*later, *twice]
    started = time.monotonic()
    killed_mid_write = 0

    def deliver(raw: bytes) -> object:
        return dovecot.deliver(imap_account.username, raw)

    for _ in range(ROUNDS):
        killed_mid_write += kill_once(services, Reader(env), rng, deliver, arriving, seed)
        assert time.monotonic() - started < 120, f"seed {seed}: too slow"
    for _, raw in arriving:
        dovecot.deliver(imap_account.username, raw)

    last = Reader(env, "--once")  # the last one finishes the mailbox
    try:
        assert last.wait(60) == 0, f"seed {seed}: {last.stderr()}"
    finally:
        last.close()
    settled(services)

    rows = services.views.rows(inbound_mail)
    everything = [*sent, *later]
    assert len(rows) == len(everything), f"seed {seed}: a message lost or one too many"
    incidents: dict[str, int] = {}
    for row in services.views.rows(incident_details).values():
        incidents[row["title"]] = incidents.get(row["title"], 0) + 1
    for message_id, _ in everything:
        row = rows[str(inbound_mail_id(message_id))]
        n = int(message_id.split("-")[1].split("@")[0])
        expected = {7: "ignored", 9: "dead"}.get(n % 10, "applied")
        assert row["state"] == expected, f"seed {seed}: {message_id} {row}"
        if expected == "applied":
            assert incidents.get(f"Crash {n}") == 1, f"seed {seed}: {message_id} applied twice?"
    redelivered = sum(r["redeliveries"] for r in rows.values())
    assert redelivered == len(twice), f"seed {seed}"
    print(
        f"mail crash test (seed {seed}): {ROUNDS} rounds ({killed_mid_write} mid-write),"
        f" {len(everything)} messages + {len(twice)} resent, each recorded once,"
        f" {len([r for r in rows.values() if r['state'] == 'applied'])} incidents logged once,"
        f" {time.monotonic() - started:.1f} s"
    )
