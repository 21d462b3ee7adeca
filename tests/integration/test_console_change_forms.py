"""The console's forms that ask for lists, groups and moments, over real HTTP on SQLite and
PostgreSQL (docs/console.md, "Forms"): a change manager assesses a change (its CAB one name a
line, each aspect a group of its own) and schedules it (a date and time in Jakarta's wall clock);
a service manager declares a blackout window on the calendar and withdraws it. A rule across the
fields is said above them in words, what was typed kept, and nothing is recorded."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from application.seed import seed
from console.i18n import JAKARTA
from domain.actors import Role
from service.bootstrap import Services
from tests.conftest import T0
from tests.console_helpers import Visit, person, text, version, visit
from tests.integration.conftest import Api
from tests.integration.test_changes_api import authorised_change

pytestmark = pytest.mark.usefixtures("directory")

#: How a browser's date-and-time input sends a moment: Jakarta's wall clock, no zone.
WALL_CLOCK = "%Y-%m-%dT%H:%M"


def typed(moment_offset: timedelta) -> str:
    return (T0 + moment_offset).astimezone(JAKARTA).strftime(WALL_CLOCK)


def raised(api: Api) -> str:
    made = api.client("andi.pratama", Role.RESOLVER).post(
        "/api/v1/changes",
        json={"kind": "normal", "title": "Ganti switch lantai 2", "backout_plan": "pasang lagi"},
    )
    assert made.status_code == 201, made.text
    ref: str = made.json()["ref"]
    return ref


ASSESSMENT = {
    "risk": "medium",
    "impact": "Jaringan lantai 2 mati setengah jam",
    "cab": "ahmad\n yusuf \n\nlina\n",
    "quorum": "2",
    "continuity.level": "low",
    "availability.level": "medium",
    "availability.note": "mati selama jendela",
    "security.level": "none",
    "tests": "uji ping semua meja\nuji kiosk",
}


def test_a_change_manager_assesses_a_change_with_its_cab_and_aspects(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "rina.wati", [Role.CHANGE_MANAGER])
    ref = raised(api)
    rina = visit(api, visits)
    rina.sign_in("rina.wati")
    page = rina.get(f"/console/changes/{ref}")
    assert f'action="/console/changes/{ref}/assess"' in page.text
    assert "<legend>Kelangsungan layanan</legend>" in page.text  # an aspect is a group
    assert 'name="continuity.level"' in page.text
    assert 'id="assess-cab" name="cab"' in page.text  # the CAB: a text area, a name a line
    before = services.desk.recorder.max_notification_id()

    too_many = rina.post(
        f"/console/changes/{ref}/assess", {**ASSESSMENT, "quorum": "4", "version": version(rina)}
    )
    assert too_many.status_code == 422
    assert "kuorum tidak lebih dari jumlah anggota CAB" in text(too_many)  # above the fields
    assert "Jaringan lantai 2 mati setengah jam" in too_many.text  # what was typed, kept
    assert services.desk.recorder.max_notification_id() == before

    missing = dict(ASSESSMENT)
    del missing["security.level"]
    unsaid = rina.post(f"/console/changes/{ref}/assess", {**missing, "version": version(rina)})
    assert unsaid.status_code == 422
    assert 'aria-describedby="assess-security-level-error"' in unsaid.text  # beside its field

    assessed = rina.post(f"/console/changes/{ref}/assess", {**ASSESSMENT, "version": version(rina)})
    assert assessed.status_code == 200
    assert "Penilaian dicatat" in text(assessed)
    read = api.client("rina.wati", Role.CHANGE_MANAGER).get(f"/api/v1/changes/{ref}").json()
    assessment = read["assessment"]
    assert assessment["cab"] == ["ahmad", "yusuf", "lina"]  # one a line, blank lines dropped
    assert assessment["quorum"] == 2
    assert assessment["availability"] == {"level": "medium", "note": "mati selama jendela"}
    assert assessment["security"] == {"level": "none", "note": None}
    assert [t["name"] for t in read["tests"]] == ["uji ping semua meja", "uji kiosk"]


def test_a_change_manager_schedules_in_jakartas_wall_clock(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "rina.wati", [Role.CHANGE_MANAGER])
    seed(services.desk)  # the configuration items
    ref = authorised_change(api, ["srv-inlislite-01"], "Patch server INLISLite")["ref"]
    rina = visit(api, visits)
    rina.sign_in("rina.wati")
    page = rina.get(f"/console/changes/{ref}")
    assert 'id="schedule-start" name="start" type="datetime-local"' in page.text
    start, end = typed(timedelta(days=3)), typed(timedelta(days=3, hours=2))

    backwards = rina.post(
        f"/console/changes/{ref}/schedule", {"start": end, "end": start, "version": version(rina)}
    )
    assert backwards.status_code == 422
    assert "Waktu selesai harus sesudah waktu mulai." in text(backwards)
    garbled = rina.post(
        f"/console/changes/{ref}/schedule",
        {"start": "besok pagi", "end": end, "version": version(rina)},
    )
    assert garbled.status_code == 422
    assert 'aria-describedby="schedule-start-error"' in garbled.text
    assert "Isi tanggal dan jam" in text(garbled)

    booked = rina.post(
        f"/console/changes/{ref}/schedule", {"start": start, "end": end, "version": version(rina)}
    )
    assert booked.status_code == 200
    assert "Jendela waktu perubahan dijadwalkan." in text(booked)
    read = api.client("rina.wati", Role.CHANGE_MANAGER).get(f"/api/v1/changes/{ref}").json()
    # the wall clock typed in Jakarta is the moment booked
    booked_start = datetime.fromisoformat(read["window"]["start"])
    assert booked_start == (T0 + timedelta(days=3)).replace(second=0, microsecond=0)


def test_a_service_manager_declares_and_withdraws_a_blackout_on_the_calendar(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "dewi.lestari", [Role.SERVICE_MANAGER])
    person(services, "rina.wati", [Role.CHANGE_MANAGER])
    seed(services.desk)  # the configuration items
    day = (T0 + timedelta(days=5)).astimezone(JAKARTA).date().isoformat()
    dewi = visit(api, visits)
    dewi.sign_in("dewi.lestari")
    calendar = dewi.get(f"/console/changes/calendar?start={day}")
    assert 'action="/console/changes/blackouts"' in calendar.text
    blackout = {
        "code": "stock-opname-2026",
        "title": "Stock opname koleksi",
        "start": typed(timedelta(days=5)),
        "end": typed(timedelta(days=6)),
        "configuration_items": "app-inlislite\nsrv-inlislite-01",
        "reason": "Semua petugas menghitung koleksi",
    }

    backwards = dewi.post(
        "/console/changes/blackouts", {**blackout, "end": typed(timedelta(days=4))}
    )
    assert backwards.status_code == 422
    assert "Waktu selesai harus sesudah waktu mulai." in text(backwards)
    assert "Semua petugas menghitung koleksi" in backwards.text

    declared = dewi.post("/console/changes/blackouts", blackout)
    assert declared.status_code == 200
    assert "Masa larangan ditetapkan." in text(declared)
    assert "Stock opname koleksi" in text(declared)  # in the week it starts
    json = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    period = {
        "from": (T0 + timedelta(days=4)).isoformat(),
        "to": (T0 + timedelta(days=8)).isoformat(),
    }
    (held,) = json.get("/api/v1/changes/calendar", params=period).json()["blackouts"]
    assert held["configuration_items"] == ["app-inlislite", "srv-inlislite-01"]

    # a change manager reads the blackout but neither declares nor withdraws one
    rina = visit(api, visits)
    rina.sign_in("rina.wati")
    theirs = rina.get(f"/console/changes/calendar?start={day}")
    assert "Stock opname koleksi" in text(theirs)
    assert "/console/changes/blackouts" not in theirs.text
    assert rina.post("/console/changes/blackouts", blackout).status_code == 403
    assert (
        rina.post(
            "/console/changes/blackouts/stock-opname-2026/withdraw", {"reason": "x"}
        ).status_code
        == 403
    )

    dewi.get(f"/console/changes/calendar?start={day}")
    unsaid = dewi.post(f"/console/changes/blackouts/stock-opname-2026/withdraw?start={day}", {})
    assert unsaid.status_code == 422
    assert 'aria-describedby="withdraw-blackout-stock-opname-2026-reason-error"' in unsaid.text
    withdrawn = dewi.post(
        f"/console/changes/blackouts/stock-opname-2026/withdraw?start={day}",
        {"reason": "Stock opname diundur ke Februari"},
    )
    assert withdrawn.status_code == 200
    assert "Masa larangan dicabut." in text(withdrawn)
    assert json.get("/api/v1/changes/calendar", params=period).json()["blackouts"] == []
    history = json.get("/api/v1/changes/calendar", params=period)
    assert history.status_code == 200
