"""Several API processes sealing on one store, on both backends: writer processes racing to
commit batches leave one seal chain that verifies, covers every stored event and has one seal
per committed batch (audit/sealing.py, docs/audit.md "Seals").

Processes, not threads: each writer has its own recorder, so its own memory of the last seal it
committed, and its own connections, as separate API processes have; only the store's write lock
(SQLite's write transaction, PostgreSQL's EXCLUSIVE lock on the events table) stands between
them. The service's flock around SQLite writes (infra/locks.py) is left out, so that the seals
are seen to chain without it.

The test fails unless the writers' batches interleaved in the store: writers that ran one after
another would prove nothing. A writer pauses a moment after each batch, as an API process does
between requests: on SQLite a writer waiting for the lock sleeps in growing steps, and writers
committing back to back without a pause mostly keep the lock until they are done.
"""

from __future__ import annotations

import itertools
import secrets
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path
from uuid import uuid4

import orjson
import pytest
from eventsourcing.persistence import InfrastructureFactory, PersistenceError, StoredEvent
from eventsourcing.utils import Environment

from application.desk import ServiceDesk
from audit.sealing import SealingPostgresRecorder, SealingSQLiteRecorder
from audit.seals import SealKey, key_id_of
from audit.store import AuditStore, PostgresAuditStore, SQLiteAuditStore
from audit.verify import check_seals
from infra.pg import open_pool, schema_lock
from infra.settings import Settings
from service.stores import event_store_env
from tests.forked_cli import forkserver

WRITERS = 3
BATCHES = 60
#: Seconds a writer pauses after each batch it commits.
PAUSE = 0.002
#: Seconds a writer waits for the others to be ready, and the test for the writers to finish.
PATIENCE = 60.0

Recorder = SealingSQLiteRecorder | SealingPostgresRecorder


@dataclass(frozen=True)
class Batch:
    writer: int
    positions: list[int]


@dataclass(frozen=True)
class Race:
    #: Every committed batch, in store order.
    batches: list[Batch]
    #: Why each batch that did not commit failed.
    failures: list[str]


@pytest.fixture
def store_settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """An empty store on this test's backend: a SQLite file, or a fresh PostgreSQL database."""
    data_dir = tmp_path / "store"
    data_dir.mkdir()
    settings = Settings(data_dir=data_dir)
    if backend == "postgres":
        url: str = request.getfixturevalue("postgres_database_url")
        settings = settings.model_copy(update={"database_url": url})
    return settings


def seal_key(raw: bytes) -> SealKey:
    return SealKey(raw, key_id_of(raw), 0)


@contextmanager
def sealing_recorder(settings: Settings, key: SealKey) -> Iterator[Recorder]:
    """The library's recorder for the service's events, sealing with `key`, as an API process
    builds it: creating the tables if missing, on PostgreSQL under the schema lock."""
    factory = InfrastructureFactory.construct(
        Environment(ServiceDesk.name, event_store_env(settings))
    )
    try:
        if settings.database_url is None:
            recorder = factory.application_recorder()
        else:
            with schema_lock(settings.database_url):
                recorder = factory.application_recorder()
        assert isinstance(recorder, SealingSQLiteRecorder | SealingPostgresRecorder)
        recorder.seal_with(key)
        yield recorder
    finally:
        factory.close()


def create_tables(settings: Settings, key: SealKey) -> None:
    """The store's tables, made before the writers race to open it."""
    with sealing_recorder(settings, key):
        pass


def audit_store(settings: Settings) -> AuditStore:
    if settings.database_url is None:
        return SQLiteAuditStore(settings.events_db, settings.audit_db, prepare=False)
    pool = open_pool(settings.database_url, max_size=1, name="itsm-seal-processes")
    return PostgresAuditStore(pool, prepare=False)


def event(writer: int, n: int) -> StoredEvent:
    state = orjson.dumps({"writer": writer, "n": n, "actor": {"id": "siti.rahma"}})
    return StoredEvent(originator_id=uuid4(), originator_version=1, topic="Test.Made", state=state)


def write_batches(
    settings: Settings, raw_key: bytes, writer: int, start: Barrier, report: Path
) -> None:
    """One writer process: open a sealing recorder, wait for the others, then commit BATCHES
    batches of 1 to 3 events, and report the positions of those that committed, or what went
    wrong (this process's stderr is the forkserver's, not the test's).

    Nothing is retried here, as the service would retry nothing here: it writes again only when
    a concurrent write took an aggregate's next version (IntegrityError), which events of new
    originators never meet. A SQLite writer waits for the lock up to the store's lock timeout,
    and on PostgreSQL the library itself retries a lost connection. A batch that fails is
    reported, and not counted."""
    committed: list[list[int]] = []
    failures: list[str] = []
    try:
        with sealing_recorder(settings, seal_key(raw_key)) as recorder:
            start.wait(timeout=PATIENCE)
            for n in range(BATCHES):
                size = 1 + (n + writer) % 3
                batch = [event(writer, n * 3 + i) for i in range(size)]
                try:
                    positions = recorder.insert_events(batch)
                except PersistenceError as error:
                    failures.append(f"writer {writer}, batch {n}: {error!r}")
                    continue
                assert positions is not None
                committed.append(list(positions))
                time.sleep(PAUSE)
    except BaseException:
        report.write_bytes(orjson.dumps({"error": traceback.format_exc()}))
        raise
    report.write_bytes(orjson.dumps({"committed": committed, "failures": failures}))


def race(settings: Settings, raw_key: bytes, reports: Path) -> Race:
    """WRITERS processes writing to the store at once. They are forked from the tests'
    forkserver (tests/forked_cli.py), which has the service imported and no threads: a child
    starts at once, and a fork of the test process itself could inherit a lock another of its
    threads holds."""
    context = forkserver()
    start = context.Barrier(WRITERS)
    paths = [reports / f"writer-{writer}.json" for writer in range(WRITERS)]
    writers = [
        context.Process(
            target=write_batches,
            args=(settings, raw_key, writer, start, path),
            name=f"seal-writer-{writer}",
        )
        for writer, path in enumerate(paths)
    ]
    for process in writers:
        process.start()
    try:
        for process in writers:
            process.join(timeout=PATIENCE)
    finally:
        for process in writers:
            if process.is_alive():
                process.kill()
                process.join()
    written = [orjson.loads(path.read_bytes()) if path.exists() else {} for path in paths]
    exits = [process.exitcode for process in writers]
    assert exits == [0] * WRITERS, (exits, [w.get("error") for w in written])
    batches = [
        Batch(writer, positions)
        for writer, report in enumerate(written)
        for positions in report["committed"]
    ]
    failures = [failure for report in written for failure in report["failures"]]
    return Race(sorted(batches, key=lambda b: b.positions[0]), failures)


def runs_of_writers(batches: list[Batch]) -> list[int]:
    """Which writer wrote each run of consecutive batches in the store."""
    return [writer for writer, _ in itertools.groupby(b.writer for b in batches)]


def test_writer_processes_racing_on_one_store_leave_one_unbroken_seal_chain(
    store_settings: Settings, tmp_path: Path
) -> None:
    raw = secrets.token_bytes(32)
    key = seal_key(raw)
    create_tables(store_settings, key)
    raced = race(store_settings, raw, tmp_path)
    batches, failures = raced.batches, raced.failures

    store = audit_store(store_settings)
    try:
        found = check_seals(store, key)
        assert found == (len(batches), None), f"{len(failures)} batches failed: {failures[:3]}"
        seals = store.seals(0, 10_000)
        stored = [row[0] for row in store.stored(0, 10_000)]
    finally:
        store.close()
    assert [(s.first_position, s.last_position) for s in seals] == [
        (b.positions[0], b.positions[-1]) for b in batches
    ]
    assert stored == [position for b in batches for position in b.positions]
    assert len(stored) == sum(len(b.positions) for b in batches)
    # Each writer waits for the store's write lock; none is refused (a seal read outside the
    # write transaction makes SQLite refuse writes rather than break the chain).
    assert failures == []

    runs = runs_of_writers(batches)
    if len(runs) <= len(set(runs)):
        pytest.fail(
            f"the writers did not interleave: each wrote its batches in one run ({runs};"
            f" {len(failures)} batches failed), so no seal had to chain onto another process's"
            " seal: the race proved nothing"
        )
