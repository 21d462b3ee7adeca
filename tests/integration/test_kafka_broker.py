"""The local Kafka broker against the real thing: topics, messages, restarts and the CLI.

Most tests share the session's broker (`kafka_bootstrap`, `kafka_broker`) and each uses its own
topics; the CLI test starts a broker of its own in a temp directory.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from infra.kafka_broker import BrokerError, KafkaBroker, broker_answers, find_java, resolve_jars
from tests.engines.kafka import BOOTSTRAP_VARIABLE, open_kafka_engine, unavailable

with warnings.catch_warnings():
    # kafka-python 3.0.12 reads each protocol schema with importlib.resources.read_text,
    # deprecated on Python 3.11 and 3.12: about a hundred warnings, all at import.
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic
    from kafka.errors import KafkaTimeoutError

BOOTSTRAP = re.compile(r"127\.0\.0\.1:\d+")


def new_topic_name(purpose: str) -> str:
    return f"test.{purpose}.{uuid4().hex[:8]}"


def create_topic(bootstrap: str, name: str) -> None:
    with KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
        result = admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
        assert [t["error_code"] for t in result["topics"]] == [0], result
        admin.wait_for_topics([name], timeout_ms=20_000)


def topic_names(bootstrap: str) -> list[str]:
    with KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
        names: list[str] = admin.list_topics()
        return names


def producer(bootstrap: str, **overrides: object) -> KafkaProducer:
    # A short reconnect backoff, so a producer that lived through a broker restart retries soon.
    settings: dict[str, object] = {"acks": "all", "reconnect_backoff_max_ms": 1000}
    return KafkaProducer(bootstrap_servers=bootstrap, **(settings | overrides))


def read_partition(bootstrap: str, topic: str, count: int, timeout: float = 30.0) -> list[bytes]:
    """The first `count` values of partition 0, read from the beginning without a group."""
    with KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False) as consumer:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        values: list[bytes] = []
        deadline = time.monotonic() + timeout
        while len(values) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                values.extend(record.value for record in records)
        return values


def process_alive(pid: int) -> bool:
    """Whether the pid names a live process (a zombie has exited: it only awaits its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def test_a_message_produced_to_a_created_topic_is_consumed_by_a_group(
    kafka_bootstrap: str,
) -> None:
    topic = new_topic_name("round-trip")
    create_topic(kafka_bootstrap, topic)
    sent = [(b"INC-000001", b"logged"), (b"INC-000001", b"assigned"), (b"INC-000002", b"logged")]
    with producer(kafka_bootstrap) as out:
        offsets = [out.send(topic, key=k, value=v).get(timeout=30).offset for k, v in sent]
    assert offsets == [0, 1, 2]

    with KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"round-trip-{uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        consumer_timeout_ms=30_000,
    ) as consumer:
        received = [(record.key, record.value) for _, record in zip(sent, consumer, strict=False)]
    assert received == sent


def test_producing_to_a_topic_that_does_not_exist_does_not_create_it(
    kafka_bootstrap: str,
) -> None:
    topic = new_topic_name("never-created")
    with producer(kafka_bootstrap, max_block_ms=1500) as out, pytest.raises(KafkaTimeoutError):
        out.send(topic, b"lost").get(timeout=10)
    assert topic not in topic_names(kafka_bootstrap)


def test_status_reports_the_running_process_and_its_address(kafka_broker: KafkaBroker) -> None:
    status = kafka_broker.status()

    assert status.running
    assert status.bootstrap == kafka_broker.bootstrap
    assert BOOTSTRAP.fullmatch(kafka_broker.bootstrap)
    assert status.pid is not None
    argv = Path(f"/proc/{status.pid}/cmdline").read_bytes().split(b"\0")
    assert b"kafka.Kafka" in argv
    assert broker_answers(kafka_broker.bootstrap)


def test_a_stopped_broker_leaves_no_process_and_restarts_with_its_address_and_messages(
    kafka_broker: KafkaBroker,
) -> None:
    bootstrap = kafka_broker.bootstrap
    topic = new_topic_name("restart")
    create_topic(bootstrap, topic)
    out = producer(bootstrap)
    try:
        out.send(topic, b"before the restart").get(timeout=30)
        pid = kafka_broker.status().pid
        assert pid is not None

        assert kafka_broker.down() is True
        assert not Path(f"/proc/{pid}").exists()  # stopped and reaped: not even a zombie
        assert not kafka_broker.status().running
        assert not broker_answers(bootstrap, timeout=1.0)
        assert kafka_broker.down() is False  # idempotent

        kafka_broker.up()
        assert kafka_broker.bootstrap == bootstrap
        assert kafka_broker.status().pid not in (None, pid)
        # The producer made before the restart reconnects to the same address.
        out.send(topic, b"after the restart").get(timeout=60)
    finally:
        out.close()
        kafka_broker.up()  # whatever happened, leave the session's broker running

    assert read_partition(bootstrap, topic, 2) == [b"before the restart", b"after the restart"]


def test_a_second_up_on_a_running_data_dir_returns_the_running_broker(
    kafka_broker: KafkaBroker,
) -> None:
    pid = kafka_broker.status().pid
    again = KafkaBroker(kafka_broker.data_dir).up(timeout=5)

    assert again.status().pid == pid
    assert again.bootstrap == kafka_broker.bootstrap


@pytest.fixture(scope="module")
def local_runtime() -> Path:
    """Java and the Kafka jars, which the tests that start brokers of their own need."""
    try:
        find_java()
        return resolve_jars()
    except BrokerError as error:
        unavailable(str(error))


def test_a_data_dir_never_started_reports_not_running(tmp_path: Path) -> None:
    broker = KafkaBroker(tmp_path / "kafka")

    assert broker.status().running is False
    assert broker.status().bootstrap is None
    assert broker.down() is False
    with pytest.raises(BrokerError, match="call up"):
        _ = broker.bootstrap


def test_a_broker_that_exits_at_start_is_reported_with_the_end_of_its_log(
    local_runtime: Path, tmp_path: Path
) -> None:
    # Storage that claims a meta.properties version Kafka does not know: the broker exits at once.
    (tmp_path / "kraft").mkdir()
    (tmp_path / "kraft" / "meta.properties").write_text("version=7\n")
    broker = KafkaBroker(tmp_path)

    with pytest.raises(BrokerError, match="exited with code 1") as raised:
        broker.up(timeout=60)

    assert "Unknown meta.properties version number 7" in str(raised.value)
    assert not broker.status().running
    assert not (tmp_path / "state.json").exists()


def test_a_port_taken_by_another_process_is_refused_with_a_clear_error(
    local_runtime: Path, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(BrokerError, match=f"port {port} on 127.0.0.1 is taken"):
            KafkaBroker(tmp_path, port=port).up()


@pytest.fixture
def cli_data_dir(tmp_path: Path) -> Iterator[Path]:
    data_dir = tmp_path / "kafka"
    yield data_dir
    KafkaBroker(data_dir).down()  # in case the test failed before `itsm kafka down`


def itsm(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("itsm")
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, timeout=180, check=False
    )


def test_the_cli_starts_reports_and_stops_a_broker(local_runtime: Path, cli_data_dir: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    where = ("--data-dir", str(cli_data_dir))

    up = itsm("kafka", "up", *where, "--port", str(port))
    assert up.returncode == 0, up.stderr
    assert up.stdout.strip() == f"127.0.0.1:{port}"
    assert "formatting KRaft storage" in up.stderr
    assert broker_answers(up.stdout.strip())

    status = itsm("kafka", "status", *where)
    assert status.returncode == 0, status.stderr
    pid = json.loads((cli_data_dir / "state.json").read_text())["pid"]
    assert f"pid {pid}" in status.stdout
    assert f"127.0.0.1:{port}" in status.stdout

    down = itsm("kafka", "down", *where)
    assert down.returncode == 0, down.stderr
    assert not process_alive(pid)

    stopped = itsm("kafka", "status", *where)
    assert stopped.returncode == 1
    assert "not running" in stopped.stdout


def unused_address() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def no_local_broker() -> Path:
    raise AssertionError("a local broker was started in place of the given address")


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), (None, pytest.skip.Exception)]
)
def test_a_given_address_that_does_not_answer_fails_under_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, ci: str | None, outcome: type[BaseException]
) -> None:
    monkeypatch.setenv(BOOTSTRAP_VARIABLE, unused_address())
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)

    with pytest.raises(outcome, match=BOOTSTRAP_VARIABLE), open_kafka_engine(no_local_broker):
        pass


def test_a_given_address_that_answers_is_used_as_it_is(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BOOTSTRAP_VARIABLE, kafka_bootstrap)

    with open_kafka_engine(no_local_broker) as engine:
        assert (engine.source, engine.bootstrap, engine.local) == (
            "external",
            kafka_bootstrap,
            None,
        )
