"""The Ed25519 key that signs checkpoints.

A configured key wins: `ITSM_AUDIT_SIGNING_KEY` (a PEM private key, e.g. from a secret store) or
`ITSM_AUDIT_SIGNING_KEY_FILE` (a path to one). Otherwise the key is `audit-signing-key.pem` in
the data directory, created on first start (mode 0600; created under a temporary name and linked
into place, so two processes starting at once end up with the same key). On the PostgreSQL
backend that is the data directory of the host running the ledger follower: configure the same
key everywhere a follower runs, or run one follower (docs/audit.md).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from hashlib import sha256
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

DEFAULT_FILE = "audit-signing-key.pem"

#: The stored type of a key rotation (domain/audit_key.py's `Rotated`, named here so that a
#: verifier's worker process need not import the domain): the ledger checkpoints its position
#: under the key in use until then, and signs with the key it names from there on.
ROTATED = "AuditKey.Rotated"


def key_id(public: Ed25519PublicKey) -> str:
    """A short, stable name for a public key: the first 16 hex digits of its SHA-256."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def load_private(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the audit signing key is not an Ed25519 private key")
    return key


def signing_key(pem: str | None, path: Path | None, data_dir: Path) -> Ed25519PrivateKey:
    """The configured key (PEM text, then a file), or the data directory's, created if missing."""
    if pem:
        return load_private(pem.encode())
    if path is not None:
        return load_private(path.read_bytes())
    return _created_once(data_dir / DEFAULT_FILE)


def _created_once(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        write_private(path, Ed25519PrivateKey.generate())
    return load_private(path.read_bytes())


def write_private(path: Path, key: Ed25519PrivateKey) -> None:
    """Keep a private key at `path` (mode 0600), unless a key is there already."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_once(path, pem)


def write_once(path: Path, secret: bytes) -> None:
    """Keep a secret file at `path` (mode 0600), unless one is there already: written under a
    temporary name and linked into place, so two processes at once end up with the same one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    temporary = Path(name)
    with os.fdopen(fd, "wb") as file:
        file.write(secret)
        file.flush()
        os.fsync(file.fileno())
    try:
        os.link(temporary, path)  # fails if another process got there first: use theirs
    except FileExistsError:
        pass
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def verifies(public: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public.verify(signature, message)
    except InvalidSignature:
        return False
    return True
