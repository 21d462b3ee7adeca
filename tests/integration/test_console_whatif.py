"""What-if comparisons in the console, over real HTTP on SQLite and PostgreSQL (docs/console.md,
"What-if"): a service manager asks for other resolution targets over a period, the run is the
API's what-if job, and its page shows record beside what-if (by priority, by month, the tickets
that flip) with the compliance chart; a question that changes nothing is said so; a resolver is
refused."""

from __future__ import annotations

import re
from uuid import UUID

import pytest

from benchmarks.whatif import synthesise
from domain.actors import Role
from service.bootstrap import Services
from tests.console_helpers import Visit, person, text, visit
from tests.integration.conftest import Api

pytestmark = pytest.mark.usefixtures("directory")

YEAR = {"from": "2026-01-01", "to": "2026-12-31"}


def test_a_service_manager_compares_other_targets_beside_the_record(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    synthesise(services.desk, 120, seed=5)
    person(services, "dewi.lestari", [Role.SERVICE_MANAGER])
    dewi = visit(api, visits)
    dewi.sign_in("dewi.lestari")
    asked = dewi.get("/console/whatif")
    assert asked.status_code == 200
    assert "Target penyelesaian P2, jam" in text(asked)
    assert "tercatat: 8 jam" in text(asked)  # the policy in force, in hours

    nothing = dewi.post("/console/whatif", YEAR)
    assert nothing.status_code == 422
    assert "Ubah paling sedikit satu aturan." in text(nothing)
    wrong = dewi.post("/console/whatif", {**YEAR, "p2": "0", "to": "2025-12-01"})
    assert wrong.status_code == 422
    assert 'aria-describedby="whatif-p2-error"' in wrong.text
    assert 'aria-describedby="whatif-to-error"' in wrong.text
    assert 'value="2025-12-01"' in wrong.text  # what was typed, kept

    started = dewi.post("/console/whatif", {**YEAR, "p2": "2", "p3": "3"}, follow=False)
    assert started.status_code == 303
    job = UUID(started.headers["location"].rsplit("/", 1)[1])
    services.whatif_jobs.wait()
    page = dewi.get(f"/console/whatif/{job}")
    assert page.status_code == 200
    assert "Refresh" not in page.headers  # done: it no longer asks again

    report = services.whatif_jobs.get(job)
    assert report is not None
    assert report["status"] == "done"
    figures = report["report"]
    assert figures["tickets"] > 0
    assert figures["met_to_breached"] > 0
    words = text(page)
    assert (
        f"{figures['flipped']} dari {figures['tickets']} tiket berubah hasil: "
        f"{figures['met_to_breached']} dari terpenuhi menjadi terlewati" in words
    )
    total = figures["total"]
    shown = f"{total['record']['compliance_pct']:.1f}"
    assert shown in words
    assert 'src="data:image/svg+xml;base64,' in page.text  # the chart, drawn by matplotlib
    assert len(re.findall(r'<th scope="row">P[1-5]</th>', page.text)) >= 2
    flip = figures["flips"][0]
    assert f'href="/console/incidents/{flip["ref"]}"' in page.text
    assert report["request"]["policy"]["targets"]["2"]["resolution_minutes"] == 120

    english = dewi.get(f"/console/language/en?next=/console/whatif/{job}")
    assert f"{figures['flipped']} of {figures['tickets']} tickets flip" in text(english)


def test_cuti_bersama_as_working_days_is_a_question_of_its_own(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "dewi.lestari", [Role.SERVICE_MANAGER])
    dewi = visit(api, visits)
    dewi.sign_in("dewi.lestari")
    dewi.get("/console/whatif")
    started = dewi.post("/console/whatif", {**YEAR, "cuti_bersama": "on"}, follow=False)
    assert started.status_code == 303
    job = UUID(started.headers["location"].rsplit("/", 1)[1])
    found = services.whatif_jobs.get(job)
    assert found is not None
    (calendar,) = found["request"]["calendars"]
    holidays = [h for y in calendar["years"].values() for h in y["holidays"]]
    assert holidays
    assert all(h["kind"] != "cuti_bersama" for h in holidays)
    assert found["request"]["policy"] is None  # the targets of record stand
    services.whatif_jobs.wait()


def test_a_resolver_is_refused_the_whatif_pages(
    api: Api, services: Services, visits: list[Visit]
) -> None:
    person(services, "andi.pratama", [Role.RESOLVER])
    andi = visit(api, visits)
    andi.sign_in("andi.pratama")
    assert andi.get("/console/whatif").status_code == 403
    assert andi.post("/console/whatif", {**YEAR, "p2": "4"}).status_code == 403
    assert "/console/whatif" not in andi.get("/console/").text  # not in the nav
