"""`itsm postgres`: a local PostgreSQL server for development (see infra/postgres_server.py)."""

from __future__ import annotations

from pathlib import Path

import click

from cli.options import port_option, server_dir_option
from infra.postgres_server import PostgresServer, PostgresServerError, PostgresUnavailable

DEFAULT_DATA_DIR = Path("var/postgres")

data_dir_option = server_dir_option(DEFAULT_DATA_DIR, "the server's data directory")


@click.group()
def postgres() -> None:
    """A local PostgreSQL server, from Debian's postgresql package (installed if missing)."""


@postgres.command()
@data_dir_option
@port_option("[default: the last one, or a free one]")
def up(data_dir: Path, port: int | None) -> None:
    """Create (first time) and start the server; print the URL for ITSM_DATABASE_URL."""
    server = PostgresServer(data_dir, port)
    try:
        url = server.up()
    except (PostgresUnavailable, PostgresServerError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(url)
    click.echo(f"PostgreSQL runs from {server.data_dir}; use: ITSM_DATABASE_URL={url}", err=True)


@postgres.command()
@data_dir_option
def down(data_dir: Path) -> None:
    """Stop the server of this data directory."""
    try:
        stopped = PostgresServer(data_dir).down()
    except (PostgresUnavailable, PostgresServerError) as error:
        raise click.ClickException(str(error)) from error
    click.echo("stopped" if stopped else f"no server was running in {data_dir}", err=True)


@postgres.command()
@data_dir_option
def status(data_dir: Path) -> None:
    """Say whether the server runs (exit status 1 when it does not)."""
    server = PostgresServer(data_dir)
    try:
        current = server.status()
    except (PostgresUnavailable, PostgresServerError) as error:
        raise click.ClickException(str(error)) from error
    if not current.running:
        click.echo(f"not running ({server.data_dir})")
        raise SystemExit(1)
    click.echo(f"running, pid {current.pid}: {server.url}")
