"""`itsm` commands forked from a process that has already imported the service.

A fresh interpreter spends about 3 s of CPU importing `cli.main` before it does anything; the
Kafka crash tests start forty of them to SIGKILL. Forked from a forkserver that imported the
service once, a child starts at once and is still a process of its own (its own memory, its own
connections, killed by a real SIGKILL), which is what those tests need.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Mapping
from multiprocessing.context import ForkServerContext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: What a relay, a projection consumer or the mail reader imports, the command line's and the
#: service's lazy imports included.
PRELOADED = [
    "cli.main",
    "service.kafka_mode",
    "infra.kafka_clients",
    "infra.logs",
    "processes.notify",
    "processes.mail_in",
    "audit.service",
    __name__,
]


def forkserver() -> ForkServerContext:
    """The context whose forkserver holds the service imported (started on first use)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOADED)
    return context


def run_itsm(env: Mapping[str, str], args: tuple[str, ...], stderr_path: str) -> None:
    """In the child: `itsm ARGS` with exactly this environment, its stderr into a file."""
    os.chdir(ROOT)
    os.environ.clear()
    os.environ.update(env)
    with open(os.devnull, "wb") as devnull, open(stderr_path, "wb") as stderr:
        os.dup2(devnull.fileno(), 1)
        os.dup2(stderr.fileno(), 2)
    from cli.main import main

    main.main(args=list(args), prog_name="itsm")
