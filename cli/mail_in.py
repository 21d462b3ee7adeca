"""`itsm mail-in`: the mail reader on its own (docs/mail-in.md): it follows the helpdesk mailbox
and applies each message once, until stopped (SIGTERM, SIGINT), or applies what the mailbox
holds now and exits (--once, e.g. from cron)."""

from __future__ import annotations

from pathlib import Path

import click

from cli.options import data_dir_option, settings_for
from cli.running import log_to_stderr, stop_on_signals


@click.command("mail-in")
@data_dir_option
@click.option("--once", is_flag=True, help="apply what the mailbox holds now, then exit")
def mail_in(data_dir: Path | None, once: bool) -> None:
    """Read the helpdesk mailbox (ITSM_IMAP_*) and apply each message once: new mail logs an
    incident, replies comment or reopen, loops are ignored, the rest are dead letters."""
    from processes.mail_in import ReaderLock, reader_of
    from service.bootstrap import build

    settings = settings_for(data_dir)
    if settings.imap() is None:
        raise click.UsageError("e-mail in is off: set ITSM_IMAP_HOST (and its login)")
    log_to_stderr(settings.log_level, settings.log_format)
    lock = ReaderLock(settings.data_dir)
    if not lock.acquire():
        lock.close()
        raise click.ClickException("another process of this service reads the mailbox")
    services = build(settings)
    try:
        services.start()
        reader = reader_of(services)
        assert reader is not None
        if once:
            tally = reader.drain()
        else:
            stop = stop_on_signals()
            reader.run_until(stop)
            reader.reset()
            tally = reader.tally
        click.echo(
            f"fetched {tally.fetched}: applied {tally.applied}, ignored {tally.ignored},"
            f" dead letters {tally.dead}, received before {tally.duplicate}",
            err=True,
        )
    finally:
        services.close()
        lock.close()
