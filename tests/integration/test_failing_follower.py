"""A follower whose step keeps failing is named by /readyz, and no longer once it recovers.

The followers retry a failed step with backoff (infra/follower.py), which rides out a lock or a
reconnect. A fault that lasts (a full disk, a view store someone broke) would leave the views
behind for good while the service answered "ready"; so once a follower has failed for longer
than ITSM_READY_FAILING_AFTER, /readyz says which, why, for how long and how often, and /metrics
says how long each has been failing. The fault here is real: a view's table renamed away under
the running service, on each backend, and then put back.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import timedelta

import psycopg
from prometheus_client.parser import text_string_to_metric_families

from domain.commands import LogIncident
from infra.settings import Settings
from projections import incident_details
from projections.view_store import table
from tests.conftest import AGENT, Clock, context
from tests.integration.conftest import serving
from tests.integration.test_undecodable_event import started

AWAY = '"view_incident_details_away"'


def rename(settings: Settings, old: str, new: str) -> None:
    """Rename a view's table as a database user could, behind the service's back."""
    statement = f"ALTER TABLE {old} RENAME TO {new}"
    if settings.database_url is not None:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute(statement)  # type: ignore[arg-type]  # names only, from this test
        return
    with sqlite3.connect(settings.views_db, isolation_level=None) as conn:
        conn.execute(statement)


def until(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def failing_seconds(metrics: str) -> dict[str, float]:
    return {
        sample.labels["follower"]: sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "itsm_follower_failing_seconds"
    }


def test_a_follower_that_keeps_failing_makes_the_service_not_ready_until_it_recovers(
    settings: Settings, clock: Clock
) -> None:
    settings = settings.model_copy(update={"ready_failing_after": timedelta(seconds=0.5)})
    live = table(incident_details)
    with started(settings, clock) as services, serving(services) as api, api.client() as client:
        assert client.get("/readyz").status_code == 200
        assert failing_seconds(client.get("/metrics").text)["projections"] == 0
        rename(settings, live, AWAY)
        logged = services.desk.log_incident(
            context(AGENT),
            LogIncident(
                title="Kiosk 3 at Kota Serang prints no receipt",
                service="kiosks-gates",
                caller="budi.santoso",
                impact="low",
                urgency="medium",
            ),
        )
        answers: list[dict[str, object]] = []

        def not_ready() -> bool:
            answer = client.get("/readyz")
            answers.append(answer.json())
            return answer.status_code == 503 and bool(answer.json().get("failing"))

        assert until(not_ready), answers[-1]
        body = answers[-1]
        assert body["code"] == "not-ready"
        failing = {f["follower"]: f for f in body["failing"]}  # type: ignore[attr-defined]
        assert set(failing) == {"projections"}
        assert "view_incident_details" in failing["projections"]["reason"]
        assert failing["projections"]["seconds"] >= 0.5
        assert failing["projections"]["attempts"] >= 2
        assert "projections has failed" in str(body["detail"])
        assert failing_seconds(client.get("/metrics").text)["projections"] >= 0.5

        rename(settings, AWAY, live)
        assert until(lambda: client.get("/readyz").status_code == 200)
        assert failing_seconds(client.get("/metrics").text)["projections"] == 0
        # nothing was passed over: the event stored while the view was away is folded now
        assert client.get(f"/api/v1/incidents/{logged.record_id}").status_code == 200
