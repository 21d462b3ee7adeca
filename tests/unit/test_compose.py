"""The docker-compose stack runs the same `itsm` commands the tests run (no Docker engine answers
on our machines, so the stack itself is not started here): every service's command must parse as
a real `itsm` command with real options, and every ITSM_ variable it sets must be a real setting.
(That the image holds what the service imports is tests/unit/test_image.py's.)"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from cli.main import main
from infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def itsm_services() -> dict[str, dict[str, Any]]:
    """The services built from this repository's image (the ones that run `itsm`)."""
    return {
        name: service
        for name, service in compose()["services"].items()
        if service.get("build") == "."
    }


def parse(argv: list[str]) -> click.Context:
    """Resolve argv through the `itsm` command tree as click would, without running anything:
    the leading words name the command, the rest must be its options."""
    words = list(itertools.takewhile(lambda arg: not arg.startswith("-"), argv))
    ctx = click.Context(main, info_name="itsm")
    for word in words[:-1]:
        assert isinstance(ctx.command, click.Group), f"{ctx.command_path} has no subcommands"
        group = ctx.command.get_command(ctx, word)
        assert group is not None, f"no command {ctx.command_path} {word}"
        ctx = click.Context(group, info_name=word, parent=ctx)
    assert isinstance(ctx.command, click.Group)
    command = ctx.command.get_command(ctx, words[-1])
    assert command is not None, f"no command {ctx.command_path} {words[-1]}"
    return command.make_context(words[-1], argv[len(words) :], parent=ctx)


def test_the_stack_runs_the_api_the_relay_and_the_projection_consumer() -> None:
    commands = {name: service["command"][:2] for name, service in itsm_services().items()}
    assert commands["api"][0] == "serve"
    assert commands["relay"][0] == "relay"
    assert commands["projections"] == ["consume", "projections"]


@pytest.mark.parametrize("name", sorted(itsm_services()))
def test_each_service_command_is_a_real_itsm_command(name: str) -> None:
    argv = itsm_services()[name]["command"]
    ctx = parse(argv)
    words = itertools.takewhile(lambda arg: not arg.startswith("-"), argv)
    assert ctx.command_path == " ".join(["itsm", *words])
    assert ctx.params.get("bootstrap") == "kafka:9092"


def test_a_misspelt_option_would_fail_this_check() -> None:
    with pytest.raises(click.NoSuchOption):
        parse(["relay", "--kafak", "kafka:9092"])


def test_every_itsm_variable_names_a_setting() -> None:
    fields = {f"ITSM_{name.upper()}" for name in Settings.model_fields}
    for name, service in itsm_services().items():
        for variable in service["environment"]:
            assert variable in fields, f"{name}: {variable} is not a setting"
