"""The circulation pipeline against a real service desk and store (SQLite): rules open, count and
resolve incidents through the desk's commands; repeats change nothing; invalid events are kept
as dead letters and can be replayed."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.seed import seed
from cli.main import main
from consumers.circulation import CirculationPipeline
from domain.actors import Actor, Role
from domain.calendar import Holiday, HolidayKind, HolidayYear
from domain.circulation import JAKARTA
from domain.incident import IncidentState, WorkNoteAdded
from infra.circulation_store import CirculationStore
from infra.settings import Settings
from processes.circulation import DeskIncidents, LiveCalendarOpening, build_pipeline
from processes.simulator import envelope
from projections.service_health import service_health
from service.bootstrap import Services, build
from tests.conftest import Clock, context
from tests.directory_helpers import hold

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=JAKARTA)
KIOSK = "kota-serang-kiosk-1"
MONITOR = "/kiosk-monitor/kota-serang"


@pytest.fixture
def circ_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "var",
        circulation_opening_hours="mon-sat 08:00-16:00",
        circulation_offline_threshold=timedelta(minutes=10),
        circulation_stable_for=timedelta(minutes=15),
        circulation_failure_min_volume=20,
    )


@pytest.fixture
def desk_services(circ_settings: Settings, clock: Clock) -> Iterator[Services]:
    built = build(circ_settings, clock=clock)
    hold(built)  # the groups the rules assign to
    yield built
    built.close()


@pytest.fixture
def pipeline(
    circ_settings: Settings, desk_services: Services, clock: Clock
) -> Iterator[CirculationPipeline]:
    built = build_pipeline(circ_settings, desk_services.desk, clock=clock)
    yield built
    built.store.close()


_ids = iter(range(1, 10**9))


def status(at: datetime, state: str, device: str = KIOSK, **extra: str) -> bytes:
    return orjson.dumps(
        envelope(
            "device.status_changed",
            MONITOR,
            f"s{next(_ids)}",
            at,
            branch="kota-serang",
            device=device,
            device_kind="kiosk",
            status=state,
            **extra,
        )
    )


def heartbeat(at: datetime, device: str = "kota-serang-kiosk-2") -> bytes:
    return orjson.dumps(
        envelope(
            "device.heartbeat",
            MONITOR,
            f"h{next(_ids)}",
            at,
            branch="kota-serang",
            device=device,
            device_kind="kiosk",
        )
    )


def renewal(at: datetime, failed: bool, patron: str) -> bytes:
    kind = "loan.renewal_failed" if failed else "loan.renewed"
    extra = {"reason": "timeout"} if failed else {}
    return orjson.dumps(
        envelope(
            kind,
            "/union-catalogue/renewal",
            f"r{next(_ids)}",
            at,
            branch="kota-serang",
            patron=patron,
            item="B1",
            **extra,
        )
    )


def incidents_of(services: Services) -> list[Any]:
    views = services.views
    services.runner.catch_up()
    from projections import incident_details

    return list(views.rows(incident_details).values())


def test_a_kiosk_offline_past_the_threshold_opens_one_incident_counts_signals_and_resolves(
    pipeline: CirculationPipeline, desk_services: Services
) -> None:
    # Given a kiosk that goes offline during opening hours
    pipeline.ingest([status(MONDAY, "offline")], "test")
    # When the stream's time passes the threshold, with the monitor repeating itself
    result = pipeline.ingest(
        [
            heartbeat(MONDAY + timedelta(minutes=11)),
            status(MONDAY + timedelta(minutes=11), "offline"),
        ],
        "test",
    )
    # Then one incident is open on the kiosk, by the integration, naming the rule
    assert len(result.actions) == 1
    assert result.actions[0].startswith("opened")
    incident_id = UUID(result.actions[0].split()[1])
    incident = desk_services.desk.incident(incident_id)
    history = desk_services.desk.history(incident_id)
    logged = history[0]
    assert incident.state is IncidentState.ASSIGNED
    assert logged.actor.id == f"integration:{MONITOR}"
    assert logged.actor.role is Role.INTEGRATION
    assert "[rule device-offline]" in logged.description  # type: ignore[attr-defined]
    assert logged.configuration_item == KIOSK  # type: ignore[attr-defined]
    # When more offline signals come, half an hour later: the same incident, with the count
    later = MONDAY + timedelta(minutes=45)
    result = pipeline.ingest([status(later, "offline"), status(later, "error", code="E7")], "test")
    assert result.actions == [f"noted 4 signals on {incident_id} [device-offline]"]
    notes = [e for e in desk_services.desk.history(incident_id) if isinstance(e, WorkNoteAdded)]
    assert "4 signal(s)" in notes[-1].text
    # When it is back, but not yet stable: nothing; once stable: resolved by the rule
    assert pipeline.ingest([status(later + timedelta(minutes=1), "online")], "test").actions == []
    assert pipeline.ingest([heartbeat(later + timedelta(minutes=10))], "test").actions == []
    result = pipeline.ingest([heartbeat(later + timedelta(minutes=17))], "test")
    assert result.actions == [f"resolved {incident_id} [device-offline]"]
    resolved = desk_services.desk.incident(incident_id)
    assert resolved.state is IncidentState.RESOLVED
    # all the case's events share one correlation id
    assert len({e.correlation_id for e in desk_services.desk.history(incident_id)}) == 1


def test_an_outage_outside_opening_hours_opens_nothing_until_the_branch_opens(
    pipeline: CirculationPipeline,
) -> None:
    evening = MONDAY.replace(hour=15, minute=55)
    pipeline.ingest([status(evening, "offline")], "test")
    # five minutes open on Monday, then the night: no incident
    assert pipeline.ingest([heartbeat(evening + timedelta(hours=6))], "test").actions == []
    # Tuesday 08:04: nine minutes of opening time in all, still below ten
    tuesday = MONDAY.replace(day=3, hour=8, minute=4)
    assert pipeline.ingest([heartbeat(tuesday)], "test").actions == []
    opened = pipeline.ingest([heartbeat(tuesday + timedelta(minutes=2))], "test").actions
    assert len(opened) == 1
    assert opened[0].startswith("opened")


def test_an_outage_on_a_holiday_of_the_library_calendar_opens_nothing(
    pipeline: CirculationPipeline,
) -> None:
    independence_day = datetime(2026, 8, 17, 9, 0, tzinfo=JAKARTA)  # a Monday, a holiday
    pipeline.ingest([status(independence_day, "offline")], "test")
    later = independence_day + timedelta(hours=5)
    assert pipeline.ingest([heartbeat(later)], "test").actions == []
    # Tuesday morning the branch opens: ten minutes later, the outage calls for an incident
    tuesday = independence_day.replace(day=18, hour=8, minute=11)
    opened = pipeline.ingest([heartbeat(tuesday)], "test").actions
    assert len(opened) == 1
    assert opened[0].startswith("opened")


def test_an_amended_library_calendar_reaches_the_running_rules(desk_services: Services) -> None:
    desk = desk_services.desk
    seconds = [0.0]
    opening = LiveCalendarOpening(desk, "library", every=300, timer=lambda: seconds[0])
    monday = datetime(2026, 3, 2, 9, 0, tzinfo=JAKARTA)
    assert opening.open_since(monday) is not None
    shipped = desk.business_calendar("library").years[2026]
    closure = Holiday(date=monday.date(), name="Stocktaking", kind=HolidayKind.LOCAL)
    desk.amend_holidays(
        context(Actor(id="sm-1", role=Role.SERVICE_MANAGER)),
        "library",
        2026,
        HolidayYear(source=shipped.source, holidays=[*shipped.holidays, closure]),
        "branches closed for stocktaking",
    )
    seconds[0] = 299
    assert opening.open_since(monday) is not None  # the version in hand, until it is looked up
    seconds[0] = 300
    assert opening.open_since(monday) is None
    # the closed Monday counts nothing; Tuesday from opening at 08:00 until 09:00 counts
    assert opening.open_time_between(monday, monday + timedelta(days=1)) == timedelta(hours=1)


def test_a_brief_outage_recovers_without_an_incident(pipeline: CirculationPipeline) -> None:
    pipeline.ingest([status(MONDAY, "offline")], "test")
    pipeline.ingest([status(MONDAY + timedelta(minutes=3), "online")], "test")
    assert pipeline.ingest([heartbeat(MONDAY + timedelta(minutes=30))], "test").actions == []
    assert pipeline.store.outages() == []


def test_a_renewal_failure_rate_over_the_threshold_opens_an_incident_with_patrons_affected(
    pipeline: CirculationPipeline, desk_services: Services
) -> None:
    rng = random.Random(4)
    # 19 renewals, 10 failing: below the minimum volume of 20, nothing happens
    quiet = [renewal(MONDAY, i < 10, f"P{i % 3}") for i in range(19)]
    assert pipeline.ingest(quiet, "test").actions == []
    # one more failure: 11 of 20 failed, by 3 distinct patrons
    result = pipeline.ingest([renewal(MONDAY + timedelta(minutes=1), True, "P2")], "test")
    assert len(result.actions) == 1
    assert "batupusaka" in result.actions[0]
    incident_id = UUID(result.actions[0].split()[1])
    logged = desk_services.desk.history(incident_id)[0]
    assert logged.service == "batupusaka"  # type: ignore[attr-defined]
    assert "3 patron(s) affected" in logged.description  # type: ignore[attr-defined]
    assert "P2" not in logged.description  # type: ignore[attr-defined]
    # healthy traffic for a while: the rate drops, and once stable the incident is resolved
    at = MONDAY + timedelta(minutes=2)
    actions: list[str] = []
    for minute in range(40):
        healthy = [renewal(at + timedelta(minutes=minute), False, f"Q{rng.randint(1, 99)}")]
        actions += pipeline.ingest(healthy * 2, "test").actions
    assert actions == [f"resolved {incident_id} [failure-rate]"]


def test_repeats_change_nothing_whatever_the_batching(
    circ_settings: Settings, pipeline: CirculationPipeline, desk_services: Services
) -> None:
    messages = (
        [status(MONDAY, "offline")]
        + [renewal(MONDAY + timedelta(seconds=i), i % 2 == 0, f"P{i}") for i in range(30)]
        + [heartbeat(MONDAY + timedelta(minutes=12))]
    )
    once = pipeline.ingest(messages, "test")
    assert once.accepted == len(messages)
    assert len(once.actions) == 2
    health = service_health(pipeline.store)

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(order=st.permutations(messages), cut=st.integers(1, len(messages)))
    def again(order: list[bytes], cut: int) -> None:
        first = pipeline.ingest(order[:cut], "test")
        second = pipeline.ingest(order[cut:] + order[:1], "test")
        assert first.accepted == second.accepted == 0
        assert first.actions == second.actions == []
        assert service_health(pipeline.store) == health

    again()
    assert len(incidents_of(desk_services)) == 2


def test_a_batch_that_fails_half_way_is_rolled_back_and_its_rerun_acts_once(
    circ_settings: Settings, desk_services: Services, clock: Clock
) -> None:
    class FailingAfterOpen(DeskIncidents):
        fail = True

        def open(self, ctx: Any, command: Any, key: str) -> str:
            opened = super().open(ctx, command, key)
            if self.fail:
                self.fail = False
                raise ConnectionError("the process died after the desk wrote")
            return opened

    pipeline = build_pipeline(circ_settings, desk_services.desk, clock=clock)
    pipeline.incidents = FailingAfterOpen(desk_services.desk)
    batch = [status(MONDAY, "offline"), heartbeat(MONDAY + timedelta(minutes=11))]
    with pytest.raises(ConnectionError):
        pipeline.ingest(batch, "test")
    assert pipeline.store.seen_count() == 0  # nothing of the batch is recorded
    result = pipeline.ingest(batch, "test")  # redelivered
    assert result.accepted == 2
    assert len(result.actions) == 1
    assert len(incidents_of(desk_services)) == 1  # the idempotency key found the first one
    pipeline.store.close()


def test_invalid_events_become_dead_letters_with_the_reason_and_can_be_replayed_fixed(
    circ_settings: Settings, pipeline: CirculationPipeline, desk_services: Services
) -> None:
    bad = orjson.loads(renewal(MONDAY, False, "KSRG000417"))
    bad["data"]["channel"] = "pigeon"
    result = pipeline.ingest([b"{not json", orjson.dumps(bad), heartbeat(MONDAY)], "http")
    assert result.accepted == 1
    assert [d.index for d in result.dead] == [0, 1]
    letters = pipeline.store.dead_letters()
    assert [r.entry for r in letters] == ["http", "http"]
    assert letters[0].reason.startswith("not JSON")
    assert letters[0].raw == b"{not json"
    assert "data.channel" in letters[1].reason
    assert b"KSRG000417" not in letters[1].raw  # no member number is kept, even here
    fixed = orjson.loads(letters[1].raw)
    fixed["data"]["channel"] = "app"
    pipeline.store.close()
    desk_services.close()
    fixes = orjson.dumps({"seq": letters[1].seq, "event": fixed}) + b"\n"
    runner = CliRunner()
    path = circ_settings.data_dir / "fixed.ndjson"
    path.write_bytes(fixes)
    replay = runner.invoke(
        main, ["dlq", "replay", "--data-dir", str(circ_settings.data_dir), "--fixed", str(path)]
    )
    assert replay.exit_code == 0, replay.output
    assert "applied" in replay.output
    again = runner.invoke(main, ["dlq", "replay", "--data-dir", str(circ_settings.data_dir)])
    assert again.exit_code == 0, again.output
    assert "dead: not JSON" in again.output  # the unfixable one fails again, with its reason
    listed = runner.invoke(main, ["dlq", "list", "--data-dir", str(circ_settings.data_dir)])
    assert listed.output.count("pending") == 1  # the new dead letter of the failed replay
    store = CirculationStore(circ_settings.circulation_db)
    renewals = [s for s in service_health(store)["services"] if s["service"] == "batupusaka"]
    assert renewals[0]["totals"]["ok"] == 1
    store.close()


# -- member cards ----------------------------------------------------------------------------------

DESK_APP = "/slims/kota-serang"


def card_request(event_id: str, member: str = "SERA000123", kind: str = "reprint") -> bytes:
    return orjson.dumps(
        envelope(
            "member.card_requested",
            DESK_APP,
            event_id,
            MONDAY,
            branch="kota-serang",
            patron=member,
            request=kind,
        )
    )


def requests_of(services: Services) -> list[Any]:
    from projections import service_request_details

    services.runner.catch_up()
    return list(services.views.rows(service_request_details).values())


def test_a_member_card_request_becomes_one_service_request_from_the_catalogue_item(
    circ_settings: Settings, desk_services: Services, pipeline: CirculationPipeline
) -> None:
    seed(desk_services.desk)
    result = pipeline.ingest([card_request("c1")], "http")
    assert result.actions
    assert result.actions[0].startswith("raised ")

    (request,) = requests_of(desk_services)
    assert request["catalogue_item"] == "member-card"
    assert request["service"] == "membership-cards"
    assert request["requester"] == pipeline.pseudonymise("SERA000123")  # never the number
    assert "SERA000123" not in orjson.dumps(request).decode()
    assert request["submitted_by"] == {"id": f"integration:{DESK_APP}", "role": "integration"}
    assert request["details"].startswith(
        f"[rule member-card] raised from circulation event {DESK_APP}/c1"
    )
    assert request["sla"] is not None  # judged like any other request

    # A redelivery is a duplicate; the same event through a pipeline that lost its memory of
    # it (a crash after the request was stored) finds the first request by its idempotency key.
    assert pipeline.ingest([card_request("c1")], "http").duplicates == 1
    fresh_store = CirculationStore(circ_settings.data_dir / "other.db")
    try:
        again = build_pipeline(
            circ_settings, desk_services.desk, clock=pipeline.clock, store=fresh_store
        ).ingest([card_request("c1")], "kafka")
    finally:
        fresh_store.close()
    assert again.actions == result.actions
    assert len(requests_of(desk_services)) == 1

    pipeline.ingest([card_request("c2", member="SERA000456", kind="new")], "http")
    assert len(requests_of(desk_services)) == 2


def test_a_member_card_request_without_the_catalogue_item_is_kept_and_the_stream_goes_on(
    desk_services: Services, pipeline: CirculationPipeline
) -> None:
    result = pipeline.ingest([card_request("c9"), heartbeat(MONDAY)], "http")
    assert result.accepted == 2
    assert result.actions == ["not raised [member-card]: no catalogue item member-card"]
    assert requests_of(desk_services) == []


def test_the_member_card_rule_can_be_switched_off(
    circ_settings: Settings, desk_services: Services, clock: Clock
) -> None:
    seed(desk_services.desk)
    off = circ_settings.model_copy(update={"circulation_member_card": False})
    built = build_pipeline(off, desk_services.desk, clock=clock)
    try:
        assert built.ingest([card_request("c3")], "http").actions == []
    finally:
        built.store.close()
    assert requests_of(desk_services) == []


def test_a_table_replay_stopped_half_way_resumes_its_snapshot_and_replays_each_once(
    circ_settings: Settings,
    pipeline: CirculationPipeline,
    desk_services: Services,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given five dead letters that fail again on every replay
    bad = [orjson.loads(heartbeat(MONDAY)) for _ in range(5)]
    for message in bad:
        message["data"]["device_kind"] = "toaster"
    pipeline.ingest([orjson.dumps(m) for m in bad], "http")
    pipeline.store.close()
    desk_services.close()
    data_dir = ["--data-dir", str(circ_settings.data_dir)]
    runner = CliRunner()

    # When a replay dies after replaying two of them
    decode = CirculationPipeline.decode
    calls = [0]

    def dying(self: CirculationPipeline, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt  # the operator's ^C, or a kill
        return decode(self, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(CirculationPipeline, "decode", dying)
        stopped = runner.invoke(main, ["dlq", "replay", *data_dir])
    assert stopped.exit_code != 0
    assert stopped.output.count(" dead: ") == 2

    # Then started again it replays the three left of the five, not the two new dead letters
    # its first part caused (they wait for the next replay), and ends
    again = runner.invoke(main, ["dlq", "replay", *data_dir])
    assert again.exit_code == 0, again.output
    assert "resuming" in again.output
    assert again.output.count(" dead: ") == 3
    store = CirculationStore(circ_settings.circulation_db)
    try:
        letters = store.dead_letters()
        assert len(letters) == 10  # each of the five failed again once
        assert [r.replayed for r in letters[:5]] == ["dead"] * 5
        assert [r.replayed for r in letters[5:]] == [None] * 5
    finally:
        store.close()
    # and a new replay takes the five new ones
    third = runner.invoke(main, ["dlq", "replay", *data_dir])
    assert third.exit_code == 0, third.output
    assert third.output.count(" dead: ") == 5
