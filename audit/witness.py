"""A witness of the signed checkpoints: a small HTTP service an auditor runs and keeps
(`itsm audit witness`), the pusher that feeds it from the service, and the check of a store
against what a witness holds (`itsm audit verify --witness`).

The witness keeps an append-only NDJSON log in a directory of its own. Each line holds one
signed checkpoint, the public key sent with it and the ledger entries since the checkpoint
before it. It appends a checkpoint only if those entries chain from the head hash it holds to
the checkpoint's hash (a linear chain's consistency proof, in the Certificate Transparency
sense, is exactly those entries) and the signature verifies with the key sent; otherwise it
refuses, says why, and keeps what it holds. Its first checkpoint is taken as given (trust on
first use). Given the auditor's public keys (`--public-key`), it refuses any checkpoint signed
with another key before looking further, so whoever can reach it cannot fork it with a key of
their own; without them it judges no key: it records, and the auditor's verify judges the keys.
With a certificate and key (`--tls-cert`, `--tls-key`) it serves HTTPS, and the pusher and
verify check its certificate (the system's CAs, or the auditor's CA file), never unverified.

Whoever later rewrites the store, even re-signing with the host's key, cannot rewrite what the
witness holds: verify names the first position whose hash differs from the witness's.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from audit import chain
from audit.chain import Checkpoint, Entry
from audit.keys import key_id, load_public, verifies
from audit.store import AuditStore
from audit.verify import Finding, Report
from infra.follower import Failing, Follower

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

log = logging.getLogger(__name__)

LOG_FILE = "witness.ndjson"
REFUSED_FILE = "refused.ndjson"
#: Bounds of one offer: entries since the last checkpoint, and bytes of the request.
MAX_ENTRIES = 100_000
MAX_BODY = 128 * 1024 * 1024
PROBLEM_BASE = "https://itsm.example/problems/witness/"
#: Seconds a client has to finish the TLS handshake (it runs in the connection's own thread).
HANDSHAKE_TIMEOUT = 30.0


class Refused(Exception):
    """The witness will not append this checkpoint: why, with the HTTP status it answers."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.code, self.reason = status, code, reason


@dataclass(frozen=True)
class Held:
    """One line of a witness's log: a checkpoint and the entries since the one before."""

    checkpoint: Checkpoint
    public_key: str
    entries: tuple[Entry, ...]
    received_at: str = ""

    def as_json(self) -> dict[str, object]:
        return {
            "checkpoint": self.checkpoint.as_json(),
            "public_key": self.public_key,
            "entries": [e.as_json() for e in self.entries],
            "received_at": self.received_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Held:
        return cls(
            Checkpoint.from_json(data["checkpoint"]),
            str(data["public_key"]),
            tuple(Entry.from_json(e) for e in data["entries"]),
            str(data.get("received_at", "")),
        )


def parse_log(raw: bytes) -> list[Held]:
    return [Held.from_json(orjson.loads(line)) for line in raw.splitlines() if line.strip()]


class WitnessLog:
    """The witness's append-only log in `directory`; `offer` appends or raises Refused. With
    `pinned` public keys it refuses a checkpoint signed with any other key."""

    def __init__(self, directory: Path, pinned: Iterable[Ed25519PublicKey] = ()) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        #: The keys the auditor trusts, by key id (empty: any key, as it is sent).
        self.pinned = {key_id(public): _raw(public) for public in pinned}
        self.path = directory / LOG_FILE
        self.refusals = directory / REFUSED_FILE
        self._lock = threading.Lock()
        self._last: Held | None = None
        #: every checkpoint held (a copy of one sent again is no refusal worth recording)
        self._held: set[Checkpoint] = set()
        self._key_ids: dict[str, None] = {}  # an ordered set
        self.position, self.hash = 0, chain.GENESIS
        if self.path.exists():
            raw = self.path.read_bytes()
            if raw and not raw.endswith(b"\n"):  # a write cut short: it was never answered 2xx
                raw = raw[: raw.rfind(b"\n") + 1]
                with self.path.open("r+b") as file:
                    file.truncate(len(raw))
            for held in parse_log(raw):
                self._hold(held)

    def _hold(self, held: Held) -> None:
        self._last = held
        self._held.add(held.checkpoint)
        self._key_ids[held.checkpoint.key_id] = None
        self.position, self.hash = held.checkpoint.position, held.checkpoint.hash

    def head(self) -> dict[str, object]:
        return {"position": self.position, "hash": self.hash.hex() if self._last else None}

    def unpinned_held(self) -> list[str]:
        """The key ids of checkpoints held that are not pinned (an older key, or one taken
        before the witness was given the auditor's keys), in the order first held."""
        return [kid for kid in self._key_ids if self.pinned and kid not in self.pinned]

    def offer(self, checkpoint: Checkpoint, public_pem: str, entries: list[Entry]) -> bool:
        """Append the checkpoint if it extends the chain held (True), or answer that it is
        held already (False); Refused otherwise, recorded in the refusals file."""
        with self._lock:
            try:
                if self._last is not None and checkpoint == self._last.checkpoint:
                    return False  # sent again (at least once): held already
                if checkpoint in self._held:  # another process pushed it, and more, first
                    raise Refused(
                        409,
                        "held-already",
                        f"checkpoint at position {checkpoint.position} is held already, behind"
                        f" the head at position {self.position}",
                    )
                self._check(checkpoint, public_pem, entries)
            except Refused as refused:
                if refused.code != "held-already":
                    self._refused(checkpoint, refused)
                raise
            held = Held(checkpoint, public_pem, tuple(entries), datetime.now(UTC).isoformat())
            _append_synced(self.path, orjson.dumps(held.as_json()) + b"\n")
            self._hold(held)
            return True

    def _check(self, checkpoint: Checkpoint, public_pem: str, entries: list[Entry]) -> None:
        if self.pinned and checkpoint.key_id not in self.pinned:
            raise Refused(422, "untrusted-key", self._untrusted(checkpoint.key_id))
        try:
            public = load_public(public_pem.encode())
        except ValueError as error:
            raise Refused(422, "bad-key", f"the public key sent is unusable: {error}") from None
        if key_id(public) != checkpoint.key_id:
            raise Refused(422, "bad-key", "the public key sent is not the checkpoint's key id")
        if self.pinned and self.pinned[checkpoint.key_id] != _raw(public):  # a key id collision
            raise Refused(422, "untrusted-key", self._untrusted(checkpoint.key_id))
        if not verifies(public, checkpoint.signature, checkpoint.message()):
            raise Refused(422, "bad-signature", "the checkpoint's signature does not verify")
        if self._last is not None and checkpoint.position <= self.position:
            raise Refused(
                409,
                "not-newer",
                f"checkpoint at position {checkpoint.position} does not extend the head held at"
                f" position {self.position} (replayed or rewound)",
            )
        prev: bytes | None
        if self._last is not None:
            first, prev = self.position + 1, self.hash
        else:  # trust on first use: the entries sent need only chain among themselves
            first = checkpoint.position - len(entries) + 1
            prev = entries[0].prev_hash if entries else None
        count = checkpoint.position - first + 1
        if (
            checkpoint.position < 1
            or count != len(entries)
            or any(e.position != first + i for i, e in enumerate(entries))
        ):
            raise Refused(
                409,
                "not-consistent",
                f"the entries sent are not positions {first} to {checkpoint.position} in order",
            )
        for entry in entries:
            if entry.prev_hash != prev or chain.recomputed(entry) != entry.hash:
                raise Refused(
                    409,
                    "not-consistent",
                    f"the entry at position {entry.position} does not chain from the head held:"
                    " the checkpoint does not extend the chain this witness holds",
                )
            prev = entry.hash
        if prev is not None and prev != checkpoint.hash:
            raise Refused(
                409, "not-consistent", "the entries sent do not end at the checkpoint's hash"
            )

    def _untrusted(self, kid: str) -> str:
        return (
            f"the checkpoint is signed with key id {kid}, not one of the keys this witness was"
            f" given (--public-key: {', '.join(sorted(self.pinned))}): someone else's key, or a"
            " rotated key the auditor has not added yet"
        )

    def _refused(self, checkpoint: Checkpoint, refused: Refused) -> None:
        record = {
            "at": datetime.now(UTC).isoformat(),
            "status": refused.status,
            "code": refused.code,
            "reason": refused.reason,
            "checkpoint": checkpoint.as_json(),
        }
        _append_synced(self.refusals, orjson.dumps(record) + b"\n")
        log.error("witness refused checkpoint %s: %s", checkpoint.position, refused.reason)


def _raw(public: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _append_synced(path: Path, line: bytes) -> None:
    """Append and fsync before anyone is told it is held (the directory too, on creation)."""
    new = not path.exists()
    with path.open("ab") as file:
        file.write(line)
        file.flush()
        os.fsync(file.fileno())
    if new:
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def parse_offer(body: bytes) -> tuple[Checkpoint, str, list[Entry]]:
    """A POSTed offer: {checkpoint, public_key, entries}; Refused (422) if malformed."""
    try:
        data = orjson.loads(body)
        raw_entries = data["entries"]
        if not isinstance(raw_entries, list) or len(raw_entries) > MAX_ENTRIES:
            raise ValueError(f"entries must be a list of at most {MAX_ENTRIES}")
        return (
            Checkpoint.from_json(data["checkpoint"]),
            str(data["public_key"])[:10_000],
            [Entry.from_json(e) for e in raw_entries],
        )
    except (ValueError, KeyError, TypeError, AssertionError) as error:
        raise Refused(422, "malformed", f"not a checkpoint offer: {error}") from None


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """The witness's TLS: its certificate (chain) and private key, PEM; TLS 1.2 at least."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def client_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """How the pusher and verify check a witness's certificate and name: against the system's
    CAs, or only the CA(s) in `ca_file` (PEM); TLS 1.2 at least. Never unverified."""
    try:
        context = ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
    except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
        raise ValueError(f"cannot load the witness CA file {ca_file}: {error}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class _TlsServer(ThreadingHTTPServer):
    """HTTPS: each connection's handshake runs in the connection's own thread, so a client that
    never finishes it holds up no one else."""

    def __init__(self, address: tuple[str, int], handler: Any, context: ssl.SSLContext) -> None:
        self.context = context
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except OSError as error:  # ssl.SSLError, a timeout, a reset
            log.warning("witness: TLS handshake with %s failed: %s", client_address[0], error)
            return
        tls.settimeout(None)
        try:
            super().finish_request(tls, client_address)
        finally:
            self.shutdown_request(tls)

    def shutdown_request(self, request: Any) -> None:
        if isinstance(request, socket.socket) and request.fileno() == -1:
            return  # the plain socket the TLS one took over (it closes with it)
        super().shutdown_request(request)


def server(
    log_: WitnessLog, host: str, port: int, tls: ssl.SSLContext | None = None
) -> ThreadingHTTPServer:
    """The witness over HTTP (HTTPS with `tls`): GET /head, GET /log, GET /refused,
    POST /checkpoints."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/head":
                self._answer(200, orjson.dumps(log_.head()), "application/json")
            elif self.path in ("/log", "/refused"):
                file = log_.path if self.path == "/log" else log_.refusals
                raw = file.read_bytes() if file.exists() else b""
                self._answer(200, raw, "application/x-ndjson")
            else:
                self._problem(Refused(404, "not-found", "no such resource"))

        def do_POST(self) -> None:
            try:
                if self.path != "/checkpoints":
                    raise Refused(404, "not-found", "no such resource")
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    raise Refused(413, "too-large", f"at most {MAX_BODY} bytes")
                appended = log_.offer(*parse_offer(self.rfile.read(length)))
            except Refused as refused:
                self._problem(refused)
                return
            status = 201 if appended else 200
            self._answer(status, orjson.dumps({"held": True, **log_.head()}), "application/json")

        def _problem(self, refused: Refused) -> None:
            body = {
                "type": PROBLEM_BASE + refused.code,
                "title": HTTPStatus(refused.status).phrase,
                "status": refused.status,
                "detail": refused.reason,
                "code": f"witness.{refused.code}",
            }
            self._answer(refused.status, orjson.dumps(body), "application/problem+json")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.info("witness: " + format, *args)

    if tls is not None:
        return _TlsServer((host, port), Handler, tls)
    return ThreadingHTTPServer((host, port), Handler)


# -- the service's side: pushing each checkpoint to the witnesses ---------------------------------


class WitnessRefusal(RuntimeError):
    """A witness refused a checkpoint (retried: it may be a replay the witness already holds)."""


class WitnessPusher:
    """Pushes every checkpoint the ledger holds beyond a witness's head to it, oldest first, in
    a thread of its own (never the API's, nor the ledger's): at least once, retried with
    backoff while the witness is down or refuses, and polled so a witness that returns catches
    up. Called as a publisher, it only wakes its thread."""

    def __init__(
        self,
        url: str,
        store: AuditStore,
        public_key_pem: Callable[[str], bytes],
        *,
        poll: float = 30.0,
        timeout: float = 30.0,
        ca_file: Path | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.store = store
        self.public_key_pem = public_key_pem
        self.timeout = timeout
        #: How an https:// witness's certificate is checked (a CA file that will not load fails
        #: here, at start-up, not at the first push).
        self.tls = client_context(ca_file) if self.url.startswith("https://") else None
        #: The last refusal's reason while the witness refuses (None once it accepts again).
        self.refused: str | None = None
        self._follower = Follower(
            f"audit-witness {self.url}", self.push_once, idle=poll, log=log, backoff=(1.0, 60.0)
        )
        self._started = threading.Lock()

    def __call__(self, checkpoint: Checkpoint) -> None:
        self.start()
        self._follower.wake()

    def start(self) -> None:
        with self._started:
            if not self._follower.is_following:
                self._follower.start()

    def close(self) -> None:
        self._follower.stop()

    def failing(self) -> Failing | None:
        """Since when and why pushing fails, while it does (the witness down, refusing, or its
        certificate not verified)."""
        return self._follower.failing()

    def push_once(self) -> bool:
        """Push the next checkpoint the witness lacks; whether more are waiting."""
        try:
            return self._push_once()
        except urllib.error.URLError as error:
            if isinstance(error.reason, ssl.SSLError):
                log.error(
                    "AUDIT WITNESS %s: TLS failed (%s); is ITSM_AUDIT_WITNESS_CA_FILE the CA"
                    " that signed its certificate?",
                    self.url,
                    error.reason,
                )
            raise

    def _push_once(self) -> bool:
        status, body = _http("GET", f"{self.url}/head", timeout=self.timeout, tls=self.tls)
        _raise_for(status, body, f"{self.url}/head")
        held = int(orjson.loads(body)["position"])
        pending = self.store.checkpoints(after=held)
        if not pending:
            return False
        checkpoint = pending[0]
        entries = self.store.entries(held, checkpoint.position - held, checkpoint.position)
        offer = {
            "checkpoint": checkpoint.as_json(),
            "public_key": self.public_key_pem(checkpoint.key_id).decode(),
            "entries": [e.as_json() for e in entries],
        }
        status, body = _http(
            "POST",
            f"{self.url}/checkpoints",
            orjson.dumps(offer),
            timeout=self.timeout,
            tls=self.tls,
        )
        answer = orjson.loads(body) if status in (409, 422) else {}
        if status == 409 and answer.get("code") == "witness.held-already":
            log.info("witness %s held checkpoint %s already", self.url, checkpoint.position)
            return True  # another process pushed it first: read the witness's head again
        if status in (409, 422):
            self.refused = str(answer.get("detail"))
            log.error(
                "AUDIT WITNESS %s REFUSED checkpoint %s: %s",
                self.url,
                checkpoint.position,
                self.refused,
            )
            raise WitnessRefusal(self.refused)
        _raise_for(status, body, f"{self.url}/checkpoints")
        self.refused = None
        return len(pending) > 1


# -- the auditor's side: the store against what a witness holds -----------------------------------


@dataclass(frozen=True)
class Witnessed:
    """What a witness holds, read from its directory or over HTTP."""

    source: str
    held: list[Held]
    refusals: list[dict[str, Any]]

    @property
    def checkpoints(self) -> list[Checkpoint]:
        return [h.checkpoint for h in self.held]

    def entries(self) -> Iterator[Entry]:
        for held in self.held:
            yield from held.entries


def read_witness(source: str, timeout: float = 60.0, *, ca_file: Path | None = None) -> Witnessed:
    """A witness's log and refusals: `source` is its directory or its URL (an https:// one's
    certificate checked against the system's CAs, or only those in `ca_file`)."""
    if source.startswith(("http://", "https://")):
        base = source.rstrip("/")
        tls = client_context(ca_file) if base.startswith("https://") else None
        raw, raw_refused = (_read(f"{base}/{part}", timeout, tls) for part in ("log", "refused"))
    else:
        directory = Path(source)
        if not (directory / LOG_FILE).exists():
            raise FileNotFoundError(f"{directory} holds no witness log ({LOG_FILE})")
        raw = (directory / LOG_FILE).read_bytes()
        refusals = directory / REFUSED_FILE
        raw_refused = refusals.read_bytes() if refusals.exists() else b""
    return Witnessed(
        source, parse_log(raw), [orjson.loads(line) for line in raw_refused.splitlines() if line]
    )


def compare(store: AuditStore, witnessed: Witnessed, page: int = 20_000) -> Finding | None:
    """The first position where the store's ledger differs from what the witness holds, or
    ends before it: the witness's hashes cannot have been rewritten with the store."""
    held = {e.position: e for e in witnessed.entries()}
    if not held:
        return None
    after, last = min(held) - 1, max(held)
    while after < last:
        entries = store.entries(after, page, last)
        for entry in entries:
            theirs = held.get(entry.position)
            if theirs is not None and theirs.hash != entry.hash:
                return Finding(
                    entry.position,
                    f"the witness ({witnessed.source}) holds {theirs.type} {theirs.event_id}"
                    f" with hash {theirs.hash.hex()[:16]}… here, but the ledger now has"
                    f" {entry.type} {entry.event_id} with hash {entry.hash.hex()[:16]}…: the"
                    " chain was rewritten after the witness held it",
                )
        if not entries:
            break
        after = entries[-1].position
    if after < last:
        return Finding(
            after + 1,
            f"the witness ({witnessed.source}) holds the chain up to position {last}, but the"
            f" ledger ends at {after}: the tail was cut off",
        )
    return None


def with_witness(report: Report, witnessed: Witnessed, finding: Finding | None) -> Report:
    """The verify report with what the witness says: its finding wins where it comes first."""
    last = max((c.position for c in witnessed.checkpoints), default=0)
    report.notes.append(f"the witness ({witnessed.source}) holds checkpoints up to position {last}")
    for refusal in witnessed.refusals[-5:]:
        report.notes.append(
            f"the witness refused a checkpoint at position"
            f" {refusal.get('checkpoint', {}).get('position')} ({refusal.get('at')}):"
            f" {refusal.get('reason')}"
        )
    first = report.first_bad
    if finding is not None and (first is None or finding.position <= first.position):
        report.ok, report.first_bad = False, finding
    return report


# -- HTTP, with the standard library (the witness is small; the image needs no client library) ---


def _http(
    method: str,
    url: str,
    body: bytes | None = None,
    *,
    timeout: float,
    tls: ssl.SSLContext | None = None,
) -> tuple[int, bytes]:
    """The status and body of one request (an https:// one with `tls`, else the system's CAs);
    an error status is an answer too, not an exception (a connection that fails, or a
    certificate that does not verify, raises OSError)."""
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if tls is None and url.startswith("https://"):
        tls = client_context()
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=tls) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def _raise_for(status: int, body: bytes, url: str) -> None:
    if not 200 <= status < 300:
        raise OSError(f"{url} answered {status}: {body[:200].decode(errors='replace')}")


def _read(url: str, timeout: float, tls: ssl.SSLContext | None) -> bytes:
    status, body = _http("GET", url, timeout=timeout, tls=tls)
    _raise_for(status, body, url)
    return body
