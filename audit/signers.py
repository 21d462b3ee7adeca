"""Who signs checkpoints: a `Signer` (sign a message, its public key, its key id), found in a
`Keyring` by key id, so that after a rotation (domain/audit_key.py) the ledger signs with the key
the record names.

Two kinds:
- `FileKeyring`: Ed25519 keys in PEM files (the embedded default, audit/keys.py): the configured
  key, and the keys `itsm audit rotate-key` made, in `audit-keys/` of the data directory.
- `Pkcs11Keyring`: Ed25519 keys on a PKCS#11 token (SoftHSM2 in the tests, an HSM in production),
  generated there as sensitive and non-extractable and never read out: the token signs
  (CKM_EDDSA), the process holds only a logged-in session. Its signatures are plain Ed25519, so
  verification is the same code (cryptography) as for a file key's.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit import keys

if TYPE_CHECKING:
    pass

#: Where the file keyring keeps the keys rotations made, under the data directory.
ROTATED_DIR = "audit-keys"
#: Ed25519's object identifier, the curve a token's EC_EDWARDS key is made on.
ED25519_OID = "1.3.101.112"


class SignerUnavailable(RuntimeError):
    """The configured signer cannot be used (no token, a wrong PIN, no such key): start-up stops
    with this message rather than sign with anything else."""


class Signer(Protocol):
    """Signs checkpoints (and evidence manifests) with one Ed25519 key it may never show."""

    @property
    def key_id(self) -> str: ...

    def public_key(self) -> Ed25519PublicKey: ...

    def sign(self, message: bytes) -> bytes: ...


class Keyring(Protocol):
    """The keys a service can sign with: the configured one, any by key id, and new ones."""

    def configured(self) -> Signer: ...

    def find(self, key_id: str) -> Signer | None: ...

    def create(self) -> Signer:
        """A new key, kept where this keyring keeps keys (a rotation's next key)."""
        ...

    def public_keys(self) -> list[Ed25519PublicKey]: ...

    def close(self) -> None:
        """Let go of what the keyring holds open (a token's session)."""
        ...


class FileSigner:
    """An Ed25519 private key this process holds in memory (from a PEM file or text)."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self._public = private.public_key()
        self.key_id = keys.key_id(self._public)

    def public_key(self) -> Ed25519PublicKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)


@dataclass
class FileKeyring:
    """The configured key, and the rotated keys in `directory` (one `<key id>.pem` each)."""

    key: Ed25519PrivateKey
    directory: Path

    def configured(self) -> Signer:
        return FileSigner(self.key)

    def _all(self) -> list[FileSigner]:
        found = [FileSigner(self.key)]
        if self.directory.is_dir():
            for path in sorted(self.directory.glob("*.pem")):
                found.append(FileSigner(keys.load_private(path.read_bytes())))
        return found

    def find(self, key_id: str) -> Signer | None:
        return next((s for s in self._all() if s.key_id == key_id), None)

    def create(self) -> Signer:
        fresh = Ed25519PrivateKey.generate()
        signer = FileSigner(fresh)
        keys.write_private(self.directory / f"{signer.key_id}.pem", fresh)
        return signer

    def public_keys(self) -> list[Ed25519PublicKey]:
        return [s.public_key() for s in self._all()]

    def close(self) -> None:
        """Nothing is held open: the keys are read from their files when asked for."""


#: One lock per PKCS#11 module, for every call into it from this process: SoftHSM2 (and other
#: modules loaded without OS locking) fails calls made at once from two threads, even on two
#: sessions, with CKR_GENERAL_ERROR.
_MODULE_LOCKS: dict[str, threading.Lock] = {}
_MODULE_LOCKS_GUARD = threading.Lock()


def module_lock(module: Path) -> threading.Lock:
    """The lock every call into the PKCS#11 module at `module` takes in this process."""
    with _MODULE_LOCKS_GUARD:
        return _MODULE_LOCKS.setdefault(str(module.resolve()), threading.Lock())


class Pkcs11Signer:
    """A private key on a PKCS#11 token: the token signs; the key never leaves it. One session
    is shared, so its use is serialised (a PKCS#11 session is not for concurrent use, nor for
    two operations at once), under the module's lock (`module_lock`)."""

    def __init__(self, lock: threading.Lock, private: Any, public: Ed25519PublicKey) -> None:
        self._lock = lock  # the module's
        self._private = private
        self._public = public
        self.key_id = keys.key_id(public)

    def public_key(self) -> Ed25519PublicKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        from pkcs11 import Mechanism

        with self._lock:
            signature: bytes = self._private.sign(message, mechanism=Mechanism.EDDSA)
        return signature


class Pkcs11Keyring:
    """Ed25519 keys on one token, logged in with the user PIN. The configured key is the one
    labelled `label`; a rotation's keys carry the same label and are told apart by their id."""

    def __init__(self, module: Path, token: str, label: str, pin: str) -> None:
        import pkcs11
        from pkcs11 import exceptions

        self.label = label
        self._lock = module_lock(module)
        with self._lock:  # opening a session is a call into the module too
            try:
                lib = pkcs11.lib(str(module))
                found = lib.get_token(token_label=token)
            except (RuntimeError, OSError) as error:
                raise SignerUnavailable(
                    f"cannot load the PKCS#11 module {module}: {error}"
                ) from None
            except (exceptions.NoSuchToken, exceptions.MultipleTokensReturned):
                raise SignerUnavailable(f"no single PKCS#11 token labelled {token!r}") from None
            try:
                self._session = found.open(user_pin=pin, rw=True)
            except exceptions.UserAlreadyLoggedIn:
                # PKCS#11 logs in an application, not a session: another keyring of this process
                # (a command beside the running service, in the tests) holds the login already.
                self._session = found.open(rw=True)
            except exceptions.PinIncorrect:
                raise SignerUnavailable(
                    f"the PKCS#11 token {token!r} refused the PIN (ITSM_AUDIT_PKCS11_PIN or"
                    " ITSM_AUDIT_PKCS11_PIN_FILE): wrong PIN"
                ) from None
            except exceptions.PKCS11Error as error:
                message = f"cannot log in to the PKCS#11 token {token!r}: {error!r}"
                raise SignerUnavailable(message) from None

    def _signers(self) -> list[Pkcs11Signer]:
        """Every Ed25519 key pair with our label, oldest id first (ids are made in order)."""
        from pkcs11 import Attribute, KeyType, ObjectClass

        found = []
        with self._lock:
            publics = list(  # one search at a time: finish this one before the next
                self._session.get_objects(
                    {
                        Attribute.CLASS: ObjectClass.PUBLIC_KEY,
                        Attribute.KEY_TYPE: KeyType.EC_EDWARDS,
                        Attribute.LABEL: self.label,
                    }
                )
            )
            for public in publics:
                ident = public[Attribute.ID]
                private = self._session.get_key(
                    object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.EC_EDWARDS, id=ident
                )
                found.append((ident, Pkcs11Signer(self._lock, private, _ed25519(public))))
        return [signer for _, signer in sorted(found, key=lambda pair: pair[0])]

    def configured(self) -> Signer:
        signers = self._signers()
        if not signers:
            raise SignerUnavailable(
                f"the PKCS#11 token holds no Ed25519 key labelled {self.label!r}: create one"
                " with `itsm audit create-token-key`"
            )
        return signers[0]

    def find(self, key_id: str) -> Signer | None:
        return next((s for s in self._signers() if s.key_id == key_id), None)

    def create(self) -> Signer:
        """A key pair generated on the token: the private half sensitive and not extractable."""
        with self._lock:
            return self._generate()

    def _generate(self) -> Signer:
        from pkcs11 import Attribute, KeyType, Mechanism
        from pkcs11.util.ec import encode_named_curve_parameters

        params = self._session.create_domain_parameters(
            KeyType.EC_EDWARDS,
            {Attribute.EC_PARAMS: encode_named_curve_parameters(ED25519_OID)},
            local=True,
        )
        ident = _ordered_id()
        public, private = params.generate_keypair(
            store=True,
            label=self.label,
            id=ident,
            mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
            private_template={
                Attribute.EXTRACTABLE: False,
                Attribute.SENSITIVE: True,
                Attribute.SIGN: True,
            },
        )
        return Pkcs11Signer(self._lock, private, _ed25519(public))

    def public_keys(self) -> list[Ed25519PublicKey]:
        return [s.public_key() for s in self._signers()]

    def close(self) -> None:
        with self._lock:
            self._session.close()


def _ordered_id() -> bytes:
    """An object id that sorts after every earlier one: the time in nanoseconds, then random."""
    import time

    return time.time_ns().to_bytes(8, "big") + uuid.uuid4().bytes[:8]


def _ed25519(public: Any) -> Ed25519PublicKey:
    """A token's EC_EDWARDS public key object as cryptography's key. EC_POINT is the 32 raw
    bytes DER-wrapped as an OCTET STRING (04 20 ...), as PKCS#11 3.0 says; some tokens give
    them bare."""
    from pkcs11 import Attribute

    point = bytes(public[Attribute.EC_POINT])
    raw = point[2:] if len(point) == 34 and point[:2] == b"\x04\x20" else point
    return Ed25519PublicKey.from_public_bytes(raw)
