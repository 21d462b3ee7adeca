"""Suppliers and their contracts over real HTTP, on SQLite and PostgreSQL: the seed's four, a new
one registered and its contract revised (a new version; the old one kept), a hold awaiting a
supplier recording the contract in force, and the supplier report judging each wait against the
contract of record, in business hours of the contract's calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from application.seed import seed
from domain.actors import Role
from service.bootstrap import Services
from tests.conftest import Clock
from tests.integration.conftest import Api

pytestmark = pytest.mark.usefixtures("directory")

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def held(agent: httpx.Client, service: str, supplier: str) -> str:
    body = {
        "title": f"{service} down",
        "service": service,
        "caller": "budi.santoso",
        "impact": "medium",
        "urgency": "medium",
        "assignment_group": "kiosk-team",
    }
    ref = str(ok(agent.post("/api/v1/incidents", json=body), 201)["ref"])
    ok(agent.post(f"/api/v1/incidents/{ref}/start-work"))
    ok(
        agent.post(
            f"/api/v1/incidents/{ref}/put-on-hold",
            json={"reason": "awaiting_supplier", "supplier": supplier, "note": "called them"},
        )
    )
    return ref


def test_suppliers_are_registered_revised_and_read_by_the_staff(
    api: Api, services: Services
) -> None:
    seed(services.desk)
    services.runner.catch_up()  # seeded outside a request: no answer waited for the views
    agent, manager = api.client(), api.client("dewi.lestari", Role.SERVICE_MANAGER)
    listed = ok(agent.get("/api/v1/suppliers"))["items"]
    assert [s["code"] for s in listed] == [
        "diskominfo-banten",
        "isp-jaringan",
        "kiosk-maintainer",
        "vendor-ebook",
    ]
    isp = ok(agent.get("/api/v1/suppliers/isp-jaringan"))
    assert (isp["kind"], isp["contract"]["calendar"], isp["contract_version"]) == (
        "external",
        "24x7",
        1,
    )
    body = {
        "code": "printer-service",
        "name": "Servis printer kartu",
        "kind": "external",
        "contract": {
            "reference": "SPK 040/2026",
            "services": ["membership-cards"],
            "valid_from": "2026-01-01",
            "resolution_minutes": 960,
        },
    }
    assert agent.post("/api/v1/suppliers", json=body).status_code == 403
    made = ok(manager.post("/api/v1/suppliers", json=body), 201)
    assert made["contract"]["calendar"] == "office"
    wrong = {**body, "code": "other", "contract": {**body["contract"], "services": ["nope"]}}
    assert ok(manager.post("/api/v1/suppliers", json=wrong), 422)["code"] == "unknown-service"
    backwards = {**body["contract"], "valid_to": "2025-12-31"}
    refused = manager.post("/api/v1/suppliers", json={**body, "code": "x", "contract": backwards})
    assert ok(refused, 422)["code"] == "invalid-input"

    revised = ok(
        manager.post(
            "/api/v1/suppliers/printer-service/revise-contract",
            json={
                "contract": {**body["contract"], "resolution_minutes": 480},
                "reason": "faster service agreed for 2026",
            },
        )
    )
    assert (revised["contract_version"], revised["contract"]["resolution_minutes"]) == (2, 480)
    (earlier,) = revised["contracts"]
    assert (earlier["version"], earlier["contract"]["resolution_minutes"]) == (1, 960)
    assert earlier["superseded_because"] == "faster service agreed for 2026"
    retired = ok(manager.post("/api/v1/suppliers/printer-service/retire", json={"reason": "ended"}))
    assert retired["state"] == "retired"
    member = api.client("budi.santoso", Role.REQUESTER)
    assert member.get("/api/v1/suppliers").status_code == 403


def test_a_hold_awaits_a_supplier_under_its_contract_and_the_report_judges_each_wait(
    api: Api, services: Services, clock: Clock
) -> None:
    seed(services.desk)
    agent = api.client()
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    # Monday 2 March, 09:00 WIB: a kiosk waits for its maintainer (24 office hours)
    clock.now = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    kiosk = held(agent, "kiosks-gates", "kiosk-maintainer")
    history = ok(agent.get(f"/api/v1/incidents/{kiosk}/history"))["events"]
    hold = next(e for e in history if e["type"] == "Incident.PutOnHold")
    assert (hold["data"]["supplier"], hold["data"]["contract_version"]) == ("kiosk-maintainer", 1)
    # the caller reads which supplier it waits for, not the agent's note
    caller = api.client("budi.santoso", Role.REQUESTER)
    seen = ok(caller.get(f"/api/v1/incidents/{kiosk}/history"))["events"]
    their_hold = next(e for e in seen if e["type"] == "Incident.PutOnHold")
    assert (their_hold["data"]["supplier"], their_hold["data"]["note"]) == (
        "kiosk-maintainer",
        None,
    )
    # a revision after the hold does not change what judges it
    contract = ok(agent.get("/api/v1/suppliers/kiosk-maintainer"))["contract"]
    ok(
        manager.post(
            "/api/v1/suppliers/kiosk-maintainer/revise-contract",
            json={"contract": {**contract, "resolution_minutes": 60}, "reason": "stricter"},
        )
    )
    clock.now = datetime(2026, 3, 4, 4, 0, tzinfo=UTC)  # Wednesday 11:00 WIB: 18 office hours
    ok(agent.post(f"/api/v1/incidents/{kiosk}/resume", json={"note": "part replaced"}))

    # Tuesday 3 March 10:00 WIB, the network provider (4 hours, round the clock): 8 hours
    clock.now = datetime(2026, 3, 3, 3, 0, tzinfo=UTC)
    wifi = held(agent, "public-wifi", "isp-jaringan")
    clock.now += timedelta(hours=8)
    ok(agent.post(f"/api/v1/incidents/{wifi}/resolve", json={"code": "fixed", "notes": "ISP"}))

    # Thursday 26 March 09:00 WIB, the maintainer again, under the stricter contract: still
    # waiting at the month's end, 31 office hours later
    clock.now = datetime(2026, 3, 26, 2, 0, tzinfo=UTC)
    still = held(agent, "kiosks-gates", "kiosk-maintainer")
    assert still

    # refusals: an unknown supplier, a supplier on a hold that awaits none, a retired one
    clock.now = datetime(2026, 3, 27, 2, 0, tzinfo=UTC)
    other = held(agent, "kiosks-gates", "vendor-ebook")
    ok(agent.post(f"/api/v1/incidents/{other}/resume"))
    unknown = agent.post(
        f"/api/v1/incidents/{other}/put-on-hold",
        json={"reason": "awaiting_supplier", "supplier": "nobody"},
    )
    assert ok(unknown, 422)["code"] == "unknown-supplier"
    mismatch = agent.post(
        f"/api/v1/incidents/{other}/put-on-hold",
        json={"reason": "awaiting_caller", "supplier": "vendor-ebook"},
    )
    assert ok(mismatch, 422)["code"] == "supplier-not-awaited"

    clock.now = datetime(2026, 4, 2, 2, 0, tzinfo=UTC)
    report = ok(manager.get("/api/v1/reports/suppliers", params=MARCH))
    rows = {row["key"]: row["figures"] for row in report["rows"] if row["dimension"] == "supplier"}
    maintainer, isp = rows["kiosk-maintainer"], rows["isp-jaringan"]
    # 18 office hours within the 24 of the contract of record (not the 1 hour of the later one)
    assert (maintainer["ended"], maintainer["met"], maintainer["wait_mean_hours"]) == (1, 1, 18.0)
    # the later wait, under the 1-hour contract, still waiting and overdue at the end
    assert (maintainer["waits"], maintainer["waiting"], maintainer["overdue"]) == (2, 1, 1)
    assert (isp["ended"], isp["breached"], isp["wait_mean_hours"], isp["met_pct"]) == (
        1,
        1,
        8.0,
        0.0,
    )
    assert rows["vendor-ebook"]["ended"] == 1
    total = report["total"]
    assert (total["waits"], total["ended"], total["met"], total["breached"]) == (4, 3, 2, 1)


def test_a_customers_agreement_sets_its_targets_and_calendar_for_its_services(
    api: Api, clock: Clock
) -> None:
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    agent = api.client("siti.rahma", all_organisations=True)
    policy = ok(manager.get("/api/v1/sla/policy"))
    agreement = {
        "code": "sla-lebak-wifi",
        "name": "Perjanjian layanan Wi-Fi publik Perpustakaan Kabupaten Lebak",
        "customer": "perpus-kab-lebak",
        "services": ["public-wifi"],
        "calendar": "library",
        "targets": {"3": {"response_minutes": 30, "resolution_minutes": 120}},
        "workload_limit": 40,
        "exceptions": ["outages of the provider's backbone are the ISP's (its contract)"],
    }
    revised = manager.post(
        "/api/v1/sla/policy/revisions",
        json={"terms": {**policy["terms"], "agreements": [agreement]}, "reason": "Lebak's SLA"},
        headers={"If-Match": f'"{policy["version"]}"'},
    )
    terms = ok(revised, 201)["terms"]
    assert terms["agreements"][0]["workload_limit"] == 40
    unknown = {**agreement, "code": "x", "customer": "perpus-kab-bogor"}
    refused = manager.post(
        "/api/v1/sla/policy/revisions",
        json={"terms": {**terms, "agreements": [agreement, unknown]}, "reason": "x"},
    )
    assert ok(refused, 422)["code"] == "invalid-input"

    def logged(service: str, organisation: str) -> dict[str, Any]:
        body = {
            "title": "Wi-Fi mati",
            "service": service,
            "caller": "budi.santoso",
            "impact": "medium",
            "urgency": "medium",
            "organisation": organisation,
        }
        ref = ok(agent.post("/api/v1/incidents", json=body), 201)["ref"]
        return dict(ok(agent.get(f"/api/v1/incidents/{ref}/sla")))

    lebak = logged("public-wifi", "perpus-kab-lebak")
    assert lebak["rules"]["calendar_name"] == "library"
    assert lebak["resolution"]["priority"] == 3
    assert lebak["resolution"]["target_minutes"] == 120
    assert lebak["response"]["target_minutes"] == 30
    province = logged("public-wifi", "dpk-banten")
    assert province["rules"]["calendar_name"] == "office"
    assert province["resolution"]["target_minutes"] == 24 * 60  # the policy's P3
    other_service = logged("kiosks-gates", "perpus-kab-lebak")
    assert other_service["resolution"]["target_minutes"] == 24 * 60
    logged("public-wifi", "perpus-kab-lebak")

    # the month's workload against the agreement's limit
    clock.now = datetime(2026, 4, 2, 2, 0, tzinfo=UTC)
    report = ok(manager.get("/api/v1/reports/agreements", params=MARCH))
    (row,) = [r["figures"] for r in report["rows"] if r["dimension"] == "agreement"]
    assert (row["tickets"], row["incidents"], row["workload_limit"]) == (2, 2, 40)
    assert (row["workload_pct"], row["over_limit"]) == (5.0, 0)
    assert report["total"]["tickets"] == 2  # the province's and the kiosk's are no agreement's


def test_an_agreements_closed_day_stops_its_customers_clock_over_http(
    api: Api, clock: Clock
) -> None:
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    agent = api.client("siti.rahma", all_organisations=True)
    policy = ok(manager.get("/api/v1/sla/policy"))
    # Lebak closes for its stock-take on Tuesday 3 March 2026, and waits for changes unpaid
    clock.now = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)  # 08:00 WIB
    agreement = {
        "code": "sla-lebak",
        "name": "Perjanjian layanan Perpustakaan Kabupaten Lebak",
        "customer": "perpus-kab-lebak",
        "closed_days": ["2026-03-03"],
        "pause_on": ["awaiting_change"],
        "exceptions": ["Closed for the annual stock-take on 3 March"],
    }
    revised = manager.post(
        "/api/v1/sla/policy/revisions",
        json={"terms": {**policy["terms"], "agreements": [agreement]}, "reason": "Lebak's SLA"},
        headers={"If-Match": f'"{policy["version"]}"'},
    )
    assert ok(revised, 201)["terms"]["agreements"][0]["closed_days"] == ["2026-03-03"]

    def logged(organisation: str) -> str:
        body = {
            "title": "Kios peminjaman mati",
            "service": "kiosks-gates",
            "caller": "budi.santoso",
            "impact": "medium",
            "urgency": "medium",
            "organisation": organisation,
        }
        return str(ok(agent.post("/api/v1/incidents", json=body), 201)["ref"])

    lebak, province = logged("perpus-kab-lebak"), logged("dpk-banten")
    clock.now = datetime(2026, 3, 3, 5, 0, tzinfo=UTC)  # four office hours later
    lebak_clock = ok(agent.get(f"/api/v1/incidents/{lebak}/sla"))
    province_clock = ok(agent.get(f"/api/v1/incidents/{province}/sla"))
    assert lebak_clock["resolution"]["counted_minutes"] == 0
    assert province_clock["resolution"]["counted_minutes"] == 4 * 60
