"""An imported history reproduces its source's figures: a fixed slice of the UCI ServiceNow log,
its figures computed here from the raw rows (not by the importer's code), against what the
service then shows; and every row read is accounted for in the summary."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.incident import SlaBreached, SlaWarned
from processes.import_mapping import shipped
from processes.importer import incident_id
from processes.sla_watch import SlaWatcher
from projections import incident_details
from service.bootstrap import Services
from tests.integration.test_imports import UCI, head_of, run

#: The fixed slice: the log's first 3,000 rows (447 cases, 7 reopens, all closed).
SLICE = 3000
OPEN = {"New", "Active", "Awaiting User Info", "Awaiting Evidence", "Awaiting Vendor"}
OPEN |= {"Awaiting Problem"}
FINISHED = {"Resolved", "Closed"}


def when(text: str) -> datetime:
    return datetime.strptime(text, "%d/%m/%Y %H:%M").replace(tzinfo=UTC)


@dataclass
class Case:
    """One case's figures, as the source's rows give them."""

    opened: datetime
    state: str  # the last row's incident_state
    priority: int  # the last row's priority ("4 - Low" -> 4)
    resolved: datetime | None  # the last move from an open state to Resolved or Closed
    closed: datetime | None  # the last Closed row (ServiceNow's closed_at)
    reopens: int  # moves from Resolved or Closed back to an open state
    resolved_at: datetime | None  # the source's own column


def figures(path: Path) -> dict[str, Case]:
    with path.open(newline="") as f:
        by_case: dict[str, list[dict[str, str]]] = defaultdict(list)
        for row in csv.DictReader(f):
            if row["incident_state"] != "-100":  # junk (the mapping refuses it, counted)
                by_case[row["number"]].append(row)
    out = {}
    for case, rows in by_case.items():
        rows.sort(key=lambda r: (when(r["sys_updated_at"]), int(r["sys_mod_count"])))
        states = [r["incident_state"] for r in rows]
        resolved = closed = None
        reopens = 0
        previous = "New"
        for row, state in zip(rows, states, strict=True):
            moment = when(row["sys_updated_at"])
            if previous in OPEN and state in FINISHED:
                resolved = moment
            if previous in FINISHED and state in OPEN:
                reopens += 1
            if state == "Closed":
                closed = moment
            previous = state
        out[case] = Case(
            opened=min(when(rows[0]["opened_at"]), when(rows[0]["sys_updated_at"])),
            state=states[-1],
            priority=int(rows[-1]["priority"][0]),
            resolved=resolved,
            closed=closed,
            reopens=reopens,
            resolved_at=None if rows[-1]["resolved_at"] == "?" else when(rows[-1]["resolved_at"]),
        )
    return out


OUR_STATE = {
    "New": "new",
    "Active": "in_progress",
    "Awaiting User Info": "on_hold",
    "Awaiting Evidence": "on_hold",
    "Awaiting Vendor": "on_hold",
    "Awaiting Problem": "on_hold",
    "Resolved": "resolved",
    "Closed": "closed",
}


def moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def test_a_slice_of_the_uci_log_shows_the_figures_its_rows_give(
    services: Services, tmp_path: Path
) -> None:
    path = head_of(UCI, SLICE, tmp_path / "uci.csv")
    source = figures(path)
    report = run(services, shipped("servicenow"), path, batch=100)
    assert report.rows == SLICE
    assert report.unaccounted() == 0
    assert report.imported == report.cases == len(source)
    services.runner.catch_up()
    views = services.views.rows(incident_details)
    shown = {case: views[str(incident_id("servicenow", case))] for case in source}

    def state(row: dict[str, object]) -> str:
        return "new" if row["state"] in ("logged", "assigned") else str(row["state"])

    assert Counter(state(r) for r in shown.values()) == Counter(
        OUR_STATE[c.state] for c in source.values()
    )
    assert Counter(r["priority"] for r in shown.values()) == Counter(
        c.priority for c in source.values()
    )
    assert {k: r["priority"] for k, r in shown.items()} == {
        k: c.priority for k, c in source.items()
    }
    assert sum(r["reopen_count"] for r in shown.values()) == sum(c.reopens for c in source.values())
    assert {k: r["reopen_count"] for k, r in shown.items()} == {
        k: c.reopens for k, c in source.items()
    }
    assert {k: moment(r["closure"] and r["closure"]["at"]) for k, r in shown.items()} == {
        k: c.closed for k, c in source.items()
    }
    hours = {
        k: (moment(r["resolution"]["at"]) - moment(r["logged_at"])).total_seconds() / 3600
        for k, r in shown.items()
        if r["resolution"]
    }
    assert hours == {
        k: (c.resolved - c.opened).total_seconds() / 3600 for k, c in source.items() if c.resolved
    }
    # where the source's resolved_at is not the row where the state became resolved, or missing,
    # the summary says so, case by case
    resolved = [c for c in source.values() if c.resolved]
    differs = sum(1 for c in resolved if c.resolved_at and c.resolved_at != c.resolved)
    missing = sum(1 for c in resolved if c.resolved_at is None)
    said = report.approximated
    assert differs > 0
    assert (
        said[
            "resolved_at in the source differs: resolved at the row where the state became resolved"
        ]
        == differs
    )
    assert missing > 0
    assert (
        said["no resolved_at in the source: resolved at its first row (0 h)"]
        + said["no resolved_at in the source: resolved at the row where the state became resolved"]
        == missing
    )
    # a figure the test knows: the slice has 7 reopens (one back to New), every one applied
    assert sum(c.reopens for c in source.values()) == 7


def test_the_summary_adds_up_to_the_rows_read_and_says_so(
    services: Services, tmp_path: Path
) -> None:
    path = head_of(UCI, SLICE, tmp_path / "uci.csv")
    first = run(services, shipped("servicenow"), path, batch=100)
    again = run(services, shipped("servicenow"), path, batch=100)
    for report in (first, again):
        assert report.unaccounted() == 0
        assert f"= {SLICE:,} of {SLICE:,} read" in report.lines()[2]
    assert again.already_rows == SLICE


def test_the_sla_watcher_appends_nothing_to_an_imported_incident_left_open(
    services: Services, tmp_path: Path
) -> None:
    # INC0000047's first three rows: New, Active, Active; the rest of its history cut off
    whole = head_of(UCI, 8, tmp_path / "head.csv").read_text().splitlines(keepends=True)
    path = tmp_path / "open.csv"
    path.write_text("".join([whole[0], *whole[5:8]]))
    report = run(services, shipped("servicenow"), path)
    assert report.unfinished == {"in_progress": 1}
    services.runner.catch_up()
    assert SlaWatcher(services).tick().recorded == 0
    history = services.desk.history(incident_id("servicenow", "INC0000047"))
    assert not [e for e in history if isinstance(e, SlaWarned | SlaBreached)]


@pytest.fixture(autouse=True)
def _sqlite_only(backend: str) -> None:
    # the import itself runs on both backends in test_imports.py; these check figures
    if backend != "sqlite":
        pytest.skip("figures are checked once, on SQLite")
