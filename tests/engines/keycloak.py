"""A real OIDC issuer for the tests: Keycloak, in development mode, with the realm of
tests/engines/keycloak-realm.json (realm `itsm`: the public client `itsm-console` with PKCE S256
required, people with passwords, mappers putting `preferred_username`, `itsm_role`,
`itsm_organisation` and the audience `itsm-api` in the access token).

The distribution is fetched once with `mvn` (org.keycloak:keycloak-quarkus-dist, a zip) into a
cache outside the repository (`$ITSM_KEYCLOAK_HOME`, or `~/.cache/itsm/keycloak-<version>/`) and
unpacked there; each session starts it on free loopback ports with an in-memory database
(`--db=dev-mem`: nothing kept between runs) and stops it at the end. It needs Java 21 or later
(`$ITSM_KEYCLOAK_JAVA_HOME`, else the Temurin 25 of the image, else `$JAVA_HOME`).

Without Java, Maven or the network the tests that need it are skipped, except under `CI=true`,
where they fail with the reason: CI never silently skips.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import httpx
import pytest

KEYCLOAK_VERSION = "26.5.6"
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{KEYCLOAK_VERSION}:zip"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
REALM_FILE = Path(__file__).with_name("keycloak-realm.json")
REALM = "itsm"
CLIENT_ID = "itsm-console"
AUDIENCE = "itsm-api"
#: The people of the realm and their passwords (tests/engines/keycloak-realm.json).
PASSWORDS = {
    "siti.rahma": "kata-sandi-siti",  # agent, dpk-banten
    "budi.santoso": "kata-sandi-budi",  # requester, perpus-kab-lebak
    "tamu.luar": "kata-sandi-tamu",  # no role of this service
}
JAVA_CANDIDATES = ("/usr/lib/jvm/temurin-25-jdk-amd64",)
START_TIMEOUT = 180.0


@dataclass(frozen=True)
class Keycloak:
    """A running Keycloak: its base address, and how long it took to answer."""

    base_url: str
    started_in: float

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/realms/{REALM}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/certs"


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it under CI, where a missing engine is a broken build."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"no Keycloak under CI: {reason}", pytrace=False)
    pytest.skip(f"no Keycloak: {reason}")


def _progress(message: str) -> None:
    print(f"keycloak: {message}", file=sys.stderr)


def keycloak_home() -> Path:
    configured = os.environ.get("ITSM_KEYCLOAK_HOME")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "itsm" / f"keycloak-{KEYCLOAK_VERSION}"


def java_home() -> Path | None:
    """A Java of 21 or later (Keycloak 26 needs it), or None."""
    candidates = [os.environ.get("ITSM_KEYCLOAK_JAVA_HOME"), *JAVA_CANDIDATES]
    candidates.append(os.environ.get("JAVA_HOME"))
    for candidate in filter(None, candidates):
        java = Path(candidate) / "bin" / "java"
        if java.is_file() and _java_major(java) >= 21:
            return Path(candidate)
    return None


def _java_major(java: Path) -> int:
    try:
        said = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return 0
    version = said.split('"')[1] if '"' in said else ""
    head = version.split(".")[0]
    return int(head) if head.isdigit() else 0


def distribution(home: Path) -> Path:
    """The unpacked distribution, fetched with Maven and unpacked the first time (under a lock,
    so two sessions do not both fetch it)."""
    unpacked = home / f"keycloak-{KEYCLOAK_VERSION}"
    if (unpacked / "bin" / "kc.sh").is_file():
        return unpacked
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (unpacked / "bin" / "kc.sh").is_file():
            return unpacked
        mvn = shutil.which("mvn")
        if mvn is None:
            unavailable("Maven (`mvn`) is needed once to fetch Keycloak")
        archive = home / f"keycloak-quarkus-dist-{KEYCLOAK_VERSION}.zip"
        if not archive.is_file():
            _progress(f"fetching {ARTIFACT} into {home} (once)")
            result = subprocess.run(
                [
                    mvn,
                    "-B",
                    "-q",
                    "-Dstyle.color=never",
                    f"{DEPENDENCY_PLUGIN}:copy",
                    f"-Dartifact={ARTIFACT}",
                    f"-DoutputDirectory={home}",
                ],
                cwd=home,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0 or not archive.is_file():
                tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
                unavailable(f"`mvn` could not fetch {ARTIFACT} (exit {result.returncode}):\n{tail}")
        partial = home / "unpacking"
        shutil.rmtree(partial, ignore_errors=True)
        with zipfile.ZipFile(archive) as packed:
            packed.extractall(partial)
        for script in (partial / f"keycloak-{KEYCLOAK_VERSION}" / "bin").glob("*.sh"):
            script.chmod(0o755)
        (partial / f"keycloak-{KEYCLOAK_VERSION}").rename(unpacked)
        partial.rmdir()
    return unpacked


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def running_keycloak(log_dir: Path) -> Iterator[Keycloak]:
    """Keycloak with the test realm on free loopback ports, stopped on exit."""
    java = java_home()
    if java is None:
        unavailable("no Java 21 or later (Keycloak 26 needs it)")
    dist = distribution(keycloak_home())
    imports = dist / "data" / "import"
    imports.mkdir(parents=True, exist_ok=True)
    realm = imports / "itsm-realm.json"
    if not realm.is_file() or realm.read_bytes() != REALM_FILE.read_bytes():
        shutil.copyfile(REALM_FILE, realm)
    port, management = free_port(), free_port()
    log_path = log_dir / "keycloak.log"
    env = {**os.environ, "JAVA_HOME": str(java), "KC_LOG_CONSOLE_COLOR": "false"}
    command = [
        str(dist / "bin" / "kc.sh"),
        "start-dev",
        "--db=dev-mem",
        "--import-realm",
        "--http-host=127.0.0.1",
        f"--http-port={port}",
        f"--http-management-port={management}",
    ]
    started = time.monotonic()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command,
            cwd=dist,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its JVM is a child of kc.sh: stopped as a group
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(process, f"{base_url}/realms/{REALM}/.well-known/openid-configuration")
        took = time.monotonic() - started
        _progress(f"Keycloak {KEYCLOAK_VERSION} answered in {took:.1f} s")
        yield Keycloak(base_url, took)
    except _NotReady as failure:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        unavailable(f"Keycloak did not start: {failure}\n{tail}")
    finally:
        _stop(process)


class _NotReady(Exception):
    pass


def _wait_until_ready(process: subprocess.Popen[bytes], discovery: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise _NotReady(f"it exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(discovery, timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise _NotReady(f"the realm was not served within {START_TIMEOUT:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def keycloak(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keycloak]:
    """The session's Keycloak, started when the first test asks for it."""
    with running_keycloak(tmp_path_factory.mktemp("keycloak")) as engine:
        yield engine
