"""`itsm backup` and `itsm restore`: a consistent online backup of everything the service stores,
and its restore on a fresh machine (docs/operations.md)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import click

from cli.options import data_dir_option, settings_for
from cli.progress import Shown, shown
from infra.backup import BackupRefused, Progress, RestoreRefused

_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([kKmMgG]?)$")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def _rate(_: click.Context, __: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    found = _SIZE.match(value.strip())
    if not found or float(found[1]) <= 0:
        raise click.BadParameter("bytes a second, e.g. 20M, 512k or 1G")
    return float(found[1]) * _UNITS[found[2].lower()]


def _phased(bar: Shown, verb: str = "") -> Progress:
    """The backup's progress, `done` of `total` bytes of the whole job, now at `what` ("checking
    events.db"), on a bar a phase (checking, restoring; a backup has one), each measured on its
    own, saying where it is."""

    def progress(what: str, done: int, total: int) -> None:
        phase = what.split(" ", 1)[0] if " " in what else ""
        bar(verb + what, done, max(total, 1), phase=phase)

    return progress


@click.command("backup")
@data_dir_option
@click.option(
    "--max-rate",
    callback=_rate,
    default=None,
    help="copy at most this many bytes a second (e.g. 20M), to leave the disk to the service",
)
@click.option(
    "--secrets",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="keep the keys that seal events and sign checkpoints, and the webhooks' secrets, in"
    " this other new directory, apart from the data [default: in DESTINATION]",
)
@click.argument("destination", type=click.Path(file_okay=False, path_type=Path))
def backup(
    data_dir: Path | None, max_rate: float | None, secrets: Path | None, destination: Path
) -> None:
    """Back up everything the service stores into DESTINATION (a new directory), while it runs:
    the event store, the views, the audit ledger, the keys, the attachments, and the files
    beside them, with a manifest of their SHA-256s written last (docs/operations.md)."""
    from service.backup import backup as take

    started = time.perf_counter()
    try:
        with shown("bytes") as bar:
            manifest = take(
                settings_for(data_dir),
                destination,
                secrets=secrets,
                progress=_phased(bar, "copying "),
                max_rate=max_rate,
            )
    except BackupRefused as error:
        raise click.ClickException(str(error)) from None
    if secrets is None and any(e.part == "audit-seal.key" for e in manifest.entries):
        click.echo(
            "note: this backup holds the keys that seal events and sign checkpoints beside the"
            " data; keep it where only the operators read it, or use --secrets",
            err=True,
        )
    elapsed = time.perf_counter() - started
    click.echo(
        f"backed up {len(manifest.entries)} files, {manifest.total_bytes / (1 << 20):,.1f} MiB,"
        f" to event store position {manifest.position} in {elapsed:.1f} s: {destination}"
    )


@click.command("restore")
@data_dir_option
@click.option("--force", is_flag=True, help="replace what the data directory and the database hold")
@click.option("--check", is_flag=True, help="only check the backup's files against its manifest")
@click.option(
    "--secrets",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="where the backup's keys were kept apart (itsm backup --secrets)",
)
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
def restore(
    data_dir: Path | None, force: bool, check: bool, secrets: Path | None, source: Path
) -> None:
    """Restore the backup SOURCE onto a fresh data directory (and, on PostgreSQL, an empty
    database): every file is checked against the manifest first; an incomplete or altered
    backup, or a target that is not empty (without --force), is refused. Erasures the restored
    record holds are applied again."""
    from service.backup import restore as put_back
    from service.backup import verify

    started = time.perf_counter()
    try:
        if check:
            with shown("bytes") as bar:
                manifest = verify(source, _phased(bar), secrets=secrets)
            click.echo(
                f"{source}: complete, {len(manifest.entries)} files match the manifest"
                f" (event store position {manifest.position}, taken"
                f" {manifest.started_at:%Y-%m-%d %H:%M:%S} UTC)"
            )
            return
        with shown("bytes") as bar:
            restored = put_back(source, settings_for(data_dir), force=force, progress=_phased(bar))
    except RestoreRefused as error:
        raise click.ClickException(str(error)) from None
    manifest = restored.manifest
    elapsed = time.perf_counter() - started
    click.echo(
        f"restored {len(manifest.entries)} files to event store position {manifest.position}"
        f" (backup begun {manifest.started_at:%Y-%m-%d %H:%M:%S} UTC) in {elapsed:.1f} s;"
        f" {restored.erasures} erasures applied again ({restored.keys_destroyed} keys destroyed"
        " now). Erasures made after the backup began are not in it: make them again"
        " (docs/operations.md)"
    )
