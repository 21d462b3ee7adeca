"""One member of a circulation consumer group, as its own process, for test_circulation_group:
the consumer `itsm consume circulation` runs, noting each event it applies (after the dedupe
set let it through, inside the batch's transaction) as a JSON line: [time in ns, source, id].

    python -m tests.integration.circulation_member DATA_DIR BOOTSTRAP TOPIC GROUP PARTITIONS LOG

Runs until SIGTERM. The circulation store's transactions take turns across processes (BEGIN
IMMEDIATE), so the times order the lines of both members as their batches were committed.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from consumers import circulation
from infra.settings import Settings
from processes.circulation import build_circulation_consumer
from service.bootstrap import build


def main(data_dir: str, bootstrap: str, topic: str, group: str, partitions: str, log: str) -> None:
    settings = Settings(
        data_dir=Path(data_dir),
        kafka_partitions=int(partitions),
        circulation_topic=topic,
        circulation_group=group,
    )
    noting = Path(log).open("ab", buffering=0)  # noqa: SIM115 (open while the process runs)
    new = circulation._new

    def noted(db: Any, events: list[Any]) -> list[Any]:
        fresh = new(db, events)
        now = time.time_ns()
        noting.write(b"".join(orjson.dumps([now, e.source, e.id]) + b"\n" for e in fresh))
        return fresh

    circulation._new = noted
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    services = build(settings.model_copy(update={"kafka_bootstrap": None}))
    try:
        build_circulation_consumer(settings, bootstrap, services.desk).run(stop)
    finally:
        services.close()
        noting.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
