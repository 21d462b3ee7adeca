"""A real IMAP server for the tests: Debian's Dovecot, one private instance per test process.

The server is Debian's `dovecot-imapd` (installed when missing and we are root, as the PostgreSQL
engine installs `postgresql`), started in the foreground (`dovecot -F -c <dir>/dovecot.conf`)
with every path of its own in a temporary directory: run files, state, log, users and mail. It
is never the system's service, so several test processes (xdist workers) each run one, on
ports of their own, beside a system Dovecot if there is one.

It listens on 127.0.0.1 twice: plain IMAP (for STARTTLS, and for plain login, which Dovecot
allows on loopback) and IMAPS, with a certificate from a throwaway CA the fixture makes; clients
verify it against `ca_file`. Users live in a passwd-file with plaintext passwords, their mail
in maildirs. Without Dovecot the IMAP tests are skipped, except under CI=true, where they fail:
CI must never pass by not reading a real mailbox.

Dovecot refuses to run its login processes or touch mail as root. Run as root (as CI is), the
login processes run as Debian's `dovenull` and the mail as Debian's `dovecot` user, both made
by the package; run as anyone else, everything runs as that user, without chroot.
"""

from __future__ import annotations

import datetime
import fcntl
import imaplib
import ipaddress
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from infra.postgres_server import apt_install, free_port

HOST = "127.0.0.1"
#: The IMAP server process, as Debian's package installs it.
IMAP_BINARY = Path("/usr/lib/dovecot/imap")
#: How long the server may take to answer after it is started.
START_TIMEOUT = 30.0
_USER = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class DovecotUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Account:
    """A test mailbox's login."""

    username: str
    password: str = field(repr=False)


@dataclass
class DovecotServer:
    """One private Dovecot: where it listens, the CA its certificate chains to, its users."""

    host: str
    port: int
    imaps_port: int
    ca_file: Path
    directory: Path
    config: Path
    _accounts: dict[str, Account] = field(default_factory=dict, repr=False)

    def mailbox(self, user: str) -> Account:
        """A user with a fresh random password (the same account if asked again)."""
        if not _USER.fullmatch(user):
            raise ValueError(f"{user!r} is no test user name")
        if user not in self._accounts:
            account = Account(user, secrets.token_urlsafe(12))
            # A file for each user: Dovecot notices a file changed by its mtime, in whole
            # seconds, and would miss a second user added within the second of the first.
            line = f"{user}:{{PLAIN}}{account.password}::::::\n"
            (self.directory / "users" / user).write_text(line)
            self._accounts[user] = account
        return self._accounts[user]

    def connect(self, user: str) -> imaplib.IMAP4_SSL:
        """A logged-in IMAPS connection of the tests' own (not the adapter's)."""
        account = self._accounts[user]
        context = ssl.create_default_context(cafile=str(self.ca_file))
        client = imaplib.IMAP4_SSL(self.host, self.imaps_port, ssl_context=context, timeout=10)
        client.login(account.username, account.password)
        return client

    def deliver(self, user: str, raw: bytes, folder: str = "INBOX") -> int:
        """Put a message in a user's folder (IMAP APPEND), as if mail had arrived; its UID."""
        client = self.connect(user)
        try:
            kind, data = client.append(folder, None, None, raw)
            assert kind == "OK", data
            answer = data[0].decode() if isinstance(data[0], bytes) else str(data[0])
            found = re.search(r"APPENDUID [0-9]+ ([0-9]+)", answer)
            assert found, answer
            return int(found.group(1))
        finally:
            client.logout()

    def kick(self, user: str) -> None:
        """Drop every connection of a user, from the server's side (`doveadm kick`)."""
        subprocess.run(
            ["doveadm", "-c", str(self.config), "kick", user],
            check=True,
            capture_output=True,
            timeout=30,
        )


def _no_server(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"no Dovecot for the tests under CI: {reason}")
    pytest.skip(f"no Dovecot for the tests: {reason}")


def _dovecot() -> str | None:
    found = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")
    return found if found and IMAP_BINARY.exists() else None


def ensure_dovecot() -> str:
    """The `dovecot` binary; installs Debian's `dovecot-imapd` first when it is missing and this
    process is root."""
    found = _dovecot()
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise DovecotUnavailable(
            "Dovecot is not installed; install Debian's package as root:"
            " apt-get install dovecot-imapd"
        )
    # Each xdist worker starts its own server, but only one installs the package; another
    # engine's install (PostgreSQL, SoftHSM2) may hold dpkg's lock meanwhile: wait and retry.
    with (Path(tempfile.gettempdir()) / "itsm-test-dovecot-install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for attempt in range(1, 7):
            if _dovecot():
                break
            failed = apt_install("dovecot-imapd")
            if failed is None:
                break
            if "lock" not in failed.lower() or attempt == 6:
                raise DovecotUnavailable(failed)
            time.sleep(10)
    found = _dovecot()
    if not found:
        raise DovecotUnavailable(f"installed dovecot-imapd, yet found no dovecot or {IMAP_BINARY}")
    return found


# -- certificates ------------------------------------------------------------------------------


def make_ca(
    directory: Path, name: str
) -> tuple[Path, ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A throwaway certificate authority: its PEM file, key and certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(signs=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = directory / f"{name}.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path, key, certificate


def _usage(*, signs: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not signs,
        key_cert_sign=signs,
        crl_sign=signs,
        encipher_only=False,
        decipher_only=False,
    )


def _server_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """The CA file, and the server's certificate and key files, for 127.0.0.1 and localhost."""
    ca_file, ca_key, ca = make_ca(directory, "itsm-test-imap-ca")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(signs=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file = directory / "server.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file = directory / "server.key"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return ca_file, cert_file, key_file


# -- the server --------------------------------------------------------------------------------


def _users() -> tuple[str, str]:
    """(the login processes' user, the mail's user): see the module's docstring."""
    if os.geteuid() == 0:
        return "dovenull", "dovecot"
    me = pwd.getpwuid(os.geteuid()).pw_name
    return me, me


def _config(directory: Path, port: int, imaps_port: int, cert: Path, key: Path) -> str:
    login_user, mail_user = _users()
    mail_uid = pwd.getpwnam(mail_user).pw_uid
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"""\
# A private Dovecot for the tests (tests/engines/dovecot.py); nothing here is the system's.
instance_name = itsm-test-{worker}-{os.getpid()}
base_dir = {directory}/run
state_dir = {directory}/state
log_path = {directory}/dovecot.log
protocols = imap
listen = {HOST}
default_login_user = {login_user}
default_internal_user = {mail_user}
first_valid_uid = {mail_uid}
last_valid_uid = {mail_uid}
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{directory}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {directory}/users/%u
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_user} home={directory}/mail/%u
}}
protocol imap {{
  imap_idle_notify_interval = 2 mins
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {HOST}
    port = {port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""


def _answers(port: int, tls: ssl.SSLContext | None = None) -> bool:
    """Whether the server greets on a port (over TLS, when a context is given)."""
    try:
        with socket.create_connection((HOST, port), timeout=2) as connection:
            connection.settimeout(2)
            if tls is None:
                return connection.recv(64).startswith(b"* OK")
            with tls.wrap_socket(connection, server_hostname=HOST) as secured:
                return secured.recv(64).startswith(b"* OK")
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _start(binary: str, directory: Path) -> tuple[DovecotServer, subprocess.Popen[bytes]]:
    """Start the server on two free ports (new ones if another process took them meanwhile)."""
    ca_file, cert, key = _server_certificate(directory)
    _, mail_user = _users()
    mail = directory / "mail"
    mail.mkdir()
    shutil.chown(mail, mail_user, mail_user)
    (directory / "users").mkdir()
    log = directory / "dovecot.log"
    for _attempt in range(3):
        port, imaps_port = free_port(), free_port()
        config = directory / "dovecot.conf"
        config.write_text(_config(directory, port, imaps_port, cert, key))
        process = subprocess.Popen(
            [binary, "-F", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=(directory / "dovecot.stderr").open("ab"),
        )
        tls = ssl.create_default_context(cafile=str(ca_file))
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            if _answers(port) and _answers(imaps_port, tls):
                server = DovecotServer(HOST, port, imaps_port, ca_file, directory, config)
                return server, process
            time.sleep(0.1)
        _stop(process)
        said = log.read_text(errors="replace") if log.exists() else ""
        if "Address already in use" not in said:
            break
    stderr = (directory / "dovecot.stderr").read_text(errors="replace")
    raise DovecotUnavailable(f"Dovecot did not start:\n{said[-2000:]}{stderr[-2000:]}")


@contextmanager
def running() -> Iterator[DovecotServer]:
    """A private Dovecot outside pytest (benchmarks/mail_in.py): started, yielded, stopped.
    DovecotUnavailable when it cannot be."""
    binary = ensure_dovecot()
    directory = Path(tempfile.mkdtemp(prefix="itsm-bench-dovecot-"))
    directory.chmod(0o755)
    try:
        server, process = _start(binary, directory)
        try:
            yield server
        finally:
            _stop(process)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A private Dovecot for this test process, stopped when the session ends."""
    try:
        binary = ensure_dovecot()
    except DovecotUnavailable as error:
        _no_server(str(error))
    # Directly under the system temp directory, readable by all: as root, the login and mail
    # processes run as Dovecot's own users, which must reach their files here.
    directory = Path(tempfile.mkdtemp(prefix="itsm-test-dovecot-"))
    directory.chmod(0o755)
    try:
        try:
            server, process = _start(binary, directory)
        except (DovecotUnavailable, OSError, KeyError) as error:
            _no_server(str(error))
        try:
            yield server
        finally:
            _stop(process)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def imap_account(dovecot: DovecotServer, request: pytest.FixtureRequest) -> Account:
    """A fresh mailbox of the test's own on the session's Dovecot."""
    name = re.sub(r"[^a-z0-9]", "-", request.node.name.lower())[:40].strip("-")
    return dovecot.mailbox(f"{name or 'user'}-{secrets.token_hex(4)}")
