"""What the `itsm` commands that run until stopped share: logs on stderr, and a stop on SIGTERM
or SIGINT."""

from __future__ import annotations

import signal
import threading

from infra.settings import Settings


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT, so a long-running command stops cleanly."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def log_to_stderr(level: str) -> None:
    from infra import logs

    logs.configure(Settings().log_format, level)
