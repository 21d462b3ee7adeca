"""The composition root: everything the service runs on, built from one Settings object.

Two backends, chosen by `Settings.database_url`: SQLite files under the data directory (the
default), or one PostgreSQL database (the scale backend) holding the event store, the views and
the incident number lock. API tokens are records in the event store (application/api_tokens.py);
the tables they were kept in before are read once, to import them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Protocol
from uuid import UUID, uuid4

from application.api_tokens import RecordedTokenStore, import_token_tables, tables_imported
from application.desk import ServiceDesk
from application.directory_sync import DirectorySync
from domain.actors import SYSTEM, Identity
from domain.context import Context
from infra.blobs import BlobStore, PostgresBlobStore, open_blob_store
from infra.clock import utcnow
from infra.follower import Failing
from infra.locks import InterProcessLock
from infra.oidc import OidcVerifier
from infra.pg import open_pool
from infra.serialisation import UndecodableEvent
from infra.settings import Settings
from infra.tokens import PostgresTokenStore, SQLiteTokenStore, TokenRecord, TokenStore
from projections import PROJECTIONS
from projections.base import Projection
from projections.pg_store import PostgresViewStore
from projections.runner import ProjectionRunner
from projections.shadow import rebuild_changed
from projections.sla_index import ClockIndex
from projections.store import SQLiteViewStore
from projections.view_store import SkippedMessage, ViewStore
from service.reports_apart import ReportMaker
from service.stores import FROM_STORE, desk_alone, open_desk, published, seal_desk

if TYPE_CHECKING:
    from audit.service import Audit
    from processes.mail_in import MailReader
    from processes.notify import Notify
    from processes.sla_watch import SlaWatcher
    from processes.whatif_jobs import WhatIfJobs
    from service.kafka_mode import KafkaMode

log = logging.getLogger(__name__)


class Followed(Protocol):
    """What readiness asks of a follower of the store (infra/follower.py)."""

    @property
    def stuck(self) -> UndecodableEvent | None: ...

    def failing(self) -> Failing | None: ...


#: Held while the attachments' store is opened, so that two requests open it once.
_BLOBS_OPENING = threading.Lock()


@dataclass
class Services:
    settings: Settings
    desk: ServiceDesk
    views: ViewStore
    runner: ProjectionRunner
    tokens: TokenStore
    clock: Callable[[], datetime] = field(default=utcnow)
    #: Called last on close, e.g. to close the incident number lock's connections.
    closing: list[Callable[[], None]] = field(default_factory=list)
    #: Kafka mode: the relay, the Kafka-fed projections and their follower; None when embedded.
    kafka: KafkaMode | None = None
    #: Single sign-on access tokens, when an issuer is configured.
    oidc: OidcVerifier | None = None
    #: The attachments' bytes (infra/blobs.py); opened on first use.
    _blobs: BlobStore | None = field(default=None, repr=False)

    @property
    def blobs(self) -> BlobStore:
        """The content-addressed store of the attachments' bytes (infra/blobs.py)."""
        with _BLOBS_OPENING:
            if self._blobs is None:
                self._blobs = open_blob_store(self.settings)
                if isinstance(self._blobs, PostgresBlobStore):
                    self.closing.insert(0, self._blobs.close)
            return self._blobs

    def authenticate(self, bearer: str) -> Identity:
        """Whom a bearer token speaks for now: a service token, or an access token from the
        configured single sign-on. TokenRejected says why it speaks for no one."""
        if self.oidc is not None and self.oidc.looks_like_jwt(bearer):
            return self.oidc.verify(bearer)
        return self.tokens.verify(bearer, at=self.clock())

    @cached_property
    def whatif_jobs(self) -> WhatIfJobs:
        """What-if runs asked for over the API (docs/whatif.md), kept under the data directory."""
        from processes.whatif_jobs import WhatIfJobs  # it builds on the desk

        return WhatIfJobs(self.settings.data_dir / "whatif", self.desk, self.clock)

    @cached_property
    def reports(self) -> ReportMaker:
        """Service reports asked for to read, made in a child process (service/reports_apart.py)."""
        maker = ReportMaker(self.settings)
        self.closing.insert(0, maker.close)
        return maker

    @cached_property
    def sla_index(self) -> ClockIndex:
        """Which state each watched ticket's clock is in, until it can change (docs/sla.md)."""
        return ClockIndex(self.desk.rulebook)

    #: The audit ledger: its store, signing key and follower (docs/audit.md).
    audit: Audit | None = None
    #: The SLA watcher, once one runs in this process (it reports to readiness).
    sla_watcher: SlaWatcher | None = None
    #: The notifier, once one runs in this process (it reports to readiness).
    notify: Notify | None = None
    #: The mail reader, in the one process that reads the mailbox (start_mail_reader).
    mail_reader: MailReader | None = None

    def followers(self) -> dict[str, Followed]:
        """Each follower of the store that runs in this process, by the name /readyz uses."""
        followers: dict[str, Followed] = {}
        if self.kafka is None or self.runner.projections:
            followers["projections"] = self.runner
        if self.audit is not None and self.audit.follows:
            followers["audit-ledger"] = self.audit.ledger
        if self.sla_watcher is not None:
            followers["sla-watch"] = self.sla_watcher
        if self.notify is not None:
            followers["notifier"] = self.notify
        if self.mail_reader is not None:
            followers["mail-in"] = self.mail_reader
        return followers

    def stuck(self) -> dict[str, UndecodableEvent | None]:
        """Each follower of the store in this process, and the event it stopped at because it
        cannot decode it (None: it is not stopped). /readyz and /metrics report them."""
        return {name: follower.stuck for name, follower in self.followers().items()}

    def failing(self) -> dict[str, Failing]:
        """Each follower of the store in this process whose step has kept failing (retried with
        backoff) for longer than `ready_failing_after`: /readyz and /metrics report them."""
        grace = self.settings.ready_failing_after.total_seconds()
        return {
            name: failing
            for name, follower in self.followers().items()
            if (failing := follower.failing()) is not None and failing.seconds() >= grace
        }

    def skipped(self, limit: int = 20) -> list[SkippedMessage]:
        """Kafka mode: the first messages on the events topic that the projections passed over
        because they cannot decode them, so the views lack them (none when embedded, where the
        projections stop instead: `stuck`). Read from the view store, so every process serving
        these views knows them, whichever process consumed; /readyz and /metrics report them."""
        return self.views.skipped(limit) if self.kafka is not None else []

    def system_context(self) -> Context:
        return Context(actor=SYSTEM, at=self.clock(), correlation_id=uuid4())

    def start(self) -> None:
        """Embedded: catch the projections up, then let them follow the store in the background.
        Kafka mode: start the relay and the consumers; the projections are fed from Kafka.
        Either way the audit ledger follows the event store itself (where global order is)."""
        if self.audit is not None:
            self.audit.start()
        if self.kafka is not None:
            self.kafka.start()
            if not self.runner.projections:
                return
        # An event it cannot decode stops the projections there (and /readyz says so): the
        # service starts all the same, and the views serve what they hold.
        with contextlib.suppress(UndecodableEvent):
            self.runner.catch_up()
        self.runner.start()

    @property
    def is_following(self) -> bool:
        """Whatever keeps the views up to date is running."""
        return self.kafka.is_running if self.kafka is not None else self.runner.is_following

    async def caught_up(
        self,
        aggregate_id: UUID,
        position: int,
        timeout: float,
        projection: Projection | None = None,
    ) -> bool:
        """Wait until the views show a write that reached `position` (read-your-writes); in
        Kafka mode, the view `projection` (by default one fed from the topic)."""
        if self.kafka is not None and (projection is None or published(projection)):
            return await self.kafka.follower.reached(aggregate_id, position, timeout)
        return await self.runner.reached(position, timeout)

    def close(self) -> None:
        if self.notify is not None:
            self.notify.stop()
        if self.audit is not None:
            self.audit.close()
        if self.kafka is not None:
            self.kafka.stop()
        self.runner.stop()
        self.views.close()
        self.tokens.close()
        self.desk.close()
        for close in self.closing:
            close()


def build(settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> Services:
    settings.refuse_if_insecure()
    if settings.database_url is None:
        desk, views, closing = _on_sqlite(settings)
    else:
        desk, views, closing = _on_postgres(settings, settings.database_url)
    seal = seal_desk(settings, desk)  # before anything is written
    # the views fed from Kafka are rebuilt from the topic; the rest from the store, here
    followed = FROM_STORE if settings.kafka_bootstrap else PROJECTIONS
    rebuild_changed(desk.recorder, desk.mapper, views, followed)
    runner = ProjectionRunner(desk.recorder, desk.mapper, views, followed)
    desk.after_commit = runner.wake
    desk.views = views  # what an assessment reads of the CMDB (application/session.py)
    tokens = RecordedTokenStore(desk, cache_seconds=settings.token_cache_seconds)
    services = Services(settings, desk, views, runner, tokens, clock, closing)
    if settings.kafka_bootstrap:
        from service.kafka_mode import kafka_mode  # it builds on this module

        services.kafka = kafka_mode(
            settings, views, relay=settings.kafka_relay, consume=settings.kafka_consume
        )
        desk.after_commit = _both(services.kafka.wake_relay, runner.wake)
    if (sso := settings.oidc()) is not None:
        services.oidc = OidcVerifier(sso)
        # on login, the directory takes what the token says of the person (docs/directory.md)
        sync = DirectorySync(desk, views, clock)
        services.oidc.on_login = sync
        closing.insert(0, sync.close)
    from audit.service import build_audit  # it builds on infra

    services.audit = build_audit(settings, desk.mapper, clock, seal)
    desk.ensure_priority_matrix(services.system_context())
    desk.ensure_sla_rules(services.system_context())
    desk.ensure_service_catalogue(services.system_context())
    desk.ensure_change_policy(services.system_context())
    desk.ensure_major_incident_criteria(services.system_context())
    _import_token_tables(settings, desk, clock)
    return services


def _both(first: Callable[[], None], then: Callable[[], None]) -> Callable[[], None]:
    def both() -> None:
        first()
        then()

    return both


def _on_sqlite(settings: Settings) -> tuple[ServiceDesk, ViewStore, list[Callable[[], None]]]:
    desk, closing = open_desk(settings)
    views = SQLiteViewStore(settings.views_db, InterProcessLock(settings.data_dir / "views.lock"))
    return desk, views, closing


def _on_postgres(
    settings: Settings, url: str
) -> tuple[ServiceDesk, ViewStore, list[Callable[[], None]]]:
    desk, closing = open_desk(settings)
    views = PostgresViewStore(open_pool(url, max_size=8, name="itsm-views"))
    return desk, views, closing


def _import_token_tables(
    settings: Settings, desk: ServiceDesk, clock: Callable[[], datetime]
) -> None:
    """The old tables' tokens into the record, once (application/api_tokens.py)."""
    if tables_imported(desk):
        return
    with _token_tables(settings) as rows:
        imported = import_token_tables(desk, rows, clock())
    if imported:
        log.info("imported %d API tokens from api_tokens into the record", imported)


@contextmanager
def _token_tables(settings: Settings) -> Iterator[list[TokenRecord]]:
    """The tokens of the tables they were kept in before the record: none where there are no
    such tables (a store made since is never given them)."""
    table: TokenStore
    if settings.database_url is None:
        if not settings.auth_db.exists():
            yield []
            return
        table = SQLiteTokenStore(settings.auth_db, cache_seconds=0)
    else:
        pool = open_pool(settings.database_url, max_size=1, name="itsm-token-tables")
        with pool.connection() as conn:
            found = conn.execute("SELECT to_regclass('api_tokens')").fetchone()
        if found is None or found[0] is None:
            pool.close()
            yield []
            return
        table = PostgresTokenStore(pool, cache_seconds=0)
    try:
        yield table.records()
    finally:
        table.close()


@contextmanager
def token_store(settings: Settings) -> Iterator[RecordedTokenStore]:
    """The API token store on its own (for `itsm tokens create`), closed afterwards."""
    with desk_alone(settings) as desk:
        _import_token_tables(settings, desk, utcnow)
        yield RecordedTokenStore(desk, cache_seconds=settings.token_cache_seconds)


def start_mail_reader(services: Services) -> MailReader | None:
    """E-mail in with `serve` (docs/mail-in.md): when ITSM_IMAP_HOST is set, the one process of
    the service that takes the reader's lock starts the mail reader in a thread; the others (and
    every process while e-mail in is off) start none. The caller stops it before closing the
    services; the lock goes with the process."""
    if services.settings.imap() is None:
        return None
    from processes.mail_in import ReaderLock, reader_of  # it builds on this module

    lock = ReaderLock(services.settings.data_dir)
    if not lock.acquire():
        lock.close()
        return None
    services.closing.append(lock.close)
    reader = reader_of(services)
    assert reader is not None
    services.mail_reader = reader
    reader.start()
    log.info("e-mail in: reading %s", services.settings.imap_host)
    return reader
