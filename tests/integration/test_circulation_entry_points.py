"""Both entry points feed the one pipeline: the NDJSON batch over HTTP (integration tokens only)
and the `circulation.events` topic on a real broker, whose invalid messages go to the DLQ topic
with their reason while the stream goes on."""

from __future__ import annotations

import itertools
import threading
from datetime import datetime, timedelta
from pathlib import Path
from uuid import uuid4

import orjson
from kafka import KafkaConsumer, KafkaProducer

from application.seed import seed
from consumers.circulation import REPLAY_SEAL, Pseudonymiser, ReplaySeal
from domain.actors import Role
from domain.circulation import JAKARTA
from infra.circulation_store import CirculationStore
from infra.kafka_clients import ensure_topics
from infra.settings import Settings
from processes.circulation import build_circulation_consumer, circulation_topics, dead_letter_topic
from processes.simulator import Simulator, envelope
from projections import service_request_details
from service.bootstrap import build
from tests.directory_helpers import hold
from tests.integration.conftest import Api

MONDAY = datetime(2026, 3, 2, 7, 55, tzinfo=JAKARTA)


def simulated(count: int, seed: int = 5) -> list[bytes]:
    simulator = Simulator(start=MONDAY, seed=seed, invalid_share=0.01, outage_chance=0.05)
    return list(itertools.islice(simulator.messages(), count))


def test_an_integration_posts_ndjson_and_reads_what_became_of_each_line(api: Api) -> None:
    lines = simulated(1500)
    body = b"\n".join(lines) + b"\n"
    with api.client("slims-serang", Role.INTEGRATION) as client:
        answer = client.post("/api/v1/ingest/circulation", content=body).json()
        repeat = client.post("/api/v1/ingest/circulation", content=body).json()
        health = client.get("/api/v1/circulation/health").json()
    dead = answer["dead_letters"]
    assert answer["received"] == 1500
    assert dead, "the simulator injects invalid lines"
    assert answer["accepted"] + len(dead) == 1500
    assert all(lines[d["line"] - 1] for d in dead)
    assert (repeat["accepted"], repeat["duplicates"]) == (0, answer["accepted"])
    services = {s["service"]: s for s in health["services"]}
    assert services["circulation"]["totals"]["ok"] > 0
    assert services["kiosks-gates"]["configuration_items"]


def test_only_integrations_may_ingest(api: Api) -> None:
    with api.client("siti.rahma", Role.AGENT) as client:
        refused = client.post("/api/v1/ingest/circulation", content=simulated(3)[0])
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"


def test_the_topic_is_applied_once_and_invalid_messages_go_to_the_dlq_with_their_reason(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "var",
        kafka_partitions=3,
        circulation_topic=f"circulation.events.{uuid4().hex[:10]}",
        circulation_group=f"itsm.circulation.{uuid4().hex[:10]}",
    )
    ensure_topics(kafka_bootstrap, circulation_topics(settings))
    messages = simulated(4000)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for message in messages + messages[:500]:  # a producer's retry re-sends a tail
        producer.send(settings.circulation_topic, value=message)
    producer.send(settings.circulation_topic, value=b'{"specversion": "1.0", "oops"')
    producer.flush()
    producer.close()

    services = build(settings)
    hold(services)  # the groups the rules assign to
    consumer = build_circulation_consumer(settings, kafka_bootstrap, services.desk)
    expected = len(consumer.pipeline.decode(messages)[0])
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    deadline = datetime.now() + timedelta(seconds=60)
    while consumer.applied < expected and datetime.now() < deadline:
        stop.wait(0.2)
    stop.wait(1.0)  # let it read the repeats and the last message too
    stop.set()
    thread.join(20)
    try:
        assert consumer.applied == expected
        assert consumer.pipeline.store.seen_count() == expected
        assert consumer.pipeline.store.dead_letters() == []  # Kafka mode: the topic, not the table
        dlq = KafkaConsumer(
            dead_letter_topic(settings),
            bootstrap_servers=kafka_bootstrap,
            auto_offset_reset="earliest",
            consumer_timeout_ms=5000,
        )
        letters = list(dlq)
        dlq.close()
        reasons = [dict(r.headers)["dlq.reason"].decode() for r in letters]
        # every invalid message once per time it was sent (a repeat of an invalid message is
        # not an event, so nothing deduplicates it), and the broken last one
        invalid = len(messages) - expected
        invalid_repeats = 500 - len(consumer.pipeline.decode(messages[:500])[0])
        assert len(letters) == invalid + invalid_repeats + 1
        assert any(r.startswith("not JSON") for r in reasons)
        kept = [orjson.loads(r.value) for r in letters if r.value.endswith(b"}")]
        with_patrons = [m["data"] for m in kept if "patron_ref" in m.get("data", {})]
        assert with_patrons, "some dead letters were loans with a member number"
        assert all("patron" not in data for data in with_patrons)  # hashed before it was kept
    finally:
        consumer.pipeline.store.close()
        services.close()


def card_requests(*ids: str) -> list[bytes]:
    return [
        orjson.dumps(
            envelope(
                "member.card_requested",
                "/slims/kota-serang",
                event_id,
                MONDAY,
                branch="kota-serang",
                patron="SERA000777",
                request="new",
            )
        )
        for event_id in ids
    ]


def test_a_member_card_request_posted_over_http_becomes_one_service_request(api: Api) -> None:
    seed(api.services.desk)
    body = b"\n".join(card_requests("k1")) + b"\n"
    with api.client("slims-serang", Role.INTEGRATION) as client:
        first = client.post("/api/v1/ingest/circulation", content=body).json()
        client.post("/api/v1/ingest/circulation", content=body)  # redelivered
    assert first["accepted"] == 1
    with api.client() as agent:
        found = agent.get("/api/v1/service-requests").json()["items"]
        assert [r["catalogue_item"] for r in found] == ["member-card"]
        sla = agent.get(f"/api/v1/service-requests/{found[0]['ref']}/sla").json()
    assert sla["kind"] == "service_request"
    assert sla["state"] == "running"


def chosen_requester(event_id: str, patron_ref: str) -> bytes:
    """A card request naming its requester's pseudonym itself, as only a replay may."""
    message = orjson.loads(card_requests(event_id)[0])
    del message["data"]["patron"]
    message["data"]["patron_ref"] = patron_ref
    return orjson.dumps(message)


def test_a_patron_ref_posted_over_http_is_a_dead_letter_and_the_batch_goes_on(api: Api) -> None:
    seed(api.services.desk)
    lines = [chosen_requester("h1", "siti.rahma"), *card_requests("h2")]
    with api.client("slims-serang", Role.INTEGRATION) as client:
        answer = client.post("/api/v1/ingest/circulation", content=b"\n".join(lines)).json()
    assert answer["accepted"] == 1
    (dead,) = answer["dead_letters"]
    assert dead["line"] == 1
    assert "patron_ref" in dead["reason"]
    assert "only in a replayed dead letter" in dead["reason"]
    api.services.runner.catch_up()
    rows = list(api.services.views.rows(service_request_details).values())
    assert [r["requester"] for r in rows] == [
        Pseudonymiser(api.services.settings.circulation_pseudonym_key)("SERA000777")
    ]
    # what is kept of it holds the chosen value only as its keyed hash
    store = CirculationStore(api.services.settings.circulation_db)
    try:
        (letter,) = store.dead_letters()
    finally:
        store.close()
    assert b"siti.rahma" not in letter.raw


def test_member_card_requests_on_the_topic_become_service_requests_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "var",
        kafka_partitions=2,
        circulation_topic=f"circulation.events.{uuid4().hex[:10]}",
        circulation_group=f"itsm.circulation.{uuid4().hex[:10]}",
    )
    ensure_topics(kafka_bootstrap, circulation_topics(settings))
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for message in card_requests("t1", "t2", "t1"):  # the last one a producer's retry
        producer.send(settings.circulation_topic, value=message)
    producer.flush()
    producer.close()

    services = build(settings)
    seed(services.desk)
    consumer = build_circulation_consumer(settings, kafka_bootstrap, services.desk)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    deadline = datetime.now() + timedelta(seconds=60)
    while consumer.applied < 2 and datetime.now() < deadline:
        stop.wait(0.2)
    stop.wait(1.0)  # let it read the repeat too
    stop.set()
    thread.join(20)
    try:
        services.runner.catch_up()
        rows = services.views.rows(service_request_details).values()
        assert sorted(r["details"].split(": ")[0] for r in rows) == [
            "[rule member-card] raised from circulation event /slims/kota-serang/t1",
            "[rule member-card] raised from circulation event /slims/kota-serang/t2",
        ]
    finally:
        consumer.pipeline.store.close()
        services.close()


def test_a_patron_ref_on_the_topic_is_a_dead_letter_unless_a_replay_sealed_it(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "var",
        kafka_partitions=1,
        circulation_topic=f"circulation.events.{uuid4().hex[:10]}",
        circulation_group=f"itsm.circulation.{uuid4().hex[:10]}",
    )
    ensure_topics(kafka_bootstrap, circulation_topics(settings))
    seal = ReplaySeal(settings.circulation_pseudonym_key)
    chosen, forged, sealed = (
        chosen_requester(event_id, "siti.rahma") for event_id in ("t1", "t2", "t3")
    )
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    topic = settings.circulation_topic
    producer.send(topic, value=chosen)  # a sender naming the requester itself
    producer.send(topic, value=forged, headers=[(REPLAY_SEAL, b"0" * 64)])  # a guessed seal
    producer.send(topic, value=card_requests("t4")[0])  # the stream goes on
    producer.send(topic, value=sealed, headers=[(REPLAY_SEAL, seal(sealed))])  # a replay
    producer.flush()
    producer.close()

    services = build(settings)
    seed(services.desk)
    consumer = build_circulation_consumer(settings, kafka_bootstrap, services.desk)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    deadline = datetime.now() + timedelta(seconds=60)
    while consumer.applied < 2 and datetime.now() < deadline:
        stop.wait(0.2)
    stop.set()
    thread.join(20)
    try:
        dlq = KafkaConsumer(
            dead_letter_topic(settings),
            bootstrap_servers=kafka_bootstrap,
            auto_offset_reset="earliest",
            consumer_timeout_ms=5000,
        )
        letters = list(dlq)
        dlq.close()
        assert consumer.applied == 2
        assert [orjson.loads(r.value)["id"] for r in letters] == ["t1", "t2"]
        assert all(
            b"only in a replayed dead letter" in dict(r.headers)["dlq.reason"] for r in letters
        )
        assert all(b"siti.rahma" not in r.value for r in letters)  # kept as its keyed hash
        services.runner.catch_up()
        requesters = sorted(
            r["requester"] for r in services.views.rows(service_request_details).values()
        )
        hashed = Pseudonymiser(settings.circulation_pseudonym_key)("SERA000777")
        assert requesters == sorted([hashed, "siti.rahma"])  # the replay's, and the member's
    finally:
        consumer.pipeline.store.close()
        services.close()
