"""Where the circulation pipeline keeps what it knows: the set of events already applied, the
service health read model, the correlation rules' open cases, and the dead letters.

One SQLite file (`circulation.db` in the data directory). Every batch is one transaction, begun
IMMEDIATE so that two appliers (API workers, consumers) take turns: each reads the rules' state
inside the transaction it writes in. The dedupe set and the dead letters are only ever inserted
into; the health rows and the open cases are a read model and a process manager's state.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra.migrations import migrate_sqlite, migrations

SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    source TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (source, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS health (
    service TEXT NOT NULL, ci TEXT NOT NULL, status TEXT, status_code TEXT,
    status_since REAL, last_seen REAL NOT NULL,
    ok INTEGER NOT NULL, failed INTEGER NOT NULL, signals INTEGER NOT NULL,
    PRIMARY KEY (service, ci)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS health_minutes (
    service TEXT NOT NULL, ci TEXT NOT NULL, minute INTEGER NOT NULL,
    ok INTEGER NOT NULL, failed INTEGER NOT NULL,
    PRIMARY KEY (service, ci, minute)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS failed_patrons (
    service TEXT NOT NULL, minute INTEGER NOT NULL, patron_ref TEXT NOT NULL,
    PRIMARY KEY (service, minute, patron_ref)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outages (
    ci TEXT PRIMARY KEY, service TEXT NOT NULL, source TEXT NOT NULL, event_id TEXT NOT NULL,
    since REAL NOT NULL, status TEXT NOT NULL, code TEXT, signals INTEGER NOT NULL,
    incident TEXT, noted_signals INTEGER NOT NULL, noted_at REAL, back_since REAL);
CREATE TABLE IF NOT EXISTS rate_episodes (
    service TEXT PRIMARY KEY, source TEXT NOT NULL, since REAL NOT NULL, incident TEXT,
    noted_at REAL, below_since REAL);
CREATE TABLE IF NOT EXISTS stream_clock (one INTEGER PRIMARY KEY CHECK (one = 1), at REAL);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, entry TEXT NOT NULL,
    reason TEXT NOT NULL, raw BLOB);
CREATE TABLE IF NOT EXISTS dead_letter_replays (
    seq INTEGER PRIMARY KEY REFERENCES dead_letters (seq), at REAL NOT NULL,
    outcome TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letter_replay_runs (
    run INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL, until_seq INTEGER NOT NULL,
    finished REAL);
"""

#: How the store's tables came to be (infra/migrations.py); a new table or column is a new step.
MIGRATIONS = migrations(
    "circulation", ("circulation tables", [sql for sql in SCHEMA.split(";") if sql.strip()])
)


def epoch(at: datetime) -> float:
    return at.timestamp()


def from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    seq: int
    at: datetime
    entry: str
    reason: str
    raw: bytes
    replayed: str | None  # the replay's outcome, if it was replayed


@dataclass(frozen=True, slots=True)
class ReplayRun:
    """A replay of the table: it replays the dead letters up to `until_seq` (those there were
    when it began) and ends; one `resumed` is the unfinished run of a replay that was stopped."""

    run: int
    until_seq: int
    resumed: bool


class CirculationStore:
    """The SQLite store; one connection, used by one thread at a time (a lock guards it)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # The dedupe set must survive what the Kafka offsets survive: a full sync per batch.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=30000")
        migrate_sqlite(self._db, MIGRATIONS)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- reads --------------------------------------------------------------------------------

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def health(self) -> list[Any]:
        return self._read("SELECT * FROM health ORDER BY service, ci")

    def minutes_since(self, minute: int) -> list[Any]:
        return self._read(
            "SELECT service, ci, SUM(ok), SUM(failed) FROM health_minutes WHERE minute >= ?"
            " GROUP BY service, ci",
            (minute,),
        )

    def stream_time(self) -> datetime | None:
        rows = self._read("SELECT at FROM stream_clock")
        return from_epoch(rows[0][0]) if rows else None

    def seen_count(self) -> int:
        count: int = self._read("SELECT COUNT(*) FROM seen")[0][0]
        return count

    def outages(self) -> list[Any]:
        return self._read("SELECT * FROM outages ORDER BY ci")

    def dead_letters(self, seqs: Iterable[int] | None = None) -> list[DeadLetterRow]:
        rows = self._read(
            "SELECT d.seq, d.at, d.entry, d.reason, d.raw, r.outcome FROM dead_letters d"
            " LEFT JOIN dead_letter_replays r ON r.seq = d.seq ORDER BY d.seq"
        )
        wanted = None if seqs is None else set(seqs)
        return [
            DeadLetterRow(seq, from_epoch(at) or datetime.min, entry, reason, bytes(raw), outcome)
            for seq, at, entry, reason, raw, outcome in rows
            if wanted is None or seq in wanted
        ]

    # -- dead letters (outside a batch: e.g. the API's) ---------------------------------------

    def add_dead_letters(self, letters: Iterable[tuple[datetime, str, str, bytes]]) -> None:
        with self.transaction() as db:
            insert_dead_letters(db, letters)

    # -- replay runs (each dead letter's replay is recorded with its effect: see the pipeline) --

    def begin_replay_run(self, at: datetime) -> ReplayRun:
        """The unfinished run, resumed; else a new one up to the last dead letter there is."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT run, until_seq FROM dead_letter_replay_runs WHERE finished IS NULL"
                " ORDER BY run LIMIT 1"
            ).fetchone()
            if row is not None:
                return ReplayRun(row[0], row[1], resumed=True)
            until: int = db.execute("SELECT coalesce(max(seq), 0) FROM dead_letters").fetchone()[0]
            cursor = db.execute(
                "INSERT INTO dead_letter_replay_runs (started, until_seq) VALUES (?, ?)",
                (epoch(at), until),
            )
            assert cursor.lastrowid is not None
            return ReplayRun(cursor.lastrowid, until, resumed=False)

    def finish_replay_run(self, run: ReplayRun, at: datetime) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE dead_letter_replay_runs SET finished = ? WHERE run = ?",
                (epoch(at), run.run),
            )


def insert_dead_letters(
    db: sqlite3.Connection, letters: Iterable[tuple[datetime, str, str, bytes]]
) -> None:
    db.executemany(
        "INSERT INTO dead_letters (at, entry, reason, raw) VALUES (?, ?, ?, ?)",
        [(epoch(at), entry, reason, raw) for at, entry, reason, raw in letters],
    )
