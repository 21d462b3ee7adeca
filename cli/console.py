"""`itsm console`: what the web console needs from the command line (docs/console.md)."""

from __future__ import annotations

import getpass
from pathlib import Path
from uuid import uuid4

import click

from cli.options import data_dir_option, settings_for

#: A password shorter than this is refused (NIST SP 800-63B asks for at least 8; we ask more).
MIN_PASSWORD = 10
MAX_PASSWORD = 200


@click.group()
def console() -> None:
    """The web console (docs/console.md)."""


@console.command("password")
@click.argument("actor_id")
@data_dir_option
@click.option(
    "--by",
    "by",
    default=None,
    help="who sets it, as the record names them (default: cli:<your login name>)",
)
@click.password_option(prompt="New password", help="asked for twice, and never shown")
def set_password(actor_id: str, data_dir: Path | None, by: str | None, password: str) -> None:
    """Set the local sign-in password of a person in the directory (the embedded default's
    sign-in; with single sign-on, people sign in at the issuer instead). That it was set, by
    whom and when, is recorded on the person's entry (Person.PasswordSet); the password is not."""
    from application.kinds import PERSON
    from application.pipeline import Submission
    from domain.actors import Actor, Role
    from domain.context import Context
    from domain.directory import RecordPasswordSet
    from domain.errors import DomainError
    from infra.console_store import open_console_store
    from projections import directory
    from service.bootstrap import build

    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise click.BadParameter(
            f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters", param_hint="password"
        )
    settings = settings_for(data_dir)
    services = build(settings)
    try:
        services.start()  # the directory's view caught up with the store
        person = directory.person(services.views, actor_id)
        if person is None or not person["active"]:
            raise click.ClickException(
                f"{actor_id} is not an active person of the directory (`itsm seed` loads the"
                " example people; `itsm directory import` your own)"
            )
        setter = Actor(id=by or f"cli:{getpass.getuser()}", role=Role.ADMIN)
        ctx = Context(setter, services.clock(), uuid4())
        try:  # recorded first: a password is never set without the record saying so
            services.desk.execute(Submission(ctx, RecordPasswordSet(), PERSON, ref=actor_id))
        except DomainError as refused:
            raise click.ClickException(str(refused)) from None
        store = open_console_store(settings.database_url, settings.data_dir)
        try:
            store.set_password(actor_id, password, services.clock())
        finally:
            store.close()
    finally:
        services.close()
    click.echo(f"{actor_id} may now sign in to the console", err=True)
