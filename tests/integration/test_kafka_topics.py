"""Topics the service creates are usable when `ensure_topics` returns: every partition has a
leader. A topic answers metadata requests before its partitions have leaders, and a client
starting in that moment may take a partition for leaderless (suspected in the Kafka-mode tests
that lost one partition's worth of events: a consumer group that never consumed it)."""

from __future__ import annotations

from uuid import uuid4

from kafka import KafkaAdminClient

from infra.kafka_clients import TopicSpec, ensure_topics


def test_every_partition_of_a_created_topic_has_a_leader_when_ensure_topics_returns(
    kafka_bootstrap: str,
) -> None:
    names = [f"test.led.{uuid4().hex[:12]}" for _ in range(3)]
    ensure_topics(kafka_bootstrap, {name: TopicSpec(partitions=8) for name in names})

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        described = admin.describe_topics(names)
    finally:
        admin.close()
    assert sorted(topic["name"] for topic in described) == sorted(names)
    for topic in described:
        assert len(topic["partitions"]) == 8
        assert all(p["leader_id"] >= 0 and not p["error_code"] for p in topic["partitions"])


def test_ensuring_topics_that_exist_changes_nothing_and_returns_at_once(
    kafka_bootstrap: str,
) -> None:
    name = f"test.led.{uuid4().hex[:12]}"
    ensure_topics(kafka_bootstrap, {name: TopicSpec(partitions=2)})
    ensure_topics(kafka_bootstrap, {name: TopicSpec(partitions=5)})  # kept as created

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        (topic,) = admin.describe_topics([name])
    finally:
        admin.close()
    assert len(topic["partitions"]) == 2
