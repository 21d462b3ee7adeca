"""The mail reader: follows the helpdesk mailbox and applies each message, once.

One step fetches the messages after its position (UIDVALIDITY, last UID), applies each in UID
order (application/mail_in.py), and moves the position past it; with nothing more to fetch it
waits for new mail with IDLE (or sleeps, where the server has none), in slices so that a stop is
heard. It runs on the one follower loop (infra/follower.py): a step that fails (the mailbox or
the store unreachable) is retried with backoff, from the position recorded, after the
connection is closed.

The position is the record's: the highest UID the inbound_mail view holds under the folder's
UIDVALIDITY, read whenever the reader starts or the connection is made again. Every message's
record is written in the same write as its change, so:

- a crash after a write and before the view shows it only makes the reader fetch that message
  again, and find it recorded by its Message-ID: nothing is applied twice;
- the position never passes a message before its record is written: nothing is lost;
- a new UIDVALIDITY (a rebuilt mailbox) starts again from UID 0 under it, and every message
  already applied is found by its Message-ID (and recorded as redelivered at its new UID, which
  is the position under the new UIDVALIDITY).

With several processes of the service (uvicorn workers), one reads the mailbox: the one that
holds the lock file `<data_dir>/mail-in.lock`. A second reader elsewhere would still apply
nothing twice (the records collide); the lock only spares the mailbox and the store the work.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from application.mail_in import MailIn, Result
from infra.follower import Follower, Follows
from infra.kept_mail import KeptMail
from infra.mail_in import ImapSettings, Mailbox, UidValidityChanged
from infra.serialisation import UndecodableEvent
from processes.running import Running
from projections.inbound_mail import last_uid

if TYPE_CHECKING:
    from infra.settings import Settings

log = logging.getLogger(__name__)

#: The most messages one step fetches.
BATCH = 100
#: The longest single wait for new mail: a stop is heard within it.
WAIT_SLICE = 10.0


@dataclass
class Tally:
    """What the reader has done since it started, by outcome."""

    fetched: int = 0
    applied: int = 0
    ignored: int = 0
    dead: int = 0
    duplicate: int = 0

    def count(self, result: Result) -> None:
        setattr(self, result.outcome, getattr(self, result.outcome) + 1)


class MailReader(Follows):
    def __init__(
        self,
        mail_in: MailIn,
        imap: ImapSettings,
        *,
        batch: int = BATCH,
        wait: float = WAIT_SLICE,
        mailbox: Callable[[ImapSettings], Mailbox] = Mailbox,
    ) -> None:
        self.mail_in = mail_in
        self.views = mail_in.views
        self.imap = imap
        self.batch = batch
        self.wait_seconds = wait
        self._open = mailbox
        self._mailbox: Mailbox | None = None
        #: (UIDVALIDITY, last UID applied under it), once read from the record
        self._position: tuple[int, int] | None = None
        self.tally = Tally()
        self._follower = Follower(
            "mail-in", self.step, idle=0.0, log=log, backoff=(0.5, 60.0), on_error=self.reset
        )

    @property
    def stuck(self) -> UndecodableEvent | None:
        """Readiness asks every follower; the reader never stops at an event of the store."""
        return None

    @property
    def position(self) -> tuple[int, int] | None:
        return self._position

    def step(self) -> bool:
        """Fetch and apply what arrived after the position; if that was all, wait for more.
        True: step again at once (the wait, if any, is done)."""
        mailbox = self._connected()
        if self._page(mailbox) >= self.batch:
            return True
        mailbox.wait(self.wait_seconds)
        return True

    def run_until(self, stop: threading.Event) -> None:
        """Follow in the calling thread until `stop` is set (the CLI)."""
        self._follower.run(stop)

    def drain(self) -> Tally:
        """Apply everything in the mailbox now, without waiting for more (tests, benchmarks)."""
        mailbox = self._connected()
        while self._page(mailbox):
            pass
        return self.tally

    def _page(self, mailbox: Mailbox) -> int:
        """Apply the next page after the position; how many messages it held."""
        validity = mailbox.uidvalidity
        if self._position is None or self._position[0] != validity:
            if self._position is not None:
                log.warning(
                    "the mailbox's UIDVALIDITY changed (%s to %s): reading it from the start;"
                    " messages applied before are found by their Message-ID",
                    self._position[0],
                    validity,
                )
            self._position = (validity, last_uid(self.views, validity))
        try:
            fetched = mailbox.fetch_after(self._position[1], self.batch, uidvalidity=validity)
        except UidValidityChanged:
            self._position = None  # read again under the new one, at once
            return self.batch
        for message in fetched:
            result = self.mail_in.receive(
                message.raw, uidvalidity=validity, uid=message.uid, too_large=message.too_large
            )
            self.tally.fetched += 1
            self.tally.count(result)
            self._position = (validity, message.uid)
        return len(fetched)

    def reset(self) -> None:
        """After a failure: a new connection, and the position read again from the record."""
        mailbox, self._mailbox = self._mailbox, None
        self._position = None
        if mailbox is not None:
            mailbox.close()

    def _connected(self) -> Mailbox:
        if self._mailbox is None:
            self._mailbox = self._open(self.imap)
            self._mailbox.connect()
        return self._mailbox

    def stop(self) -> None:
        super().stop()
        self.reset()


# -- wiring -------------------------------------------------------------------------------------


def our_mail(settings: Settings) -> tuple[str, set[str]]:
    """Our mail domain (the one our Message-IDs are in: `Settings.message_domain`) and our own
    addresses, for loop checks: the mailbox's login and the notifier's sender, where they are
    addresses."""
    addresses: set[str] = set()
    imap = settings.imap()
    if imap is not None and "@" in imap.username:
        addresses.add(imap.username.lower())
    smtp = settings.smtp()
    if smtp is not None and "@" in smtp.sender_address:
        addresses.add(smtp.sender_address.lower())
    return settings.message_domain().lower(), addresses


def mail_in_of(services: Running) -> MailIn:
    """The application of inbound mail on these services (the reader's, and the API's replay)."""
    domain, addresses = our_mail(services.settings)
    return MailIn(
        services.desk,
        services.views,
        KeptMail(services.settings.data_dir / "mail" / "dead"),
        our_domain=domain,
        our_addresses=addresses,
        clock=services.clock,
        blobs=services.blobs,
        max_attachment_bytes=services.settings.max_attachment_bytes,
    )


def reader_of(services: Running) -> MailReader | None:
    """The mail reader of these services, or None when e-mail in is off (no ITSM_IMAP_HOST)."""
    imap = services.settings.imap()
    if imap is None:
        return None
    return MailReader(mail_in_of(services), imap)


class ReaderLock:
    """The lock one process of the service holds while it reads the mailbox (non-blocking)."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(data_dir / "mail-in.lock", os.O_RDWR | os.O_CREAT, 0o600)

    def acquire(self) -> bool:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def close(self) -> None:
        os.close(self._fd)  # releases the lock
