"""GET /metrics: Prometheus text with command counts and latencies, and the lags."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import Api
from tests.integration.test_api import new_incident


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@pytest.mark.usefixtures("directory")
def test_metrics_count_and_time_commands_by_route_and_show_lags(api: Api) -> None:
    with api.client() as client:
        first = new_incident(client)
        new_incident(client)
        client.post(f"/api/v1/incidents/{first['id']}/start-work", json={})
        client.post("/api/v1/incidents/INC-999999/start-work", json={})
        response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    logged = ("POST", "/api/v1/incidents", "2xx")
    started = ("POST", "/api/v1/incidents/{ref}/start-work", "2xx")
    unknown = ("POST", "/api/v1/incidents/{ref}/start-work", "4xx")

    def key(name: str, labels: tuple[str, str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
        return name, tuple(sorted(zip(("method", "route", "status"), labels, strict=True)))

    assert found[key("itsm_http_requests_total", logged)] == 2
    assert found[key("itsm_http_requests_total", started)] == 1
    assert found[key("itsm_http_requests_total", unknown)] == 1
    assert found[key("itsm_http_request_duration_seconds_count", logged)] == 2
    assert found[key("itsm_http_request_duration_seconds_sum", logged)] > 0
    head = api.services.desk.recorder.max_notification_id()
    assert found[("itsm_store_position", ())] == head
    for name in ("incident_details", "open_work_by_group"):
        assert found[("itsm_projection_lag_events", (("projection", name),))] == 0
    assert not any(name == "itsm_relay_lag_events" for name, _ in found), "no relay has run"


@pytest.mark.usefixtures("directory")
def test_relay_lag_is_the_store_head_minus_what_kafka_acknowledged(api: Api) -> None:
    from tests.integration.test_relay import FakeBroker, relay_for

    with api.client() as client:
        new_incident(client)
        broker = FakeBroker(auto_ack=False)
        relay = relay_for(api.services, broker, batch_size=1, max_in_flight=100)
        relay.run_once()
        broker.sent[0].is_done = True
        relay.run_once()  # the first event acknowledged and recorded, the second in flight
        new_incident(client)
        found = samples(client.get("/metrics").text)

    head = api.services.desk.recorder.max_notification_id() or 0
    assert relay.published() == 1
    assert found[("itsm_relay_lag_events", ())] == head - 1
