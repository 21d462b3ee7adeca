"""`itsm notify`: the notifier as a process of its own, and its dead-letter list
(docs/notifications.md, "Running the notifier").

`serve` runs the notifier in its workers when e-mail is set up; `notify run` runs it alone, so
that it can be stopped, restarted or killed without the API, and so that a deployment with
several API workers has one process sending. Any number of notifiers may run at once: a
notification is decided once (its id derives from the event and the recipient) and each attempt
is claimed in the record before anything is sent.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import click

from cli.options import data_dir_option, settings_for
from cli.running import log_to_stderr, stop_on_signals
from infra.settings import InsecureConfiguration, Settings

if TYPE_CHECKING:
    from service.bootstrap import Services

#: The most rows `dead-letters` prints (the oldest first); the rest are counted.
MAX_LISTED = 1_000
#: The longest last error a row shows; the whole of it is in the record.
ERROR_WIDTH = 80


@click.group()
def notify() -> None:
    """Notifications: run the notifier, read and replay its dead letters."""


def _settings(data_dir: Path | None) -> Settings:
    settings = settings_for(data_dir)
    try:
        settings.refuse_if_insecure()
    except InsecureConfiguration as error:
        raise click.ClickException(str(error)) from None
    return settings


@notify.command("run")
@data_dir_option
def run(data_dir: Path | None) -> None:
    """Decide and deliver notifications until SIGTERM or SIGINT (the settings from the
    environment: ITSM_SMTP_*, ITSM_NOTIFY_*)."""
    from processes.notify import Notify
    from service.bootstrap import build

    settings = _settings(data_dir)
    if not settings.notifies:
        raise click.ClickException(
            "notifications are off: set ITSM_SMTP_HOST (and ITSM_SMTP_FROM), or ITSM_NOTIFY=true"
        )
    log_to_stderr(settings.log_level, settings.log_format)
    stop = stop_on_signals()
    services = build(settings)
    try:
        services.start()
        notifier = Notify(services)
        notifier.start()  # stopped with the services
        click.echo("notifier running; SIGTERM or SIGINT stops it", err=True)
        stop.wait()
        figures = notifier.figures
        click.echo(
            f"notifier stopped: decided {figures.decided}, sent {figures.sent},"
            f" failed {figures.failed}, dead {figures.dead}, re-sent {figures.resent}",
            err=True,
        )
    finally:
        services.close()


@notify.command("dead-letters")
@data_dir_option
def dead_letters(data_dir: Path | None) -> None:
    """The notifications given up on, by when they were last due: id, record, recipient, topic,
    last error."""
    from domain.notification import DeliveryState
    from projections.notifications import notifications
    from service.bootstrap import build

    services = build(_settings(data_dir))
    try:
        services.start()  # the view caught up with the store
        rows = services.views.select(
            notifications,
            '"state" = ?',
            (DeliveryState.DEAD.value,),
            tail=f'ORDER BY "due_at" LIMIT {MAX_LISTED + 1}',
        )
        # where each was sent: the record's own word (an e-mail's address is sealed there and
        # the view keeps none: docs/privacy.md)
        addresses = {row["id"]: _address(services, row["id"]) for row in rows[:MAX_LISTED]}
    finally:
        services.close()
    if not rows:
        click.echo("no dead letters", err=True)
        return
    table: list[tuple[str, ...]] = [("id", "record", "recipient", "topic", "last error")]
    table += [_dead_row(row, addresses[row["id"]]) for row in rows[:MAX_LISTED]]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for line in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    if len(rows) > MAX_LISTED:
        click.echo(f"(the first {MAX_LISTED} shown; there are more)", err=True)


def _address(services: Services, notification_id: str) -> str:
    """The address a notification was decided for (as its first event reads it)."""
    first = next(iter(services.desk.events.get(UUID(notification_id), limit=1)))
    return str(getattr(first, "address", ""))


def _dead_row(row: dict[str, Any], address: str) -> tuple[str, ...]:
    error = " ".join(str(row["last_error"] or "").split())
    if len(error) > ERROR_WIDTH:
        error = error[: ERROR_WIDTH - 3] + "..."
    return (
        row["id"],
        row["record_ref"] or row["record_id"],
        f"{row['recipient']} <{address}>",
        row["topic"],
        error,
    )


@notify.command("requeue")
@data_dir_option
@click.argument("notification_id", metavar="ID", type=click.UUID)
@click.option("--reason", required=True, help="why it is tried again, for the record")
@click.option(
    "--by",
    "admin",
    default=None,
    help="the admin requeueing it, as the record names them [default: cli:<login name>]",
)
def requeue(data_dir: Path | None, notification_id: Any, reason: str, admin: str | None) -> None:
    """Take the dead-lettered notification ID off the list: the notifier tries it again at once,
    with the same Message-ID (one attempt: failing again puts it back on the list)."""
    from uuid import uuid4

    from application.kinds import NOTIFICATION
    from application.pipeline import Submission
    from domain.actors import Actor, Role
    from domain.context import Context
    from domain.errors import DomainError
    from domain.notification import RequeueNotification
    from service.bootstrap import build

    try:
        command = RequeueNotification(reason=reason)
        actor = Actor(id=admin or f"cli:{getpass.getuser()}", role=Role.ADMIN)
    except ValueError as error:  # pydantic's ValidationError: the reason or name out of bounds
        raise click.BadParameter(_first_error(error)) from None
    services = build(_settings(data_dir))
    try:
        ctx = Context(actor, services.clock(), uuid4())
        try:
            services.desk.execute(Submission(ctx, command, NOTIFICATION, ref=notification_id))
        except DomainError as error:
            raise click.ClickException(str(error)) from None
    finally:
        services.close()
    click.echo(f"notification {notification_id} requeued")


def _first_error(error: ValueError) -> str:
    errors = getattr(error, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}"
    return str(error)
