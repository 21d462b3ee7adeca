"""All configuration, validated once at start-up (environment variables prefixed ITSM_)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from infra.pg import PostgresAddress


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ITSM_", extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="where the SQLite files live")
    #: PostgreSQL for the event store, views, incident numbers and API tokens, e.g.
    #: postgresql://itsm@127.0.0.1:5432/itsm (see docs/postgres.md). Unset: SQLite in data_dir.
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    #: API worker processes. Each follows the store with its own projection runner; the store
    #: and the view store arbitrate between them, so any number is safe.
    workers: int = Field(default=1, ge=1, le=64)
    #: How long a caller may confirm or reopen a resolved incident (ISO 8601 duration or seconds).
    reopen_window: timedelta = timedelta(days=5)
    #: How long a write waits for its projections before answering (read-your-writes).
    read_your_writes_timeout: float = 5.0
    #: Aggregates kept in memory per process; each use still reads newer events from the store.
    aggregate_cache_size: int = 10_000
    log_level: str = "info"

    #: Kafka mode: the broker(s) to publish the event store to and feed projections from.
    kafka_bootstrap: str | None = None
    #: The topic every domain event is published to, and how it is created.
    kafka_topic: str = "itsm.events"
    kafka_partitions: int = Field(default=6, ge=1)
    kafka_replication: int = Field(default=1, ge=1)
    #: In Kafka mode, whether `serve` also runs the relay and the projection consumer in-process
    #: (off when they run as processes of their own: `itsm relay`, `itsm consume projections`).
    kafka_relay: bool = True
    kafka_consume: bool = True
    #: The consumer group of the Kafka-fed projections.
    kafka_projections_group: str = "itsm.projections"
    #: The CloudEvents `source` of every published event.
    event_source: str = "/itsm"

    #: Circulation streams (docs/circulation.md). The key of the patron pseudonyms (HMAC): set
    #: a secret of your own outside development; changing it changes every pseudonym.
    circulation_pseudonym_key: str = "development-only-circulation-key"
    circulation_topic: str = "circulation.events"
    circulation_group: str = "itsm.circulation"
    #: When branches are open (Asia/Jakarta), e.g. "mon-thu 08:00-16:00; sat 08:00-13:00".
    circulation_opening_hours: str = "mon-sat 08:00-16:00"
    circulation_device_offline: bool = True
    circulation_offline_threshold: timedelta = timedelta(minutes=10)
    circulation_failure_rate: bool = True
    circulation_failure_window: timedelta = timedelta(minutes=15)
    circulation_failure_threshold: float = Field(default=0.2, gt=0, le=1)
    circulation_failure_min_volume: int = Field(default=50, ge=1)
    #: How long a device or a failure rate must be back to normal before the incident is closed.
    circulation_stable_for: timedelta = timedelta(minutes=15)
    #: "resolve" the incident on recovery, or "propose" resolution in a note.
    circulation_on_recovery: Literal["resolve", "propose"] = "resolve"
    #: Member card requests -> service requests: off until the service request application is
    #: wired in (see ServiceRequestPort in consumers/circulation.py).
    circulation_member_card: bool = False

    @field_validator("database_url")
    @classmethod
    def _a_postgres_url(cls, url: str | None) -> str | None:
        if not url:  # ITSM_DATABASE_URL= (empty) means unset
            return None
        PostgresAddress.parse(url)  # raises ValueError, which names what is wrong
        return url

    @property
    def events_db(self) -> Path:
        return self.data_dir / "events.db"

    @property
    def views_db(self) -> Path:
        return self.data_dir / "views.db"

    @property
    def circulation_db(self) -> Path:
        return self.data_dir / "circulation.db"

    @property
    def auth_db(self) -> Path:
        return self.data_dir / "auth.db"
