"""The auditor's pages of the console over real HTTP, on SQLite and PostgreSQL (docs/console.md,
"The auditor's pages"): only the roles the API's audit routes admit reach them; the chain's
state is the verifier's; a record is shown as it stood at a moment typed in Jakarta's time; a
sample is drawn again by its seed; the evidence pack is a download that verifies, taken only
with the page's CSRF token."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta

import orjson
import pytest

from audit.evidence import verify_pack
from console.audit import local_moment, local_text
from domain.actors import Role
from service.bootstrap import Services
from tests.conftest import T0, Clock
from tests.console_helpers import Visit, person, text
from tests.integration.audit_tamper import Attacker
from tests.integration.conftest import Api
from tests.integration.test_api import act, new_incident

pytestmark = pytest.mark.usefixtures("directory")

PAGES = ("/console/audit", "/console/audit/records", "/console/audit/sample")


@pytest.fixture
def visits(api: Api) -> list[Visit]:
    made: list[Visit] = []
    yield made  # type: ignore[misc]
    for visit in made:
        visit.close()


def signed_in(api: Api, services: Services, visits: list[Visit], actor: str, role: Role) -> Visit:
    person(services, actor, [role])
    made = Visit(api.base_url)
    visits.append(made)
    made.sign_in(actor)
    return made


def chained(api: Api) -> None:
    assert api.services.audit is not None
    api.services.audit.ledger.catch_up()


def test_an_agent_is_refused_every_audit_page_and_the_pack(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    agent = signed_in(api, services, visits, "siti.rahma", Role.AGENT)
    for page in PAGES:
        refused = agent.get(page)
        assert refused.status_code == 403, page
        assert "Tidak diizinkan" in text(refused)
    assert agent.get("/console/audit/records?ref=INC-000001").status_code == 403
    assert 'href="/console/audit"' not in agent.get("/console/queue").text  # no link either
    agent.get("/console/queue")
    before = services.desk.recorder.max_notification_id()
    assert agent.post("/console/audit/evidence-pack", {}).status_code == 403
    assert services.desk.recorder.max_notification_id() == before  # no pack, no disclosure


def test_the_auditor_sees_the_chain_verified_and_its_last_checkpoint(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    new_incident(api.client())
    assert services.audit is not None
    signed = services.audit.ledger.checkpoint_now()
    assert signed is not None
    auditor = signed_in(api, services, visits, "auditor.bsn", Role.AUDITOR)
    home = auditor.get("/console/queue")
    assert 'href="/console/audit"' in home.text  # the nav leads there

    page = auditor.get("/console/audit")
    assert page.status_code == 200
    words = text(page)
    assert "Rantai terverifikasi" in words
    report = api.client("auditor.bsn", Role.AUDITOR).get("/api/v1/audit/verify").json()
    assert report["ok"] is True
    assert f"sampai posisi {report['ledger_head']}" in words  # as the API's verify says
    assert f"Posisi {signed.position}" in words  # the last checkpoint
    assert signed.key_id in words
    assert "Ditandatangani pada" in words
    admin = signed_in(api, services, visits, "root.admin", Role.ADMIN)
    assert admin.get("/console/audit").status_code == 200  # as the API's audit routes allow


def test_a_changed_event_shows_the_chain_broken_at_its_position(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    incident = new_incident(api.client(), title="Kios 7 mati")
    chained(api)
    reader = api.client("auditor.bsn", Role.AUDITOR)
    lines = reader.get("/api/v1/audit/events", params={"aggregate": incident["ref"]})
    position = orjson.loads(lines.content.splitlines()[0])["position"]
    with Attacker(services.settings) as attacker:
        attacker.drop_triggers()
        state = attacker.row(position)[3]
        assert b"Kios 7 mati" in state
        attacker.set_state(position, state.replace(b"Kios 7 mati", b"Kios 7 baik"))
    auditor = signed_in(api, services, visits, "auditor.bsn", Role.AUDITOR)

    page = auditor.get("/console/audit")
    assert page.status_code == 200
    assert "Rantai tidak terverifikasi." in text(page)
    assert f"Entri rusak pertama: posisi {position}." in text(page)
    assert "Rantai terverifikasi" not in text(page)


def test_a_record_as_of_a_moment_is_shown_as_it_then_stood(
    api: Api, services: Services, visits: list[Visit], clock: Clock
) -> None:
    agent = api.client()
    incident = new_incident(agent)
    clock.advance(hours=1)
    act(agent, incident["id"], "start-work").raise_for_status()
    clock.advance(hours=1)
    act(agent, incident["id"], "resolve", {"code": "fixed", "notes": "Kabel diganti"})
    auditor = signed_in(api, services, visits, "auditor.bsn", Role.AUDITOR)
    ref = incident["ref"]

    # 09:00 UTC is 16:00 in Jakarta: half an hour after it was logged, before work started
    before = auditor.get(f"/console/audit/records?ref={ref}&as_of=2026-03-02T16:00")
    assert before.status_code == 200
    assert "logged" in text(before)
    assert "Kabel diganti" not in before.text
    assert "Incident.Resolved" not in before.text
    assert '<form method="post"' not in before.text.split("<main", 1)[1]  # read-only
    now = auditor.get(f"/console/audit/records?ref={ref}")
    assert "resolved" in text(now)
    assert "Incident.Resolved" in now.text
    assert "Kabel diganti" in now.text

    early = auditor.get(f"/console/audit/records?ref={ref}&as_of=2026-03-02T15:00")
    assert early.status_code == 404
    assert "Rekaman belum ada pada saat itu." in text(early)
    missing = auditor.get("/console/audit/records?ref=INC-999999")
    assert missing.status_code == 404
    assert "Rekaman tidak ditemukan." in text(missing)
    wrong = auditor.get(f"/console/audit/records?ref={ref}&as_of=kemarin")
    assert wrong.status_code == 422
    by_id = auditor.get(f"/console/audit/records?ref={incident['id']}&as_of=2026-03-02T16:00")
    assert by_id.status_code == 200
    assert ref in by_id.text


def test_a_sample_is_the_same_for_the_same_seed_and_links_each_record_as_of_the_period_end(
    api: Api, services: Services, visits: list[Visit], clock: Clock
) -> None:
    agent = api.client()
    refs = []
    for n in range(8):
        refs.append(new_incident(agent, title=f"Gerbang {n} berbunyi")["ref"])
        clock.advance(hours=1)
    auditor = signed_in(api, services, visits, "auditor.bsn", Role.AUDITOR)
    period = f"from={local_text(T0)}&to={local_text(T0 + timedelta(hours=8))}"

    def drawn(seed: int) -> list[str]:
        page = auditor.get(f"/console/audit/sample?{period}&type=Incident&seed={seed}&n=3")
        assert page.status_code == 200, page.text
        assert f"Ditarik dengan benih {seed}" in text(page)  # the seed, to draw them again
        return re.findall(r'href="/console/audit/records\?ref=(INC-\d+)&amp;as_of=', page.text)

    first = drawn(42)
    assert len(first) == 3
    assert set(first) <= set(refs)
    assert drawn(42) == first
    assert {tuple(drawn(seed)) for seed in range(5)} != {tuple(first)}
    api_drawn = api.client("auditor.bsn", Role.AUDITOR).get(
        "/api/v1/audit/sample",
        params={"seed": 42, "n": 3, "from": T0.isoformat(), "to": (T0 + timedelta(hours=8))},
    )
    ids = [r["id"] for r in api_drawn.json()["records"]]
    rows = {
        new["ref"]: new["id"] for new in (agent.get(f"/api/v1/incidents/{r}").json() for r in first)
    }
    assert [rows[ref] for ref in first] == ids  # the same code as the API's sample

    bad = auditor.get("/console/audit/sample?seed=tujuh&n=0&type=Incident")
    assert bad.status_code == 422
    assert "Bilangan bulat" in text(bad)
    assert "Dari 1 sampai 1000." in text(bad)


def test_the_evidence_pack_downloads_with_the_pages_token_and_verifies(
    api: Api, services: Services, visits: list[Visit], clock: Clock
) -> None:
    agent = api.client()
    for n in range(3):
        new_incident(agent, title=f"Kios {n} mati")
        clock.advance(hours=1)
    chained(api)
    assert services.audit is not None
    services.audit.ledger.checkpoint_now()
    auditor = signed_in(api, services, visits, "auditor.bsn", Role.AUDITOR)
    question = f"from={local_text(T0)}&to={local_text(T0 + timedelta(hours=3))}&seed=1&n=2"
    page = auditor.get(f"/console/audit/sample?{question}&type=Incident")
    action = re.search(r'action="(/console/audit/evidence-pack\?[^"]+)"', page.text)
    assert action is not None
    address = action.group(1).replace("&amp;", "&")

    before = services.desk.recorder.max_notification_id()
    forged = auditor.post(address, {"csrf": "guessed"}, csrf=False)
    assert forged.status_code == 403
    assert services.desk.recorder.max_notification_id() == before

    pack = auditor.post(address, {})
    assert pack.status_code == 200, pack.text[:500]
    assert pack.headers["content-type"] == "application/zip"
    assert pack.headers["content-disposition"].startswith('attachment; filename="evidence-')
    report = verify_pack(io.BytesIO(pack.content), [services.audit.public_key])
    assert report.ok, report.problems
    assert report.records == 2  # the sample's records, whole
    with zipfile.ZipFile(io.BytesIO(pack.content)) as z:
        assert "manifest.sig" in z.namelist()
    disclosures = api.client("auditor.bsn", Role.AUDITOR).get(
        "/api/v1/audit/events", params={"type": "Disclosure.Recorded", "actor": "auditor.bsn"}
    )
    assert b"/console/audit/evidence-pack" in disclosures.content  # recorded as the API's is


def test_while_a_pack_is_made_the_page_says_so_in_words_and_when_to_ask_again(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    new_incident(api.client(), title="Kios 9 mati")
    chained(api)
    assert services.audit is not None
    auditor = signed_in(api, services, visits, "auditor.bsn", Role.AUDITOR)
    with services.audit.exporting:  # another pack under way
        busy = auditor.post("/console/audit/evidence-pack", {})
    assert busy.status_code == 503
    assert "Paket bukti lain sedang dibuat" in text(busy)
    assert int(busy.headers["retry-after"]) > 0
    assert auditor.post("/console/audit/evidence-pack", {}).status_code == 200


def test_moments_are_typed_in_jakartas_time() -> None:
    assert local_moment("2026-03-02T15:30") == T0  # 15:30 WIB is 08:30 UTC
    assert local_text(T0) == "2026-03-02T15:30"
    assert local_moment("") is None
    with pytest.raises(ValueError, match="not a datetime-local moment"):
        local_moment("2026-03-02 15:30+07:00")
