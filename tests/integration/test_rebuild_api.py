"""POST /api/v1/projections/{name}/rebuilds starts a shadow rebuild; GET follows it."""

from __future__ import annotations

import time

from domain.actors import Role
from tests.integration.conftest import Api


def test_a_service_manager_starts_a_shadow_rebuild_and_follows_it_to_the_end(api: Api) -> None:
    with api.client("dewi.lestari", Role.SERVICE_MANAGER) as manager:
        started = manager.post("/api/v1/projections/incident_details/rebuilds")
        assert started.status_code == 202
        location = started.headers["Location"]
        assert location == f"/api/v1/projections/incident_details/rebuilds/{started.json()['id']}"
        deadline = time.monotonic() + 30
        while (status := manager.get(location).json())["state"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert status["state"] == "succeeded"
        assert status["error"] is None
        assert status["eta_seconds"] == 0
        assert status["finished_at"] is not None
        head = api.services.desk.recorder.max_notification_id() or 0
        assert status["position"] == head


def test_agents_may_not_rebuild_read_models(api: Api) -> None:
    with api.client() as agent:
        answer = agent.post("/api/v1/projections/incident_details/rebuilds")
    assert answer.status_code == 403
    assert answer.json()["code"] == "forbidden"


def test_an_unknown_projection_or_rebuild_is_not_found(api: Api) -> None:
    with api.client("admin", Role.ADMIN) as admin:
        unknown = admin.post("/api/v1/projections/no_such_view/rebuilds")
        missing = admin.get(
            "/api/v1/projections/incident_details/rebuilds/00000000-0000-0000-0000-000000000000"
        )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "not-found"
    assert missing.status_code == 404
