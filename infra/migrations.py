"""Versioned migrations for the tables that are not views (tokens, positions, the audit ledger,
the circulation store): each store declares its steps once, in order, and every start applies the
ones its database has not recorded, in one transaction with the record of them.

The record is the table `schema_migrations` (one per database: a SQLite file, or the PostgreSQL
database every store shares), a row per store and version. On SQLite the transaction starts with
BEGIN IMMEDIATE, which takes the database's write lock, so processes starting at once apply each
step exactly once; on PostgreSQL it holds the schema advisory lock (infra/pg.py). Views are not
migrated: a view whose fold or columns change is rebuilt from the store by its version
(projections/base.py).

The first steps of a store adopt a database that the start-up code before migrations made (with
CREATE TABLE IF NOT EXISTS and ALTERs, and no record): they create only what is missing and add a
column only where it lacks one, so such a database comes out as a new one would, rows and all.
Later steps need no such care. Why not a library: docs/postgres.md, "Migrations".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

#: The table that records which steps each store's database has taken.
TABLE = "schema_migrations"
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (store TEXT NOT NULL, version INTEGER NOT NULL,"
    " name TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (store, version))"
)


class Database(Protocol):
    """What a step may do: run SQL, and ask whether a column is there."""

    def execute(self, sql: str) -> None: ...

    def has_column(self, table: str, column: str) -> bool: ...


#: A step: SQL statements run in order, or a function of the database for what SQL alone
#: cannot say on both engines.
Step = Sequence[str] | Callable[[Database], None]


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    step: Step


def migrations(store: str, *steps: tuple[str, Step]) -> tuple[str, tuple[Migration, ...]]:
    """A store's migrations, numbered 1, 2, ... in the order given (a step is never renumbered:
    a new one goes at the end)."""
    return store, tuple(Migration(n, name, step) for n, (name, step) in enumerate(steps, 1))


def add_column(table: str, column: str, sql_type: str) -> Callable[[Database], None]:
    """A step adding a column unless the table has it (a database the old start-up code made)."""

    def step(db: Database) -> None:
        if not db.has_column(table, column):
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")

    return step


def _apply(db: Database, applied: set[int], plan: tuple[str, tuple[Migration, ...]]) -> list[int]:
    done = []
    for migration in plan[1]:
        if migration.version in applied:
            continue
        if callable(migration.step):
            migration.step(db)
        else:
            for sql in migration.step:
                db.execute(sql)
        done.append(migration.version)
    return done


class _SQLite:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str) -> None:
        self.conn.execute(sql)

    def has_column(self, table: str, column: str) -> bool:
        return any(row[1] == column for row in self.conn.execute(f"PRAGMA table_info({table})"))


def migrate_sqlite(conn: sqlite3.Connection, plan: tuple[str, tuple[Migration, ...]]) -> list[int]:
    """Apply a store's missing steps to a SQLite database (a connection in autocommit mode, as
    the stores open theirs); the versions applied now."""
    store, steps = plan
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_CREATE)
        applied = {
            v for (v,) in conn.execute(f"SELECT version FROM {TABLE} WHERE store = ?", (store,))
        }
        done = _apply(_SQLite(conn), applied, plan)
        names = {m.version: m.name for m in steps}
        conn.executemany(
            f"INSERT INTO {TABLE} (store, version, name, applied_at) VALUES (?, ?, ?, ?)",
            [(store, v, names[v], _now()) for v in done],
        )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return done


class _Postgres:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str) -> None:
        self.conn.execute(sql)

    def has_column(self, table: str, column: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = %s AND column_name = %s",
            (table, column),
        ).fetchone()
        return row is not None


def migrate_postgres(conn: Any, plan: tuple[str, tuple[Migration, ...]]) -> list[int]:
    """Apply a store's missing steps to PostgreSQL under the schema lock (a psycopg connection);
    the versions applied now."""
    from infra.pg import schema_change  # infra.pg imports the pool library; SQLite needs none

    store, steps = plan
    with schema_change(conn):
        conn.execute(_CREATE)
        applied = {
            row[0]
            for row in conn.execute(f"SELECT version FROM {TABLE} WHERE store = %s", (store,))
        }
        done = _apply(_Postgres(conn), applied, plan)
        names = {m.version: m.name for m in steps}
        for version in done:
            conn.execute(
                f"INSERT INTO {TABLE} (store, version, name, applied_at) VALUES (%s, %s, %s, %s)",
                (store, version, names[version], _now()),
            )
    return done


def _now() -> str:
    return datetime.now(UTC).isoformat()
