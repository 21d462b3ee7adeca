"""E-mail out: hand a message built by the notifier to the office's SMTP relay, and keep the
relay's answer to it as proof that it was accepted.

One connection is kept open across sends (a notifier sends in bursts: opening a TLS session and
logging in for each message would cost more than the message), and opened again when the relay
dropped it while idle. The transaction is spoken with smtplib's MAIL, RCPT and DATA commands
rather than `send_message`, because the relay's reply to DATA ("250 2.0.0 Ok: queued as 4ZxQ2")
is the only evidence of acceptance, and `send_message` throws it away.

Every failure is a `DeliveryFailed` (infra/delivery.py), classified by what SMTP itself says
(RFC 5321 4.2.1): a 5xx reply is permanent, a 4xx reply is transient, and so is anything that is
no reply at all (a refused or lost connection, a timeout, a TLS handshake that failed, a
certificate we do not trust: the next attempt may meet a server that is back or fixed).
"""

from __future__ import annotations

import copy
import re
import smtplib
import ssl
import threading
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.generator import BytesGenerator
from email.headerregistry import Address, AddressHeader
from email.message import EmailMessage
from email.policy import SMTPUTF8
from email.utils import getaddresses
from io import BytesIO
from pathlib import Path
from types import TracebackType
from typing import Literal

from pydantic import SecretStr

from infra.delivery import DeliveryFailed, bounded

#: "none": plain SMTP (a relay on the same host only); "starttls": plain, then upgraded with
#: STARTTLS before anything else is said (port 587, refused if the server does not offer it);
#: "tls": TLS from the first byte (port 465, "implicit TLS", RFC 8314).
Security = Literal["none", "starttls", "tls"]

#: RFC 5321 4.5.3.1.8: a server must take at least 100 recipients; a notification has one.
MAX_RECIPIENTS = 100

#: An envelope address as smtplib sends it: local@domain, no space or control character, at
#: most 320 characters (RFC 5321 4.5.3.1: 64 for the local part, 255 for the domain).
_MAILBOX = re.compile(r"[^\s@\x00-\x1f\x7f]{1,64}@[^\s@\x00-\x1f\x7f]{1,255}")
_LINE_ENDS = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"(?m)^\.")


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the relay. The server's certificate is always verified (against `ca_file`
    when given, else the system's CAs): there is no setting to turn that off."""

    host: str
    #: The sender, e.g. "Layanan TIK DPK Banten <layanan@dpk-banten.example>": its address is
    #: the envelope sender (where bounces go); the From header is the message's own.
    from_address: str
    port: int = 587
    security: Security = "starttls"
    #: AUTH (PLAIN or LOGIN, whichever the server offers) only when both are given.
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    #: Seconds to wait for the server at each step (connecting, each reply).
    timeout: float = 30.0
    ca_file: Path | None = None
    #: The name this host gives in EHLO; default: its fully qualified domain name.
    helo: str | None = None
    #: AUTH over a connection that is not encrypted sends the password in the clear: refused
    #: unless this says it is wanted (a relay on the same host, say).
    allow_plaintext_auth: bool = False

    def __post_init__(self) -> None:
        if not self.host or len(self.host) > 253:
            raise ValueError("the SMTP host is empty or longer than 253 characters")
        if not 0 < self.port < 65536:
            raise ValueError(f"the SMTP port {self.port} is not between 1 and 65535")
        if not 0 < self.timeout <= 600:
            raise ValueError("the SMTP timeout must be more than 0 and at most 600 seconds")
        if (self.username is None) != (self.password is None):
            raise ValueError("SMTP authentication needs both a username and a password")
        if self.authenticates and self.security == "none" and not self.allow_plaintext_auth:
            raise ValueError(
                "SMTP authentication over a connection that is not encrypted would send the"
                " password in the clear: use security starttls or tls (or allow plaintext auth)"
            )
        self.sender_address  # noqa: B018 -- raises ValueError when it names no one address

    @property
    def authenticates(self) -> bool:
        return self.username is not None and self.password is not None

    @property
    def sender_address(self) -> str:
        """The bare address of `from_address`: the envelope sender (MAIL FROM)."""
        addresses = _addresses(self.from_address)
        if len(addresses) != 1:
            raise ValueError(f"the sender {self.from_address!r} is not one e-mail address")
        return addresses[0]


@dataclass(frozen=True)
class SmtpReceipt:
    """The relay's final reply to DATA: it took responsibility for the message."""

    code: int
    #: The reply as the server wrote it, e.g. "250 2.0.0 Ok: queued as 4ZxQ2", bounded.
    reply: str


def _addresses(text: str) -> list[str]:
    """The bare addresses in an address header's value (RFC 5322), in order; each must be a
    complete local@domain (a parse that had to guess gives no address)."""
    try:
        parsed: dict[str, object] = {}
        AddressHeader.parse(text, parsed)
        groups = parsed["groups"]
    except (HeaderParseError, IndexError, ValueError) as error:
        raise ValueError(f"{text!r} is no list of e-mail addresses") from error
    found = [address for group in groups for address in group.addresses]  # type: ignore[attr-defined]
    if not all(isinstance(a, Address) and a.username and a.domain for a in found):
        raise ValueError(f"{text!r} holds an incomplete e-mail address")
    return [a.addr_spec for a in found]


def envelope_recipients(message: EmailMessage) -> list[str]:
    """Who the message goes to: every address in To, Cc and Bcc, each once, in order."""
    values = [str(v) for name in ("To", "Cc", "Bcc") for v in message.get_all(name, [])]
    found = [address for _name, address in getaddresses(values) if address]
    return list(dict.fromkeys(found))


def _serialised(message: EmailMessage, *, international: bool) -> bytes:
    """The message as it goes over the wire: CRLF line ends, Bcc left out (as `send_message`)."""
    without_bcc = copy.copy(message)  # `del` gives the copy a header list of its own
    del without_bcc["Bcc"]
    policy = SMTPUTF8 if international else message.policy
    with BytesIO() as out:
        BytesGenerator(out, policy=policy).flatten(without_bcc, linesep="\r\n")
        return out.getvalue()


def _reply(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return bounded(f"{code} {words}")


def refusal(doing: str, code: int, text: bytes | str) -> DeliveryFailed:
    """The failure for an SMTP reply that is not the one hoped for: permanent for 5xx,
    transient for anything else (4xx, and codes no server should send)."""
    return DeliveryFailed(f"{doing}: {_reply(code, text)}", permanent=500 <= code < 600)


def _unreachable(doing: str, error: BaseException, timeout: float) -> DeliveryFailed:
    """A failure that is no SMTP reply: always transient, with a reason people can act on."""
    if isinstance(error, ssl.SSLCertVerificationError):
        why = f"the server's TLS certificate is not trusted ({error.verify_message})"
    elif isinstance(error, ssl.SSLError):
        why = f"TLS failed ({error.reason or error})"
    elif isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError):
        why = f"no answer within {timeout:g} s"
    elif isinstance(error, ConnectionRefusedError):
        why = "connection refused"
    elif isinstance(error, smtplib.SMTPServerDisconnected):
        why = f"the server closed the connection ({error})"
    else:
        why = str(error) or type(error).__name__
    return DeliveryFailed(f"{doing}: {why}", permanent=False)


class _Stale(Exception):
    """The kept connection turned out to be closed before the message was handed over."""


class SmtpSender:
    """Sends messages over one kept connection to the relay. A context manager; `send` may be
    called from several threads (one at a time is sent)."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Say QUIT and close the connection, if one is open; whatever goes wrong is moot."""
        with self._lock:
            smtp, self._smtp = self._smtp, None
            if smtp is not None:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()

    def send(self, message: EmailMessage) -> SmtpReceipt:
        """Hand the message over; the receipt is the relay's reply to DATA. Raises
        DeliveryFailed. The connection kept from an earlier send, found closed by the server
        before the message was handed over, is opened again once."""
        sender = self.settings.sender_address
        recipients = envelope_recipients(message)
        if not recipients:
            raise DeliveryFailed("the message names no recipient in To, Cc or Bcc", True)
        if len(recipients) > MAX_RECIPIENTS:
            raise DeliveryFailed(f"the message names more than {MAX_RECIPIENTS} recipients", True)
        for recipient in recipients:
            if not _MAILBOX.fullmatch(recipient):
                raise DeliveryFailed(f"{recipient[:320]!r} is no e-mail address", True)
        with self._lock:
            try:
                return self._transaction(sender, recipients, message)
            except _Stale:
                return self._transaction(sender, recipients, message)

    # -- one attempt --------------------------------------------------------------------------

    def _transaction(
        self, sender: str, recipients: list[str], message: EmailMessage
    ) -> SmtpReceipt:
        kept = self._smtp is not None
        smtp = self._connection()
        international = not all(a.isascii() for a in (sender, *recipients))
        if international and not smtp.has_extn("smtputf8"):
            raise DeliveryFailed("the server cannot take non-ASCII addresses (no SMTPUTF8)", True)
        data = _serialised(message, international=international)
        options = ["SMTPUTF8", "BODY=8BITMIME"] if international else []
        if not international and not data.isascii() and smtp.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")

        stage = f"MAIL FROM <{sender}>"
        try:
            code, text = smtp.mail(sender, options)
            if code == 421 and kept:  # the server is closing our idle connection
                self._discard()
                raise _Stale
            if code != 250:
                self._after_refusal(code)
                raise refusal(stage, code, text)
            for recipient in recipients:
                stage = f"RCPT TO <{recipient}>"
                code, text = smtp.rcpt(recipient)
                if code not in (250, 251):
                    self._after_refusal(code)
                    raise refusal(stage, code, text)
            stage = "DATA"
            code, text = smtp.docmd("DATA")
            if code != 354:
                self._after_refusal(code)
                raise refusal(stage, code, text)
        except smtplib.SMTPServerDisconnected as error:
            self._discard()
            if kept and not isinstance(error.__context__, TimeoutError):
                raise _Stale from error
            raise _unreachable(stage, error, self.settings.timeout) from error
        except OSError as error:  # smtplib's own errors are OSErrors too
            self._discard()
            raise _unreachable(stage, error, self.settings.timeout) from error
        # The message goes out now: from here on a lost connection may have lost the answer,
        # not the message, so it is not sent again here (a retry carries the same Message-ID).
        try:
            smtp.send(_dot_stuffed(data))
            code, text = smtp.getreply()
        except OSError as error:
            self._discard()
            lost = _unreachable("end of DATA", error, self.settings.timeout)
            raise DeliveryFailed(
                lost.reason + "; the server may have accepted the message", permanent=False
            ) from error
        if code != 250:
            self._after_refusal(code)
            raise refusal("end of DATA", code, text)
        return SmtpReceipt(code=code, reply=_reply(code, text))

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            self._smtp = self._connect()
        return self._smtp

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context(cafile=s.ca_file)  # verifies, names checked
        stage = f"connecting to {s.host}:{s.port}"
        smtp: smtplib.SMTP | None = None
        try:
            if s.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    s.host, s.port, local_hostname=s.helo, timeout=s.timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, local_hostname=s.helo, timeout=s.timeout)
            stage = "EHLO"
            smtp.ehlo_or_helo_if_needed()
            if s.security == "starttls":
                stage = "STARTTLS"
                if not smtp.has_extn("starttls"):
                    # Never go on in the clear: the offer may have been stripped on the way.
                    raise DeliveryFailed("STARTTLS: the server does not offer it", False)
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.username is not None and s.password is not None:
                stage = "AUTH"
                _login(smtp, s.username, s.password.get_secret_value())
        except DeliveryFailed:
            _close(smtp)
            raise
        except smtplib.SMTPResponseException as error:
            _close(smtp)
            raise refusal(stage, error.smtp_code, error.smtp_error) from error
        except (OSError, smtplib.SMTPException) as error:
            _close(smtp)
            raise _unreachable(stage, error, s.timeout) from error
        return smtp

    def _after_refusal(self, code: int) -> None:
        """Leave the connection ready for the next message: RSET, or close it when the server
        is closing it (421) or does not take RSET either."""
        if code == 421 or self._smtp is None:
            self._discard()
            return
        try:
            if self._smtp.rset()[0] == 250:
                return
        except OSError:
            pass
        self._discard()

    def _discard(self) -> None:
        smtp, self._smtp = self._smtp, None
        _close(smtp)


def _login(smtp: smtplib.SMTP, username: str, password: str) -> None:
    """AUTH with one mechanism, PLAIN or else LOGIN (smtplib's `login` tries every one it
    knows in turn, and so counts two or three failed logins against the account for one wrong
    password, which brings a relay's lockout nearer)."""
    offered = smtp.esmtp_features.get("auth", "").upper().split()
    mechanism = next((m for m in ("PLAIN", "LOGIN") if m in offered), None)
    if mechanism is None:
        raise DeliveryFailed(
            f"AUTH: the server offers neither PLAIN nor LOGIN (it offers: {' '.join(offered)})",
            permanent=True,
        )
    smtp.user, smtp.password = username, password
    smtp.auth(mechanism, getattr(smtp, f"auth_{mechanism.lower()}"))


def _dot_stuffed(data: bytes) -> bytes:
    """The message body as DATA carries it (RFC 5321 4.5.2): CRLF line ends, a leading dot
    doubled, and the lone dot that ends it."""
    text = _LEADING_DOT.sub(b"..", _LINE_ENDS.sub(b"\r\n", data))
    if not text.endswith(b"\r\n"):
        text += b"\r\n"
    return text + b".\r\n"


def _close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        smtp.close()
