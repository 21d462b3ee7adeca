"""`itsm audit` end to end on a SQLite data directory: verify (and its exit status), the public
key, checkpoints kept in a file, evidence packs checked offline, sampling."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from cli.main import main
from infra.settings import Settings
from service.bootstrap import build
from tests.integration.test_service_desk import log


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "var"
    services = build(Settings(data_dir=directory, audit_follow=False))
    for n in range(1, 8):
        log(services, n)
    services.close()
    return directory


def itsm(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_verify_passes_then_names_the_first_changed_position_and_exits_1(data_dir: Path) -> None:
    assert itsm("audit", "catch-up", "--data-dir", data_dir).exit_code == 0
    good = itsm("audit", "verify", "--data-dir", data_dir)
    assert good.exit_code == 0, good.output
    assert orjson.loads(good.stdout)["ok"] is True
    with sqlite3.connect(data_dir / "events.db") as conn:
        conn.execute("DROP TRIGGER stored_events_no_update")
        conn.execute("UPDATE stored_events SET state = replace(state, 'kiosk 3', 'kiosk 9')")
        changed = conn.execute(
            "SELECT MIN(rowid) FROM stored_events WHERE state LIKE '%kiosk 9%'"
        ).fetchone()[0]
    bad = itsm("audit", "verify", "--data-dir", data_dir)
    assert bad.exit_code == 1
    assert orjson.loads(bad.stdout)["first_bad"]["position"] == changed


def test_verify_views_names_the_edited_row_and_exits_1(data_dir: Path) -> None:
    services = build(Settings(data_dir=data_dir, audit_follow=False))
    services.runner.catch_up()
    services.close()
    good = itsm("audit", "verify", "--views", "--data-dir", data_dir)
    assert good.exit_code == 0, good.output
    assert orjson.loads(good.stdout)["views"]["ok"] is True
    with sqlite3.connect(data_dir / "views.db") as conn:
        key, doc = conn.execute("SELECT key, doc FROM view_incident_details LIMIT 1").fetchone()
        edited = {**orjson.loads(doc), "caller": "nobody"}
        conn.execute(
            "UPDATE view_incident_details SET doc = ? WHERE key = ?", (orjson.dumps(edited), key)
        )
    bad = itsm("audit", "verify", "--views", "--data-dir", data_dir)
    assert bad.exit_code == 1
    answer = orjson.loads(bad.stdout)
    assert answer["ok"] is False
    assert answer["first_bad"] is None  # the ledger holds: only the view was edited
    assert answer["views"]["not_matched"] == ["incident_details"]
    first = answer["views"]["views"][0]["first_difference"]
    assert first == {
        "key": key,
        "column": "caller",
        "served": "nobody",
        "rebuilt": orjson.loads(doc)["caller"],
    }
    assert itsm("audit", "verify", "--data-dir", data_dir).exit_code == 0  # views not asked


def test_the_database_refuses_an_update_without_the_trigger_dropped(data_dir: Path) -> None:
    with (
        sqlite3.connect(data_dir / "events.db") as conn,
        pytest.raises(sqlite3.DatabaseError, match="append-only"),
    ):
        conn.execute("UPDATE stored_events SET state = 'x'")


def test_checkpoints_kept_in_a_file_find_a_truncated_tail(data_dir: Path, tmp_path: Path) -> None:
    assert itsm("audit", "checkpoint", "--data-dir", data_dir).exit_code == 0
    kept = tmp_path / "checkpoints.ndjson"
    assert itsm("audit", "checkpoints", "--data-dir", data_dir, kept).exit_code == 0
    head = orjson.loads(kept.read_bytes().splitlines()[-1])["position"]
    with sqlite3.connect(data_dir / "events.db") as events:
        # cut where a committed batch ends, and its seals with it (a seal cut in two would not
        # match the events left)
        (cut,) = events.execute(
            "SELECT MAX(last_position) FROM event_seals WHERE last_position <= ?", (head - 2,)
        ).fetchone()
        for table, position in (("stored_events", "rowid"), ("event_seals", "first_position")):
            events.execute(f"DROP TRIGGER {table}_no_delete")
            events.execute(f"DELETE FROM {table} WHERE {position} > ?", (cut,))
    with sqlite3.connect(data_dir / "audit.db") as ledger:
        for table in ("audit_ledger", "audit_checkpoints"):
            ledger.execute(f"DROP TRIGGER {table}_no_delete")
            ledger.execute(f"DELETE FROM {table} WHERE position > ?", (cut,))
    assert itsm("audit", "verify", "--data-dir", data_dir).exit_code == 0  # seamless inside
    found = itsm("audit", "verify", "--data-dir", data_dir, "--checkpoints", kept)
    assert found.exit_code == 1
    assert "cut off" in orjson.loads(found.stdout)["first_bad"]["reason"]


def test_an_exported_pack_verifies_offline_with_the_public_key_held(
    data_dir: Path, tmp_path: Path
) -> None:
    key = tmp_path / "itsm-audit.pem"
    exported = itsm("audit", "public-key", "--data-dir", data_dir)
    key.write_text(exported.stdout)
    assert itsm("audit", "checkpoint", "--data-dir", data_dir).exit_code == 0
    pack = tmp_path / "evidence.zip"
    made = itsm(
        "audit",
        "export",
        "--data-dir",
        data_dir,
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-03",
        pack,
    )
    assert made.exit_code == 0, made.output
    checked = itsm("audit", "verify-pack", pack, "--public-key", key)
    assert checked.exit_code == 0, checked.output
    assert orjson.loads(checked.stdout)["events"] > 7  # the incidents and their numbers
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from audit.keys import public_pem

    other = tmp_path / "other.pem"
    other.write_bytes(public_pem(Ed25519PrivateKey.generate().public_key()))
    refused = itsm("audit", "verify-pack", pack, "--public-key", other)
    assert refused.exit_code == 1
    assert "not one of the trusted keys" in orjson.loads(refused.stdout)["problems"][0]


def test_verify_pack_takes_the_checkpoints_you_hold_and_warns_without_your_key(
    data_dir: Path, tmp_path: Path
) -> None:
    assert itsm("audit", "checkpoint", "--data-dir", data_dir).exit_code == 0
    kept = tmp_path / "checkpoints.ndjson"
    assert itsm("audit", "checkpoints", "--data-dir", data_dir, kept).exit_code == 0
    pack = tmp_path / "evidence.zip"
    assert itsm("audit", "export", "--data-dir", data_dir, pack).exit_code == 0
    checked = itsm("audit", "verify-pack", pack, "--checkpoints", kept)
    assert checked.exit_code == 0, checked.output
    answer = orjson.loads(checked.stdout)
    assert answer["held_checkpoints_reached"] == len(kept.read_bytes().splitlines())
    assert answer["auditor_key"] is False
    assert "checked only against the key the pack carries" in checked.stderr
    lines = kept.read_bytes().splitlines()
    last = orjson.loads(lines[-1])
    kept.write_bytes(orjson.dumps({**last, "hash": "00" * 32}) + b"\n")
    refused = itsm("audit", "verify-pack", pack, "--checkpoints", kept)
    assert refused.exit_code == 1
    assert "a checkpoint you hold" in orjson.loads(refused.stdout)["problems"][0]


def test_sampling_from_the_command_line_is_reproducible(data_dir: Path) -> None:
    first = itsm("audit", "sample", "--data-dir", data_dir, "--seed", "42", "-n", "3")
    again = itsm("audit", "sample", "--data-dir", data_dir, "--seed", "42", "-n", "3")
    assert first.stdout == again.stdout
    assert len(first.stdout.splitlines()) == 3


def test_verify_checks_the_seals_of_the_unchained_tail_with_the_services_key_or_the_one_given(
    data_dir: Path, tmp_path: Path
) -> None:
    """A row inserted behind the service's back, after everything the ledger holds: verify
    with the seal key names it; with another key file every seal fails; the report says when
    no key was at hand."""
    assert itsm("audit", "catch-up", "--data-dir", data_dir).exit_code == 0
    good = orjson.loads(itsm("audit", "verify", "--data-dir", data_dir).stdout)
    assert good["ok"] is True
    assert good["seals_checked"] > 0
    with sqlite3.connect(data_dir / "events.db") as conn:
        originator, state = conn.execute(
            "SELECT originator_id, state FROM stored_events WHERE topic = 'Incident.Logged'"
        ).fetchone()
        conn.execute(
            "INSERT INTO stored_events (originator_id, originator_version, topic, state)"
            " VALUES (?, 99, 'Incident.Resolved', ?)",
            (originator, state),
        )
        (forged,) = conn.execute("SELECT MAX(rowid) FROM stored_events").fetchone()
    bad = itsm("audit", "verify", "--data-dir", data_dir)
    assert bad.exit_code == 1
    assert orjson.loads(bad.stdout)["first_bad"] == {"position": forged, "reason": "not sealed"}
    other = tmp_path / "other"
    build(Settings(data_dir=other, audit_follow=False)).close()  # a service of its own, its key
    wrong = itsm("audit", "verify", "--data-dir", data_dir, "--seal-key", other / "audit-seal.key")
    assert wrong.exit_code == 1
    first_bad = orjson.loads(wrong.stdout)["first_bad"]
    assert first_bad["position"] == 1
    assert first_bad["reason"].startswith("seal does not match: sealed with key")


def test_a_token_issued_at_the_command_line_is_sealed_and_chained(data_dir: Path) -> None:
    """`itsm tokens create` writes the ApiToken event through a desk of its own: sealed like
    the service's writes, so the ledger chains it and verify finds every event sealed."""
    made = itsm("tokens", "create", "--data-dir", data_dir, "--actor", "rina", "--role", "agent")
    assert made.exit_code == 0, made.output
    caught_up = itsm("audit", "catch-up", "--data-dir", data_dir)
    assert caught_up.exit_code == 0, caught_up.output
    report = orjson.loads(itsm("audit", "verify", "--data-dir", data_dir).stdout)
    assert report["ok"] is True, report
    assert report["not_yet_in_ledger"] == 0
    assert report["seals_checked"] > 0
