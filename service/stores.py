"""Where the service keeps its record and its views, as the settings say: the event store's
settings for the eventsourcing library, the view store, and which views Kafka mode folds from
the events topic rather than from the store. Shared by the composition root (service/bootstrap.py)
and the processes Kafka mode runs on their own (service/kafka_mode.py)."""

from __future__ import annotations

from infra.cloudevents import is_public
from infra.locks import InterProcessLock
from infra.pg import PostgresAddress, open_pool
from infra.settings import Settings
from projections import PROJECTIONS
from projections.base import Projection
from projections.pg_store import PostgresViewStore
from projections.store import SQLiteViewStore
from projections.view_store import ViewStore

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
