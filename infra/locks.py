"""A write lock shared by the threads of this process and by other processes on this machine.

SQLite serialises writers itself, but a writer that finds the database locked sleeps in growing
steps (up to 100 ms) before it tries again, which ruins tail latency when several API processes
write at once. Waiting on an flock instead wakes the next writer the moment the lock is free.
(flock is held per open file, so a thread lock inside keeps the process's own threads in line.)
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path


class InterProcessLock:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        self._threads = threading.Lock()

    def __enter__(self) -> InterProcessLock:
        self._threads.acquire()
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise
        return self

    def __exit__(self, *_: object) -> None:  # released however the block ended
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()

    def close(self) -> None:
        os.close(self._fd)
