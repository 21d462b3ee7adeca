"""An event stored in an older shape of its type, written straight into the store (SQLite and
PostgreSQL), is read as the current class everywhere the service reads events: the record's
history over HTTP, a command decided on the record, and the views, live and rebuilt from zero.
One stored by a newer version of the code stops the followers as any undecodable event does.
"""

from __future__ import annotations

from uuid import uuid4

import orjson

from domain.actors import Role
from domain.events import VERSION_KEY
from domain.organisations import PROVINCE
from infra.serialisation import encode
from infra.settings import Settings
from projections import PROJECTIONS, change_details
from projections.runner import ProjectionRunner
from tests.conftest import Clock
from tests.integration.conftest import serving
from tests.integration.test_undecodable_event import started, store_raw_event
from tests.unit.test_event_upcasting import RAISED, a_change, version_1


def test_a_change_stored_before_organisations_reads_as_the_current_class_everywhere(
    settings: Settings, clock: Clock
) -> None:
    old = a_change().model_copy(update={"originator_id": uuid4(), "timestamp": clock()})
    ref = str(old.originator_id)
    with started(settings, clock):
        pass  # the service has run on this store once: its tables exist
    # as the stores spell an originator (PostgreSQL's uuid reads the same hex digits)
    position = store_raw_event(settings, old.originator_id.hex, 1, RAISED, version_1(old))

    with (
        started(settings, clock) as services,
        serving(services) as api,
        api.client("rina.wati", Role.CHANGE_MANAGER) as manager,
    ):
        assert services.runner.wait_for(position, 10)
        read = manager.get(f"/api/v1/changes/{ref}")
        history = manager.get(f"/api/v1/changes/{ref}/history")
        cancelled = manager.post(f"/api/v1/changes/{ref}/cancel", json={"reason": "superseded"})
        assert services.runner.wait_for(services.desk.recorder.max_notification_id() or 0, 10)
        live = services.views.get(change_details, ref)
        for projection in PROJECTIONS:
            services.views.reset(projection)
        ProjectionRunner(
            services.desk.recorder, services.desk.mapper, services.views, PROJECTIONS
        ).catch_up()
        rebuilt = services.views.get(change_details, ref)

    assert read.status_code == 200, read.text
    assert read.json()["organisation"] == PROVINCE
    assert (read.json()["service_action"], read.json()["source"]) == ("none", "person")
    assert read.json()["title"] == old.title
    assert history.status_code == 200, history.text
    first = history.json()["events"][0]
    assert first["type"] == RAISED
    assert first["data"]["organisation"] == PROVINCE
    assert VERSION_KEY not in first["data"]
    assert cancelled.status_code == 200, cancelled.text
    assert live is not None
    assert live["organisation"] == PROVINCE
    assert rebuilt == live


def test_a_change_stored_by_a_newer_version_stops_the_views_at_it(
    settings: Settings, clock: Clock
) -> None:
    state = orjson.loads(encode(a_change()))
    state[VERSION_KEY] = 4
    with started(settings, clock):
        pass
    bad = store_raw_event(settings, uuid4().hex, 1, RAISED, orjson.dumps(state))

    with started(settings, clock) as services, serving(services) as api, api.client() as client:
        ready = client.get("/readyz")

    assert ready.status_code == 503
    stuck = {s["follower"]: s for s in ready.json()["stuck"]}
    assert stuck["projections"]["position"] == bad
    assert "version 4 of Change.Raised" in stuck["projections"]["reason"]
