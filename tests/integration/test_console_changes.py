"""The console's change pages over real HTTP, on SQLite and PostgreSQL (docs/console.md,
"Changes"): a CAB member finds the change awaiting their vote, approves it with a reason and it
leaves their list; a rejection without a reason is said beside the field; a requester is refused
the change pages; the calendar marks a blackout and a conflict in words. The changes are made
through the API, as tests/integration/test_changes_api.py makes them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from application.seed import seed
from console.i18n import JAKARTA
from domain.actors import Role
from service.bootstrap import Services
from tests.conftest import T0
from tests.console_helpers import Visit, person, text, version, visit
from tests.integration.conftest import Api
from tests.integration.test_changes_api import ASPECTS, WINDOW, authorised_change

pytestmark = pytest.mark.usefixtures("directory")


def change_before_the_cab(api: Api, title: str = "Ganti server OPAC") -> dict[str, Any]:
    """A normal change raised by a resolver and assessed by a change manager: its CAB (ahmad,
    yusuf, lina; a quorum of two) votes now."""
    resolver = api.client("andi.pratama", Role.RESOLVER)
    manager = api.client("rina.wati", Role.CHANGE_MANAGER)
    raised = resolver.post(
        "/api/v1/changes",
        json={"kind": "normal", "title": title, "backout_plan": "pulihkan snapshot"},
    )
    assert raised.status_code == 201, raised.text
    ref = raised.json()["ref"]
    assessed = manager.post(
        f"/api/v1/changes/{ref}/assess",
        json={
            "risk": "medium",
            "impact": "katalog mati satu jam",
            "cab": ["ahmad", "yusuf", "lina"],
            "quorum": 2,
            **ASPECTS,
        },
    )
    assert assessed.status_code == 200, assessed.text
    body: dict[str, Any] = assessed.json()
    return body


def booked_with_a_conflict_and_a_blackout(
    api: Api, services: Services
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two changes booked in one window on items that depend on each other (the second booked
    despite the clash, by a change manager), and a blackout over the same hours."""
    seed(services.desk)
    manager = api.client("rina.wati", Role.CHANGE_MANAGER)
    first = authorised_change(api, ["srv-inlislite-01"], "Patch server INLISLite")
    second = authorised_change(api, ["app-inlislite"], "Upgrade INLISLite ke 3.2")
    for change, extra in (
        (first, {}),
        (second, {"override_reason": "vendor hanya datang hari itu"}),
    ):
        booked = manager.post(
            f"/api/v1/changes/{change['ref']}/schedule",
            json={"start": WINDOW[0], "end": WINDOW[1], **extra},
        )
        assert booked.status_code == 200, booked.text
    blackout = api.client("dewi.lestari", Role.SERVICE_MANAGER).post(
        "/api/v1/changes/blackouts",
        json={
            "code": "book-fair-2026",
            "title": "Pameran buku Banten",
            "start": WINDOW[0],
            "end": WINDOW[1],
            "configuration_items": ["svc-opac"],
            "reason": "acara publik",
        },
    )
    assert blackout.status_code == 201, blackout.text
    return first, second


def test_a_cab_member_approves_with_a_reason_and_the_change_leaves_their_list(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "ahmad", [Role.CAB_MEMBER])
    change = change_before_the_cab(api)
    ref = change["ref"]
    ahmad = visit(api, visits)
    ahmad.sign_in("ahmad")

    waiting = ahmad.get("/console/changes/awaiting")
    assert waiting.status_code == 200
    assert ref in waiting.text
    assert "Ganti server OPAC" in text(waiting)
    assert "0 dari 2 persetujuan" in text(waiting)
    assert 'href="/console/changes/awaiting" aria-current="page"' in waiting.text  # the nav

    page = ahmad.get(f"/console/changes/{ref}")
    assert page.status_code == 200
    assert "Dinilai: pemungutan suara CAB" in text(page)
    assert f'action="/console/changes/{ref}/approve"' in page.text
    assert f'action="/console/changes/{ref}/reject"' in page.text
    assert f'action="/console/changes/{ref}/cancel"' not in page.text  # a CAB member votes
    approved = ahmad.post(
        f"/console/changes/{ref}/approve",
        {"version": version(ahmad), "comment": "Risiko kecil, jendela malam hari"},
    )
    assert approved.status_code == 200
    assert "Persetujuan Anda dicatat." in text(approved)
    assert "1 dari 2 persetujuan" in text(approved)
    assert "Risiko kecil, jendela malam hari" in text(approved)  # in the votes and timeline
    assert f'action="/console/changes/{ref}/approve"' not in approved.text  # voted: no more

    assert ref not in ahmad.get("/console/changes/awaiting").text
    history = api.client("rina.wati", Role.CHANGE_MANAGER).get(f"/api/v1/changes/{ref}/history")
    last = history.json()["events"][-1]
    assert (last["type"], last["actor"]) == (
        "Change.Approved",
        {"id": "ahmad", "role": "cab_member"},
    )
    assert last["data"]["comment"] == "Risiko kecil, jendela malam hari"


def test_a_rejection_needs_a_reason_and_the_domains_refusals_are_said_in_words(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "yusuf", [Role.CAB_MEMBER])
    person(services, "andi.pratama", [Role.CAB_MEMBER])
    ref = change_before_the_cab(api)["ref"]
    yusuf = visit(api, visits)
    yusuf.sign_in("yusuf")
    yusuf.get(f"/console/changes/{ref}")
    before = services.desk.recorder.max_notification_id()

    bare = yusuf.post(f"/console/changes/{ref}/reject", {"version": version(yusuf)})
    assert bare.status_code == 422
    assert 'id="reject-reason" name="reason"' in bare.text
    assert 'aria-describedby="reject-reason-error"' in bare.text
    assert "Wajib diisi." in text(bare)  # beside the field
    assert services.desk.recorder.max_notification_id() == before

    rejected = yusuf.post(
        f"/console/changes/{ref}/reject",
        {"version": version(yusuf), "reason": "Bentrok dengan pameran buku"},
    )
    assert "Penolakan Anda dicatat." in text(rejected)
    assert "Ditolak" in text(rejected)
    assert "Bentrok dengan pameran buku" in text(rejected)

    # the requester is not on the CAB; a vote they send anyway is refused by the domain, in words
    andi = visit(api, visits)
    andi.sign_in("andi.pratama")
    other = change_before_the_cab(api, "Perbarui firmware gerbang")
    andi.get(f"/console/changes/{other['ref']}")
    assert "/approve" not in andi.page  # not offered: he is not on its CAB
    refused = andi.post(
        f"/console/changes/{other['ref']}/approve", {"version": str(other["version"])}
    )
    assert refused.status_code == 409
    assert "Pemohon perubahan tidak boleh menyetujui atau menolaknya" in text(refused)


def test_a_vote_on_an_older_version_is_refused_with_what_changed(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "ahmad", [Role.CAB_MEMBER])
    person(services, "yusuf", [Role.CAB_MEMBER])
    ref = change_before_the_cab(api)["ref"]
    ahmad, yusuf = visit(api, visits), visit(api, visits)
    ahmad.sign_in("ahmad")
    yusuf.sign_in("yusuf")
    ahmad.get(f"/console/changes/{ref}")
    seen = version(ahmad)
    yusuf.get(f"/console/changes/{ref}")
    yusuf.post(f"/console/changes/{ref}/approve", {"version": version(yusuf)})

    late = ahmad.post(f"/console/changes/{ref}/approve", {"version": seen, "comment": "Setuju"})
    assert late.status_code == 409
    assert "Orang lain mengubah catatan ini" in text(late)
    assert "yusuf" in text(late)
    assert "Setuju" in late.text  # what ahmad typed is kept


def test_a_requester_and_an_auditor_are_kept_to_what_their_roles_allow(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "budi.santoso", [Role.REQUESTER])
    person(services, "audi.tor", [Role.AUDITOR])
    ref = change_before_the_cab(api)["ref"]
    budi = visit(api, visits)
    budi.sign_in("budi.santoso")
    assert budi.get(f"/console/changes/{ref}").status_code == 403
    assert budi.get("/console/changes/awaiting").status_code == 403
    assert "/console/changes/awaiting" not in budi.get("/console/my").text  # no nav link
    assert budi.get("/console/changes/calendar").status_code == 200  # the windows are public

    auditor = visit(api, visits)
    auditor.sign_in("audi.tor")
    read = auditor.get(f"/console/changes/{ref}")
    assert read.status_code == 200  # the staff read changes, an auditor among them
    assert '<form method="post" action="/console/changes/' not in read.text
    forged = auditor.post(f"/console/changes/{ref}/cancel", {"reason": "x", "version": "1"})
    assert forged.status_code == 403
    assert auditor.get("/console/changes/CHG-999999").status_code == 404


def test_a_form_without_its_csrf_token_records_no_vote(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "ahmad", [Role.CAB_MEMBER])
    ref = change_before_the_cab(api)["ref"]
    ahmad = visit(api, visits)
    ahmad.sign_in("ahmad")
    ahmad.get(f"/console/changes/{ref}")
    before = services.desk.recorder.max_notification_id()
    refused = ahmad.post(f"/console/changes/{ref}/approve", {"version": "2"}, csrf=False)
    assert refused.status_code == 403
    assert services.desk.recorder.max_notification_id() == before


def test_a_change_manager_sees_what_waits_for_them(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "rina.wati", [Role.CHANGE_MANAGER])
    resolver = api.client("andi.pratama", Role.RESOLVER)
    raised = resolver.post(
        "/api/v1/changes", json={"kind": "normal", "title": "Pasang AP baru", "backout_plan": "x"}
    ).json()
    voting = change_before_the_cab(api)
    rina = visit(api, visits)
    rina.sign_in("rina.wati")
    waiting = rina.get("/console/changes/awaiting")
    assert raised["ref"] in waiting.text
    assert "penilaian" in text(waiting)  # what it waits for: an assessment
    assert voting["ref"] not in waiting.text  # its CAB votes: nothing for her, not on it


def test_the_calendar_marks_blackouts_and_conflicts_in_words(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "rina.wati", [Role.CHANGE_MANAGER])
    first, second = booked_with_a_conflict_and_a_blackout(api, services)
    rina = visit(api, visits)
    rina.sign_in("rina.wati")
    day = (T0 + timedelta(days=2)).astimezone(JAKARTA).date()

    week = rina.get(f"/console/changes/calendar?start={day.isoformat()}")
    assert week.status_code == 200
    words = text(week)
    assert "Masa larangan" in words
    assert "Pameran buku Banten item: svc-opac" in words
    assert f"Bentrok dengan {second['ref']}" in words
    assert "Dalam masa larangan Pameran buku Banten" in words
    assert "vendor hanya datang hari itu" in words  # a manager reads why it was booked anyway
    assert 'class="change conflict"' in week.text  # marked for the eye as well
    assert "2 perubahan terjadwal dan 1 masa larangan" in words
    start = (T0 + timedelta(days=2)).astimezone(JAKARTA)
    assert f"{start.hour:02d}.{start.minute:02d}" in words  # the window in Jakarta's time
    assert "Senin" in words  # the week from its Monday
    assert 'rel="prev"' in week.text
    assert 'rel="next"' in week.text

    month = rina.get(f"/console/changes/calendar?view=month&start={day.isoformat()}")
    assert month.status_code == 200
    assert "Maret 2026" in text(month)
    assert text(month).count(first["ref"]) == 2  # its own entry, and the other's conflict
    english = rina.get(f"/console/language/en?next=/console/changes/calendar?start={day}")
    assert "Change calendar" in text(english)
    assert f"Conflict with {second['ref']}" in text(english)
    assert "Kalender perubahan" not in text(english)
    rina.get("/console/language/id?next=/console/")
    later = rina.get("/console/changes/calendar?view=month&start=2026-04-01")
    assert first["ref"] not in later.text
    assert "0 perubahan terjadwal" in text(later)

    # a requester reads the windows, not the manager's reason
    person(services, "budi.santoso", [Role.REQUESTER])
    budi = visit(api, visits)
    budi.sign_in("budi.santoso")
    public = budi.get(f"/console/changes/calendar?start={day.isoformat()}")
    assert second["ref"] in public.text
    assert "vendor hanya datang hari itu" not in public.text
    assert f'href="/console/changes/{second["ref"]}"' not in public.text
