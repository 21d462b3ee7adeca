"""`itsm kafka`: a local Apache Kafka broker for development and tests (see docs/kafka.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cli.options import port_option, server_dir_option
from infra.kafka_broker import BrokerError, KafkaBroker

data_dir_option = server_dir_option(
    Path("var/kafka"), "where the broker keeps its configuration, data and log"
)


def _progress(message: str) -> None:
    click.echo(message, err=True)


@click.group()
def kafka() -> None:
    """A local Apache Kafka broker (KRaft, single node) started from Maven Central jars."""


@kafka.command()
@data_dir_option
@port_option("client port [default: the one used before, else a free one]")
def up(data_dir: Path, port: int | None) -> None:
    """Start the broker (or find it running); print its address."""
    broker = KafkaBroker(data_dir, port=port, progress=_progress)
    try:
        broker.up()
    except BrokerError as error:
        raise click.ClickException(str(error)) from error
    click.echo(broker.bootstrap)


@kafka.command()
@data_dir_option
def down(data_dir: Path) -> None:
    """Stop the broker of --data-dir, if it runs."""
    try:
        stopped = KafkaBroker(data_dir, progress=_progress).down()
    except BrokerError as error:
        raise click.ClickException(str(error)) from error
    if not stopped:
        click.echo(f"no broker was running from {data_dir}", err=True)


@kafka.command()
@data_dir_option
def status(data_dir: Path) -> None:
    """Say whether the broker runs; the exit code is 1 when it does not."""
    found = KafkaBroker(data_dir).status()
    if not found.running:
        click.echo(f"not running (data dir {found.data_dir})")
        sys.exit(1)
    click.echo(f"running: pid {found.pid}, bootstrap {found.bootstrap}, data dir {found.data_dir}")
