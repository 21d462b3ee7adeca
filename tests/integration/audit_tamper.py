"""An attacker with database access, for the audit tests: drops the append-only triggers and
changes the tables directly through SQL, on SQLite (events.db, audit.db, views.db) or
PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson
import psycopg

from audit.store import LEDGER_TABLES, POSTGRES_EVENTS, SQLITE_EVENTS
from infra.settings import Settings

StoredRow = tuple[
    str, int, str, bytes
]  # originator id (as the table has it), version, topic, state


class Attacker:
    def __init__(self, settings: Settings) -> None:
        self.pg = settings.database_url is not None
        if self.pg:
            assert settings.database_url is not None
            conn = psycopg.connect(settings.database_url, autocommit=True)
            self.events: Any = conn
            self.ledger: Any = conn
            self.views: Any = conn
            self.table, self.pos, self.mark = POSTGRES_EVENTS, "notification_id", "%s"
        else:
            self.events = sqlite3.connect(settings.events_db, isolation_level=None)
            self.ledger = sqlite3.connect(settings.audit_db, isolation_level=None)
            self.views = sqlite3.connect(settings.views_db, isolation_level=None)
            self.table, self.pos, self.mark = SQLITE_EVENTS, "rowid", "?"

    def __enter__(self) -> Attacker:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.events.close()
        if not self.pg:
            self.ledger.close()
            self.views.close()

    def _run(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        cursor = conn.execute(sql.replace("?", self.mark), tuple(params))
        return list(cursor.fetchall()) if cursor.description else []

    def sql_events(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._run(self.events, sql, params)

    def sql_ledger(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._run(self.ledger, sql, params)

    def sql_views(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._run(self.views, sql, params)

    def view_doc(self, view: str, key: str) -> dict[str, Any]:
        """A view row's stored JSON."""
        rows = self.sql_views(f"SELECT doc FROM view_{view} WHERE key = ?", (key,))
        doc: dict[str, Any] = orjson.loads(rows[0][0])
        return doc

    def set_view_doc(self, view: str, key: str, doc: dict[str, Any]) -> None:
        self.sql_views(f"UPDATE view_{view} SET doc = ? WHERE key = ?", (orjson.dumps(doc), key))

    def drop_triggers(self) -> None:
        if self.pg:
            for table in (POSTGRES_EVENTS, *LEDGER_TABLES):
                self.sql_events(f"DROP TRIGGER {table}_append_only ON {table}")
                self.sql_events(f"DROP TRIGGER {table}_no_truncate ON {table}")
            return
        for op in ("update", "delete"):
            self.sql_events(f"DROP TRIGGER {SQLITE_EVENTS}_no_{op}")
            for table in LEDGER_TABLES:
                self.sql_ledger(f"DROP TRIGGER {table}_no_{op}")

    def row(self, position: int) -> StoredRow:
        rows = self.sql_events(
            f"SELECT originator_id, originator_version, topic, state FROM {self.table}"
            f" WHERE {self.pos} = ?",
            (position,),
        )
        originator, version, topic, state = rows[0]
        return originator, version, topic, bytes(state)

    def set_state(self, position: int, state: bytes) -> None:
        self.sql_events(
            f"UPDATE {self.table} SET state = ? WHERE {self.pos} = ?", (state, position)
        )

    def delete(self, position: int) -> None:
        self.sql_events(f"DELETE FROM {self.table} WHERE {self.pos} = ?", (position,))

    def swap(self, first: int, second: int) -> None:
        """Exchange two stored events' contents, leaving each position where it was."""
        a, b = self.row(first), self.row(second)
        update = (
            f"UPDATE {self.table} SET originator_id = ?, originator_version = ?, topic = ?,"
            f" state = ? WHERE {self.pos} = ?"
        )
        self.sql_events(update, (a[0], -1, a[2], a[3], first))  # out of the key's way
        self.sql_events(update, (*a, second))
        self.sql_events(update, (*b, first))

    def insert_at(self, position: int, row: StoredRow) -> None:
        """Make room at `position` by moving every later event up one, and put `row` there."""
        far = 1_000_000
        self.sql_events(
            f"UPDATE {self.table} SET {self.pos} = {self.pos} + ? WHERE {self.pos} >= ?",
            (far, position),
        )
        self.sql_events(
            f"UPDATE {self.table} SET {self.pos} = {self.pos} - ? WHERE {self.pos} >= ?",
            (far - 1, far),
        )
        columns = f"{self.pos}, originator_id, originator_version, topic, state"
        self.sql_events(
            f"INSERT INTO {self.table} ({columns}) VALUES (?, ?, ?, ?, ?)", (position, *row)
        )

    def truncate_after(self, position: int) -> None:
        """Remove every event, ledger entry and stored checkpoint after `position`."""
        self.sql_events(f"DELETE FROM {self.table} WHERE {self.pos} > ?", (position,))
        for table in LEDGER_TABLES:
            self.sql_ledger(f"DELETE FROM {table} WHERE position > ?", (position,))
