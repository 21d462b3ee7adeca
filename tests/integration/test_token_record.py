"""Everything that decides access is in the audited record (issue 18), on SQLite and PostgreSQL:
a token's issue and revocation are events; authentication reads them, not the old tables, so a
DBA's edit of those tables grants nothing; an edit of the token events through SQL is found by
the audit ledger's verification; the old tables' tokens are imported once, revocations and all."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import orjson
import psycopg
import pytest
from click.testing import CliRunner

from application.api_tokens import import_token_tables, token_events, tokens
from audit.evidence import EventFilter, event_lines
from audit.service import Audit
from audit.verify import verify
from cli.main import main
from domain.actors import SYSTEM, Actor, Identity, Role
from domain.api_token import Imported, Issued, Revoked, TablesImported
from domain.visibility import for_reader
from infra.pg import open_pool
from infra.settings import Settings
from infra.tokens import (
    PostgresTokenStore,
    SQLiteTokenStore,
    TokenRecord,
    TokenRejected,
    TokenStore,
)
from service.bootstrap import Services, build
from tests.conftest import T0, Clock
from tests.integration.audit_tamper import Attacker

AGENT = Actor(id="siti.rahma", role=Role.AGENT)
SERANG = "dispusip-serang"
TOKEN_TOPICS = ("ApiToken.Issued", "ApiToken.Imported", "ApiToken.Revoked")


@contextmanager
def old_tables(settings: Settings) -> Iterator[TokenStore]:
    """The tables tokens were kept in before the record, written as the code of then wrote them."""
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store: TokenStore = SQLiteTokenStore(settings.auth_db, cache_seconds=0)
    else:
        store = PostgresTokenStore(open_pool(settings.database_url, max_size=1, name="old"))
    try:
        yield store
    finally:
        store.close()


def old_table_sql(settings: Settings) -> Callable[[str, tuple[Any, ...]], None]:
    """A DBA's SQL on the old token tables (`?` for parameters, on either engine)."""

    def run(sql: str, params: tuple[Any, ...]) -> None:
        if settings.database_url is None:
            with contextlib.closing(sqlite3.connect(settings.auth_db)) as conn, conn:
                conn.execute(sql, params)
            return
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute(sql.replace("?", "%s"), params)

    return run


def old_records(settings: Settings) -> list[TokenRecord]:
    with old_tables(settings) as table:
        return table.records()


def uncached(settings: Settings) -> Services:
    """Another process of the service on the same store, with no token cache."""
    return build(settings.model_copy(update={"token_cache_seconds": 0.0}), clock=Clock())


def stored_token_events(services: Services) -> list[tuple[int, str, bytes]]:
    """(position, type, stored state) of every token event, as the table holds them."""
    rows = services.desk.recorder.select_notifications(1, 10_000, topics=TOKEN_TOPICS)
    return [(row.id, row.topic, bytes(row.state)) for row in rows]


def audit(services: Services) -> Audit:
    assert services.audit is not None
    return services.audit


def test_issuing_and_revoking_a_token_are_events_with_who_and_when_and_no_secret(
    services: Services,
) -> None:
    issued = services.tokens.issue(
        AGENT, at=T0, issued_by="dewi.lestari", organisation=SERANG, lifetime=timedelta(days=30)
    )
    secret = issued.token.split("_", 2)[2]
    assert services.tokens.revoke(
        issued.token_id, at=T0 + timedelta(hours=1), revoked_by="dewi.lestari", reason="left"
    )

    first, then = list(token_events(services.desk, issued.token_id))
    assert isinstance(first, Issued)
    assert isinstance(then, Revoked)
    assert first.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert (first.holder, first.organisation, first.expires_at) == (
        AGENT,
        SERANG,
        T0 + timedelta(days=30),
    )
    assert first.actor == then.actor == Actor(id="dewi.lestari", role=Role.ADMIN)
    assert (first.timestamp, then.timestamp) == (T0, T0 + timedelta(hours=1))
    assert then.reason == "left"
    assert all(secret.encode() not in state for _, _, state in stored_token_events(services))
    with pytest.raises(TokenRejected, match="revoked"):
        services.tokens.verify(issued.token, at=T0 + timedelta(hours=2))


def test_editing_the_old_token_tables_changes_no_one_s_access(
    make_settings: Callable[[], Settings],
) -> None:
    """Raise an agent to admin, delete a revocation, insert a token: through SQL, in the tables
    authentication read before. Neither a running process nor one started afterwards sees it."""
    settings = make_settings()
    with old_tables(settings) as table:
        kept = table.issue(AGENT, at=T0, issued_by="cli:root")
        dropped = table.issue(AGENT, at=T0, issued_by="cli:root")
        table.revoke(dropped.token_id, at=T0, revoked_by="cli:root", reason="lost laptop")
    services = build(settings, clock=Clock())  # imports both, once
    try:
        planted = "f" * 16
        digest = hashlib.sha256(b"planted").digest()
        on_tables = old_table_sql(settings)
        on_tables("UPDATE api_tokens SET role = 'admin' WHERE token_id = ?", (kept.token_id,))
        on_tables("DELETE FROM api_token_revocations WHERE token_id = ?", (dropped.token_id,))
        on_tables(
            "INSERT INTO api_tokens (token_id, secret_sha256, actor_id, role, issued_at,"
            " issued_by) VALUES (?, ?, 'mallory', 'admin', ?, 'cli:root')",
            (planted, digest, T0.isoformat()),
        )
        assert {r.token_id: r.identity.actor.role for r in old_records(settings)} == {
            kept.token_id: Role.ADMIN,  # the edits took
            dropped.token_id: Role.AGENT,
            planted: Role.ADMIN,
        }
        for process in (services, uncached(settings)):  # one running, one started afterwards
            assert process.tokens.verify(kept.token, at=T0).actor == AGENT
            with pytest.raises(TokenRejected, match="revoked"):
                process.tokens.verify(dropped.token, at=T0)
            with pytest.raises(TokenRejected, match="unknown token"):
                process.tokens.verify(f"itsm_{planted}_planted", at=T0)
            assert planted not in {r.token_id for r in process.tokens.records()}
            if process is not services:
                process.close()
    finally:
        services.close()


@pytest.mark.parametrize("attack", ["raise-role", "delete-revocation"])
def test_an_edit_of_a_token_event_through_sql_is_found_by_audit_verify(
    make_settings: Callable[[], Settings], attack: str
) -> None:
    """The events are where access is decided now, so the attack moves there: it works (the
    service believes the edited record) and the audit ledger names the position it changed."""
    settings = make_settings().model_copy(update={"audit_follow": False})
    services = build(settings, clock=Clock())
    try:
        issued = services.tokens.issue(AGENT, at=T0, issued_by="dewi.lestari")
        services.tokens.revoke(issued.token_id, at=T0, revoked_by="dewi.lestari", reason="left")
        services.tokens.issue(AGENT, at=T0, issued_by="dewi.lestari")  # a later event
        ledger = audit(services)
        ledger.ledger.catch_up()
        ledger.ledger.checkpoint_now()
        assert verify(ledger.store, ledger.trusted_keys()).ok
        (issued_at, _, issued_state), (revoked_at, _, _), _ = stored_token_events(services)

        with Attacker(settings) as dba:
            dba.drop_triggers()
            if attack == "raise-role":
                forged = issued_state.replace(b'"role":"agent"', b'"role":"admin"')
                assert forged != issued_state
                dba.set_state(issued_at, forged)
                changed = issued_at
            else:
                dba.delete(revoked_at)
                changed = revoked_at

        other = uncached(settings)
        try:  # the forgery works on authentication...
            if attack == "raise-role":
                with pytest.raises(TokenRejected, match="revoked"):
                    other.tokens.verify(issued.token, at=T0)
                assert other.tokens.records()[0].identity.actor.role is Role.ADMIN
            else:
                assert other.tokens.verify(issued.token, at=T0).actor == AGENT
        finally:
            other.close()
        report = verify(ledger.store, ledger.trusted_keys())  # ...and verify finds it
        assert not report.ok
        assert report.first_bad is not None
        assert report.first_bad.position == changed
    finally:
        services.close()


def test_the_old_tables_tokens_become_events_once_with_their_revocations(
    make_settings: Callable[[], Settings],
) -> None:
    settings = make_settings()
    with old_tables(settings) as table:
        scoped = table.issue(AGENT, at=T0, issued_by="cli:root", organisation=SERANG)
        forever = table.issue(
            Actor(id="dewi.lestari", role=Role.ADMIN), at=T0, issued_by="cli:root", lifetime=None
        )
        gone = table.issue(AGENT, at=T0, issued_by="cli:root")
        table.revoke(gone.token_id, at=T0 + timedelta(hours=2), revoked_by="cli:ops", reason="x")
    services = build(settings, clock=Clock(T0 + timedelta(days=1)))
    try:
        imported = list(token_events(services.desk))
        assert [type(e) for e in imported] == [Imported] * 3
        assert all(e.actor == SYSTEM for e in imported)
        assert {e.source for e in imported} == {"imported from api_tokens"}  # type: ignore[attr-defined]
        by_id = {e.token_id: e for e in imported}  # type: ignore[attr-defined]
        assert by_id[gone.token_id].revoked_at == T0 + timedelta(hours=2)  # type: ignore[attr-defined]
        assert by_id[gone.token_id].revoked_by == "cli:ops"  # type: ignore[attr-defined]

        assert services.tokens.verify(scoped.token, at=T0) == Identity(AGENT, organisation=SERANG)
        assert services.tokens.verify(forever.token, at=T0 + timedelta(days=3650)).actor.id == (
            "dewi.lestari"
        )
        with pytest.raises(TokenRejected, match="revoked"):
            services.tokens.verify(gone.token, at=T0)
        listed = {r.token_id: r for r in services.tokens.records()}
        assert listed[scoped.token_id].issued_by == "cli:root"
        assert listed[scoped.token_id].issued_at == T0  # the table's time, not the import's
        assert listed[gone.token_id].revoked_at == T0 + timedelta(hours=2)
        before = services.desk.recorder.max_notification_id()
        done = services.desk.recorder.select_notifications(1, 10, topics=[TablesImported.type_name])
        assert len(done) == 1
        assert set(orjson.loads(done[0].state)["token_ids"]) == set(by_id)
    finally:
        services.close()

    # a restart (and a process that comes to import after another did) imports nothing again
    again = build(settings, clock=Clock(T0 + timedelta(days=2)))
    try:
        assert again.desk.recorder.max_notification_id() == before
        assert import_token_tables(again.desk, old_records(settings), T0) == 0
        assert again.desk.recorder.max_notification_id() == before
        assert len(tokens(again.desk)) == 3
    finally:
        again.close()


def test_a_store_that_never_had_token_tables_records_its_import_as_done(
    services: Services,
) -> None:
    """So a table a DBA makes afterwards is never read: the import has happened, with none."""
    done = services.desk.recorder.select_notifications(1, 10, topics=[TablesImported.type_name])
    assert [orjson.loads(n.state)["token_ids"] for n in done] == [[]]
    assert tokens(services.desk) == []


@pytest.mark.parametrize("backend", ["sqlite"])  # the command line is the same on both
def test_the_history_of_who_could_do_what_prints_from_the_record(
    make_settings: Callable[[], Settings], backend: str
) -> None:
    settings = make_settings()
    with old_tables(settings) as table:
        old = table.issue(AGENT, at=T0, issued_by="cli:root")
        table.revoke(old.token_id, at=T0, revoked_by="cli:root", reason="moved to Lebak")
    data = ["--data-dir", str(settings.data_dir)]
    runner = CliRunner()
    made = runner.invoke(main, ["tokens", "create", *data, "--actor", "rina", "--role", "auditor"])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[0]
    token_id = token.split("_")[1]
    assert runner.invoke(main, ["tokens", "revoke", *data, token_id, "--reason", "audit over"])

    history = runner.invoke(main, ["tokens", "history", *data])
    assert history.exit_code == 0, history.output
    lines = history.stdout.strip().splitlines()
    assert len(lines) == 3
    assert "itsm (system)  imported from api_tokens: " + old.token_id in lines[0]
    assert "15:30:00 WIB by cli:root; revoked" in lines[0]  # the table's times, in Jakarta
    assert "moved to Lebak" in lines[0]
    assert f"(admin)  issued {token_id} to rina (auditor, dpk-banten)" in lines[1]
    assert lines[2].endswith(f"revoked {token_id}: audit over")
    secret = token.split("_", 2)[2]  # all after the id: a secret may hold "_" too
    assert secret not in history.output
    assert hashlib.sha256(secret.encode()).hexdigest() not in history.output
    one = runner.invoke(main, ["tokens", "history", *data, token_id])
    assert one.stdout.strip().splitlines() == lines[1:]
    missing = runner.invoke(main, ["tokens", "history", *data, "0" * 16])
    assert missing.exit_code != 0
    assert "no token" in missing.output


def test_only_auditors_read_a_secret_s_digest_and_only_admins_and_auditors_a_token_s_record(
    services: Services,
) -> None:
    services.tokens.issue(AGENT, at=T0, issued_by="dewi.lestari")
    events = list(token_events(services.desk))
    assert for_reader(Role.AGENT, events) == []
    assert for_reader(Role.SERVICE_MANAGER, events) == []
    assert for_reader(Role.REQUESTER, events) == []
    (admins,) = for_reader(Role.ADMIN, events)
    assert admins.secret_sha256 is None  # type: ignore[attr-defined]
    assert admins.holder == AGENT  # type: ignore[attr-defined]
    assert for_reader(Role.AUDITOR, events) == events

    ledger = audit(services)
    wanted = EventFilter(types=frozenset({"ApiToken.Issued"}))

    def streamed(reader: Role) -> list[dict[str, Any]]:
        lines = event_lines(
            ledger.store, services.desk.mapper, wanted, source="urn:test", reader=reader
        )
        return [orjson.loads(line)["data"] for line in lines]

    (for_admin,) = streamed(Role.ADMIN)
    (for_auditor,) = streamed(Role.AUDITOR)
    assert for_admin["secret_sha256"] is None
    assert for_auditor["secret_sha256"] == events[0].secret_sha256  # type: ignore[attr-defined]


def test_processes_starting_at_once_import_the_old_tables_once(
    make_settings: Callable[[], Settings],
) -> None:
    settings = make_settings()
    with old_tables(settings) as table:
        issued = [table.issue(AGENT, at=T0, issued_by="cli:root") for _ in range(3)]
    barrier = threading.Barrier(3)

    def start(_: int) -> Services:
        barrier.wait(timeout=30)
        return build(settings, clock=Clock())

    with ThreadPoolExecutor(max_workers=3) as pool:
        started = list(pool.map(start, range(3)))
    try:
        events = list(token_events(started[0].desk))
        assert sorted(e.token_id for e in events) == sorted(t.token_id for t in issued)  # type: ignore[attr-defined]
        done = started[0].desk.recorder.select_notifications(
            1, 10, topics=[TablesImported.type_name]
        )
        assert len(done) == 1
        for process in started:
            assert process.tokens.verify(issued[0].token, at=T0).actor == AGENT
    finally:
        for process in started:
            process.close()


@pytest.mark.parametrize("backend", ["sqlite"])  # the command line is the same on both
def test_itsm_audit_verify_names_a_token_raised_to_admin_in_the_store(
    make_settings: Callable[[], Settings], backend: str
) -> None:
    """The same attack end to end at the command line (the same on both backends)."""
    data = ["--data-dir", str(make_settings().data_dir)]
    runner = CliRunner()
    made = runner.invoke(main, ["tokens", "create", *data, "--actor", "rina", "--role", "agent"])
    assert made.exit_code == 0, made.output
    assert runner.invoke(main, ["audit", "catch-up", *data]).exit_code == 0
    assert runner.invoke(main, ["audit", "verify", *data]).exit_code == 0

    with contextlib.closing(sqlite3.connect(f"{data[1]}/events.db")) as conn, conn:
        conn.execute("DROP TRIGGER stored_events_no_update")
        conn.execute(
            'UPDATE stored_events SET state = replace(state, \'"role":"agent"\','
            " '\"role\":\"admin\"') WHERE topic = 'ApiToken.Issued'"
        )
        (changed,) = conn.execute(
            "SELECT rowid FROM stored_events WHERE topic = 'ApiToken.Issued'"
        ).fetchone()
    listed = runner.invoke(main, ["tokens", "list", *data])
    assert "admin" in listed.output  # the forgery took...

    bad = runner.invoke(main, ["audit", "verify", *data])
    assert bad.exit_code == 1  # ...and verify names it
    assert orjson.loads(bad.stdout)["first_bad"]["position"] == changed
