"""The office's mailbox, read over IMAP: what has arrived after a UID, and a wait for more.

The reader only reads. It never deletes, moves or flags a message (bodies are fetched with
BODY.PEEK, so even \\Seen stays as it was): what has been applied is the record's business (by
UIDVALIDITY and UID, and by Message-ID), and the mailbox keeps everything that was received,
applied or not. A UID means something only under the folder's UIDVALIDITY; when the server
changes it (a rebuilt mailbox), the UIDs start over, and `fetch_after` refuses to mix the two.

Certificates are always verified: IMAPS (`tls`, the default) or STARTTLS against the system's
CAs or the given CA file. `none` (no TLS at all) is accepted only for a loopback address, where
the tests and a local relay live. New mail is waited for with IDLE (RFC 2177) when the server
offers it, else by sleeping (polling). A connection that drops is made again once per call;
if that fails too the call raises MailboxUnavailable, and the caller's loop backs off.

imap-tools gives the connections (TLS, STARTTLS), the login and IDLE; the UID search and the
peeked fetch of whole messages are its too, with the message kept as the bytes received.
"""

from __future__ import annotations

import contextlib
import imaplib
import ipaddress
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal, TypeVar

from imap_tools import BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted, MailMessage
from imap_tools.errors import MailboxLoginError, UnexpectedCommandStatusError

Security = Literal["tls", "starttls", "none"]

#: RFC 2177: a client re-issues IDLE at least every 29 minutes, or the server may log it out.
MAX_IDLE_SECONDS = 29 * 60
#: The most messages one fetch returns.
MAX_FETCH = 1_000
#: The largest message fetched whole; a larger one comes as its header alone, marked too large
#: (the mailbox still keeps it whole).
MAX_MESSAGE_BYTES = 25 * 1024 * 1024

T = TypeVar("T")


class MailboxUnavailable(Exception):
    """The mailbox cannot be reached, logged into or read (the reason says which)."""


class UidValidityChanged(MailboxUnavailable):
    """The folder's UIDVALIDITY is not the one the caller's UIDs were counted under."""


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ImapSettings:
    host: str
    username: str
    password: str = field(repr=False)
    port: int = 993
    security: Security = "tls"
    folder: str = "INBOX"
    #: The CA certificate(s), PEM, the server's certificate must chain to. None: the system's.
    ca_file: Path | None = None
    #: Seconds a connection, login or command may take.
    timeout: float = 30.0
    #: The longest single IDLE (seconds); a wait longer than this idles again.
    idle_seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.security == "none" and not is_loopback(self.host):
            raise ValueError(
                f"IMAP without TLS only to a loopback address, not to {self.host!r}: "
                "use security tls (IMAPS) or starttls"
            )
        if not 0 < self.idle_seconds <= MAX_IDLE_SECONDS:
            raise ValueError(f"idle_seconds must be within (0, {MAX_IDLE_SECONDS}]")


@dataclass(frozen=True)
class Fetched:
    """A message as the server holds it: its UID and its bytes, exactly as received."""

    uid: int
    raw: bytes
    #: Larger than MAX_MESSAGE_BYTES: `raw` is its header alone.
    too_large: bool = False


class _Received(MailMessage):
    """A fetched message kept as the bytes received (imap-tools would parse it, and parsing
    is application.mail_parsing's, on the original bytes)."""

    def __init__(self, fetch_data: list[object]) -> None:
        raw, uid_data, flag_data = self._get_message_data_parts(fetch_data)
        self._raw_uid_data = uid_data
        self._raw_flag_data = flag_data
        self.raw: bytes = raw


#: What a dropped or broken connection raises, in imaplib, ssl and the sockets under them.
_DROPPED: tuple[type[BaseException], ...] = (
    imaplib.IMAP4.abort,
    imaplib.IMAP4.error,
    UnexpectedCommandStatusError,
    OSError,
    EOFError,
)


class Mailbox:
    """One folder of one mailbox, read by UID. Not thread-safe: one reader owns it."""

    def __init__(
        self, settings: ImapSettings, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._box: BaseMailBox | None = None
        self._uidvalidity: int | None = None
        self._idle = False

    # -- the connection ----------------------------------------------------------------------

    def __enter__(self) -> Mailbox:
        self.connect()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def connect(self) -> None:
        """Connect, log in and select the folder, unless connected already."""
        if self._box is not None:
            return
        box = self._mailbox()
        try:
            box.login(self.settings.username, self.settings.password, initial_folder=None)
            kind, answer = box.client.select(_quoted(self.settings.folder), readonly=True)
            if kind != "OK":
                raise MailboxUnavailable(f"cannot select {self.settings.folder!r}: {answer!r}")
            validity = box.client.untagged_responses.get("UIDVALIDITY", [b""])[-1]
            capabilities = _capabilities(box.client)
        except MailboxLoginError as error:
            _logout(box)
            raise MailboxUnavailable(f"login refused for {self.settings.username!r}") from error
        except _DROPPED as error:
            _logout(box)
            raise MailboxUnavailable(f"cannot open the mailbox: {error}") from error
        except MailboxUnavailable:
            _logout(box)
            raise
        if not isinstance(validity, bytes) or not validity.isdigit():
            _logout(box)
            raise MailboxUnavailable("the server named no UIDVALIDITY for the folder")
        self._box = box
        self._uidvalidity = int(validity)
        self._idle = "IDLE" in capabilities

    def _mailbox(self) -> BaseMailBox:
        box = self._open()
        box.email_message_class = _Received  # this connection's messages: the bytes received
        return box

    def _open(self) -> BaseMailBox:
        settings = self.settings
        try:
            if settings.security == "tls":
                return MailBox(
                    settings.host,
                    settings.port,
                    timeout=settings.timeout,
                    ssl_context=self._tls(),
                )
            if settings.security == "starttls":
                return MailBoxStartTls(
                    settings.host,
                    settings.port,
                    timeout=settings.timeout,
                    ssl_context=self._tls(),
                )
            return MailBoxUnencrypted(settings.host, settings.port, timeout=settings.timeout)
        except ssl.SSLCertVerificationError as error:
            raise MailboxUnavailable(
                f"the certificate of {settings.host}:{settings.port} is not trusted:"
                f" {error.verify_message}"
            ) from error
        except _DROPPED as error:
            raise MailboxUnavailable(
                f"cannot connect to {settings.host}:{settings.port}: {error}"
            ) from error

    def _tls(self) -> ssl.SSLContext:
        """Verification on, always: the system's CAs, or the configured CA file."""
        ca_file = self.settings.ca_file
        context = ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def close(self) -> None:
        box, self._box = self._box, None
        if box is not None:
            _logout(box)

    @property
    def uidvalidity(self) -> int:
        """The folder's UIDVALIDITY: the UIDs below mean something only under it."""
        self._with_connection(lambda box: None)
        assert self._uidvalidity is not None
        return self._uidvalidity

    @property
    def idles(self) -> bool:
        """Whether `wait` uses IDLE (the server offers it), rather than sleeping."""
        self._with_connection(lambda box: None)
        return self._idle

    def _with_connection(self, action: Callable[[BaseMailBox], T]) -> T:
        """Run an action on the connection; on a dropped one, connect again once and retry."""
        for attempt in (1, 2):
            self.connect()
            assert self._box is not None
            try:
                return action(self._box)
            except _DROPPED as error:
                self.close()
                if attempt == 2:
                    raise MailboxUnavailable(f"the connection failed twice: {error}") from error
        raise AssertionError("unreachable")

    # -- reading -----------------------------------------------------------------------------

    def fetch_after(
        self, uid: int, limit: int = 100, *, uidvalidity: int | None = None
    ) -> list[Fetched]:
        """The messages whose UID is above `uid`, at most `limit`, in UID order. With
        `uidvalidity`, raises UidValidityChanged when the folder's is another."""
        if uid < 0:
            raise ValueError("a UID is never negative")
        if not 1 <= limit <= MAX_FETCH:
            raise ValueError(f"limit must be within [1, {MAX_FETCH}]")

        def fetch(box: BaseMailBox) -> list[Fetched]:
            if uidvalidity is not None and uidvalidity != self._uidvalidity:
                raise UidValidityChanged(
                    f"UIDVALIDITY is {self._uidvalidity}, not {uidvalidity}: the UIDs start over"
                )
            # The server shows a selected folder's new messages at a command's end: NOOP first,
            # or a message that arrived since the last command is missed by the search.
            box.client.noop()
            # `n:*` names the highest UID even when it is below n (RFC 3501), hence the filter.
            kind, found = box.client.uid("SEARCH", f"UID {uid + 1}:*")
            if kind != "OK":
                raise imaplib.IMAP4.error(f"UID SEARCH answered {kind}: {found!r}")
            after = sorted(u for u in _numbers(found) if u > uid)[:limit]
            return self._fetch(box, after) if after else []

        return self._with_connection(fetch)

    def _fetch(self, box: BaseMailBox, uids: list[int]) -> list[Fetched]:
        sizes = _sizes(box, uids)
        whole = [u for u in uids if sizes.get(u, 0) <= MAX_MESSAGE_BYTES]
        large = [u for u in uids if sizes.get(u, 0) > MAX_MESSAGE_BYTES]
        got: dict[int, Fetched] = {}
        for wanted, headers_only in ((whole, False), (large, True)):
            if not wanted:
                continue
            for message in box.fetch(
                uid_list=[str(u) for u in wanted],
                mark_seen=False,
                headers_only=headers_only,
                bulk=True,
            ):
                assert isinstance(message, _Received)
                if message.uid is not None and message.uid.isdigit():
                    got[int(message.uid)] = Fetched(int(message.uid), message.raw, headers_only)
        return [got[u] for u in uids if u in got]

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for new mail: True as soon as the server says some arrived
        (IDLE); False when the time ran out, and always after sleeping where the server has
        no IDLE. Either way the caller then fetches (a False wait may still have mail)."""
        if seconds <= 0:
            return False
        if not self.idles:
            self._sleep(seconds)
            return False
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            said = self._with_connection(partial(self._idle_once, seconds=left))
            if any(re.search(rb"^\* [0-9]+ (EXISTS|RECENT)", line) for line in said):
                return True
        return False

    def _idle_once(self, box: BaseMailBox, seconds: float) -> list[bytes]:
        said: list[bytes] = box.idle.wait(timeout=min(seconds, self.settings.idle_seconds))
        box.client.untagged_responses.clear()  # what IDLE left there would pile up for ever
        return said


def _quoted(folder: str) -> str:
    """A folder name as an IMAP quoted string (imaplib sends arguments as given)."""
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _numbers(answer: list[object]) -> list[int]:
    numbers: list[int] = []
    for line in answer:
        if isinstance(line, bytes):
            numbers.extend(int(n) for n in line.split() if n.isdigit())
    return numbers


def _sizes(box: BaseMailBox, uids: list[int]) -> dict[int, int]:
    kind, answer = box.client.uid("FETCH", ",".join(map(str, uids)), "(UID RFC822.SIZE)")
    if kind != "OK":
        raise imaplib.IMAP4.error(f"UID FETCH answered {kind}: {answer!r}")
    sizes = {}
    for line in answer:
        text = line if isinstance(line, bytes) else b""
        uid = re.search(rb"UID ([0-9]+)", text)
        size = re.search(rb"RFC822\.SIZE ([0-9]+)", text)
        if uid and size:
            sizes[int(uid.group(1))] = int(size.group(1))
    return sizes


def _capabilities(client: imaplib.IMAP4) -> set[str]:
    """The capabilities after login (a server may offer more than in its greeting)."""
    kind, answer = client.capability()
    if kind != "OK":
        return {c.upper() for c in client.capabilities}
    words = b" ".join(a for a in answer if isinstance(a, bytes)).decode("ascii", "replace")
    return {word.upper() for word in words.split()}


def _logout(box: BaseMailBox) -> None:
    """Log out, or at least close the socket: a broken connection cannot say goodbye."""
    client = getattr(box, "client", None)
    if client is None:
        return
    try:
        client.sock.settimeout(5)
        client.logout()
    except _DROPPED:
        with contextlib.suppress(OSError):
            client.shutdown()
