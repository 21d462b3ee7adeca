"""What keeps two processes from picking the same next incident number.

Incident number N is version N of the number log in the event store, and a process picks the
next ones (the last stored plus one, two, ...) while it holds a lock that every other process
logging incidents takes too, releasing it only once its write is committed. So a number is taken
only for an incident that is stored: a refused command, or a write the store refuses, takes none,
and the numbers run 1..n with no gaps (docs/incidents.md).

The store's uniqueness of (log, version) is what keeps numbers unique; the lock only spares the
processes lost races. A process takes "the last stored" from what it last wrote or read
(`ServiceDesk.last_number`), not from the log each time: when another process has numbered since,
the first write refuses the taken number, and the retry reads the log and writes inside one hold
of the lock, so it cannot lose the same race again.

On SQLite the desk's write lock is already such a lock: an flock on a file beside the database
(infra/locks.py), shared by every process on the machine. On PostgreSQL the write lock is only
the process's own, so numbers take a PostgreSQL advisory lock as well.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack

from infra.pg import Pool

#: The advisory lock's key: any 64-bit number no other part of the service uses.
NUMBER_LOCK_KEY = 0x1CC1DE47_0000_0001


class PostgresNumberLock:
    """Held by one thread of one process at a time, across every process on the database.

    A transaction-scoped advisory lock: it is released when the holding transaction ends, so a
    process that dies while holding it (its connection closes) cannot leave it held. The
    process's own threads queue on a thread lock first, so that a waiting thread does not hold
    one of the pool's connections while it waits. Takes over the pool: close() closes it."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._threads = threading.Lock()
        self._held: ExitStack | None = None

    def __enter__(self) -> PostgresNumberLock:
        self._threads.acquire()
        held = ExitStack()
        try:
            conn = held.enter_context(self._pool.connection())
            held.enter_context(conn.transaction())
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (NUMBER_LOCK_KEY,))
        except BaseException:
            held.close()
            self._threads.release()
            raise
        self._held = held
        return self

    def __exit__(self, *_: object) -> None:  # released however the block ended
        held, self._held = self._held, None
        try:
            if held is not None:
                held.close()  # ends the transaction, which releases the advisory lock
        finally:
            self._threads.release()

    def close(self) -> None:
        self._pool.close()
