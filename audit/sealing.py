"""The event store's recorders that seal each committed batch (audit/seals.py), in the same
transaction as its events.

The eventsourcing library builds them from `APPLICATION_RECORDER_TOPIC` (service/bootstrap.py's
`event_store_env`). They seal only once the composition root attaches the key
(`recorder.seal_with(key)`): a bare desk (tests, a relay that only reads) writes as before.

The previous seal is read inside the writing transaction, after the events are inserted, while
the writer holds the store's write lock (SQLite's write transaction; on PostgreSQL the EXCLUSIVE
table lock the library takes before inserting): seals chain even with several API processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL

from audit import chain
from audit.seals import (
    GENESIS,
    POSTGRES_SCHEMA,
    SEAL_COLUMNS,
    SQLITE_SCHEMA,
    TABLE,
    Digested,
    SealKey,
)

_LAST_MAC = f"SELECT mac FROM {TABLE} ORDER BY first_position DESC LIMIT 1"


def _digested(ids: Sequence[int], stored_events: Sequence[StoredEvent]) -> list[Digested]:
    return [
        (
            position,
            chain.digest(
                s.topic,
                s.originator_id.hex if isinstance(s.originator_id, UUID) else str(s.originator_id),
                s.originator_version,
                s.state,
            ),
        )
        for position, s in zip(ids, stored_events, strict=True)
    ]


class SealingSQLiteRecorder(SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)
        self.seal_key: SealKey | None = None

    def seal_with(self, key: SealKey | None) -> None:
        self.seal_key = key

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), SQLITE_SCHEMA]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        key = self.seal_key
        if key is None or not ids:
            return ids
        c.execute(_LAST_MAC)
        row = c.fetchone()
        seal = key.seal(GENESIS if row is None else bytes(row[0]), _digested(ids, stored_events))
        c.execute(f"INSERT INTO {TABLE} ({SEAL_COLUMNS}) VALUES (?,?,?,?,?,?)", seal.values())
        return ids


class SealingPostgresRecorder(PostgresApplicationRecorder):
    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.sql_create_statements.append(SQL(POSTGRES_SCHEMA).format())
        self.seal_key: SealKey | None = None

    def seal_with(self, key: SealKey | None) -> None:
        self.seal_key = key

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        key = self.seal_key
        if key is None or not ids:
            return ids
        # Still in the insert's transaction, holding the library's EXCLUSIVE lock on the events
        # table: no other writer is between the last seal and this one.
        curs.execute(SQL(_LAST_MAC))
        row = curs.fetchone()
        seal = key.seal(
            GENESIS if row is None else bytes(row["mac"]), _digested(ids, stored_events)
        )
        curs.execute(
            SQL(f"INSERT INTO {TABLE} ({SEAL_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s)"),
            seal.values(),
        )
        return ids
