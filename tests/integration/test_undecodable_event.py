"""A stored event that cannot be decoded stops the followers at it, and only them.

The store is the system of record: an event in it that this code cannot turn back into an event
(bytes that are not its JSON, fields that break its schema, a type nobody registered) must never
be passed over, or the views would be wrong without anyone knowing. So each follower that meets
one stops at its position and says why, and the service still starts: the views answer what they
hold, commands are decided and stored, and /readyz and /metrics name the follower, the position
and the reason until the event can be read.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import JSONTranscoder, Notification, StoredEvent
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from audit.store import POSTGRES_EVENTS, SQLITE_EVENTS
from domain.events import EVENT_TYPES
from domain.incident import CommentAdded, SlaBreached, SlaWarned
from infra.serialisation import TypedMapper, UndecodableEvent
from infra.settings import Settings
from processes.sla_watch import SlaWatcher
from projections import PROJECTIONS, incident_details
from projections.runner import ProjectionRunner, decode
from service.bootstrap import Services, build
from tests.conftest import AGENT, T0, Clock
from tests.directory_helpers import hold
from tests.integration.conftest import serving
from tests.integration.test_api import new_incident
from tests.integration.test_sla import log

COMMENTED = "Incident.CommentAdded"


def store_raw_event(
    settings: Settings, originator: str, version: int, topic: str, state: bytes
) -> int:
    """Write a row into the event store as a database user could, past the service's encoder;
    its global position."""
    if settings.database_url is not None:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            row = conn.execute(
                f"INSERT INTO {POSTGRES_EVENTS} (originator_id, originator_version, topic, state)"
                " VALUES (%s, %s, %s, %s) RETURNING notification_id",
                (originator, version, topic, state),
            ).fetchone()
            assert row is not None
            return int(row[0])
    with sqlite3.connect(settings.events_db, isolation_level=None) as conn:
        cursor = conn.execute(
            f"INSERT INTO {SQLITE_EVENTS} (originator_id, originator_version, topic, state)"
            " VALUES (?, ?, ?, ?)",
            (originator, version, topic, state),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid


def stream_head(settings: Settings, incident_id: str) -> tuple[str, int]:
    """An incident's originator id as the events table spells it, and its last version."""
    if settings.database_url is not None:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            row = conn.execute(
                f"SELECT originator_id::text, max(originator_version) FROM {POSTGRES_EVENTS}"
                " WHERE originator_id = %s GROUP BY originator_id",
                (incident_id,),
            ).fetchone()
    else:
        with sqlite3.connect(settings.events_db) as conn:
            row = conn.execute(
                f"SELECT originator_id, max(originator_version) FROM {SQLITE_EVENTS}"
                " WHERE replace(originator_id, '-', '') = ? GROUP BY originator_id",
                (incident_id.replace("-", ""),),
            ).fetchone()
    assert row is not None
    return str(row[0]), int(row[1])


@contextmanager
def started(settings: Settings, clock: Clock) -> Iterator[Services]:
    services = build(settings, clock=clock)
    try:
        services.start()
        hold(services)  # the groups its incidents are assigned to
        yield services
    finally:
        services.close()


def metric(text: str, name: str) -> dict[str, tuple[float, dict[str, str]]]:
    """A metric's samples by their follower label: (value, labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[sample.labels["follower"]] = (sample.value, sample.labels)
    return found


@pytest.mark.parametrize(
    "state",
    [b"\x00 not an event at all", b'{"text": "a comment without who, when or whose"}'],
    ids=["not-json", "breaks-the-schema"],
)
def test_a_service_with_an_undecodable_event_starts_and_names_it(
    settings: Settings, clock: Clock, state: bytes
) -> None:
    with started(settings, clock) as services, serving(services) as api, api.client() as client:
        earlier = new_incident(client)
        client.post(f"/api/v1/incidents/{earlier['id']}/add-comment", json={"text": "looking"})
        before = client.get(f"/api/v1/incidents/{earlier['id']}").json()
    originator, version = stream_head(settings, earlier["id"])
    bad = store_raw_event(settings, originator, version + 1, COMMENTED, state)

    with started(settings, clock) as services, serving(services) as api, api.client() as client:
        ready = client.get("/readyz")
        # the views answer what they hold, up to the event they could not read
        detail = client.get(f"/api/v1/incidents/{earlier['id']}")
        listed = client.get("/api/v1/incidents")
        # the store is fine: commands are decided and stored; the views show them later
        logged = client.post(
            "/api/v1/incidents",
            json={
                "title": "Gate 2 alarm sounds for every book",
                "service": "kiosks-gates",
                "caller": "budi.santoso",
                "impact": "low",
                "urgency": "low",
            },
        )
        metrics = client.get("/metrics").text
        head = services.desk.recorder.max_notification_id()
        # the record that holds the event cannot be replayed: a clear answer, not a 500
        history = client.get(f"/api/v1/incidents/{earlier['id']}/history")
        command = client.post(f"/api/v1/incidents/{earlier['id']}/start-work", json={})

    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    body = ready.json()
    assert body["code"] == "not-ready"
    stuck = {s["follower"]: s for s in body["stuck"]}
    assert stuck["projections"]["position"] == bad
    assert stuck["projections"]["event"] == f"{earlier['id']}/{version + 1}"
    assert stuck["projections"]["topic"] == COMMENTED
    assert stuck["projections"]["reason"]
    assert "projections" in body["detail"]
    assert str(bad) in body["detail"]

    assert detail.status_code == 200
    assert detail.json() == before
    assert listed.status_code == 200
    assert [i["id"] for i in listed.json()["items"]] == [earlier["id"]]

    assert logged.status_code == 202, logged.text
    assert logged.json()["code"] == "projection-lag"
    assert head is not None
    assert head > bad

    for unreadable in (history, command):
        assert unreadable.status_code == 503, unreadable.text
        assert unreadable.json()["code"] == "record-unreadable"

    gauges = metric(metrics, "itsm_follower_stuck_position")
    value, labels = gauges["projections"]
    assert value == bad
    assert labels["reason"] == stuck["projections"]["reason"]


def test_the_projections_fold_every_event_before_the_undecodable_one_and_none_after(
    settings: Settings, clock: Clock
) -> None:
    with started(settings, clock) as services:
        earlier = log(services)
        assert services.runner.wait_for(services.desk.recorder.max_notification_id() or 0, 10)
        shown = services.views.get(incident_details, str(earlier))
    originator, version = stream_head(settings, str(earlier))
    bad = store_raw_event(settings, originator, version + 1, COMMENTED, b"[]")
    services = build(settings, clock=clock)
    try:
        later = log(services)
        for projection in PROJECTIONS:  # from zero: the event lies inside one batch
            services.views.reset(projection)
        runner = ProjectionRunner(
            services.desk.recorder, services.desk.mapper, services.views, PROJECTIONS
        )
        with pytest.raises(UndecodableEvent) as stopped:
            runner.catch_up()
        with pytest.raises(UndecodableEvent):
            runner.catch_up()  # again: still there, still stopped
        rows = (
            services.views.get(incident_details, str(earlier)),
            services.views.get(incident_details, str(later)),
        )
        positions = services.views.positions()
    finally:
        services.close()

    assert stopped.value.position == bad
    assert runner.position == bad - 1
    assert runner.stuck is not None
    assert runner.stuck.position == bad
    assert rows == (shown, None)
    assert set(positions.values()) == {bad - 1}


def test_the_audit_ledger_stops_at_an_event_whose_who_and_when_it_cannot_read(
    settings: Settings, clock: Clock
) -> None:
    with started(settings, clock) as services, serving(services) as api, api.client() as client:
        earlier = new_incident(client)
    originator, version = stream_head(settings, earlier["id"])
    bad = store_raw_event(settings, originator, version + 1, COMMENTED, b"\xff\xfe")

    with started(settings, clock) as services, serving(services) as api, api.client() as client:
        assert services.audit is not None
        ledger = services.audit.ledger
        with pytest.raises(UndecodableEvent) as stopped:
            ledger.catch_up()
        appended = services.audit.store.head()[0]
        ledger.wake()
        ready = client.get("/readyz").json()
        metrics = client.get("/metrics").text

    assert stopped.value.position == bad
    assert appended == bad - 1  # everything before it is chained, nothing after
    stuck = {s["follower"]: s for s in ready["stuck"]}
    assert stuck["audit-ledger"]["position"] == bad
    assert metric(metrics, "itsm_follower_stuck_position")["audit-ledger"][0] == bad


def test_the_sla_watcher_records_the_other_tickets_and_names_the_event_it_cannot_read(
    settings: Settings, clock: Clock
) -> None:
    with started(settings, clock) as services:
        unreadable, readable = log(services, urgency="high"), log(services, urgency="high")
        assert services.runner.wait_for(services.desk.recorder.max_notification_id() or 0, 10)
    originator, version = stream_head(settings, str(unreadable))
    bad = store_raw_event(settings, originator, version + 1, COMMENTED, b"{}")

    with started(settings, clock) as services, serving(services) as api, api.client() as client:
        clock.advance(days=2)  # every threshold of both has passed
        watcher = SlaWatcher(services, interval=3600)
        tick = watcher.tick()
        watcher.start()
        ready = client.get("/readyz").json()
        watcher.stop()
        alerts = [
            e for e in services.desk.history(readable) if isinstance(e, SlaWarned | SlaBreached)
        ]

    assert tick.recorded == 1
    assert len(alerts) == 6
    assert watcher.stuck is not None
    assert watcher.stuck.event == f"{unreadable}/{version + 1}"
    stuck = {s["follower"]: s for s in ready["stuck"]}
    assert stuck["sla-watch"]["event"] == f"{unreadable}/{version + 1}"
    assert stuck["projections"]["position"] == bad


@pytest.mark.usefixtures("directory")
def test_followers_that_can_read_every_event_report_nothing_stuck(services: Services) -> None:
    with serving(services) as api, api.client() as client:
        new_incident(client)
        ready = client.get("/readyz")
        metrics = client.get("/metrics").text

    assert ready.status_code == 200, ready.text
    gauges = metric(metrics, "itsm_follower_stuck_position")
    assert gauges["projections"][0] == 0
    assert gauges["audit-ledger"][0] == 0


@given(
    topic=st.sampled_from(sorted(EVENT_TYPES)) | st.text(max_size=30),
    state=st.binary(max_size=200)
    | st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=10)).map(
        lambda d: json.dumps(d).encode()
    ),
)
def test_a_stored_event_decodes_or_says_why_it_cannot(topic: str, state: bytes) -> None:
    """Never any other error: the followers rely on it to stop at the event instead of failing."""
    mapper = TypedMapper(transcoder=JSONTranscoder())
    stored = StoredEvent(originator_id=uuid4(), originator_version=1, topic=topic, state=state)
    try:
        mapper.to_domain_event(stored)
    except UndecodableEvent as error:
        refused = error
    else:
        return  # any other error fails the test
    assert refused.topic == topic
    assert refused.event == f"{stored.originator_id}/1"
    assert 0 < len(refused.reason) <= 500


@given(readable=st.lists(st.booleans(), max_size=30))
def test_a_batch_decodes_up_to_its_first_undecodable_event_and_no_further(
    readable: list[bool],
) -> None:
    mapper = TypedMapper(transcoder=JSONTranscoder())
    event = CommentAdded(
        originator_id=uuid4(),
        originator_version=2,
        timestamp=T0,
        actor=AGENT,
        correlation_id=uuid4(),
        text="looking",
    )
    good = mapper.to_stored_event(event)
    notifications = [
        Notification(
            id=10 + i,
            originator_id=good.originator_id,
            originator_version=good.originator_version,
            topic=good.topic,
            state=good.state if ok else b"{}",
        )
        for i, ok in enumerate(readable)
    ]
    decoded, undecodable = decode(mapper, notifications)

    first_bad = readable.index(False) if False in readable else len(readable)
    assert [position for position, _ in decoded] == [10 + i for i in range(first_bad)]
    assert all(e == event for _, e in decoded)
    if first_bad == len(readable):
        assert undecodable is None
    else:
        assert undecodable is not None
        assert undecodable.position == 10 + first_bad
