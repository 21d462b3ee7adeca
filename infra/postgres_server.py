"""A local PostgreSQL server, started by the project itself from Debian's `postgresql` package.

For development and tests on a machine without a database at hand: `PostgresServer(dir).up()`
creates a cluster in `dir` (initdb), starts it on 127.0.0.1 and answers its URL. The cluster
keeps PostgreSQL's full durability (fsync on): it is the same backend production runs, only
smaller. It listens on 127.0.0.1 only, where it trusts every connection (no passwords), and its
Unix socket lives inside the data directory, which only the server's OS user may enter.

PostgreSQL refuses to run as root. When this runs as root, the cluster belongs to the `postgres`
OS user (created by Debian's package) and initdb and pg_ctl run as that user.

The settings the project owns (address, port, socket directory, durability) live in
`itsm.conf` inside the data directory, so `up()` on the same directory restarts the same
server on the same port.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

#: Where Debian's packages put each major version's programs: /usr/lib/postgresql/<major>/bin.
DEBIAN_ROOT = Path("/usr/lib/postgresql")
#: The OS user that runs the server when this process is root (Debian's package creates it).
OS_USER = "postgres"
#: The database superuser initdb creates, and the role and database the service uses.
SUPERUSER = "postgres"
ROLE = DATABASE = "itsm"
CONF_FILE = "itsm.conf"
LOG_FILE = "server.log"
#: A Unix socket path may be at most this long (sun_path is 108 bytes, NUL included).
MAX_SOCKET_PATH = 107


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's programs are not installed here and cannot be installed by this process."""


class PostgresServerError(RuntimeError):
    """The local server could not be set up, started or stopped; the message says why."""


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    port: int | None  # the port the cluster is configured for; None before the first up()
    pid: int | None  # the postmaster's process id while running


def find_bin_dir(root: Path = DEBIAN_ROOT) -> Path | None:
    """The newest installed major version's bin directory (with initdb and pg_ctl), if any."""
    found: list[tuple[tuple[int, ...], Path]] = []
    if root.is_dir():
        for version_dir in root.iterdir():
            parts = version_dir.name.split(".")
            bin_dir = version_dir / "bin"
            if all(p.isdigit() for p in parts) and all(
                (bin_dir / program).is_file() for program in ("initdb", "pg_ctl", "postgres")
            ):
                found.append((tuple(int(p) for p in parts), bin_dir))
    return max(found)[1] if found else None


def ensure_binaries(root: Path = DEBIAN_ROOT) -> Path:
    """The bin directory of the newest installed PostgreSQL; installs Debian's `postgresql`
    package first when it is missing and this process is root."""
    found = find_bin_dir(root)
    if found is not None:
        return found
    if os.geteuid() != 0:
        raise PostgresUnavailable(
            f"PostgreSQL is not installed (no {root}/<version>/bin/pg_ctl). Install Debian's "
            "package as root: apt-get install postgresql"
        )
    if shutil.which("apt-get") is None:
        raise PostgresUnavailable(
            f"PostgreSQL is not installed (no {root}/<version>/bin/pg_ctl) and there is no "
            "apt-get to install Debian's postgresql package with"
        )
    failed = apt_install("postgresql")
    if failed is not None:
        raise PostgresUnavailable(failed)
    found = find_bin_dir(root)
    if found is None:
        raise PostgresUnavailable(f"installed postgresql, yet found no {root}/<version>/bin")
    return found


def apt_install(*packages: str) -> str | None:
    """Install Debian packages as root (apt-get update, then one install of them all); None once
    they are in, else what failed. The test engines install what they need this way (SoftHSM2,
    Chromium and its driver too)."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", *packages]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return f"{' '.join(command)} failed (exit {done.returncode}):\n{_tail(done.stderr)}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PostgresServer:
    """One PostgreSQL cluster in one data directory, on 127.0.0.1."""

    def __init__(
        self,
        data_dir: Path | str,
        port: int | None = None,
        *,
        bin_dir: Path | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        #: The port asked for; None means the configured one, or a free one on first start.
        self.requested_port = port
        self._bin_dir = bin_dir
        self.timeout = timeout
        self._as_root = os.geteuid() == 0

    # -- what it is --------------------------------------------------------------------------------

    @property
    def port(self) -> int | None:
        """The port the cluster is configured for (None until the first up())."""
        try:
            text = (self.data_dir / CONF_FILE).read_text()
        except FileNotFoundError:
            return None
        match = re.search(r"^port = (\d+)$", text, re.MULTILINE)
        return int(match.group(1)) if match else None

    @property
    def url(self) -> str:
        """The service's URL: role and database `itsm` on 127.0.0.1."""
        return self._url(ROLE, DATABASE)

    def _url(self, user: str, dbname: str) -> str:
        port = self.port
        if port is None:
            raise PostgresServerError(f"no server has been set up in {self.data_dir}")
        return f"postgresql://{user}@127.0.0.1:{port}/{dbname}"

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def status(self) -> ServerStatus:
        running = self.initialised and self._pg_ctl("status").returncode == 0
        pid = None
        if running:
            first_line = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            pid = int(first_line) if first_line.strip().isdigit() else None
        return ServerStatus(running=running, port=self.port, pid=pid)

    # -- start and stop ----------------------------------------------------------------------------

    def up(self) -> str:
        """Create the cluster if needed, start it unless it runs, make sure role and database
        `itsm` exist; the service's URL. Restarting keeps the data and the port."""
        if not self.initialised:
            self._initdb()
        current = self.status()
        if current.running:
            if self.requested_port not in (None, current.port):
                raise PostgresServerError(
                    f"the server in {self.data_dir} already runs on port {current.port}; "
                    "stop it first to move it to another port"
                )
        else:
            self._configure(self.requested_port or current.port or free_port())
            self._start()
        self._ensure_database()
        return self.url

    def down(self) -> bool:
        """Stop this data directory's server (fast shutdown); False if it was not running."""
        if not self.status().running:
            return False
        done = self._pg_ctl("stop", "-m", "fast", "-w", "-t", str(int(self.timeout)))
        if done.returncode != 0:
            raise PostgresServerError(f"pg_ctl stop failed:\n{_tail(done.stdout + done.stderr)}")
        return True

    # -- the steps ---------------------------------------------------------------------------------

    def _initdb(self) -> None:
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise PostgresServerError(
                f"{self.data_dir} is neither empty nor a PostgreSQL data directory"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        self._give_to_server_user(self.data_dir)
        if self._as_root:
            reachable = subprocess.run(
                ["runuser", "-u", OS_USER, "--", "test", "-w", str(self.data_dir)], check=False
            )
            if reachable.returncode != 0:
                raise PostgresServerError(
                    f"the {OS_USER} OS user cannot write to {self.data_dir} (PostgreSQL refuses "
                    f"to run as root, so its server runs as {OS_USER}): choose a data directory "
                    f"whose parent directories {OS_USER} may enter"
                )
        done = self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        )
        if done.returncode != 0:
            raise PostgresServerError(f"initdb failed:\n{_tail(done.stdout + done.stderr)}")
        # Trust only TCP connections from this machine; there is no other way in.
        self._write(
            "pg_hba.conf",
            "# TYPE  DATABASE  USER  ADDRESS       METHOD\nhost all all 127.0.0.1/32 trust\n",
        )
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# The project's own settings (see infra/postgres_server.py)\n"
                f"include '{CONF_FILE}'\n"
            )

    def _configure(self, port: int) -> None:
        socket_path = self.data_dir / f".s.PGSQL.{port}"
        if len(str(socket_path)) > MAX_SOCKET_PATH:
            raise PostgresServerError(
                f"the data directory's path is too long for the server's Unix socket "
                f"({socket_path}): choose a shorter one"
            )
        self._write(
            CONF_FILE,
            "# Written by infra/postgres_server.py on every start; edits are lost.\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {port}\n"
            f"unix_socket_directories = {_literal(str(self.data_dir))}\n"
            "fsync = on\n"
            "synchronous_commit = on\n"
            "full_page_writes = on\n",
        )

    def _start(self) -> None:
        log = self.data_dir / LOG_FILE
        done = self._pg_ctl("start", "-w", "-t", str(int(self.timeout)), "-l", str(log))
        if done.returncode != 0:
            server_log = log.read_text(errors="replace") if log.exists() else ""
            raise PostgresServerError(
                f"the server in {self.data_dir} did not start:\n"
                f"{_tail(done.stdout + done.stderr + server_log)}"
            )

    def _ensure_database(self) -> None:
        """Role and database `itsm` (the role may create databases: the tests make their own)."""
        conn = self._connect_when_ready()
        with conn:
            if (
                conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone()
                is None
            ):
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB").format(sql.Identifier(ROLE)))
            if (
                conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
                is None
            ):
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(DATABASE), sql.Identifier(ROLE)
                    )
                )

    def _connect_when_ready(self) -> psycopg.Connection[tuple[object, ...]]:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return psycopg.connect(
                    self._url(SUPERUSER, "postgres"), autocommit=True, connect_timeout=5
                )
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    raise PostgresServerError(
                        f"the server in {self.data_dir} does not accept connections: {error}"
                    ) from error
                time.sleep(0.1)

    # -- running its programs ----------------------------------------------------------------------

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._run("pg_ctl", "-D", str(self.data_dir), *args)

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        if self._bin_dir is None:
            self._bin_dir = ensure_binaries()
        command = [str(self._bin_dir / program), *args]
        if self._as_root:
            command = ["runuser", "-u", OS_USER, "--", *command]
        # cwd "/": the server's user may not be allowed into ours.
        return subprocess.run(command, cwd="/", capture_output=True, text=True, check=False)

    def _write(self, name: str, text: str) -> None:
        path = self.data_dir / name
        path.write_text(text)
        path.chmod(0o600)
        self._give_to_server_user(path)

    def _give_to_server_user(self, path: Path) -> None:
        if self._as_root:
            try:
                user = pwd.getpwnam(OS_USER)
            except KeyError:
                raise PostgresUnavailable(
                    f"there is no {OS_USER} OS user to run PostgreSQL as (it refuses to run as "
                    "root); Debian's postgresql package creates it"
                ) from None
            os.chown(path, user.pw_uid, user.pw_gid)


def _literal(value: str) -> str:
    """A string literal in postgresql.conf syntax."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
