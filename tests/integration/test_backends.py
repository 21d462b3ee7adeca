"""The parts each backend implements on its own, held to one contract on SQLite and PostgreSQL:
the incident number lock, token stores, view store queries, and the global order projections
follow while several processes write."""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from domain import commands as c
from domain.actors import Actor, Identity, Role
from domain.errors import DomainError
from infra.numbers import PostgresNumberLock
from infra.pg import PostgresAddress, open_pool
from infra.settings import Settings
from infra.tokens import TokenRejected
from projections import PROJECTIONS, incident_details
from projections.runner import ProjectionRunner
from service.bootstrap import Services, build
from tests.conftest import T0, Clock, context


def test_the_postgres_number_lock_admits_one_holder_at_a_time_across_processes(
    settings: Settings,
) -> None:
    """Incident numbers are picked under this lock (infra/numbers.py); on SQLite the desk's
    write lock, an flock shared by every process, is that lock."""
    if settings.database_url is None:
        pytest.skip("on SQLite the desk's write lock keeps other processes out")
    locks = [
        PostgresNumberLock(open_pool(settings.database_url, max_size=2, name=f"test-{i}"))
        for i in range(2)
    ]
    inside: list[int] = []
    most = 0
    barrier = threading.Barrier(4)

    def hold(i: int) -> None:
        nonlocal most
        barrier.wait(timeout=30)
        for _ in range(15):
            with locks[i % 2]:  # two processes' locks, two threads each
                inside.append(i)
                most = max(most, len(inside))
                time.sleep(0.001)
                inside.remove(i)

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(hold, range(4)))
    finally:
        for lock in locks:
            lock.close()
    assert most == 1


def test_a_token_issued_by_one_process_is_accepted_by_another(
    services: Services, settings: Settings
) -> None:
    actor = Actor(id="siti.rahma", role=Role.AGENT)
    issued = services.tokens.issue(actor, at=T0, issued_by="tests", organisation="dispusip-serang")
    other = build(settings, clock=Clock())  # another API process on the same store
    try:
        identity = other.tokens.verify(issued.token, at=T0)
        assert identity == Identity(actor, organisation="dispusip-serang")
        token_id, secret = issued.token.removeprefix("itsm_").split("_", 1)
        for forged, why in [
            (f"itsm_{token_id}_{secret[:-1]}x", "unknown token"),  # wrong secret
            (f"itsm_{'0' * 16}_{secret}", "unknown token"),  # unknown id
            ("not a token", "not a token of this service"),
        ]:
            with pytest.raises(TokenRejected, match=why):
                other.tokens.verify(forged, at=T0)
    finally:
        other.close()


def test_a_token_expires_and_a_revocation_reaches_every_process(
    services: Services, settings: Settings
) -> None:
    actor = Actor(id="siti.rahma", role=Role.AGENT)
    short = services.tokens.issue(actor, at=T0, issued_by="tests", lifetime=timedelta(hours=1))
    assert services.tokens.verify(short.token, at=T0 + timedelta(minutes=59)).actor == actor
    with pytest.raises(TokenRejected, match="expired"):
        services.tokens.verify(short.token, at=T0 + timedelta(hours=1))

    forever = services.tokens.issue(actor, at=T0, issued_by="tests", lifetime=None)
    other = build(settings.model_copy(update={"token_cache_seconds": 0.0}), clock=Clock())
    try:
        assert other.tokens.verify(forever.token, at=T0 + timedelta(days=3650)).actor == actor
        assert services.tokens.verify(forever.token, at=T0).actor == actor  # now cached here
        assert services.tokens.revoke(
            forever.token_id, at=T0, revoked_by="dewi.lestari", reason="laptop stolen"
        )
        assert not services.tokens.revoke(
            forever.token_id, at=T0, revoked_by="dewi.lestari", reason="again"
        )
        for process in (services, other):  # the revoking one, and one with no cache
            with pytest.raises(TokenRejected, match="revoked"):
                process.tokens.verify(forever.token, at=T0)
        listed = {r.token_id: r for r in other.tokens.records()}
        assert listed[forever.token_id].revoked_at == T0
        assert listed[short.token_id].expires_at == T0 + timedelta(hours=1)
        with pytest.raises(KeyError):
            other.tokens.revoke("0" * 16, at=T0, revoked_by="x", reason="no such token")
    finally:
        other.close()


def test_view_queries_take_values_only_as_parameters(services: Services) -> None:
    tricky = "Wi-Fi 50% down? (lantai 2)"  # a % and a ? that must stay data, not SQL
    services.desk.log_incident(
        context(),
        c.LogIncident(
            title="Wi-Fi", service="public-wifi", caller=tricky, impact="low", urgency="low"
        ),
    )
    assert services.runner.wait_for(services.desk.recorder.max_notification_id() or 0, 10)

    rows = services.views.select(incident_details, '"caller" = ?', [tricky], 'ORDER BY "number"')
    assert [r["caller"] for r in rows] == [tricky]
    assert services.views.select(incident_details, '"caller" = ?', ["Wi-Fi"]) == []
    with pytest.raises(ValueError, match="not as string literals"):
        services.views.select(incident_details, "\"caller\" = 'Wi-Fi'")
    # a name the view has no column of is refused: SQLite would compare the name itself as a
    # string, and match nothing without a word (the notifications' recipient filter once did)
    with pytest.raises(ValueError, match="has no column caller_name"):
        services.views.select(incident_details, '"caller_name" = ?', ["budi"])
    with pytest.raises(ValueError, match="has no column nomor"):
        services.views.select(incident_details, "", [], 'ORDER BY "nomor"')


def test_projections_see_concurrent_writers_commits_in_global_order(
    services: Services, settings: Settings
) -> None:
    """Several processes write at once while the runner follows the store. It reads positions
    forward only, so an event that became visible after a later one would never be folded:
    the live views would then differ from a rebuild."""
    other = build(settings, clock=Clock())  # a second process writing to the same store
    desks = [services.desk, other.desk]
    steps = [c.Assign(group="network"), c.StartWork(), c.AddWorkNote(text="checked")]

    def work(i: int) -> None:
        desk = desks[i % 2]
        for n in range(4):
            command = c.LogIncident(
                title=f"Gate {i}-{n}",
                service="kiosks-gates",
                caller="budi",
                impact="low",
                urgency="low",
            )
            incident_id = desk.log_incident(context(), command).record_id
            for step in steps:
                with contextlib.suppress(DomainError):
                    desk.handle(context(), incident_id, step)

    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(work, range(6)))
    finally:
        other.close()

    head = services.desk.recorder.max_notification_id() or 0
    assert services.runner.wait_for(head, 20)
    live = {p.name: services.views.rows(p) for p in PROJECTIONS}
    assert len(live["incident_details"]) == 24
    services.runner.stop()
    for projection in PROJECTIONS:
        services.views.reset(projection)
    ProjectionRunner(
        services.desk.recorder, services.desk.mapper, services.views, PROJECTIONS
    ).catch_up()
    assert {p.name: services.views.rows(p) for p in PROJECTIONS} == live


def test_on_postgres_an_insert_waits_until_the_one_before_it_commits(
    postgres_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the runner may read notification ids forward only on PostgreSQL: each insert takes
    the library's EXCLUSIVE lock on the events table, held until commit, so a notification id
    can never become visible before a lower one. (SQLite has one writer at a time anyway.)"""
    settings = Settings(data_dir=tmp_path, database_url=postgres_database_url)
    first, second = build(settings, clock=Clock()), build(settings, clock=Clock())
    recorder = first.desk.recorder
    issued, release = threading.Event(), threading.Event()
    fetch_ids = recorder._fetch_ids_after_insert_events  # type: ignore[attr-defined]

    def hold_the_transaction_open(*args: Any, **kwargs: Any) -> Any:
        ids = fetch_ids(*args, **kwargs)  # ids issued, the transaction not yet committed
        issued.set()
        release.wait(10)
        return ids

    monkeypatch.setattr(recorder, "_fetch_ids_after_insert_events", hold_the_transaction_open)
    command = c.LogIncident(
        title="Gate", service="kiosks-gates", caller="b", impact="low", urgency="low"
    )
    before = second.desk.recorder.max_notification_id()
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            earlier = pool.submit(first.desk.log_incident, context(), command)
            assert issued.wait(10)
            later = pool.submit(second.desk.log_incident, context(), command)
            time.sleep(0.5)
            assert not later.done()  # it waits for the table lock...
            assert second.desk.recorder.max_notification_id() == before  # ...and nothing shows
            release.set()
            earlier_position = earlier.result(10).position
            later_position = later.result(10).position
    finally:
        release.set()
        first.close()
        second.close()
    assert earlier_position is not None
    assert later_position is not None
    assert earlier_position < later_position


# -- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://itsm@127.0.0.1/itsm", "starts with postgresql://"),
        ("postgresql://127.0.0.1:5432/itsm", "needs a user, a host and a database name"),
        ("postgresql://itsm@127.0.0.1:5432/", "needs a user, a host and a database name"),
        ("postgresql://itsm@127.0.0.1:port/itsm", "port must be a number"),
    ],
)
def test_a_database_url_that_is_not_postgres_is_refused_at_start_up(url: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Settings(database_url=url)


def test_a_database_url_names_every_part_and_hides_its_password() -> None:
    address = PostgresAddress.parse("postgresql://itsm:s%40cret@db.example:6543/itsm_prod")
    assert (address.user, address.password, address.host, address.port, address.dbname) == (
        "itsm",
        "s@cret",
        "db.example",
        6543,
        "itsm_prod",
    )
    assert "s@cret" not in str(address)
    assert Settings(database_url="").database_url is None  # ITSM_DATABASE_URL= means unset
