"""Kafka mode: the views are fed from `itsm.events`, which carries the domain's facts only. The
store's bookkeeping events (a number, an idempotency key) written after a command's last fact
never reach the views, and are no lag: once the views hold every published event, the
projection lag is 0, on a real broker, over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from uuid import uuid4

import pytest

from infra.settings import Settings
from service.bootstrap import Services, build
from tests.conftest import Clock
from tests.directory_helpers import hold
from tests.integration.conftest import serving
from tests.integration.test_metrics import samples
from tests.integration.test_organisations import INCIDENT, made

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    chosen: str = request.param
    return chosen


@pytest.fixture
def kafka_service(settings: Settings, kafka_bootstrap: str, clock: Clock) -> Iterator[Services]:
    unique = uuid4().hex[:12]
    own = settings.model_copy(
        update={
            "kafka_bootstrap": kafka_bootstrap,
            "kafka_topic": f"itsm.events.{unique}",
            "kafka_audit_topic": f"itsm.audit.checkpoints.{unique}",
            "kafka_projections_group": f"itsm.projections.{unique}",
            "kafka_partitions": 2,
        }
    )
    services = build(own, clock=clock)
    services.start()
    hold(services)
    yield services
    services.close()


def test_bookkeeping_at_the_end_of_the_store_is_no_projection_lag(
    kafka_service: Services,
) -> None:
    recorder = kafka_service.desk.recorder
    with serving(kafka_service) as api, api.client() as client:
        made(client.post(INCIDENT.path, json=INCIDENT.body, headers={"Idempotency-Key": "k-1"}))
        head = recorder.max_notification_id() or 0
        tail = recorder.select_notifications(start=head, limit=1)
        assert [n.topic for n in tail] == ["IdempotencyKey.Recorded"], "the store ends in one"

        def lag() -> dict[str, float]:
            found = samples(client.get("/metrics").text)
            return {
                dict(labels)["projection"]: value
                for (name, labels), value in found.items()
                if name == "itsm_projection_lag_events"
            }

        deadline = time.monotonic() + 20  # the views have the incident: it answered 201
        while set(lag().values()) != {0} and time.monotonic() < deadline:
            time.sleep(0.2)
        assert set(lag().values()) == {0}, lag()
