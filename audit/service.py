"""The audit ledger as the service runs it, built from the one Settings object."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from eventsourcing.persistence import ApplicationRecorder, Mapper

from audit import keys
from audit.ledger import Ledger, Publisher
from audit.publish import KafkaPublisher, Publishers
from audit.seals import SealKey
from audit.signers import (
    ROTATED_DIR,
    FileKeyring,
    Keyring,
    Pkcs11Keyring,
    Signer,
    SignerUnavailable,
)
from audit.store import AuditStore, PostgresAuditStore, SQLiteAuditStore
from audit.verify import Report, verify
from audit.view_tables import PostgresViewTables, SQLiteViewTables, ViewTables
from audit.views import ViewsReport, audit_views
from audit.witness import WitnessPusher
from infra.coalesce import Coalesced
from infra.pg import open_pool
from infra.settings import Settings
from projections import PROJECTIONS


@dataclass
class Audit:
    store: AuditStore
    keyring: Keyring
    ledger: Ledger
    #: Whether this process follows the store into the ledger (Settings.audit_follow).
    follows: bool
    #: The view tables the API serves, read as stored for `audit_views`.
    views: ViewTables | None = None
    _verifying: Coalesced[Report] = field(init=False, repr=False)
    #: Held while this process makes an evidence pack: one at a time (each reads the whole
    #: period, rebuilds every view and writes a zip of it to a temporary file).
    exporting: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._verifying = Coalesced(
            lambda: verify(self.store, self.trusted_keys(), seal=self.ledger.seal)
        )

    def verified(self) -> Report:
        """The whole ledger verified with this service's keys and seal key, begun after the
        call (`GET /audit/verify`, the console's chain page). One verification at a time: a
        call made while one runs is answered by the next, which begins when it ends and answers
        every call made meanwhile. Verifying a long ledger takes every core for seconds, so
        auditors asking together, or one asking again and again, cost at most two runs, not
        one each."""
        return self._verifying()

    @property
    def key(self) -> Signer:
        """The key that signs now (evidence packs are signed with it too)."""
        return self.ledger.signer

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.key.public_key()

    def trusted_keys(self, extra: tuple[Ed25519PublicKey, ...] = ()) -> dict[str, Ed25519PublicKey]:
        """The keys whose checkpoints verification trusts: this service's own (every key its
        keyring holds), unless the auditor brings the keys they hold; either way verification
        follows the rotations the record holds from there."""
        chosen = extra or tuple(self.keyring.public_keys())
        return {keys.key_id(k): k for k in chosen}

    def audit_views(self, recorder: ApplicationRecorder) -> ViewsReport:
        """Every view rebuilt from the events in a scratch store and compared with the served
        one (audit/views.py)."""
        assert self.views is not None
        return audit_views(recorder, self.ledger.mapper, self.views, PROJECTIONS)

    @property
    def witnesses(self) -> list[WitnessPusher]:
        """The pushers to the auditors' witnesses (ITSM_AUDIT_WITNESS_URLS)."""
        publisher = self.ledger.publisher
        found = publisher.publishers if isinstance(publisher, Publishers) else []
        return [p for p in found if isinstance(p, WitnessPusher)]

    def start(self) -> None:
        if self.follows:
            self.ledger.start()
            self.push_to_witnesses()

    def push_to_witnesses(self) -> None:
        """Start pushing to each witness what it lacks, now rather than at the next checkpoint
        (wherever the ledger is followed: after a restart a witness may lack some)."""
        for witness in self.witnesses:
            witness.start()

    def close(self) -> None:
        self.ledger.stop()
        self.keyring.close()
        if isinstance(self.ledger.publisher, Publishers):
            self.ledger.publisher.close()
        self.store.close()


def open_audit_store(settings: Settings) -> AuditStore:
    """The ledger's store; creates its tables and the append-only triggers (event store too).
    The event store's tables must exist already (the ServiceDesk creates them)."""
    if settings.database_url is None:
        return SQLiteAuditStore(settings.events_db, settings.audit_db)
    pool = open_pool(settings.database_url, max_size=3, name="itsm-audit")
    return PostgresAuditStore(pool, url=settings.database_url)


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    secret = settings.audit_signing_key
    return keys.signing_key(
        secret.get_secret_value() if secret else None,
        settings.audit_signing_key_file,
        settings.data_dir,
    )


def keyring(settings: Settings) -> Keyring:
    """The keys this service signs with: on the PKCS#11 token when a module is configured
    (SignerUnavailable says why it cannot be used), else the PEM files."""
    if settings.audit_pkcs11_module is None:
        return FileKeyring(signing_key(settings), settings.data_dir / ROTATED_DIR)
    return Pkcs11Keyring(
        settings.audit_pkcs11_module,
        settings.audit_pkcs11_token,
        settings.audit_pkcs11_key_label,
        _pin(settings),
    )


def _public(signers: Keyring, key_id: str) -> Ed25519PublicKey:
    found = signers.find(key_id)
    if found is None:  # the ledger signed with it a moment ago
        raise SignerUnavailable(f"the keyring no longer holds key {key_id}")
    return found.public_key()


def _pin(settings: Settings) -> str:
    if settings.audit_pkcs11_pin is not None:
        return settings.audit_pkcs11_pin.get_secret_value()
    if settings.audit_pkcs11_pin_file is not None:
        try:
            return settings.audit_pkcs11_pin_file.read_text().strip()
        except OSError as error:
            raise SignerUnavailable(f"cannot read the PKCS#11 PIN file: {error}") from None
    raise SignerUnavailable(
        "ITSM_AUDIT_PKCS11_MODULE is set but no PIN is: set ITSM_AUDIT_PKCS11_PIN or"
        " ITSM_AUDIT_PKCS11_PIN_FILE"
    )


def build_audit(
    settings: Settings,
    mapper: Mapper[UUID],
    clock: Callable[[], datetime],
    seal: SealKey | None = None,
) -> Audit:
    """The ledger, its store and its keys; with `seal` (the key the writer seals events with),
    the ledger chains only sealed events."""
    signers = keyring(settings)
    store = open_audit_store(settings)
    key = signers.configured()

    def public_pem(key_id: str) -> bytes:
        return keys.public_pem(_public(signers, key_id))

    publishers: list[Publisher] = [
        WitnessPusher(url, store, public_pem, ca_file=settings.audit_witness_ca_file)
        for url in settings.witness_urls()
    ]
    if settings.kafka_bootstrap:
        publishers.append(
            KafkaPublisher(
                settings.kafka_bootstrap,
                settings.kafka_audit_topic,
                public_pem,
                settings.event_source,
            )
        )
    ledger = Ledger(
        store,
        mapper,
        key,
        clock,
        keyring=signers,
        checkpoint_every=settings.audit_checkpoint_every,
        checkpoint_interval=settings.audit_checkpoint_interval,
        publisher=Publishers(publishers) if publishers else None,
        seal=seal,
    )
    return Audit(store, signers, ledger, settings.audit_follow, served_views(settings))


def served_views(settings: Settings) -> ViewTables:
    if settings.database_url is None:
        return SQLiteViewTables(settings.views_db)
    return PostgresViewTables(settings.database_url)
