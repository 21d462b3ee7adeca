"""A real SMTP server for the tests: aiosmtpd's, on 127.0.0.1 at a free port, in a thread of its
own, that the notifier's mail goes to and the tests read back from.

It speaks what a relay speaks: STARTTLS or TLS from the first byte with a certificate from a
throwaway CA (tests/engines/tls.py; the client verifies it with the CA file, as in production),
AUTH PLAIN and LOGIN when given credentials (and then refuses mail without them), and "250 2.0.0
Ok: queued as <id>" to each message it takes. A test can make it refuse the next messages with a
code of its choosing, drop connections, or stop and start again on the same port.

aiosmtpd is a locked development dependency (pyproject.toml), so there is nothing to skip: a
missing one fails at import, under CI and anywhere else.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.engines.tls import Tls, make_tls

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Received:
    """One message the server took: its envelope and its bytes as they arrived."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    mail_options: tuple[str, ...]
    data: bytes
    queue_id: str
    #: Whether the connection it came over was encrypted, and who logged in on it.
    encrypted: bool
    login: str | None

    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)

    @property
    def message_id(self) -> str | None:
        value = self.message()["Message-ID"]
        return None if value is None else str(value)


@dataclass(frozen=True)
class _Refusal:
    reply: str | None  # None: drop the connection instead of answering


class _Handler:
    """aiosmtpd's hooks: what the server does with each connection and message."""

    def __init__(self, credentials: tuple[str, str] | None) -> None:
        self.credentials = credentials
        self.changed = threading.Condition()
        self.received: list[Received] = []
        self.refusals: deque[_Refusal] = deque()
        #: Every connection that said EHLO or HELO (the controller's own probe at start says
        #: neither), kept to count them and to drop the ones still open.
        self.connections: list[SMTP] = []
        self.failed_logins = 0
        self._ids = itertools.count(1)

    def _saw(self, server: SMTP) -> None:
        with self.changed:
            if not any(known is server for known in self.connections):
                self.connections.append(server)

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        self._saw(server)
        session.host_name = hostname
        return responses

    async def handle_HELO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str
    ) -> str:
        self._saw(server)
        session.host_name = hostname
        return f"250 {server.hostname}"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        given = (
            (data.login.decode(), data.password.decode())
            if isinstance(data, LoginPassword)
            else None
        )
        if self.credentials is not None and given == self.credentials:
            return AuthResult(success=True, auth_data=given[0])
        with self.changed:
            self.failed_logins += 1
        return AuthResult(success=False, handled=False)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.changed:
            refusal = self.refusals.popleft() if self.refusals else None
        if refusal is not None:
            if refusal.reply is None:
                assert server.transport is not None
                server.transport.close()
                return "421 4.3.0 closing"  # written to a closed transport: never arrives
            return refusal.reply
        queue_id = f"{next(self._ids):08X}"
        received = Received(
            mail_from=str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            mail_options=tuple(envelope.mail_options),
            data=bytes(cast(bytes, envelope.original_content)),
            queue_id=queue_id,
            encrypted=_is_tls(server),
            login=cast(str | None, session.auth_data) if session.authenticated else None,
        )
        with self.changed:
            self.received.append(received)
            self.changed.notify_all()
        return f"250 2.0.0 Ok: queued as {queue_id}"


def _is_tls(server: SMTP) -> bool:
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


class _Controller(Controller):
    def factory(self) -> SMTP:
        # With TLS from the first byte, aiosmtpd cannot see that AUTH is encrypted and warns,
        # on each connection, that it may not be: it is.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            server: SMTP = super().factory()  # type: ignore[no-untyped-call]
            return server


class SmtpServer:
    """aiosmtpd on 127.0.0.1. `tls`: with a certificate, "starttls" (offered, and required
    before mail) or "tls" (from the first byte); `credentials`: (username, password) that AUTH
    must give before any mail is taken."""

    def __init__(
        self,
        directory: Path,
        *,
        tls: str | None = None,
        credentials: tuple[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        if tls not in (None, "starttls", "tls"):
            raise ValueError(f"tls is None, 'starttls' or 'tls', not {tls!r}")
        self.mode = tls
        self.credentials = credentials
        self.port = port or free_port()
        self.certificates: Tls | None = make_tls(directory, "SMTP test CA") if tls else None
        self._handler = _Handler(credentials)
        self._controller: Controller | None = None

    @property
    def host(self) -> str:
        return HOST

    @property
    def ca_file(self) -> Path:
        """The CA file (PEM) that the server's certificate chains to."""
        if self.certificates is None:
            raise ValueError("this server speaks no TLS")
        return self.certificates.ca

    def start(self) -> SmtpServer:
        if self._controller is not None:
            return self
        options: dict[str, Any] = {}
        context = self.certificates.server_context() if self.certificates else None
        if self.mode == "starttls":
            options.update(tls_context=context, require_starttls=True)
        elif self.mode == "tls":
            options.update(ssl_context=context, auth_require_tls=False)  # all of it is TLS
        if self.credentials is not None:
            options.update(authenticator=self._handler.authenticate, auth_required=True)
        controller = _Controller(
            self._handler,
            hostname=HOST,
            port=self.port,
            server_hostname="smtp.test",
            ready_timeout=30,
            **options,
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening and close every connection: clients now meet a refused connection."""
        controller, self._controller = self._controller, None
        if controller is not None:
            self.drop_connections()
            controller.stop()

    def restart(self) -> SmtpServer:
        """Stop, and start again on the same port (what it received is kept)."""
        self.stop()
        return self.start()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- what it received -----------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        with self._handler.changed:
            return list(self._handler.received)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The messages received, once there are at least `count` (AssertionError after
        `timeout` seconds with fewer)."""
        deadline = time.monotonic() + timeout
        with self._handler.changed:
            while len(self._handler.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"the SMTP server received {len(self._handler.received)} messages"
                        f" within {timeout} s, not {count}"
                    )
                self._handler.changed.wait(left)
            return list(self._handler.received)

    @property
    def connections(self) -> int:
        """How many connections have said EHLO or HELO since the server was made."""
        with self._handler.changed:
            return len(self._handler.connections)

    @property
    def failed_logins(self) -> int:
        with self._handler.changed:
            return self._handler.failed_logins

    # -- failures on demand ---------------------------------------------------------------------

    def fail_next(self, count: int, reply: str) -> None:
        """Answer the next `count` messages' DATA with `reply`, e.g. "451 4.3.0 try later"
        or "550 5.1.1 no such mailbox", instead of taking them."""
        with self._handler.changed:
            self._handler.refusals.extend(_Refusal(reply) for _ in range(count))

    def drop_next(self, count: int = 1) -> None:
        """Close the connection instead of answering the next `count` messages' DATA."""
        with self._handler.changed:
            self._handler.refusals.extend(_Refusal(None) for _ in range(count))

    def drop_connections(self) -> None:
        """Close every open connection, as a server does to an idle one (or on restart)."""
        controller = self._controller
        if controller is None:
            return
        with self._handler.changed:
            open_ones = [c for c in self._handler.connections if c.transport is not None]
        done = threading.Event()

        def close() -> None:
            for connection in open_ones:
                if connection.transport is not None:
                    connection.transport.close()
            done.set()

        controller.loop.call_soon_threadsafe(close)
        done.wait(10)


@pytest.fixture
def smtp_servers(tmp_path: Path) -> Iterator[Callable[..., SmtpServer]]:
    """Starts SMTP servers for this test (each with the options of `SmtpServer`), all stopped
    when it ends."""
    started: list[SmtpServer] = []
    names = itertools.count(1)

    def start(**options: Any) -> SmtpServer:
        server = SmtpServer(tmp_path / f"smtp{next(names)}", **options).start()
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def smtp_server(smtp_servers: Callable[..., SmtpServer]) -> SmtpServer:
    """A plain SMTP server (no TLS, no AUTH), for this test."""
    return smtp_servers()
