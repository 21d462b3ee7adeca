"""What the `itsm` commands that run until stopped share: logs on stderr, and a stop on SIGTERM
or SIGINT."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING

from infra.settings import Settings

if TYPE_CHECKING:
    from infra.logs import LogFormat


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT, so a long-running command stops cleanly."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def log_to_stderr(level: str, log_format: LogFormat | None = None) -> None:
    """Logs at `level` on stderr, in `log_format` (else the environment's: ITSM_LOG_FORMAT)."""
    from infra import logs

    logs.configure(log_format or Settings().log_format, level)
