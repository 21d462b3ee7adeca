"""What the `itsm` commands share: the --data-dir option, the settings it selects, and the kinds
of path they take."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.decorators import FC

from infra.settings import Settings

#: A file that must exist already (a mapping, a rule file, checkpoints, evidence).
existing_file = click.Path(exists=True, dir_okay=False, path_type=Path)
#: A file a command writes.
out_file = click.Path(dir_okay=False, path_type=Path)

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="where the SQLite files live [default: ./var, or ITSM_DATA_DIR]",
)


def settings_for(data_dir: Path | None, **overrides: Any) -> Settings:
    """The settings with --data-dir and the options given (an option left out, None, does not
    override the environment)."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)


def server_dir_option(default: Path, help: str) -> Callable[[FC], FC]:
    """--data-dir of a local server that `itsm kafka` or `itsm postgres` runs for development."""
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=default,
        show_default=True,
        help=help,
    )


def port_option(help: str) -> Callable[[FC], FC]:
    """--port of such a local server (None: the one it used before, else a free one)."""
    return click.option("--port", type=click.IntRange(1, 65535), default=None, help=help)


def count_option(name: str, *, most: int, default: int, help: str) -> Callable[[FC], FC]:
    """An option counting something from 1 to `most`, its default shown."""
    return click.option(
        name, type=click.IntRange(1, most), default=default, show_default=True, help=help
    )
