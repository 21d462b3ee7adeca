"""What-if runs end to end, on SQLite and PostgreSQL: the record and the live views are untouched
(digests before and after), the API's job lifecycle, and `itsm whatif` with its outputs."""

from __future__ import annotations

import hashlib
import sqlite3
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg
import pytest
from click.testing import CliRunner

import processes.whatif
from benchmarks.whatif import scenario, synthesise
from cli.main import main
from domain.actors import Role
from infra.settings import Settings
from processes.whatif import WhatIf, run
from projections import PROJECTIONS
from projections.store import table
from service.bootstrap import Services, build
from tests.conftest import MANAGER, context
from tests.integration.conftest import Api

AS_OF = datetime(2027, 1, 1, tzinfo=UTC)
DOCS = Path(__file__).parents[2] / "docs" / "whatif"


def digests(settings: Settings) -> dict[str, str]:
    """A digest of every row of the event store and of every projection table, with positions."""
    views = [table(p) for p in PROJECTIONS] + ["projection_positions"]
    found: dict[str, str] = {}

    def digest(rows: list[tuple[object, ...]]) -> str:
        return hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()

    if settings.database_url is None:
        with sqlite3.connect(settings.events_db) as db:
            found["events"] = digest(db.execute("SELECT * FROM stored_events").fetchall())
        with sqlite3.connect(settings.views_db) as db:
            for name in views:
                found[name] = digest(db.execute(f"SELECT * FROM {name}").fetchall())
        return found
    with psycopg.connect(settings.database_url) as db:
        found["events"] = digest(db.execute("SELECT * FROM servicedesk_events").fetchall())
        for name in views:
            found[name] = digest(db.execute(f"SELECT * FROM {name}").fetchall())
    return found


def test_a_whatif_leaves_the_event_store_and_every_view_untouched(
    services: Services, settings: Settings, tmp_path: Path
) -> None:
    stored = synthesise(services.desk, 150, seed=3)
    services.runner.catch_up()
    before = digests(settings)
    assert stored > 150
    assert len(before) == len(PROJECTIONS) + 2

    done = run(services.desk, scenario(services.desk), AS_OF, scratch=tmp_path / "scratch.db")
    services.whatif_jobs.submit(context(MANAGER), scenario(services.desk))
    services.whatif_jobs.wait()
    services.runner.catch_up()

    assert done.report["tickets"] == 150
    assert done.report["flipped"] > 0  # the run judged something that differs
    with sqlite3.connect(tmp_path / "scratch.db") as scratch:
        assert scratch.execute("SELECT count(*) FROM verdicts").fetchone() == (150,)
    assert digests(settings) == before


def test_judging_in_forked_processes_gives_the_report_of_one_process(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    synthesise(services.desk, 120, seed=11)
    monkeypatch.setattr(processes.whatif, "POOL_FROM", 10)  # fork even for a small history
    whatif = scenario(services.desk)

    alone = run(services.desk, whatif, AS_OF, workers=1).report
    forked = run(services.desk, whatif, AS_OF, workers=2).report

    assert alone["flipped"] > 0
    assert orjson.dumps({**forked, "seconds": None}) == orjson.dumps({**alone, "seconds": None})


def test_a_whatif_job_answers_202_then_its_report(api: Api) -> None:
    services = api.services
    synthesise(services.desk, 60, seed=5)
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    body = scenario(services.desk).model_dump(mode="json", by_alias=True)
    body.update({"from": "2026-01-01", "to": "2026-12-31"})

    started = manager.post("/api/v1/whatif", json=body)
    assert started.status_code == 202
    location = started.headers["Location"]
    assert location == f"/api/v1/whatif/{started.json()['id']}"
    services.whatif_jobs.wait()
    answer = manager.get(location)

    assert answer.status_code == 200
    job = answer.json()
    assert job["status"] == "done"
    assert job["requested_by"] == {"id": "dewi.lestari", "role": "service_manager"}
    assert job["report"]["tickets"] == 60
    assert {row["dimension"] for row in job["report"]["rows"]} == {
        "priority",
        "service",
        "group",
        "organisation",
        "month",
    }
    auditor = api.client("auditor", Role.AUDITOR)
    assert auditor.get(location).status_code == 200


def test_whatif_is_for_service_managers_and_auditors_and_refuses_bad_rules(api: Api) -> None:
    agent = api.client("siti.rahma", Role.AGENT)
    assert agent.post("/api/v1/whatif", json={}).status_code == 403
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    missing = manager.get("/api/v1/whatif/00000000-0000-4000-8000-000000000000")
    assert (missing.status_code, missing.json()["code"]) == (404, "not-found")
    cells = {i: dict.fromkeys(("high", "medium", "low"), 9) for i in ("high", "medium", "low")}
    refused = manager.post("/api/v1/whatif", json={"matrix": cells})
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid-rule")
    unknown = manager.post("/api/v1/whatif", json={"what": "ever"})
    assert (unknown.status_code, unknown.json()["code"]) == (422, "invalid-input")


def test_itsm_whatif_prints_the_table_and_writes_json_csv_and_a_chart(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    services = build(Settings(data_dir=data_dir))
    try:
        synthesise(services.desk, 80, seed=7)
        expected = run(
            services.desk, WhatIf.model_validate({"from": "2026-03-01", "to": "2026-06-30"}), AS_OF
        ).report["tickets"]
    finally:
        services.close()
    out = {name: tmp_path / name for name in ("report.json", "report.csv", "chart.svg")}
    result = CliRunner().invoke(
        main,
        [
            "whatif",
            "--data-dir",
            str(data_dir),
            "--policy",
            str(DOCS / "p2-resolution-4h.toml"),
            "--calendar",
            str(DOCS / "office-cuti-bersama-working.json"),
            "--matrix",
            str(DOCS / "matrix-medium-high-p1.json"),
            "--from",
            "2026-03-01",
            "--to",
            "2026-06-30",
            "--json",
            str(out["report.json"]),
            "--csv",
            str(out["report.csv"]),
            "--chart",
            str(out["chart.svg"]),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "compliance %" in result.output
    assert "tickets flip" in result.output
    report = orjson.loads(out["report.json"].read_bytes())
    assert report["tickets"] == expected > 0
    assert report["scenario"] == {"policy": True, "calendars": ["office"], "matrix": True}
    assert report["period"] == {"from": "2026-03-01", "to": "2026-06-30"}
    lines = out["report.csv"].read_text().splitlines()
    assert lines[0].startswith("dimension,key,record_tickets")
    assert len(lines) == 1 + 1 + len(report["rows"])
    svg = ET.parse(out["chart.svg"]).getroot()
    months = [row["key"] for row in report["rows"] if row["dimension"] == "month"]
    assert len(months) > 1
    assert all("2026-03" <= month <= "2026-06" for month in months)
    drawn = {g.get("id") for g in svg.iter("{http://www.w3.org/2000/svg}g")}
    for month in months:  # a bar a month for each side, drawn by matplotlib
        assert {f"record-{month}", f"whatif-{month}"} <= drawn


def test_itsm_whatif_names_a_bad_rule_file(tmp_path: Path) -> None:
    bad = tmp_path / "matrix.json"
    bad.write_text('{"cells": {"high": {"high": 1}}}')
    result = CliRunner().invoke(
        main, ["whatif", "--data-dir", str(tmp_path / "var"), "--matrix", str(bad)]
    )
    assert result.exit_code != 0
    assert "the matrix needs a priority for every urgency" in result.output
