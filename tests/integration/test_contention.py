"""A command that cannot be written after every attempt (the records kept changing under it)
is answered 503 with Retry-After, never 500, and writes nothing."""

from __future__ import annotations

import pytest

from application import pipeline
from domain.actors import Role
from service.bootstrap import Services
from tests.integration.conftest import Api
from tests.integration.test_requests_problems_api import log_incident


def test_a_command_that_loses_every_race_is_answered_503_and_writes_nothing(
    api: Api, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident = log_incident(api, "Gate 2 beeps at every member")
    agent = api.client("siti.rahma", Role.AGENT)  # issuing its token is an event
    head = services.desk.recorder.max_notification_id()
    # No attempt left: as if every write had lost its race to another writer.
    monkeypatch.setattr(pipeline, "MAX_ATTEMPTS", 0)

    # A stale If-Match is refused in the batch, and so confirmed on its own: no attempt left.
    answer = agent.post(
        f"/api/v1/incidents/{incident['ref']}/assign",
        json={"group": "tim-gate"},
        headers={"If-Match": '"7"'},
    )

    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "contention"
    assert answer.headers["Retry-After"] == "1"
    assert services.desk.recorder.max_notification_id() == head
