"""`itsm attachments`: upkeep of the attachments' blob store (docs/attachments.md)."""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from pathlib import Path

import click

from cli.options import data_dir_option, settings_for

#: The shortest grace: an upload stores its bytes, then its event, within a request.
LEAST_GRACE = timedelta(minutes=1)
#: The longest grace (ten years): past that, nothing would ever be swept.
MOST_GRACE = timedelta(days=3650)
_GRACE = re.compile(r"^([0-9]{1,7})([dhm])$")
#: The most strays `sweep` prints (the oldest first); the rest are counted.
MAX_LISTED = 10_000


@click.group("attachments")
def attachments() -> None:
    """Files on records: the blob store their bytes are kept in."""


def _grace(_ctx: click.Context, _param: click.Parameter, value: str) -> timedelta:
    """`1d`, `12h`, `30m`: from one minute to ten years."""
    found = _GRACE.match(value)
    if found is None:
        raise click.BadParameter(f"{value!r}: give e.g. 1d, 12h or 30m")
    units = {"d": "days", "h": "hours", "m": "minutes"}
    grace = timedelta(**{units[found[2]]: int(found[1])})
    if not LEAST_GRACE <= grace <= MOST_GRACE:
        raise click.BadParameter(f"{value!r}: from 1m (an upload in flight) to 3650d")
    return grace


@attachments.command("sweep")
@data_dir_option
@click.option(
    "--grace",
    default="1d",
    show_default=True,
    callback=_grace,
    help="leave blobs stored more recently than this (an upload in flight): 1d, 12h, 30m",
)
@click.option("--delete", is_flag=True, help="delete the blobs listed [default: only list them]")
def sweep(data_dir: Path | None, grace: timedelta, delete: bool) -> None:
    """List the blobs no file on a record needs (no attachment event names them, every file
    that named them was removed, or a write was cut short), older than the grace period; with
    --delete, delete them. On the store the settings name: the directory, or PostgreSQL's table.
    One line per blob on stdout: why, size, when stored, hash."""
    from infra.clock import utcnow
    from processes.attachment_sweep import files_on_record, survey
    from processes.attachment_sweep import sweep as sweep_strays
    from service.bootstrap import build

    services = build(settings_for(data_dir))
    try:
        cutoff = utcnow() - grace
        desk = services.desk
        head = desk.recorder.max_notification_id() or 0
        stderr = sys.stderr  # the list is the output; progress beside it
        with click.progressbar(
            length=head, label="reading the record", show_pos=True, file=stderr
        ) as bar:
            read = 0

            def progress(position: int) -> None:
                nonlocal read
                bar.update(min(position, head) - read)
                read = min(position, head)

            files = files_on_record(desk, progress)
        found = survey(services.blobs.held(), files, cutoff)
        for stray in found.strays[:MAX_LISTED]:
            blob = stray.blob
            click.echo(f"{stray.why:8} {blob.size:>12} {blob.stored_at.isoformat()}  {blob.name}")
        if len(found.strays) > MAX_LISTED:
            click.echo(f"(the oldest {MAX_LISTED} shown; there are more)", err=True)
        counts = dict.fromkeys(("unnamed", "removed", "partial"), 0)
        for stray in found.strays:
            counts[stray.why] += 1
        click.echo(
            f"{len(found.strays)} blobs no file needs ({found.stray_bytes:,} bytes:"
            f" {', '.join(f'{n} {why}' for why, n in counts.items())}), stored before"
            f" {cutoff.isoformat()}; {found.named} named by files on records; {found.young}"
            " more too recent to judge",
            err=True,
        )
        if not delete:
            if found.strays:
                click.echo("nothing deleted: run again with --delete to delete them", err=True)
            return
        with click.progressbar(
            length=len(found.strays), label="deleting", show_pos=True, file=stderr
        ) as bar:
            done = 0

            def deleted(n: int) -> None:
                nonlocal done
                bar.update(n - done)
                done = n

            count = sweep_strays(services.blobs, found, deleted)
        click.echo(
            f"deleted {count} of {len(found.strays)} (any other was stored again meanwhile)",
            err=True,
        )
    finally:
        services.close()
