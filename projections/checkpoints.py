"""Copying the views' write-ahead log into their database file, on a thread of its own.

SQLite in WAL mode appends each commit to the log and, by default, the commit that takes the log
past 1,000 pages copies it into the database file and fsyncs both (a checkpoint). That commit is
the runner's: a rebuild's window of some 13 MB waited about a quarter of a second for the fsyncs,
a fifth of the whole rebuild, and a live window that crossed the mark kept its read-your-writes
waiters waiting as long. The writer connection leaves checkpoints to this thread instead: woken by
each commit, it checkpoints at most once every `every` seconds, without blocking the writer or
the readers (PASSIVE). Views need no more durability than before: a commit is not fsynced either
way (synchronous=NORMAL), and the views can be rebuilt from the event store.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)


class Checkpointer:
    def __init__(self, path: str, every: float = 1.0) -> None:
        self.path = path
        self.every = every
        self._due = threading.Event()
        self._closing = threading.Event()
        self._starting = threading.Lock()
        self._thread: threading.Thread | None = None
        #: Held while this thread checkpoints: a writer that checkpoints itself takes it too, so
        #: that the two never collide (the second would find SQLite's checkpoint lock taken).
        self.running = threading.Lock()

    def due(self) -> None:
        """A transaction has committed: checkpoint soon. The thread starts with the first commit,
        and again if it has gone (in a forked child, or after an error it did not survive):
        with the writer's own checkpoints off, nothing else would bound the log."""
        if self._gone():
            with self._starting:
                if self._gone() and not self._closing.is_set():
                    self._thread = threading.Thread(
                        target=self._run, name=f"checkpoints {self.path}", daemon=True
                    )
                    self._thread.start()
        self._due.set()

    def _gone(self) -> bool:
        return self._thread is None or not self._thread.is_alive()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            while True:
                self._due.wait()
                if self._closing.is_set():
                    return
                self._due.clear()
                try:
                    with self.running:
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:  # the next commit wakes it to try again
                    log.warning("checkpoint of %s failed", self.path, exc_info=True)
                self._closing.wait(self.every)
        finally:
            conn.close()

    def close(self) -> None:
        """Stop the thread, once its checkpoint (if one is under way) is done."""
        with self._starting:
            self._closing.set()
        self._due.set()
        if self._thread is not None:
            self._thread.join()
