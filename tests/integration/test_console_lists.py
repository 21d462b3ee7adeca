"""Finding records in the console, over real HTTP on SQLite and PostgreSQL (docs/console.md,
"Lists, saved filters and search"): an agent filters the incident list, keeps the filter under a
name (an event, with who and when) and deletes it; one library's staff never see another's
incidents in the list, in search or by URL; a requester's search finds their own records and
never the staff's work notes."""

from __future__ import annotations

from typing import Any

import pytest

from domain.actors import Role
from service.bootstrap import Services
from tests.console_helpers import Visit, person, text, visit
from tests.integration.conftest import Api

pytestmark = pytest.mark.usefixtures("directory")

LEBAK = "perpus-kab-lebak"
PANDEGLANG = "perpus-kab-pandeglang"


def logged(api: Api, actor: str, organisation: str, title: str, **extra: Any) -> dict[str, Any]:
    body = {
        "title": title,
        "service": "kiosks-gates",
        "impact": "low",
        "urgency": "low",
        "caller": actor,
        **extra,
    }
    made = api.client(actor, Role.AGENT, organisation=organisation).post(
        "/api/v1/incidents", json=body
    )
    assert made.status_code == 201, made.text
    row: dict[str, Any] = made.json()
    return row


def lebak_agent_with_two(
    api: Api, services: Services, visits: list[Visit]
) -> tuple[Visit, dict[str, Any], dict[str, Any]]:
    """An agent of Lebak signed in, and two of Lebak's incidents: an urgent one, a calm one."""
    person(services, "asep.lebak", [Role.AGENT], organisation=LEBAK)
    urgent = logged(api, "asep.lebak", LEBAK, "Gerbang RFID macet", impact="high", urgency="high")
    calm = logged(api, "asep.lebak", LEBAK, "Kiosk lambat mencetak struk")
    asep = visit(api, visits)
    asep.sign_in("asep.lebak")
    return asep, urgent, calm


def test_an_agent_filters_keeps_the_filter_and_deletes_it(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    asep, urgent, calm = lebak_agent_with_two(api, services, visits)

    every = asep.get("/console/incidents")
    assert every.status_code == 200
    assert urgent["ref"] in every.text
    assert calm["ref"] in every.text
    priority = urgent["priority"]
    narrowed = asep.get(f"/console/incidents?priority={priority}")
    assert urgent["ref"] in narrowed.text
    assert calm["ref"] not in narrowed.text
    worded = asep.get("/console/incidents?q=struk")  # the same full-text search as the API's
    assert calm["ref"] in worded.text
    assert urgent["ref"] not in worded.text

    saved = asep.post(
        "/console/filters", {"name": "Gawat Lebak", "priority": str(priority), "q": "ignored"}
    )
    assert saved.status_code == 200
    assert "Filter disimpan." in text(saved)
    assert "Gawat Lebak" in text(saved)
    assert urgent["ref"] in saved.text
    assert calm["ref"] not in saved.text  # the saved filter's parameters hold
    (kept,) = api.client("asep.lebak", Role.AGENT).get("/api/v1/saved-filters").json()["items"]
    assert kept["name"] == "Gawat Lebak"
    asked = {k: v for k, v in kept["query"].items() if v is not None}
    assert asked == {"priority": priority}  # words are not a filter's parameter
    assert kept["owner"] == "asep.lebak"

    # someone else's filter answers as a missing one
    person(services, "ujang.pandeglang", [Role.AGENT], organisation=PANDEGLANG)
    ujang = visit(api, visits)
    ujang.sign_in("ujang.pandeglang")
    assert ujang.get(f"/console/incidents?filter={kept['id']}").status_code == 404
    assert ujang.post(f"/console/filters/{kept['id']}/delete", {}).status_code == 404

    asep.get("/console/incidents")
    gone = asep.post(f"/console/filters/{kept['id']}/delete", {})
    assert gone.status_code == 200
    assert "Gawat Lebak" not in text(gone)
    assert api.client("asep.lebak", Role.AGENT).get("/api/v1/saved-filters").json()["items"] == []

    # a requester keeps no filters
    person(services, "budi.santoso", [Role.REQUESTER], organisation=LEBAK)
    budi = visit(api, visits)
    budi.sign_in("budi.santoso")
    assert "Simpan saringan ini" not in budi.get("/console/incidents?priority=1").text
    assert budi.post("/console/filters", {"name": "x", "priority": "1"}).status_code == 403


def test_the_filter_forms_empty_fields_mean_any_and_a_bad_address_is_said_in_words(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    asep, urgent, calm = lebak_agent_with_two(api, services, visits)
    # the filter form sends every field, those left at "any" empty
    sent = asep.get("/console/incidents?q=&status=&priority=&service=&group=")
    assert sent.status_code == 200
    assert urgent["ref"] in sent.text
    assert calm["ref"] in sent.text
    odd = asep.get("/console/whatif/not-a-job?x=1")  # a page asked with what it does not take
    assert odd.status_code == 422
    assert odd.headers["content-type"].startswith("text/html")  # a page in words, not JSON
    assert "Alamat halaman tidak sah" in text(odd)
    assert asep.get("/console/incidents?cursor=bukan-kursor").status_code == 422


def test_one_librarys_staff_never_see_anothers_incidents(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "asep.lebak", [Role.AGENT], organisation=LEBAK)
    person(services, "ujang.pandeglang", [Role.AGENT], organisation=PANDEGLANG)
    theirs = logged(api, "asep.lebak", LEBAK, "Printer kartu anggota rusak di Rangkasbitung")
    ours = logged(api, "ujang.pandeglang", PANDEGLANG, "Printer kartu anggota rusak di Pandeglang")
    ujang = visit(api, visits)
    ujang.sign_in("ujang.pandeglang")

    listed = ujang.get("/console/incidents")
    assert ours["ref"] in listed.text
    assert theirs["ref"] not in listed.text
    found = ujang.get("/console/search?q=printer kartu")
    assert ours["ref"] in found.text
    assert theirs["ref"] not in found.text
    assert "Rangkasbitung" not in found.text
    by_number = ujang.get(f"/console/search?q={theirs['ref']}")
    assert "Tidak ditemukan" in text(by_number)
    assert ujang.get(f"/console/incidents/{theirs['ref']}").status_code == 404
    assert ujang.get("/console/queue").status_code == 200
    assert theirs["ref"] not in ujang.get("/console/queue").text


def test_a_requesters_search_finds_their_own_records_and_no_work_notes(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "budi.santoso", [Role.REQUESTER], organisation=LEBAK)
    person(services, "rina.member", [Role.REQUESTER], organisation=LEBAK)
    requester = api.client("budi.santoso", Role.REQUESTER, organisation=LEBAK)
    made = requester.post(
        "/api/v1/incidents",
        json={
            "title": "Tidak bisa perpanjang pinjaman di Batupusaka",
            "service": "kiosks-gates",
            "impact": "low",
            "urgency": "low",
            "caller": "budi.santoso",
        },
    )
    assert made.status_code == 201, made.text
    own = made.json()
    other = (
        api.client("rina.member", Role.REQUESTER, organisation=LEBAK)
        .post(
            "/api/v1/incidents",
            json={
                "title": "Perpanjang pinjaman gagal lagi",
                "service": "kiosks-gates",
                "impact": "low",
                "urgency": "low",
                "caller": "rina.member",
            },
        )
        .json()
    )
    agent = api.client("asep.lebak", Role.AGENT, organisation=LEBAK)
    noted = agent.post(
        f"/api/v1/incidents/{own['id']}/add-work-note",
        json={"text": "perpanjang gagal karena token Batupusaka kedaluwarsa"},
    )
    assert noted.status_code in (200, 201), noted.text
    services.runner.catch_up()

    budi = visit(api, visits)
    budi.sign_in("budi.santoso")
    found = budi.get("/console/search?q=perpanjang")
    assert found.status_code == 200
    assert f'href="/console/incidents/{own["ref"]}"' in found.text
    assert other["ref"] not in found.text  # another member's
    assert "token" not in text(found)  # the staff's work note
    assert "<mark>" in found.text  # the words found, marked
    nothing = budi.get("/console/search?q=token")
    assert "Tidak ditemukan" in text(nothing)

    person(services, "asep.lebak", [Role.AGENT], organisation=LEBAK)
    asep = visit(api, visits)
    asep.sign_in("asep.lebak")
    staff = asep.get("/console/search?q=token")
    assert own["ref"] in staff.text  # staff search work notes too
    assert 'action="/console/search"' in staff.text  # the search box on every page
