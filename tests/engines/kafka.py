"""A real Kafka broker for the tests, from the first source that gives one:

1. `ITSM_TEST_KAFKA_BOOTSTRAP`: the address of a broker someone else runs;
2. a testcontainers `KafkaContainer`, when a Docker engine answers;
3. the local broker of `infra.kafka_broker`, in a session temp directory, stopped at the end.

A broker starts only when a test asks for one. When none can be had the tests that need it are
skipped, except under `CI=true`, where they fail with the reason: CI never silently skips.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from infra.kafka_broker import BrokerError, KafkaBroker, broker_answers

BOOTSTRAP_VARIABLE = "ITSM_TEST_KAFKA_BOOTSTRAP"
# Confluent Platform 8.0 carries Apache Kafka 4.0, the nearest image the container class drives.
CONTAINER_IMAGE = "confluentinc/cp-kafka:8.0.0"


@dataclass(frozen=True)
class KafkaEngine:
    """Where the session's broker came from, its address, and the broker itself when local."""

    source: str
    bootstrap: str
    local: KafkaBroker | None = None


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it under CI, where a missing engine is a broken build."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"no Kafka broker under CI: {reason}", pytrace=False)
    pytest.skip(f"no Kafka broker: {reason}")


def docker_answers() -> bool:
    """Whether a Docker engine answers a ping within two seconds."""
    try:
        import docker

        client = docker.from_env(timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no SDK, no socket, no daemon, a timeout: all mean "no Docker"
        return False


def _progress(message: str) -> None:
    print(f"kafka: {message}", file=sys.stderr)


@contextlib.contextmanager
def open_kafka_engine(make_data_dir: Callable[[], Path]) -> Iterator[KafkaEngine]:
    """A broker from the first source that gives one (see the module docstring), released on
    exit; `make_data_dir` gives the local broker's data directory if it comes to that."""
    external = os.environ.get(BOOTSTRAP_VARIABLE)
    if external:
        if not broker_answers(external, timeout=10.0):
            unavailable(f"{BOOTSTRAP_VARIABLE}={external} does not answer")
        yield KafkaEngine("external", external)
        return
    container_failure = ""
    if docker_answers():
        from testcontainers.community.kafka import KafkaContainer

        container = KafkaContainer(CONTAINER_IMAGE).with_kraft()
        container.with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
        try:
            container.start()
        except Exception as error:  # e.g. the image cannot be pulled: try the local broker
            container_failure = f"the Kafka container did not start ({error!r}); "
            with contextlib.suppress(Exception):
                container.stop()
        else:
            try:
                yield KafkaEngine("testcontainers", container.get_bootstrap_server())
            finally:
                container.stop()
            return
    broker = KafkaBroker(make_data_dir(), progress=_progress)
    try:
        broker.up()
    except BrokerError as error:
        unavailable(f"{container_failure}the local broker did not start: {error}")
    try:
        yield KafkaEngine("local", broker.bootstrap, broker)
    finally:
        broker.down()


@pytest.fixture(scope="session")
def kafka_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaEngine]:
    """The session's broker, chosen once, when the first test asks for it."""
    with open_kafka_engine(lambda: tmp_path_factory.mktemp("kafka")) as engine:
        yield engine


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_engine: KafkaEngine) -> str:
    """The bootstrap address of a real Kafka broker shared by the session."""
    return kafka_engine.bootstrap


@pytest.fixture(scope="session")
def kafka_broker(kafka_engine: KafkaEngine) -> KafkaBroker:
    """The session's local broker, for tests that stop and restart it. A test that stops it
    must start it again before it ends."""
    if kafka_engine.local is None:
        unavailable(
            f"the broker is {kafka_engine.source} ({kafka_engine.bootstrap}); "
            f"only the local broker can be stopped and restarted by a test"
        )
    return kafka_engine.local
