"""`itsm directory`: the people and groups of the directory, from CSV files (docs/directory.md)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.options import data_dir_option, existing_file, settings_for
from infra.progress import Meter

if TYPE_CHECKING:  # the command's own modules load when it runs, not on every `itsm`
    from processes.directory_import import Progress


@click.group("directory")
def directory() -> None:
    """The directory: people, groups and broadcast lists."""


@directory.command("import")
@data_dir_option
@click.option(
    "--groups",
    "groups_file",
    type=existing_file,
    default=None,
    help="a CSV of groups (code,name,organisation,manager,members,hours), after the people",
)
@click.argument("people", type=existing_file)
def import_directory(data_dir: Path | None, groups_file: Path | None, people: Path) -> None:
    """Register and update the people of PEOPLE (a CSV:
    actor_id,name,email,phone,language,organisation,roles,active), then the groups; a bad row is
    reported and skipped, and importing the same files again changes nothing."""
    from processes.directory_import import BadFile, import_groups, import_people
    from service.bootstrap import build

    services = build(settings_for(data_dir))
    try:
        for path, run in ((people, import_people), (groups_file, import_groups)):
            if path is None:
                continue
            try:
                report = run(services.desk, path, services.clock, _progress(path))
            except BadFile as error:
                raise click.ClickException(str(error)) from None
            for line in report.lines():
                click.echo(line)
    finally:
        services.close()


def _progress(path: Path) -> Progress:
    """Rows done out of the file's lines, at most once a second, on stderr."""
    meter = Meter(max(sum(1 for _ in path.open("rb")) - 1, 1))
    shown = 0.0

    def progress(rows: int, what: str) -> None:
        nonlocal shown
        meter.update(rows)
        now = time.monotonic()
        if now - shown >= 1.0 or rows >= meter.total:
            shown = now
            click.echo(
                f"  {what}: {meter.fraction:6.1%}  {rows:,} rows ({meter.rate:,.0f} rows/s,"
                f" ETA {meter.eta_text})",
                err=True,
            )

    return progress
