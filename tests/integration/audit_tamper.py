"""An attacker with database access, for the audit tests: drops the append-only triggers and
changes the tables directly through SQL, on SQLite (events.db, audit.db, views.db) or
PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson
import psycopg

from audit import chain
from audit.seals import GENESIS, SEAL_COLUMNS, Seal, SealKey, seal_of
from audit.seals import TABLE as SEALS
from audit.store import LEDGER_TABLES, POSTGRES_EVENTS, SQLITE_EVENTS
from infra.settings import Settings

_SEALS = f"SELECT {SEAL_COLUMNS} FROM {SEALS}"

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
            for table in (POSTGRES_EVENTS, SEALS, *LEDGER_TABLES):
                self.sql_events(f"DROP TRIGGER {table}_append_only ON {table}")
                self.sql_events(f"DROP TRIGGER {table}_no_truncate ON {table}")
            return
        for op in ("update", "delete"):
            self.sql_events(f"DROP TRIGGER {SQLITE_EVENTS}_no_{op}")
            self.sql_events(f"DROP TRIGGER {SEALS}_no_{op}")
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

    def rechain_ledger_from(self, position: int) -> None:
        """The ledger's entries from `position` on made to match the events as they now are: each
        entry's digest taken again from its stored event, and its link and hash recomputed,
        so the chain holds together (a DBA cannot sign, so this only passes where no signed
        checkpoint covers it)."""
        before = self.sql_ledger(
            "SELECT hash FROM audit_ledger WHERE position = ?", (position - 1,)
        )
        prev = bytes(before[0][0]) if before else chain.GENESIS
        entries = self.sql_ledger(
            "SELECT position, event_id, type, actor_id, actor_role, at FROM audit_ledger"
            " WHERE position >= ? ORDER BY position",
            (position,),
        )
        digests = dict(self.digested(position, entries[-1][0]))
        for at, event_id, type_name, actor_id, actor_role, when in entries:
            digest = digests[at]
            hashed = chain.entry_hash(
                prev, at, event_id, type_name, actor_id, actor_role, when, digest
            )
            self.sql_ledger(
                "UPDATE audit_ledger SET digest = ?, prev_hash = ?, hash = ? WHERE position = ?",
                (digest, prev, hashed, at),
            )
            prev = hashed

    def truncate_after(self, position: int) -> None:
        """Remove every event, ledger entry and stored checkpoint after `position`."""
        self.sql_events(f"DELETE FROM {self.table} WHERE {self.pos} > ?", (position,))
        for table in LEDGER_TABLES:
            self.sql_ledger(f"DELETE FROM {table} WHERE position > ?", (position,))

    # -- seals (audit/seals.py) -------------------------------------------------------------------

    def seals(self) -> list[Seal]:
        return [seal_of(row) for row in self.sql_events(f"{_SEALS} ORDER BY first_position")]

    def seal_boundary_at_or_before(self, position: int) -> int:
        """The last position of the last seal that ends at or before `position`."""
        return max(s.last_position for s in self.seals() if s.last_position <= position)

    def delete_seal(self, first_position: int) -> None:
        self.sql_events(f"DELETE FROM {SEALS} WHERE first_position = ?", (first_position,))

    def cut_seals_after(self, position: int) -> None:
        self.sql_events(f"DELETE FROM {SEALS} WHERE first_position > ?", (position,))

    def insert_seal(self, seal: Seal) -> None:
        marks = ",".join("?" * 6)
        self.sql_events(f"INSERT INTO {SEALS} ({SEAL_COLUMNS}) VALUES ({marks})", seal.values())

    def digested(self, first: int, last: int) -> list[tuple[int, bytes]]:
        """(position, chain digest) of the stored events from `first` to `last`."""
        rows = self.sql_events(
            f"SELECT {self.pos}, topic, originator_id, originator_version, state FROM"
            f" {self.table} WHERE {self.pos} >= ? AND {self.pos} <= ? ORDER BY {self.pos}",
            (first, last),
        )
        return [
            (p, chain.digest(t, str(o).replace("-", ""), v, bytes(s))) for p, t, o, v, s in rows
        ]

    def reseal(self, key: SealKey) -> None:
        """Root on the host, holding the seal key: every seal after `sealed_from` made again over
        the events as they now are (the same batches), each chained onto the one before."""
        seals = [s for s in self.seals() if s.first_position > key.sealed_from]
        before = [s for s in self.seals() if s.first_position <= key.sealed_from]
        prev = before[-1].mac if before else GENESIS
        self.cut_seals_after(key.sealed_from)
        for old in seals:
            events = self.digested(old.first_position, old.last_position)
            seal = key.seal(prev, events)
            self.insert_seal(seal)
            prev = seal.mac
