"""PostgreSQL plumbing shared by the stores that live there: the URL, pools, and the schema lock.

PostgreSQL's `CREATE ... IF NOT EXISTS` is not safe against itself: two sessions creating the
same table at once can both pass the check, and one then fails on a unique index of the catalog.
Several API processes start at once, so every schema change made here takes one advisory lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

#: The advisory lock key held while creating tables, sequences and types ("itsmddl" in ASCII).
SCHEMA_LOCK = 0x69_74_73_6D_64_64_6C

Pool = ConnectionPool[psycopg.Connection[tuple[Any, ...]]]


@dataclass(frozen=True)
class PostgresAddress:
    """Where a PostgreSQL database is, from a URL postgresql://user[:password]@host[:port]/db."""

    host: str
    port: int
    user: str
    password: str
    dbname: str

    @classmethod
    def parse(cls, url: str) -> PostgresAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(f"a PostgreSQL URL starts with postgresql://, not {parts.scheme}://")
        dbname = unquote(parts.path.lstrip("/"))
        if not (parts.hostname and parts.username and dbname):
            raise ValueError("a PostgreSQL URL needs a user, a host and a database name")
        try:
            port = parts.port or 5432
        except ValueError as error:
            raise ValueError(f"a PostgreSQL URL's port must be a number: {error}") from None
        return cls(
            host=parts.hostname,
            port=port,
            user=unquote(parts.username),
            password=unquote(parts.password or ""),
            dbname=dbname,
        )

    def __str__(self) -> str:
        """The address without its password, for messages and logs."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"


def open_pool(url: str, *, max_size: int, name: str, timeout: float = 10.0) -> Pool:
    """A pool of autocommit connections (a transaction is explicit), connected before it returns."""
    pool: Pool = ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        kwargs={"autocommit": True},
        open=False,
        name=name,
        num_workers=1,
    )
    try:
        pool.open(wait=True, timeout=timeout)
    except PoolTimeout:
        pool.close()
        raise ConnectionError(
            f"cannot connect to PostgreSQL at {PostgresAddress.parse(url)} within {timeout:g} s"
        ) from None
    return pool


@contextmanager
def schema_change(conn: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """A transaction holding the schema lock, for DDL that other processes may run at once."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        yield conn


@contextmanager
def schema_lock(url: str) -> Iterator[None]:
    """Hold the schema lock on a session of its own, around DDL run on other connections (the
    event store library creates its tables through its own pool)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))
