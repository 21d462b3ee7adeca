"""Kafka mode: signed checkpoints go to itsm.audit.checkpoints as CloudEvents, each once, and
what the brokers hold catches a tail cut off inside the database."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest

from audit.publish import read_published
from audit.verify import verify
from infra.settings import Settings
from service.bootstrap import Services, build
from tests.conftest import Clock
from tests.integration.audit_tamper import Attacker
from tests.integration.test_service_desk import log


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    chosen: str = request.param
    return chosen


@pytest.fixture
def publishing(settings: Settings, kafka_bootstrap: str, clock: Clock) -> Iterator[Services]:
    own = settings.model_copy(
        update={
            "kafka_bootstrap": kafka_bootstrap,
            "kafka_topic": f"itsm.events.{uuid4().hex[:12]}",
            "kafka_audit_topic": f"itsm.audit.checkpoints.{uuid4().hex[:12]}",
            "kafka_relay": False,
            "kafka_consume": False,
            "audit_follow": False,
            "audit_checkpoint_every": 5,
        }
    )
    services = build(own, clock=clock)
    services.start()  # Kafka mode's read-your-writes follower; no relay, consumer or ledger
    yield services
    services.close()


def test_checkpoints_are_published_once_each_and_catch_a_truncated_tail(
    publishing: Services,
) -> None:
    audit = publishing.audit
    assert audit is not None
    for n in range(1, 8):
        log(publishing, n)
    audit.ledger.catch_up()
    audit.ledger.catch_up()  # nothing new: nothing published again
    topic = publishing.settings.kafka_audit_topic
    assert publishing.settings.kafka_bootstrap is not None
    published = read_published(publishing.settings.kafka_bootstrap, topic)
    stored = audit.store.checkpoints()
    assert [c.as_json() for c in published] == [c.as_json() for c in stored]
    assert len(published) >= 2

    attacker = Attacker(publishing.settings)
    try:
        attacker.drop_triggers()
        attacker.truncate_after(published[-1].position - 2)
    finally:
        attacker.close()
    assert verify(audit.store, audit.trusted_keys()).ok  # seamless inside the database
    report = verify(audit.store, audit.trusted_keys(), published)
    assert report.first_bad is not None
    assert "cut off" in report.first_bad.reason
