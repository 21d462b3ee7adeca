"""`itsm reports`: the report catalogue, and a service report of a period made from the record."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

from cli.options import data_dir_option, out_file, settings_for

if TYPE_CHECKING:
    from processes.reports import Language

FORMATS = ("json", "csv", "html", "pdf")
LANGUAGES = ("id", "en")


@click.group("reports")
def reports() -> None:
    """Service reports (docs/reports.md): list them, or make one of a period."""


@reports.command("list")
@click.option("--lang", "language", type=click.Choice(LANGUAGES), default="id", show_default=True)
def list_reports(language: str) -> None:
    """The report catalogue: each report's name, title, clauses and figures."""
    from processes.reports import catalogue

    chosen = _language(language)
    for definition in catalogue().values():
        words = definition.words(chosen)
        click.echo(f"{definition.name}: {words.title} ({', '.join(definition.clauses)})")
        for name, measure in definition.measures.items():
            click.echo(f"    {name} [{measure.unit}]: {measure.said_in(chosen)}")


def _language(value: str) -> Language:
    return "en" if value == "en" else "id"


def _month(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise click.BadParameter("a month as YYYY-MM") from None


def _day(_ctx: click.Context, _param: click.Parameter, value: datetime | None) -> date | None:
    return None if value is None else value.date()


@reports.command("make")
@data_dir_option
@click.argument("name")
@click.option("--month", callback=_month, help="a calendar month, YYYY-MM (or --from/--to)")
@click.option("--from", "since", type=click.DateTime(["%Y-%m-%d"]), callback=_day)
@click.option("--to", "until", type=click.DateTime(["%Y-%m-%d"]), callback=_day)
@click.option("--format", "format_", type=click.Choice(FORMATS), default="json", show_default=True)
@click.option("--lang", "language", type=click.Choice(LANGUAGES), default="id", show_default=True)
@click.option("--out", type=out_file, help="write it here (HTML and PDF need it)")
def make_report(
    data_dir: Path | None,
    name: str,
    month: date | None,
    since: date | None,
    until: date | None,
    format_: str,
    language: str,
    out: Path | None,
) -> None:
    """Make report NAME (`itsm reports list`) of --month, or of --from to --to (office days,
    both included), from the record as stored now."""
    from infra.clock import utcnow
    from processes import reports as made
    from processes.reports import render
    from processes.reports.figures import Period
    from service.bootstrap import build

    if name not in made.catalogue():
        raise click.BadParameter(f"one of {', '.join(made.NAMES)}", param_hint="NAME")
    if month is not None:
        period = Period.month(month.year, month.month)
    elif since is not None and until is not None:
        if until < since:
            raise click.BadParameter("--to is before --from")
        period = Period(since, until)
    else:
        raise click.UsageError("say which period: --month, or --from and --to")
    if format_ in ("html", "pdf") and out is None:
        raise click.UsageError(f"a {format_} report is written to a file: give --out")
    services = build(settings_for(data_dir))
    try:
        bar: Any
        with click.progressbar(length=1, label="reading the record", file=sys.stderr) as bar:

            def progress(position: int, head: int) -> None:
                bar.length = head
                bar.update(position - bar.pos)

            reading = made.read(services.desk, period, progress=progress)
        report = made.make(services.desk, reading, name)
        labels = render.Labels(_language(language), services.desk.service_catalogue().name_of)
    finally:
        services.close()
    now = utcnow()
    body: bytes = {
        "json": lambda: orjson.dumps(report, option=orjson.OPT_INDENT_2),
        "csv": lambda: render.csv_text(report, labels).encode(),
        "html": lambda: render.html(report, labels, now).encode(),
        "pdf": lambda: render.pdf(report, labels, now),
    }[format_]()
    if out is None:
        click.echo(body.decode())
    else:
        out.write_bytes(body)
        click.echo(f"{name} {period.first} to {period.last}: {out} ({len(body)} bytes)", err=True)


@reports.command("issue")
@data_dir_option
@click.option("--month", required=True, callback=_month, help="the month, YYYY-MM (ended)")
@click.option("--report", "names", multiple=True, help="one report (repeatable); default: all")
def issue_reports(data_dir: Path | None, month: date, names: tuple[str, ...]) -> None:
    """Issue the month's reports now (each once: one issued already is said and left), and
    sign them into the audit ledger."""
    from domain.errors import RecordAlreadyExists
    from domain.issued_report import IssueReport
    from processes import reports as made
    from processes.reports.issue import make_month, sign, submission
    from service.bootstrap import build

    unknown = sorted(set(names) - set(made.NAMES))
    if unknown:
        raise click.BadParameter(f"one of {', '.join(made.NAMES)}", param_hint="--report")
    services = build(settings_for(data_dir))
    try:
        services.start()
        # the month's history, read once for all its reports
        asked = list(names or made.NAMES)
        for name, report in zip(
            asked, make_month(services.desk, f"{month:%Y-%m}", asked), strict=True
        ):
            command = IssueReport(report=name, month=f"{month:%Y-%m}")
            try:
                services.desk.execute(
                    submission(services.system_context(), command, report, "request")
                )
            except RecordAlreadyExists as error:
                click.echo(str(error), err=True)
                continue
            click.echo(f"issued {month:%Y-%m}-{name}: position {report['position']}")
        checkpoint = sign(services)
        if checkpoint is not None:
            click.echo(f"signed by the audit checkpoint at position {checkpoint.position}")
    finally:
        services.close()


@reports.command("schedule")
@data_dir_option
@click.option("--once", is_flag=True, help="look once, then exit (e.g. daily from cron)")
@click.option("--interval", type=float, default=3600.0, show_default=True)
def schedule_reports(data_dir: Path | None, once: bool, interval: float) -> None:
    """On the first working day of a month (the office calendar, Asia/Jakarta), and on any later
    look that finds one missing, issue the last month's reports."""
    import threading

    from processes.reports.issue import ReportSchedule
    from service.bootstrap import build

    services = build(settings_for(data_dir))
    services.start()
    schedule = ReportSchedule(services, interval)
    stop = threading.Event()
    try:
        while True:
            issued = schedule.tick()
            click.echo(f"issued {', '.join(issued) if issued else 'nothing'}", err=True)
            if once or stop.wait(interval):
                break
    finally:
        services.close()
