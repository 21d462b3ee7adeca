"""The audit ledger as the service runs it, built from the one Settings object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from eventsourcing.persistence import ApplicationRecorder, Mapper

from audit import keys
from audit.ledger import Ledger
from audit.publish import KafkaPublisher
from audit.store import AuditStore, PostgresAuditStore, SQLiteAuditStore
from audit.view_tables import PostgresViewTables, SQLiteViewTables, ViewTables
from audit.views import ViewsReport, audit_views
from infra.pg import open_pool
from infra.settings import Settings
from projections import PROJECTIONS


@dataclass
class Audit:
    store: AuditStore
    key: Ed25519PrivateKey
    ledger: Ledger
    #: Whether this process follows the store into the ledger (Settings.audit_follow).
    follows: bool
    #: The view tables the API serves, read as stored for `audit_views`.
    views: ViewTables | None = None

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.key.public_key()

    def trusted_keys(self, extra: tuple[Ed25519PublicKey, ...] = ()) -> dict[str, Ed25519PublicKey]:
        """The keys whose checkpoints verification trusts: this service's own, unless the
        auditor brings the keys they hold."""
        chosen = extra or (self.public_key,)
        return {keys.key_id(k): k for k in chosen}

    def audit_views(self, recorder: ApplicationRecorder) -> ViewsReport:
        """Every view rebuilt from the events in a scratch store and compared with the served
        one (audit/views.py)."""
        assert self.views is not None
        return audit_views(recorder, self.ledger.mapper, self.views, PROJECTIONS)

    def start(self) -> None:
        if self.follows:
            self.ledger.start()

    def close(self) -> None:
        self.ledger.stop()
        if isinstance(self.ledger.publisher, KafkaPublisher):
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


def build_audit(settings: Settings, mapper: Mapper[UUID], clock: Callable[[], datetime]) -> Audit:
    store = open_audit_store(settings)
    key = signing_key(settings)
    publisher: KafkaPublisher | None = None
    if settings.kafka_bootstrap:
        publisher = KafkaPublisher(
            settings.kafka_bootstrap,
            settings.kafka_audit_topic,
            keys.public_pem(key.public_key()),
            settings.event_source,
        )
    ledger = Ledger(
        store,
        mapper,
        key,
        clock,
        checkpoint_every=settings.audit_checkpoint_every,
        checkpoint_interval=settings.audit_checkpoint_interval,
        publisher=publisher,
    )
    return Audit(store, key, ledger, settings.audit_follow, served_views(settings))


def served_views(settings: Settings) -> ViewTables:
    if settings.database_url is None:
        return SQLiteViewTables(settings.views_db)
    return PostgresViewTables(settings.database_url)
