"""The web console over real HTTP, on SQLite and PostgreSQL (docs/console.md): signing in with the
directory's people and roles, sessions in HttpOnly Secure SameSite cookies that sign-out ends, a
CSRF token on every form and a strict Content Security Policy; an agent works an incident from
logged to resolved, a requester reads their own and nothing else, and a change made on an older
version is refused with what changed since. Every command is recorded as the API records it: the
person and role, and when."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from application.seed import seed
from domain.actors import Role
from domain.whatif import REPORTING_ZONE
from service.bootstrap import Services
from tests.conftest import Clock
from tests.console_helpers import Visit, person, text, version, visit
from tests.integration.conftest import Api
from tests.integration.test_attachments import PNG

pytestmark = pytest.mark.usefixtures("directory")

INCIDENT = {
    "title": "Kios swalayan lantai 2 mati",
    "description": "Layar hitam sejak pagi",
    "service": "kiosks-gates",
    "impact": "medium",
    "urgency": "high",
    "caller": "budi.santoso",
    "assignment_group": "kiosk-team",
}


def test_signing_in_opens_a_session_in_a_guarded_cookie_and_signing_out_ends_it(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "siti.rahma", [Role.AGENT, Role.REQUESTER])
    browser = visit(api, visits)

    first = browser.get("/", follow=False)
    assert (first.status_code, first.headers["location"]) == (303, "/console/")
    assert browser.get("/console/queue", follow=False).headers["location"] == (
        "/console/sign-in?next=%2Fconsole%2Fqueue"
    )
    page = browser.get("/console/sign-in")
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert "script-src 'self';" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"

    refused = browser.sign_in("siti.rahma", "not-her-password")
    assert refused.status_code == 401
    assert "itsm_session" not in browser.cookies
    assert "Nama pengguna atau kata sandi salah" in text(refused)

    browser.get("/console/sign-in")
    signed = browser.post(
        "/console/sign-in",
        {"actor_id": "siti.rahma", "password": "kata-sandi-uji-1", "next": "/console/"},
        follow=False,
    )
    cookie = next(h for h in signed.headers.get_list("set-cookie") if "itsm_session=" in h)
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert "SameSite=lax" in cookie
    queue = browser.get(signed.headers["location"])
    assert queue.status_code == 200
    assert "Antrean" in text(queue)  # Bahasa Indonesia unless chosen otherwise
    assert "Petugas layanan" in text(queue)  # acting as an agent, the first of her roles

    session = browser.cookies["itsm_session"]
    out = browser.post("/console/sign-out", {})
    assert out.url.path == "/console/sign-in"
    browser.cookies["itsm_session"] = session  # the old cookie, kept by someone
    assert browser.get("/console/queue", follow=False).status_code == 303  # ended for good


def test_a_form_without_its_csrf_token_or_from_another_site_is_refused_and_records_nothing(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "siti.rahma", [Role.AGENT])
    browser = visit(api, visits)
    browser.sign_in("siti.rahma")
    browser.get("/console/incidents/new")
    before = services.desk.recorder.max_notification_id()

    without = browser.post("/console/incidents/new", INCIDENT, csrf=False)
    assert without.status_code == 403
    assert "Formulir ditolak" in text(without)
    forged = browser.post("/console/incidents/new", {**INCIDENT, "csrf": "guessed"}, csrf=False)
    assert forged.status_code == 403
    elsewhere = browser.post(
        "/console/incidents/new", INCIDENT, headers={"Origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 403
    assert services.desk.recorder.max_notification_id() == before  # nothing was recorded


def test_an_agent_works_an_incident_from_logged_to_resolved(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "siti.rahma", [Role.AGENT])
    browser = visit(api, visits)
    browser.sign_in("siti.rahma")
    browser.get("/console/incidents/new")

    logged = browser.post("/console/incidents/new", INCIDENT)
    assert logged.status_code == 200
    ref = logged.url.path.rsplit("/", 1)[-1]
    assert ref.startswith("INC-")
    assert "Insiden dicatat." in text(logged)
    assert "Ditugaskan" in text(logged)
    queue = browser.get("/console/queue?group=kiosk-team")
    assert ref in queue.text
    assert "Berjalan" in text(queue)  # its SLA clock, at a glance

    browser.get(f"/console/incidents/{ref}")
    started = browser.post(f"/console/incidents/{ref}/start-work", {"version": version(browser)})
    assert "Pekerjaan dimulai." in text(started)
    missing = browser.post(f"/console/incidents/{ref}/resolve", {"version": version(browser)})
    assert missing.status_code == 422  # the code and notes are wanted: said beside them
    assert "Wajib diisi." in text(missing)
    resolved = browser.post(
        f"/console/incidents/{ref}/resolve",
        {"version": version(browser), "code": "fixed", "notes": "Kabel jaringan diganti"},
    )
    assert "Insiden diselesaikan." in text(resolved)
    assert "Selesai" in text(resolved)
    assert "Kabel jaringan diganti" in text(resolved)

    agent = api.client("siti.rahma", Role.AGENT)
    history = agent.get(f"/api/v1/incidents/{ref}/history").json()["events"]
    assert [e["type"] for e in history][-2:] == ["Incident.WorkStarted", "Incident.Resolved"]
    assert {(e["actor"]["id"], e["actor"]["role"]) for e in history} == {("siti.rahma", "agent")}


def test_a_change_made_on_an_older_version_is_refused_with_what_changed_since(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "siti.rahma", [Role.AGENT])
    person(services, "andi.wijaya", [Role.AGENT])
    siti, andi = visit(api, visits), visit(api, visits)
    siti.sign_in("siti.rahma")
    andi.sign_in("andi.wijaya")
    siti.get("/console/incidents/new")
    ref = siti.post("/console/incidents/new", INCIDENT).url.path.rsplit("/", 1)[-1]

    andi.get(f"/console/incidents/{ref}")
    seen = version(andi)
    siti.get(f"/console/incidents/{ref}")
    siti.post(f"/console/incidents/{ref}/start-work", {"version": version(siti)})
    late = andi.post(
        f"/console/incidents/{ref}/add-comment", {"version": seen, "text": "Sudah dicek?"}
    )
    assert late.status_code == 409
    assert "Orang lain mengubah catatan ini" in text(late)
    assert "mulai dikerjakan" in text(late)  # what changed: siti started work
    assert "Sudah dicek?" in late.text  # what andi typed is still in the form


def test_a_requester_reads_their_own_incident_and_no_one_elses(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "siti.rahma", [Role.AGENT])
    person(services, "budi.santoso", [Role.REQUESTER])
    person(services, "rina.anggota", [Role.REQUESTER])
    agent, budi, rina = visit(api, visits), visit(api, visits), visit(api, visits)
    agent.sign_in("siti.rahma")
    agent.get("/console/incidents/new")
    ref = agent.post("/console/incidents/new", INCIDENT).url.path.rsplit("/", 1)[-1]
    agent.get(f"/console/incidents/{ref}")
    agent.post(
        f"/console/incidents/{ref}/add-work-note",
        {"version": version(agent), "text": "Catatan internal: vendor lambat"},
    )

    budi.sign_in("budi.santoso")
    own = budi.get(f"/console/incidents/{ref}")
    assert own.status_code == 200
    assert "Kios swalayan lantai 2 mati" in text(own)
    assert "vendor lambat" not in own.text  # an internal note never reaches the caller
    assert budi.get("/console/queue").status_code == 403  # a queue is the staff's

    rina.sign_in("rina.anggota")
    other = rina.get(f"/console/incidents/{ref}")
    assert other.status_code == 404  # as if it did not exist
    assert ref not in rina.get("/console/my").text


def test_the_console_speaks_english_by_choice(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "siti.rahma", [Role.AGENT])
    browser = visit(api, visits)
    browser.sign_in("siti.rahma")
    english = browser.get("/console/language/en?next=/console/queue")
    assert english.url.path == "/console/queue"
    assert "Queue" in text(english)
    assert "Sign out" in text(english)
    assert "Antrean" not in text(english)


def test_the_dashboard_shows_the_service_reports_figures_and_hands_out_the_reports(
    api: Api, services: Services, visits: list[Visit], clock: Clock
) -> None:
    person(services, "siti.rahma", [Role.AGENT])
    person(services, "dewi.lestari", [Role.SERVICE_MANAGER])
    agent = api.client("siti.rahma", Role.AGENT)
    for n in range(3):
        logged = agent.post("/api/v1/incidents", json={**INCIDENT, "title": f"Kios {n} mati"})
        assert logged.status_code == 201, logged.text
    clock.advance(days=1)  # the dashboard shows days that have ended

    staff = visit(api, visits)
    staff.sign_in("siti.rahma")
    assert staff.get("/console/dashboard").status_code == 403  # an agent reads no reports

    manager = visit(api, visits)
    manager.sign_in("dewi.lestari")
    page = manager.get("/console/dashboard")
    assert page.status_code == 200
    today = clock.now.astimezone(REPORTING_ZONE).date()
    first, last = today - timedelta(days=30), today - timedelta(days=1)
    report = api.client("dewi.lestari", Role.SERVICE_MANAGER).get(
        "/api/v1/reports/incidents", params={"from": str(first), "to": str(last)}
    )
    figures = report.json()["total"]
    assert figures["logged"] == 3
    shown = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", page.text))
    assert shown["Insiden yang dicatat dalam periode"] == "3"  # the report's own definition
    assert page.text.count('<img src="data:image/svg+xml;base64,') == 4  # charts, by matplotlib

    pdf = manager.get(f"/console/reports/incidents?from={first}&to={last}&format=pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert manager.get("/console/dashboard?from=2026-01-10&to=2026-01-01").status_code == 422


def test_a_caller_confirms_the_resolution_and_rates_it_once_from_the_link_they_were_sent(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "budi.santoso", [Role.REQUESTER])
    agent = api.client("siti.rahma", Role.AGENT)
    ref = agent.post("/api/v1/incidents", json=INCIDENT).json()["ref"]
    for step, body in (("start-work", None), ("resolve", {"code": "fixed", "notes": "Beres."})):
        assert agent.post(f"/api/v1/incidents/{ref}/{step}", json=body).status_code == 200

    budi = visit(api, visits)
    budi.sign_in("budi.santoso")
    resolved = budi.get(f"/console/incidents/{ref}")
    assert 'action="/console/incidents/' + ref + '/confirm"' in resolved.text
    closed = budi.post(f"/console/incidents/{ref}/confirm", {"version": version(budi)})
    assert "penyelesaian dikonfirmasi" in text(closed)
    assert '<details id="rating"' in closed.text  # where the closure e-mail's #rating leads

    rated = budi.post(
        f"/console/incidents/{ref}/rating",
        {"version": version(budi), "score": "5", "comment": "Cepat sekali"},
    )
    assert "Terima kasih atas penilaian Anda." in text(rated)
    again = budi.post(f"/console/incidents/{ref}/rating", {"version": version(budi), "score": "1"})
    assert again.status_code == 409
    history = agent.get(f"/api/v1/incidents/{ref}/history").json()["events"]
    assert [e["data"]["score"] for e in history if e["type"] == "Incident.Rated"] == [5]


ARTICLE = {
    "title": "Kios menelan kartu anggota",
    "body": "Nyalakan ulang kios dari panel belakang kiri.\n\nKartu jatuh ke baki bawah.",
    "service": "kiosks-gates",
    "keywords": ["kios", "kartu anggota"],
}


def test_a_requester_typing_a_title_is_shown_the_published_articles_that_match_it(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "budi.santoso", [Role.REQUESTER])
    author, reviewer = api.client("siti.rahma", Role.AGENT), api.client("andi.wijaya", Role.AGENT)
    published = author.post("/api/v1/knowledge-articles", json=ARTICLE).json()["ref"]
    author.post(f"/api/v1/knowledge-articles/{published}/submit-for-review")
    assert reviewer.post(f"/api/v1/knowledge-articles/{published}/publish").status_code == 200
    draft = author.post(
        "/api/v1/knowledge-articles", json={**ARTICLE, "title": "Kartu anggota: catatan draf"}
    ).json()["ref"]

    budi = visit(api, visits)
    budi.sign_in("budi.santoso")
    suggested = budi.get("/console/suggestions?q=kartu anggota tertelan")
    assert f'href="/console/knowledge/{published}"' in suggested.text
    assert draft not in suggested.text  # a draft is the staff's
    assert budi.get("/console/suggestions?q=ka").text.strip() == ""  # too short to ask
    page = budi.get(f"/console/knowledge/{published}")
    assert "Kartu jatuh ke baki bawah." in text(page)
    assert budi.get(f"/console/knowledge/{draft}").status_code == 404

    staff = visit(api, visits)
    person(services, "siti.rahma", [Role.AGENT])
    staff.sign_in("siti.rahma")
    assert draft in staff.get("/console/suggestions?q=kartu anggota catatan").text


def test_a_requester_asks_for_a_catalogue_item_and_follows_it_to_closed(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    seed(services.desk)  # the catalogue's items
    services.runner.catch_up()
    person(services, "budi.santoso", [Role.REQUESTER])
    person(services, "rina.anggota", [Role.REQUESTER])
    person(services, "siti.rahma", [Role.AGENT])
    budi, rina, siti = visit(api, visits), visit(api, visits), visit(api, visits)
    budi.sign_in("budi.santoso")
    form = budi.get("/console/requests/new")
    assert 'value="card-reprint"' in form.text
    missing = budi.post("/console/requests/new", {"title": "Kartu hilang"})
    assert missing.status_code == 422  # no item chosen: said, nothing recorded
    asked = budi.post(
        "/console/requests/new",
        {"catalogue_item": "card-reprint", "title": "Kartu hilang", "details": "Di bus"},
    )
    ref = asked.url.path.rsplit("/", 1)[-1]
    assert ref.startswith("REQ-")
    assert "Permintaan diajukan." in text(asked)
    assert ref in budi.get("/console/my").text
    budi.get(f"/console/requests/{ref}")
    staff_only = budi.post(f"/console/requests/{ref}/start-fulfilment", {"version": version(budi)})
    assert staff_only.status_code == 404  # a requester sends only what the API lets them

    rina.sign_in("rina.anggota")
    assert rina.get(f"/console/requests/{ref}").status_code == 404  # another's: as if missing

    siti.sign_in("siti.rahma")
    siti.get(f"/console/requests/{ref}")
    started = siti.post(f"/console/requests/{ref}/start-fulfilment", {"version": version(siti)})
    assert "Pemenuhan dimulai." in text(started)
    early = siti.post(f"/console/requests/{ref}/fulfil", {"version": version(siti), "notes": "x"})
    assert early.status_code == 409  # its steps are not all done: refused in words
    steps = api.client().get("/api/v1/catalogue-items/card-reprint").json()["steps"]
    for step in range(1, len(steps) + 1):
        done = siti.post(
            f"/console/requests/{ref}/complete-step", {"version": version(siti), "step": step}
        )
        assert "Langkah dicatat selesai." in text(done)
    fulfilled = siti.post(
        f"/console/requests/{ref}/fulfil", {"version": version(siti), "notes": "Dicetak ulang"}
    )
    assert "Permintaan dipenuhi." in text(fulfilled)

    budi.get(f"/console/requests/{ref}")
    closed = budi.post(f"/console/requests/{ref}/close", {"version": version(budi)})
    assert "Ditutup" in text(closed)
    rated = budi.post(f"/console/requests/{ref}/rating", {"version": version(budi), "score": "4"})
    assert "Terima kasih atas penilaian Anda." in text(rated)


def test_guessing_a_password_is_slowed_as_the_apis_gate_slows_guessed_tokens(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "siti.rahma", [Role.AGENT])
    limit = int(services.settings.address_failure_limit.split("/")[0])
    guesser = visit(api, visits)
    for n in range(limit):
        assert guesser.sign_in("siti.rahma", f"tebakan-{n}").status_code == 401
    stopped = guesser.sign_in("siti.rahma", "kata-sandi-uji-1")  # even the right one, for now
    assert stopped.status_code == 429
    assert int(stopped.headers["retry-after"]) >= 1
    assert "Terlalu banyak percobaan" in text(stopped)
    assert "itsm_session" not in guesser.cookies


def test_an_agent_works_a_problem_from_logged_to_a_known_error_in_the_console(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    seed(services.desk)
    services.runner.catch_up()
    person(services, "siti.rahma", [Role.AGENT])
    person(services, "budi.santoso", [Role.REQUESTER])
    logged = api.client("siti.rahma", Role.AGENT).post(
        "/api/v1/problems",
        json={"title": "Perpanjangan daring gagal untuk anggota berdenda", "service": "batupusaka"},
    )
    ref = logged.json()["ref"]

    siti = visit(api, visits)
    siti.sign_in("siti.rahma")
    assert ref in siti.get("/console/problems").text  # the open problems, by priority
    siti.get(f"/console/problems/{ref}")
    started = siti.post(f"/console/problems/{ref}/start-investigation", {"version": version(siti)})
    assert "Penyelidikan dimulai." in text(started)
    early = siti.post(
        f"/console/problems/{ref}/publish-known-error",
        {"version": version(siti), "symptoms": "Tombol perpanjang diam"},
    )
    assert early.status_code == 409  # no root cause yet: the domain's refusal, in words
    cause = siti.post(
        f"/console/problems/{ref}/record-root-cause",
        {"version": version(siti), "root_cause": "API menolak denda di bawah Rp 1.000"},
    )
    assert "Akar penyebab dicatat." in text(cause)
    known = siti.post(
        f"/console/problems/{ref}/publish-known-error",
        {"version": version(siti), "symptoms": "Tombol perpanjang diam"},
    )
    assert "Galat yang diketahui" in text(known)
    assert "API menolak denda di bawah Rp 1.000" in text(known)

    budi = visit(api, visits)
    budi.sign_in("budi.santoso")
    assert budi.get(f"/console/problems/{ref}").status_code == 403  # the staff's, as over the API
    assert budi.get("/console/problems").status_code == 403


def test_files_are_attached_and_downloaded_on_a_records_page_within_its_reach(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "budi.santoso", [Role.REQUESTER])
    person(services, "siti.rahma", [Role.AGENT])
    agent = api.client("siti.rahma", Role.AGENT)
    ref = agent.post("/api/v1/incidents", json=INCIDENT).json()["ref"]

    budi = visit(api, visits)
    budi.sign_in("budi.santoso")
    budi.get(f"/console/incidents/{ref}")
    attached = budi.upload(f"/console/incidents/{ref}/files", "kartu.png", PNG)
    assert attached.status_code == 303
    page = budi.get(attached.headers["location"])
    assert "Berkas dilampirkan." in text(page)
    [link] = re.findall(rf'href="(/console/incidents/{ref}/files/[^"]+)"', page.text)
    download = budi.get(link)
    assert download.content == PNG
    assert download.headers["content-disposition"].startswith("attachment;")

    siti = visit(api, visits)
    siti.sign_in("siti.rahma")
    siti.get(f"/console/incidents/{ref}")
    internal = siti.upload(
        f"/console/incidents/{ref}/files", "catatan-vendor.png", PNG, internal="on"
    )
    assert internal.status_code == 303
    assert "catatan-vendor.png" in siti.get(f"/console/incidents/{ref}").text
    assert "catatan-vendor.png" not in budi.get(f"/console/incidents/{ref}").text  # staff's only
    refused = siti.upload(f"/console/incidents/{ref}/files", "skrip.exe", b"MZ\x90\x00 program")
    assert refused.status_code == 415
    assert "Jenis berkas tidak diterima" in text(refused)
    forged = budi.upload(f"/console/incidents/{ref}/files", "lagi.png", PNG, csrf="guessed")
    assert forged.status_code == 403


def test_staff_remove_a_file_for_privacy_saying_why_and_its_hash_stays(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "budi.santoso", [Role.REQUESTER])
    person(services, "siti.rahma", [Role.AGENT])
    ref = (
        api.client("siti.rahma", Role.AGENT).post("/api/v1/incidents", json=INCIDENT).json()["ref"]
    )
    budi = visit(api, visits)
    budi.sign_in("budi.santoso")
    budi.get(f"/console/incidents/{ref}")
    budi.upload(f"/console/incidents/{ref}/files", "kartu-anggota.png", PNG)
    page = budi.get(f"/console/incidents/{ref}")
    [link] = re.findall(rf'href="(/console/incidents/{ref}/files/[^"]+)"', page.text)
    file_id = link.rsplit("/", 1)[1]
    assert "/remove" not in page.text  # a caller removes nothing
    assert budi.post(f"{link}/remove", {"reason": "salah unggah"}).status_code == 403

    siti = visit(api, visits)
    siti.sign_in("siti.rahma")
    shown = siti.get(f"/console/incidents/{ref}")
    assert f'action="{link}/remove"' in shown.text
    unsaid = siti.post(f"{link}/remove", {"reason": "  "})
    assert unsaid.status_code == 422
    assert "Sebutkan alasannya" in text(unsaid)
    assert budi.get(link).content == PNG  # nothing removed

    gone = siti.post(f"{link}/remove", {"reason": "Foto memuat nomor kartu anggota"})
    assert gone.status_code == 200
    assert "Berkas dihapus untuk privasi" in text(gone)
    assert "kartu-anggota.png (dihapus demi privasi)" in text(gone)
    assert budi.get(link).status_code == 410  # the bytes are gone for everyone
    listed = api.client("siti.rahma", Role.AGENT).get(f"/api/v1/incidents/{ref}/attachments")
    (row,) = [a for a in listed.json()["items"] if a["id"] == file_id]
    assert row["removed"] is not None
    assert row["sha256"]  # its hash stays on record
    again = siti.post(f"{link}/remove", {"reason": "lagi"})
    assert again.status_code == 409
