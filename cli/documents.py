"""`itsm documents`: the register of controlled documents' periodic job."""

from __future__ import annotations

from pathlib import Path

import click

from cli.options import data_dir_option, settings_for


@click.group("documents")
def documents() -> None:
    """Controlled documents (docs/documents.md)."""


@documents.command("notice-reviews")
@data_dir_option
def notice_reviews(data_dir: Path | None) -> None:
    """Record each published document's review due within 30 days or overdue, once per date
    (Document.ReviewDueNoticed; its owner is told). Run it daily. One line per document noticed."""
    from processes.document_reviews import notice_due_reviews
    from service.bootstrap import build

    services = build(settings_for(data_dir))
    try:
        services.runner.catch_up()
        for ref in notice_due_reviews(services):
            click.echo(ref)
    finally:
        services.close()
