"""Where the service keeps its record and its views, as the settings say: the event store (the
service desk on it, sealed), the view store, and which views Kafka mode folds from the events
topic rather than from the store. Shared by the composition root (service/bootstrap.py) and what
opens a store without the rest of the service: Kafka mode's processes (service/kafka_mode.py),
the reports made apart (service/reports_apart.py), the token commands."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from application.desk import ServiceDesk
from audit.sealing import SealingPostgresRecorder, SealingSQLiteRecorder
from infra.cloudevents import is_public
from infra.locks import InterProcessLock
from infra.numbers import PostgresNumberLock
from infra.pg import PostgresAddress, open_pool, schema_lock
from infra.serialisation import TypedMapper
from infra.settings import Settings
from infra.subject_keys import Sealer, open_subject_keys
from projections import PROJECTIONS
from projections.base import Projection
from projections.pg_store import PostgresViewStore
from projections.store import SQLiteViewStore
from projections.view_store import ViewStore

if TYPE_CHECKING:
    from audit.seals import SealKey

log = logging.getLogger(__name__)

MAPPER_TOPIC = "infra.serialisation:TypedMapper"
#: The recorders that seal each committed batch once a seal key is attached (audit/sealing.py).
SQLITE_RECORDER_TOPIC = "audit.sealing:SealingSQLiteRecorder"
POSTGRES_RECORDER_TOPIC = "audit.sealing:SealingPostgresRecorder"


def event_store_env(settings: Settings) -> dict[str, str]:
    """The eventsourcing library's settings for the event store."""
    if settings.database_url is None:
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(settings.events_db),
            "SQLITE_LOCK_TIMEOUT": "30",
            "MAPPER_TOPIC": MAPPER_TOPIC,
            "APPLICATION_RECORDER_TOPIC": SQLITE_RECORDER_TOPIC,
        }
    address = PostgresAddress.parse(settings.database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": address.dbname,
        "POSTGRES_HOST": address.host,
        "POSTGRES_PORT": str(address.port),
        "POSTGRES_USER": address.user,
        "POSTGRES_PASSWORD": address.password,
        "POSTGRES_POOL_SIZE": "2",  # connections kept open; up to 2 + 8 under load
        "POSTGRES_MAX_OVERFLOW": "8",
        "CREATE_TABLE": "yes",
        # The projections' catch-up loop needs notification ids to become visible in id order.
        # The library's insert locks the events table (EXCLUSIVE) until commit to ensure that;
        # its database-function insert path takes no such lock, so it stays off whatever the
        # environment says.
        "POSTGRES_ENABLE_DB_FUNCTIONS": "no",
        # A transaction its client leaves open is ended after this many seconds (that lock
        # stops every writer meanwhile). The library's 5 s ended the schema's creation of a
        # client merely descheduled on a host loaded sixteen times over; a client that dies
        # closes its connection, and its transaction ends at once whatever this says.
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "15",
        "MAPPER_TOPIC": MAPPER_TOPIC,
        "APPLICATION_RECORDER_TOPIC": POSTGRES_RECORDER_TOPIC,
    }


def published(projection: Projection) -> bool:
    """Whether a projection folds the events of public aggregates (those on the events topic);
    one that folds only private ones (webhook endpoints, the mailbox's messages) is not."""
    return any(is_public(event_type.type_name) for event_type in projection.folds)


#: Kafka mode: the projections folded from the events topic...
FROM_TOPIC = tuple(p for p in PROJECTIONS if published(p))
#: ...and those of private aggregates, whose events are never published: these follow the event
#: store in the service in either mode.
FROM_STORE = tuple(p for p in PROJECTIONS if not published(p))


def open_view_store(settings: Settings) -> ViewStore:
    """The configured view store on its own (for a Kafka-fed projection consumer)."""
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return SQLiteViewStore(
            settings.views_db, InterProcessLock(settings.data_dir / "views.lock")
        )
    return PostgresViewStore(open_pool(settings.database_url, max_size=4, name="itsm-views"))


def open_desk(settings: Settings) -> tuple[ServiceDesk, list[Callable[[], None]]]:
    """The service desk on the configured event store, and what closes what it opened besides."""
    if settings.database_url is None:
        return _desk_on_sqlite(settings)
    return _desk_on_postgres(settings, settings.database_url)


def seal_desk(settings: Settings, desk: ServiceDesk) -> SealKey | None:
    """The seal key (created on first start), attached to the desk's recorder: every batch this
    process writes is sealed from now on (docs/audit.md, "Seals"). None when sealing is off."""
    if not settings.audit_seal:
        log.warning(
            "sealing is off (ITSM_AUDIT_SEAL=false): the events this process writes are not"
            " sealed, and an event inserted behind its back is not told apart; a setting for"
            " measuring what sealing costs, never for a service of record"
        )
        return None
    from audit.seals import seal_key

    recorder = desk.recorder
    key = seal_key(
        settings.audit_seal_key_file,
        settings.data_dir,
        lambda: recorder.max_notification_id() or 0,
    )
    assert isinstance(recorder, SealingSQLiteRecorder | SealingPostgresRecorder), recorder
    recorder.seal_with(key)
    return key


def _desk_on_sqlite(settings: Settings) -> tuple[ServiceDesk, list[Callable[[], None]]]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    desk = ServiceDesk(
        event_store_env(settings),
        reopen_window=settings.reopen_window,
        # An flock every process on the machine shares: it also keeps incident numbers apart.
        write_lock=InterProcessLock(settings.data_dir / "events.lock"),
        cache_size=settings.aggregate_cache_size,
    )
    return desk, [_sealing(desk, settings)]


def _desk_on_postgres(settings: Settings, url: str) -> tuple[ServiceDesk, list[Callable[[], None]]]:
    numbers = PostgresNumberLock(open_pool(url, max_size=2, name="itsm-numbers"))
    with schema_lock(url):  # the library creates its tables as the desk starts
        desk = ServiceDesk(
            event_store_env(settings),
            reopen_window=settings.reopen_window,
            number_lock=numbers,
            # The library's lock on the events table serialises inserts across processes (and
            # so needs no file lock as SQLite does). Queueing this process's own writers here
            # keeps them from each holding a pooled connection while they wait for it, and
            # loses fewer races on a busy incident (measured: about a third fewer retries).
            write_lock=threading.Lock(),
            cache_size=settings.aggregate_cache_size,
        )
    return desk, [numbers.close, _sealing(desk, settings)]


def _sealing(desk: ServiceDesk, settings: Settings) -> Callable[[], None]:
    """People's own data sealed under keys of theirs as the desk stores it (docs/privacy.md);
    what closes the key store."""
    keys = open_subject_keys(settings.subject_keys_at)
    mapper = desk.mapper
    assert isinstance(mapper, TypedMapper)
    mapper.sealer = Sealer(keys)
    return keys.close


@contextmanager
def desk_alone(settings: Settings) -> Iterator[ServiceDesk]:
    """The event store on its own (no views, no followers), for the token commands and for the
    monthly reports read in a process of their own. Its writes are sealed like the service's:
    the ledger chains only what is."""
    desk, closing = open_desk(settings)
    seal_desk(settings, desk)
    try:
        yield desk
    finally:
        desk.close()
        for close in closing:
            close()
