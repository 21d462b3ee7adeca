"""The seals' property, on both backends: any sequence of committed batches, then any one change
to the stored rows (an event inserted, its state changed, deleted, or two swapped), through plain
SQL as an attacker with database access would make it, is found by a check with the seal key."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
import pytest
from eventsourcing.persistence import InfrastructureFactory, PersistenceError, StoredEvent
from eventsourcing.utils import Environment
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from application.desk import ServiceDesk
from audit.sealing import SealingPostgresRecorder, SealingSQLiteRecorder
from audit.seals import SealKey, key_id_of
from audit.store import AuditStore, PostgresAuditStore, SQLiteAuditStore
from audit.verify import check_seals
from infra.pg import open_pool
from infra.settings import Settings
from service.stores import event_store_env
from tests.integration.audit_tamper import Attacker

Recorder = SealingSQLiteRecorder | SealingPostgresRecorder


@dataclass(frozen=True)
class Mutation:
    kind: str  # insert, update, delete, swap
    at: int  # an index into the stored events (modulo their count)
    other: int  # the second index of a swap


mutations = st.builds(
    Mutation,
    st.sampled_from(["insert", "insert-at-end", "update", "delete", "swap"]),
    st.integers(min_value=0, max_value=1_000),
    st.integers(min_value=1, max_value=1_000),
)
batches = st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=6)


@contextmanager
def sealing_store(settings: Settings, key: SealKey) -> Iterator[tuple[Recorder, AuditStore]]:
    """The library's recorder for the service's events (sealing with `key`) and the audit
    layer's reader of the same database, neither creating triggers: the attacker needs none
    dropped."""
    factory = InfrastructureFactory.construct(
        Environment(ServiceDesk.name, event_store_env(settings))
    )
    recorder = factory.application_recorder()
    assert isinstance(recorder, SealingSQLiteRecorder | SealingPostgresRecorder)
    recorder.seal_with(key)
    if settings.database_url is None:
        store: AuditStore = SQLiteAuditStore(settings.events_db, settings.audit_db, prepare=False)
    else:
        pool = open_pool(settings.database_url, max_size=1, name="itsm-seal-property")
        store = PostgresAuditStore(pool, prepare=False)
    try:
        yield recorder, store
    finally:
        store.close()
        factory.close()


def event(n: int) -> StoredEvent:
    state = orjson.dumps({"n": n, "actor": {"id": "siti.rahma", "role": "agent"}})
    return StoredEvent(originator_id=uuid4(), originator_version=1, topic="Test.Made", state=state)


def mutate(attacker: Attacker, positions: list[int], mutation: Mutation) -> None:
    at = positions[mutation.at % len(positions)]
    if mutation.kind == "insert":
        attacker.insert_at(at, (uuid4().hex, 1, "Test.Made", b'{"n": -1}'))
    elif mutation.kind == "insert-at-end":
        attacker.insert_at(positions[-1] + 1, (uuid4().hex, 1, "Test.Made", b'{"n": -1}'))
    elif mutation.kind == "update":
        attacker.set_state(at, attacker.row(at)[3] + b" ")
    elif mutation.kind == "delete":
        attacker.delete(at)
    else:
        if len(positions) < 2:
            attacker.delete(at)  # nothing to swap with: the one change left to make
            return
        other = positions[(mutation.at + mutation.other) % len(positions)]
        if other == at:
            other = positions[(positions.index(at) + 1) % len(positions)]
        attacker.swap(at, other)


@pytest.fixture
def stored_settings(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[], Settings]:
    """Settings for an empty store each call (one data directory, and on PostgreSQL one
    database emptied in between: a database per example would cost a second each)."""
    url = request.getfixturevalue("postgres_database_url") if backend == "postgres" else None

    def fresh() -> Settings:
        settings = Settings(data_dir=Path(tempfile.mkdtemp(dir=tmp_path)))
        if url is None:
            return settings
        settings = settings.model_copy(update={"database_url": url})
        with Attacker(settings) as cleaner:
            for table in ("servicedesk_events", "event_seals"):
                cleaner.sql_events(f"DROP TABLE IF EXISTS {table}")
        return settings

    return fresh


@given(sizes=batches, mutation=mutations)
@examples(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_one_change_to_the_stored_rows_after_sealed_batches_is_found(
    stored_settings: Callable[[], Settings], sizes: list[int], mutation: Mutation
) -> None:
    settings = stored_settings()
    raw = secrets.token_bytes(32)
    key = SealKey(raw, key_id_of(raw), 0)
    with sealing_store(settings, key) as (recorder, store):
        n = 0
        for size in sizes:
            recorder.insert_events([event(n + i) for i in range(size)])
            n += size
        count, unsealed = check_seals(store, key)
        assert (count, unsealed) == (len(sizes), None)
        positions = [row[0] for row in store.stored(0, 1_000)]
        with Attacker(settings) as attacker:
            mutate(attacker, positions, mutation)
        count, unsealed = check_seals(store, key)
        assert unsealed is not None, mutation


#: (which of two writers, how many events, whether its transaction rolls back after sealing)
turns = st.lists(
    st.tuples(st.integers(0, 1), st.integers(min_value=1, max_value=3), st.booleans()),
    min_size=1,
    max_size=8,
)


def rolled_back_after_sealing(recorder: Recorder) -> None:
    """The next batch's transaction fails once its seal is written (the database refuses the
    seal's row a second time), so its events and seal roll back."""
    seal = recorder._seal

    def seal_then_fail(*args: Any) -> None:
        del recorder._seal
        seal(*args)
        args[3](recorder._staged.seal.values())

    recorder._seal = seal_then_fail  # type: ignore[method-assign,assignment]


@given(turns=turns)
@examples(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_writers_taking_turns_and_rolled_back_batches_leave_one_unbroken_seal_chain(
    stored_settings: Callable[[], Settings], turns: list[tuple[int, int, bool]]
) -> None:
    """Two recorders on one store, as two API processes have, each chaining onto the last seal
    it committed itself when nothing came between: the seals of the committed batches chain
    across both writers, and a batch that rolled back is never chained onto."""
    settings = stored_settings()
    raw = secrets.token_bytes(32)
    key = SealKey(raw, key_id_of(raw), 0)
    with (
        sealing_store(settings, key) as (first, store),
        sealing_store(settings, key) as (second, _),
    ):
        committed, n = 0, 0
        for writer, size, fails in turns:
            recorder = (first, second)[writer]
            batch = [event(n + i) for i in range(size)]
            n += size
            if fails:
                rolled_back_after_sealing(recorder)
                with pytest.raises(PersistenceError):
                    recorder.insert_events(batch)
            else:
                recorder.insert_events(batch)
                committed += 1
        assert check_seals(store, key) == (committed, None)
        assert len(store.stored(0, 1_000)) == sum(s for _, s, fails in turns if not fails)
