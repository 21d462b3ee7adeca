"""`itsm import`: history from other systems' ticket logs (docs/imports.md)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from cli.options import data_dir_option, existing_file, settings_for
from cli.progress import shown
from processes.import_mapping import Mapping, MappingError, load, shipped

UCI_LOG = Path("/work/shared/data/uci-servicenow-incident-event-log/incident_event_log.csv.xz")

batch_option = click.option(
    "--batch", type=int, default=500, show_default=True, help="cases per atomic write"
)
refuse_option = click.option(
    "--refuse-unmapped",
    is_flag=True,
    help="refuse (and count) a row with an impact, urgency or priority value the mapping does not"
    " map [default: record it, counted, with the default or the value it had]",
)
data_argument = click.argument("data", type=existing_file)


@click.group("import")
def import_() -> None:
    """Import another system's ticket history as incident events (idempotent)."""


@import_.command("servicenow")
@data_dir_option
@batch_option
@refuse_option
@data_argument
def import_servicenow(data_dir: Path | None, batch: int, refuse_unmapped: bool, data: Path) -> None:
    """Import the UCI ServiceNow incident event log DATA (.csv, .csv.xz or .csv.gz), with the
    shipped mapping processes/import_mappings/servicenow.toml."""
    _run(data_dir, shipped("servicenow"), data, batch, refuse_unmapped)


@import_.command("mapped")
@data_dir_option
@batch_option
@click.option(
    "--mapping",
    "mapping_file",
    required=True,
    type=existing_file,
    help="the TOML mapping of the log's columns (docs/imports.md)",
)
@refuse_option
@data_argument
def import_mapped(
    data_dir: Path | None, batch: int, mapping_file: Path, refuse_unmapped: bool, data: Path
) -> None:
    """Import the ticket log DATA as MAPPING says."""
    try:
        mapping = load(mapping_file)
    except MappingError as error:
        raise click.ClickException(str(error)) from None
    _run(data_dir, mapping, data, batch, refuse_unmapped)


def _run(
    data_dir: Path | None, mapping: Mapping, data: Path, batch: int, refuse_unmapped: bool
) -> None:
    from processes.importer import Importer
    from service.bootstrap import build

    settings = settings_for(data_dir)
    services = build(settings)
    started = time.perf_counter()
    try:
        importer = Importer(
            services.desk,
            mapping,
            clock=services.clock,
            batch=batch,
            refuse_unmapped=refuse_unmapped,
        )
        with shown("bytes") as bar:

            def progress(done: int, size: int, rows: int) -> None:
                bar(f"{data.name}: {rows:,} rows", done, size)

            report = importer.run(data, progress)
    except MappingError as error:
        raise click.ClickException(str(error)) from None
    finally:
        services.close()
    elapsed = time.perf_counter() - started
    click.echo(
        f"imported {data.name} as {mapping.system} in {elapsed:.1f} s "
        f"({report.rows / elapsed if elapsed else 0:,.0f} rows/s)"
    )
    for line in report.lines():
        click.echo(line)
