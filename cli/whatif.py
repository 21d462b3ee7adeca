"""`itsm whatif`: a period's incidents judged again under other rules, beside the record."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
import orjson
from pydantic import ValidationError

from cli.options import count_option, data_dir_option, existing_file, out_file, settings_for
from domain.errors import InvalidRule

rule_file = existing_file


def _day(_ctx: click.Context, _param: click.Parameter, value: datetime | None) -> date | None:
    return None if value is None else value.date()


@click.command("whatif")
@data_dir_option
@click.option("--policy", type=rule_file, help="SLA policy terms (JSON or TOML, as the API's)")
@click.option(
    "--calendar",
    "calendars",
    type=rule_file,
    multiple=True,
    help="a business calendar standing in for the one of its name (repeatable)",
)
@click.option("--matrix", type=rule_file, help="priority matrix cells (JSON or TOML)")
@click.option(
    "--from", "since", type=click.DateTime(["%Y-%m-%d"]), callback=_day, help="first day logged"
)
@click.option(
    "--to", "until", type=click.DateTime(["%Y-%m-%d"]), callback=_day, help="last day logged"
)
@click.option("--json", "json_out", type=out_file, help="write the whole report as JSON")
@click.option("--csv", "csv_out", type=out_file, help="write the figures per group as CSV")
@click.option(
    "--chart",
    "chart_out",
    type=out_file,
    help="draw compliance per month as a bar chart (.svg, .png or .pdf)",
)
@click.option(
    "--lang", "language", type=click.Choice(["id", "en"]), default="id", show_default=True
)
@click.option(
    "--scratch", type=out_file, help="keep each ticket's two verdicts in this SQLite file"
)
@click.option("--flips", "flips_shown", type=int, default=20, show_default=True)
@count_option(
    "--workers",
    most=64,
    default=1,
    help="processes that judge (forked; worth it only on idle cores)",
)
def whatif(
    data_dir: Path | None,
    policy: Path | None,
    calendars: tuple[Path, ...],
    matrix: Path | None,
    since: date | None,
    until: date | None,
    json_out: Path | None,
    csv_out: Path | None,
    chart_out: Path | None,
    scratch: Path | None,
    flips_shown: int,
    workers: int,
    language: str,
) -> None:
    """Judge the incidents logged from --from to --to (office days, inclusive) by their rules of
    record and by the rules given (any subset), and compare: per priority, service, group,
    organisation and month, and every ticket whose verdict flips. The record is only read."""
    from infra.clock import utcnow
    from processes.whatif import (
        CalendarFile,
        MatrixFile,
        PolicyFile,
        WhatIf,
        read_rule_file,
        run,
    )
    from processes.whatif_output import chart, csv_text, table
    from service.bootstrap import build

    try:
        request = WhatIf(
            policy=policy and PolicyFile.model_validate(read_rule_file(policy)).terms,
            calendars=[CalendarFile.model_validate(read_rule_file(path)) for path in calendars],
            matrix=matrix and MatrixFile.model_validate(read_rule_file(matrix)).cells,
            since=since,
            until=until,
        )
    except (ValidationError, ValueError) as error:
        raise click.ClickException(f"a rule file is not valid: {error}") from None
    services = build(settings_for(data_dir))
    try:
        bar: Any
        with click.progressbar(length=1, label="reading incidents", file=sys.stderr) as bar:

            def progress(position: int, head: int) -> None:
                bar.length = head
                bar.update(position - bar.pos)

            try:
                done = run(
                    services.desk,
                    request,
                    utcnow(),
                    scratch=scratch,
                    progress=progress,
                    workers=workers,
                )
            except InvalidRule as error:
                raise click.ClickException(str(error)) from None
    finally:
        services.close()
    body: dict[str, Any] = done.report
    click.echo(table(body, flips_shown))
    click.echo(
        f"{body['tickets']} tickets: read in {done.read_seconds:.2f} s,"
        f" judged twice in {done.judge_seconds:.2f} s",
        err=True,
    )
    if json_out is not None:
        json_out.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    if csv_out is not None:
        csv_out.write_text(csv_text(body))
    if chart_out is not None:
        chart(body, language).savefig(chart_out)
