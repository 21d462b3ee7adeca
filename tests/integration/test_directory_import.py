"""`itsm directory import`: people and groups from CSV through the one pipeline; a bad row is
reported with its number and reason and the good ones are kept; a changed row updates only what
differs; importing the same files again changes nothing. Through the CLI on SQLite, and through
the process on both stores."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cli.main import main
from domain import directory as d
from processes.directory_import import Outcome, import_groups, import_people
from projections import directory as views
from service.bootstrap import Services
from tests.conftest import Clock

PEOPLE = """actor_id,name,email,phone,language,organisation,roles,active
siti.rahma,Siti Rahma,Siti.Rahma@dpk-banten.example,+62 812-1000-0003,id,dpk-banten,agent,true
andi.wijaya,Andi Wijaya,andi@dpk-banten.example,,en,,resolver;agent,
,No Actor Id,nobody@dpk-banten.example,,,,,true
rudi.hartono,Rudi Hartono,not-an-address,,,,,true
eko.saputra,Eko Saputra,eko@perpus-kab-lebak.example,,,perpus-kab-lebak,,false
bad.role,Bad Role,,,,,wizard,true
"""
GROUPS = """code,name,organisation,manager,members,hours
kiosk-team,Tim Kiosk,dpk-banten,andi.wijaya,siti.rahma;andi.wijaya,library
tim-jaringan,Tim Jaringan,,siti.rahma,eko.saputra,office
tim-ghost,Tim Hantu,,,nobody,
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_an_import_keeps_the_good_rows_reports_the_bad_and_changes_nothing_again(
    tmp_path: Path,
) -> None:
    people, groups = write(tmp_path, "people.csv", PEOPLE), write(tmp_path, "groups.csv", GROUPS)
    args = ["directory", "import", "--data-dir", str(tmp_path / "var"), str(people)]

    first = CliRunner().invoke(main, [*args, "--groups", str(groups)])
    assert first.exit_code == 0, first.output
    lines = first.stdout.splitlines()
    assert lines[0] == "people: 3 registered, 0 updated, 0 unchanged, 3 refused"
    assert lines[1].startswith("  row 4 refused: actor_id")
    assert lines[2].startswith("  row 5 refused: email")
    assert lines[3].startswith("  row 7 refused: roles")
    # eko.saputra is deactivated: a group may not take him in
    assert lines[4] == "groups: 1 registered, 0 updated, 0 unchanged, 2 refused"
    assert lines[5] == "  row 3 refused: eko.saputra is deactivated: cannot join"
    assert lines[6] == "  row 4 refused: no person nobody in the directory"

    again = CliRunner().invoke(main, [*args, "--groups", str(groups)])
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines()[0] == "people: 0 registered, 0 updated, 3 unchanged, 3 refused"
    assert again.stdout.splitlines()[4] == (
        "groups: 0 registered, 0 updated, 1 unchanged, 2 refused"
    )

    missing = write(tmp_path, "bad.csv", "actor_id,name\nx,X\n")
    refused = CliRunner().invoke(main, ["directory", "import", str(missing)])
    assert refused.exit_code == 1
    assert "no column email" in refused.output


def test_a_changed_row_updates_only_what_differs(
    services: Services, clock: Clock, tmp_path: Path
) -> None:
    people = write(tmp_path, "people.csv", PEOPLE)
    groups = write(tmp_path, "groups.csv", GROUPS)
    report = import_people(services.desk, people, clock)
    assert report.counts[Outcome.REGISTERED] == 3
    assert import_groups(services.desk, groups, clock).counts[Outcome.REGISTERED] == 1

    changed = PEOPLE.replace("+62 812-1000-0003,id", "+62 812-1000-0003,en").replace(
        "perpus-kab-lebak,,false", "perpus-kab-lebak,,true"
    )
    report = import_people(services.desk, write(tmp_path, "people2.csv", changed), clock)
    assert (report.counts[Outcome.UPDATED], report.counts[Outcome.UNCHANGED]) == (2, 1)
    regrouped = GROUPS.replace("siti.rahma;andi.wijaya,library", "eko.saputra;siti.rahma,office")
    report = import_groups(services.desk, write(tmp_path, "groups2.csv", regrouped), clock)
    assert report.counts[Outcome.UPDATED] == 1  # tim-jaringan is formed now eko is active
    assert report.counts[Outcome.REGISTERED] == 1

    services.runner.catch_up()
    siti = views.person(services.views, "siti.rahma")
    eko = views.person(services.views, "eko.saputra")
    kiosk = views.group(services.views, "kiosk-team")
    assert siti is not None
    assert eko is not None
    assert kiosk is not None
    assert (siti["language"], siti["source"], eko["active"]) == ("en", "import", 1)
    assert (kiosk["members"], kiosk["hours"]) == (["eko.saputra", "siti.rahma"], "office")
    events = [e.type_name for e in services.desk.events.get(d.person_id("siti.rahma"))]
    assert events == ["Person.Registered", "Person.LanguageChosen"]
