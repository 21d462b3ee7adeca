"""`itsm directory`: the people and groups of the directory, from CSV files (docs/directory.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from cli.options import data_dir_option, existing_file, settings_for
from cli.progress import Shown, shown


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
                with shown("rows") as bar:
                    report = run(services.desk, path, services.clock, _counted(bar, path))
            except BadFile as error:
                raise click.ClickException(str(error)) from None
            for line in report.lines():
                click.echo(line)
    finally:
        services.close()


def _counted(bar: Shown, path: Path) -> Callable[[int, str], None]:
    """The import's progress (rows done, "people" or "groups") on `bar`, out of about as many
    rows as the CSV has lines less its header (a quoted field may span lines)."""
    with path.open("rb") as lines:
        rows = max(sum(1 for _ in lines) - 1, 1)
    return lambda done, what: bar(what, done, rows)
